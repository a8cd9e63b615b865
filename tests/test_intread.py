"""The integer reading (proofs/intread.py) agrees with the bit-vector query wherever it claims to be
exact, proves only what holds of words, and the agreement check catches a reading that forgets
to wrap."""

from __future__ import annotations

from typing import Any

import z3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proofs import solve
from proofs.intread import IntReading, Untranslatable
from proofs.obligation import Obligation, Query

WIDTHS = (8, 64)


# A term is a tree of plain tuples, built into Z3 per width: ("x",), ("c", v), (op, *args).
_LEAF = st.one_of(st.sampled_from([("x",), ("y",), ("z",)]),
                  st.sampled_from([0, 1, 2, 15, -1, -16, "half", "top_bit"]).map(lambda v: ("c", v)))
_AMOUNT = st.integers(0, 66)
_CONST = st.sampled_from([0, 1, 2, 3, 15, 16, -1, -16, "half", "top_bit"])


def _grow(sub: st.SearchStrategy[tuple]) -> st.SearchStrategy[tuple]:
    return st.one_of(
        st.tuples(st.sampled_from(["add", "sub"]), sub, sub),
        st.tuples(st.just("add3"), sub, sub, sub),
        st.tuples(st.sampled_from(["neg", "not"]), sub),
        st.tuples(st.sampled_from(["shl", "lshr"]), sub, _AMOUNT),
        st.tuples(st.sampled_from(["mul", "udiv", "urem"]), sub, _CONST),
        st.tuples(st.sampled_from(["and_low", "and_high"]), sub, st.integers(0, 66)),
        st.tuples(st.just("ite"), sub, sub, sub, sub),
    )


_TERM = st.recursive(_LEAF, _grow, max_leaves=8)
_ATOM = st.tuples(st.sampled_from(["ule", "ult", "uge", "ugt", "eq"]), _TERM, _TERM)


def _const(v: Any, w: int) -> int:
    return {"half": 2 ** (w // 2) - 1, "top_bit": 2 ** (w - 1)}.get(v, v) % 2**w


def nary(op: z3.FuncDeclRef, args: list[z3.ExprRef]) -> z3.BitVecRef:
    """One application of the word operation op to all of args (Python's operators nest pairs)."""
    ctx = args[0].ctx
    vec = (z3.Ast * len(args))(*[x.as_ast() for x in args])
    return z3.BitVecRef(z3.z3core.Z3_mk_app(ctx.ref(), op.ast, len(args), vec), ctx)


def build(t: tuple, w: int) -> z3.ExprRef:
    """The Z3 term of width w that the tree t describes."""
    op, *a = t
    if op in ("x", "y", "z"):
        return z3.BitVec(op, w)
    if op == "c":
        return z3.BitVecVal(_const(a[0], w), w)
    sub = [build(x, w) if isinstance(x, tuple) else x for x in a]
    if op == "add3":
        return nary((sub[0] + sub[1]).decl(), sub)
    k = min(a[1], w) if op in ("and_low", "and_high") else 0
    return {
        "add": lambda: sub[0] + sub[1], "sub": lambda: sub[0] - sub[1], "neg": lambda: -sub[0], "not": lambda: ~sub[0],
        "shl": lambda: sub[0] << sub[1], "lshr": lambda: z3.LShR(sub[0], sub[1]),
        "mul": lambda: sub[0] * _const(sub[1], w), "udiv": lambda: z3.UDiv(sub[0], _const(sub[1], w) or 1),
        "urem": lambda: z3.URem(sub[0], _const(sub[1], w) or 1),
        "and_low": lambda: sub[0] & (2**k - 1), "and_high": lambda: sub[0] & ((2**w - 1) ^ (2**k - 1)),
        "ite": lambda: z3.If(z3.ULT(sub[0], sub[1]), sub[2], sub[3]),
        "ule": lambda: z3.ULE(sub[0], sub[1]), "ult": lambda: z3.ULT(sub[0], sub[1]),
        "uge": lambda: z3.UGE(sub[0], sub[1]), "ugt": lambda: z3.UGT(sub[0], sub[1]), "eq": lambda: sub[0] == sub[1],
    }[op]()


def _value(t: z3.ExprRef) -> Any:
    v = z3.simplify(t)
    if z3.is_true(v) or z3.is_false(v):
        return z3.is_true(v)
    return v.as_long()


def agrees(reading: IntReading, t: z3.ExprRef, env: dict[str, int]) -> bool:
    """Whether t and its reading have the same value when x, y, z take the values in env."""
    r = reading.read(t)
    w = (t if z3.is_bv(t) else t.arg(0)).sort().size()
    bv = z3.substitute(t, *[(z3.BitVec(n, w), z3.BitVecVal(env[n], w)) for n in "xyz"])
    ints = [(reading.read(z3.BitVec(n, w)), z3.IntVal(env[n], reading.ctx)) for n in "xyz"]
    return _value(bv) == _value(z3.substitute(r, *ints))


_WORD_VALUES = st.sampled_from([0, 1, 7, 255, -1, -16, "half", "top_bit"]) | st.integers(0, 2**64 - 1)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(WIDTHS), _TERM | _ATOM, st.lists(_WORD_VALUES, min_size=3, max_size=3))
def test_reading_is_exact_on_the_operations_it_reads(w: int, tree: tuple, vals: list[Any]) -> None:
    """Every term built from the exactly-read operations has the same value as its reading, at random words."""
    reading = IntReading()
    assert agrees(reading, build(tree, w), {n: _const(v, w) for n, v in zip("xyz", vals)})
    assert not reading.generalised


class _NoWrap(IntReading):
    """A seeded bug: word arithmetic that wraps at 2^(2w), not 2^w (so x + y never wraps)."""

    def _modulus(self, c: Any, x: Any) -> Any:
        m = super()._modulus(c, x)
        return self._own((z3.z3._to_expr_ref(m, self.ctx) * z3.z3._to_expr_ref(m, self.ctx)).as_ast())


def test_the_agreement_check_catches_an_adder_that_does_not_wrap() -> None:
    x, y = z3.BitVecs("x y", 8)
    assert agrees(IntReading(), x + y, {"x": 200, "y": 100, "z": 0})
    assert not agrees(_NoWrap(), x + y, {"x": 200, "y": 100, "z": 0})


def _proves(hyps: list[z3.BoolRef], goal: z3.BoolRef) -> bool:
    q = solve._IntQuery.of(Query(hypotheses=[(f"h{i}", h) for i, h in enumerate(hyps)], goal=[("goal", goal)]))
    assert q is not None
    return q.proves(goal, deadline=float("inf"))


def _solved(hyps: list[z3.BoolRef], goal: z3.BoolRef) -> str:
    ob = Obligation(name="t", about=(), property="p", kind="invariant", build=lambda: None, timeout_s=30)
    return solve._safe_solve(ob, Query(hypotheses=[(f"h{i}", h) for i, h in enumerate(hyps)],
                                       goal=[("goal", goal)])).status


def test_the_reading_proves_what_holds_of_words_and_no_more() -> None:
    x, y = z3.BitVecs("x y", 64)
    top = 2**64 - 1
    assert not _proves([], z3.UGT(x + 1, x))  # false at x = 2^64 - 1
    assert _proves([], z3.Or(z3.UGT(x + 1, x), x == top))
    assert _proves([z3.ULE(x, y)], z3.ULE(y - x, y))
    assert not _proves([], z3.ULE(y - x, y))  # false for x > y
    a = z3.Array("a", z3.BitVecSort(64), z3.BitVecSort(64))
    assert _proves([], z3.Store(a, x, y)[x] == y)
    assert _proves([a[x] == 5, x == y], a[y] == 5)


def test_a_generalised_operation_proves_nothing_it_needs_the_bits_for() -> None:
    """x & y is an uninterpreted function in the reading: commutativity is not proved there, but the
    runner still proves it (bit-blasted)."""
    x, y = z3.BitVecs("x y", 64)
    reading = IntReading()
    reading.read(x & y)
    assert reading.generalised
    goal = (x & y) == (y & x)
    assert not _proves([], goal)
    assert _solved([x == x], goal) == "proved"


def test_a_quantifier_is_not_read() -> None:
    x = z3.BitVec("x", 64)
    with pytest.raises(Untranslatable):
        IntReading().read(z3.ForAll([x], z3.ULE(x, x)))


def _two_indices() -> bool:
    x = z3.BitVec("x", 8)
    a2 = z3.Array("a2", z3.BitVecSort(8), z3.BitVecSort(8), z3.BitVecSort(8))
    return _proves([], a2[x, 0] == a2[x, 1])


def _user_function_named_like_an_operation() -> bool:
    x, y = z3.BitVecs("x y", 8)
    user = z3.Function("op_bvand", z3.BitVecSort(8), z3.BitVecSort(8), z3.BitVecSort(8))
    return _proves([], user(x, y) == (x & y))


def _constants_that_print_alike() -> bool:
    return _proves([], z3.BitVec(0, 8) == z3.BitVec("k!0", 8))  # an integer symbol prints as k!0


def _terms_of_two_contexts() -> bool:
    q = solve._IntQuery.of(Query(hypotheses=[("x < 5", z3.ULT(z3.BitVec("x", 8), 5))], goal=[]))
    assert q is not None
    return q.proves(z3.ULT(z3.BitVec("y", 8, z3.Context()), 5), deadline=float("inf"))


@pytest.mark.parametrize("case", [_two_indices, _user_function_named_like_an_operation, _constants_that_print_alike,
                                  _terms_of_two_contexts])
def test_what_the_reading_must_not_conflate(case: Any) -> None:
    """Each goal is false of words; the reading must not prove it (each was proved once; found in review)."""
    assert not case()


def test_an_n_ary_generalised_operation_falls_back_to_bit_blasting() -> None:
    x, y, z = z3.BitVecs("x y z", 64)
    three = nary((x & y).decl(), [x, y, z])
    assert three.num_args() == 3
    assert _solved([x == x], z3.ULE(three, x)) == "proved"
