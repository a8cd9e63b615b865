"""Two readings agree: every vocabulary operation, run on random concrete inputs, equals Z3's
evaluation of the same operation run on symbolic inputs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from spec import logic as L

CASES = 1000  # the foundation issue asks for at least 1,000 random cases per operation
words = st.one_of(st.integers(0, 2**64 - 1), st.integers(0, 70), st.sampled_from([0, 1, 2**63, 2**64 - 1]))
small = st.integers(0, 70)


def _val(sort: L.Sort, v: Any) -> z3.ExprRef:
    return sort.lift(v)


def _decode(t: Any) -> Any:
    if not L.is_sym(t):
        return t
    t = z3.simplify(t)
    if z3.is_true(t):
        return True
    if z3.is_false(t):
        return False
    if z3.is_bv_value(t) or z3.is_int_value(t):
        return t.as_long()
    raise AssertionError(f"symbolic result did not evaluate to a value: {t}")


def _substitute(term: Any, pairs: list[tuple[z3.ExprRef, z3.ExprRef]]) -> Any:
    return z3.substitute(term, *pairs) if L.is_sym(term) else term


# One symbolic build per operation, reused for every random case: fast, and it is the same
# formula the proofs would see.
SCALAR_OPS: dict[str, tuple[Callable[..., Any], tuple[L.Sort, ...]]] = {
    "wadd": (L.wadd, (L.WORD, L.WORD)),
    "wsub": (L.wsub, (L.WORD, L.WORD)),
    "wmul": (L.wmul, (L.WORD, L.WORD)),
    "shl": (L.shl, (L.WORD, L.WORD)),
    "shr": (L.shr, (L.WORD, L.WORD)),
    "band": (L.band, (L.WORD, L.WORD)),
    "bor": (L.bor, (L.WORD, L.WORD)),
    "bxor": (L.bxor, (L.WORD, L.WORD)),
    "bnot": (L.bnot, (L.WORD,)),
    "ult": (L.ult, (L.WORD, L.WORD)),
    "ule": (L.ule, (L.WORD, L.WORD)),
    "ugt": (L.ugt, (L.WORD, L.WORD)),
    "uge": (L.uge, (L.WORD, L.WORD)),
    "umin": (L.umin, (L.WORD, L.WORD)),
    "umax": (L.umax, (L.WORD, L.WORD)),
    "mask": (L.mask, (L.WORD,)),
    "bit": (L.bit, (L.WORD,)),
    "is_aligned": (L.is_aligned, (L.WORD, L.WORD)),
    "align_down": (L.align_down, (L.WORD, L.WORD)),
    "align_up": (L.align_up, (L.WORD, L.WORD)),
    "no_overflow_add": (L.no_overflow_add, (L.WORD, L.WORD)),
    "eq": (L.eq, (L.WORD, L.WORD)),
    "ne": (L.ne, (L.WORD, L.WORD)),
    "to_int": (L.to_int, (L.WORD,)),
    "And": (L.And, (L.BOOL, L.BOOL, L.BOOL)),
    "Or": (L.Or, (L.BOOL, L.BOOL, L.BOOL)),
    "Not": (L.Not, (L.BOOL,)),
    "Implies": (L.Implies, (L.BOOL, L.BOOL)),
    "ite_word": (L.ite, (L.BOOL, L.WORD, L.WORD)),
    "ite_int": (L.ite, (L.BOOL, L.INT, L.INT)),
    "cases": (lambda d, c1, v1, c2, v2: L.cases(d, (c1, v1), (c2, v2)), (L.WORD, L.BOOL, L.WORD, L.BOOL, L.WORD)),
}


def _strategy(sort: L.Sort) -> st.SearchStrategy[Any]:
    if sort.kind == "bool":
        return st.booleans()
    if sort.kind == "int":
        return st.integers(-(2**70), 2**70)
    return words


@pytest.mark.parametrize("name", sorted(SCALAR_OPS))
def test_scalar_op_readings_agree(name: str) -> None:
    fn, sorts = SCALAR_OPS[name]
    syms = [s.const(f"a{i}") for i, s in enumerate(sorts)]
    sym_result = fn(*syms)
    checked = []

    @settings(max_examples=CASES, database=None, deadline=None, derandomize=True)
    @given(st.tuples(*[_strategy(s) for s in sorts]), st.integers(0, len(sorts)))
    def case(args: tuple[Any, ...], n_sym: int) -> None:
        concrete = fn(*args)
        pairs = [(x, _val(s, v)) for x, s, v in zip(syms, sorts, args)]
        assert _decode(_substitute(sym_result, pairs)) == concrete
        # Mixed readings: the first n_sym arguments symbolic, the rest concrete.
        mixed = fn(*(syms[:n_sym] + list(args[n_sym:])))
        assert _decode(_substitute(mixed, pairs[:n_sym])) == concrete
        checked.append(1)

    case()
    # Hypothesis stops early only once it has tried every input of a finite space (all-bool ops).
    space = 2 ** len(sorts) * (len(sorts) + 1) if all(s.kind == "bool" for s in sorts) else CASES
    assert len(checked) >= min(CASES, space)


@dataclasses.dataclass(frozen=True)
class Pair:
    a: Any
    b: Any


def test_ite_on_records_and_tuples_agree() -> None:
    c, x, y = z3.Bool("c"), z3.BitVec("x", 64), z3.BitVec("y", 64)
    sym = L.ite(c, Pair(x, (y, True)), Pair(y, (x, False)))

    @settings(max_examples=CASES, database=None, deadline=None, derandomize=True)
    @given(st.booleans(), words, words)
    def case(cv: bool, xv: int, yv: int) -> None:
        conc = L.ite(cv, Pair(xv, (yv, True)), Pair(yv, (xv, False)))
        pairs = [(c, z3.BoolVal(cv)), (x, z3.BitVecVal(xv, 64)), (y, z3.BitVecVal(yv, 64))]
        got = Pair(_decode(_substitute(sym.a, pairs)),
                   tuple(_decode(_substitute(t, pairs)) for t in sym.b))
        assert got == conc
        assert _decode(_substitute(L.eq(sym, Pair(xv, (yv, True))), pairs)) == (conc == Pair(xv, (yv, True)))

    case()


maps = st.tuples(st.integers(0, 5), st.dictionaries(st.integers(0, 15), st.integers(0, 5), max_size=8))


def _map(default: int, d: dict[int, int]) -> L.Map:
    return L.Map(L.WORD, L.WORD, default, d)


def _agree_map(sym: L.Map, conc: L.Map, pairs: list[tuple[z3.ExprRef, z3.ExprRef]]) -> None:
    arr = z3.substitute(sym.array(), *pairs) if pairs else sym.array()
    for k in list(conc.keys()) + list(range(17)) + [2**64 - 1]:
        assert _decode(z3.Select(arr, z3.BitVecVal(k, 64))) == conc[k], k


def test_map_operations_agree() -> None:
    m_sym = L.Map.symbolic("m", L.WORD, L.WORD)
    k, v, t = z3.BitVec("k", 64), z3.BitVec("v", 64), z3.BitVec("t", 64)

    @settings(max_examples=CASES, database=None, deadline=None, derandomize=True)
    @given(maps, st.integers(0, 17), st.integers(0, 5), st.integers(0, 5))
    def case(dm: tuple[int, dict[int, int]], kv: int, vv: int, tv: int) -> None:
        default, d = dm
        m = _map(default, d)
        pairs = [(m_sym.array(), m.array()), (k, z3.BitVecVal(kv, 64)), (v, z3.BitVecVal(vv, 64)),
                 (t, z3.BitVecVal(tv, 64))]
        assert _decode(_substitute(m_sym[k], pairs)) == m[kv]
        _agree_map(m_sym.set(k, v), m.set(kv, vv), pairs)
        # update_where that leaves the default region alone: bump held values below t.
        pred = lambda key, val, dflt=default, tt=t: L.And(L.ne(val, dflt), L.ult(val, tt))  # noqa: E731
        conc = m.update_where(lambda key, val: L.And(val != default, val < tv), lambda key, val: val + 1)
        _agree_map(m_sym.update_where(pred, lambda key, val: L.wadd(val, 1)), conc, pairs)
        # Key-dependent update on keys not held: the extra_keys route.
        conc2 = m.update_where(lambda key, val: key == kv, lambda key, val: vv, extra_keys=[kv])
        _agree_map(m_sym.update_where(lambda key, val: key == k, lambda key, val: v), conc2, pairs)
        # ite and equality of maps
        other = m.set(kv, vv)
        c = z3.Bool("c")
        _agree_map(L.ite(c, m_sym, m_sym.set(k, v)), m if kv % 2 else other, pairs + [(c, z3.BoolVal(kv % 2 == 1))])
        same = z3.substitute(L.eq(m_sym, m_sym.set(k, v)), *pairs)
        assert _valid(same == z3.BoolVal(m == other))

    case()


def test_update_where_refuses_to_change_unheld_keys() -> None:
    m = _map(0, {1: 2})
    with pytest.raises(ValueError):
        m.update_where(lambda key, val: True, lambda key, val: 9)


def _valid(f: z3.BoolRef) -> bool:
    s = z3.Solver()
    s.add(z3.Not(f))
    r = s.check()
    assert r != z3.unknown
    return r == z3.unsat


def test_quantifiers_agree() -> None:
    m_sym = L.Map.symbolic("m", L.WORD, L.WORD)
    t = z3.BitVec("t", 64)
    dom = L.Domain("x")
    sym_all = L.forall(dom, lambda x: L.ule(m_sym[x], t), over=[m_sym])
    sym_ex = L.exists(dom, lambda x: L.eq(m_sym[x], t), over=[m_sym])

    @settings(max_examples=CASES, database=None, deadline=None, derandomize=True)
    @given(maps, st.integers(0, 6))
    def case(dm: tuple[int, dict[int, int]], tv: int) -> None:
        m = _map(*dm)
        conc_all = L.forall(dom, lambda x: x is not None and m[x] <= tv, over=[m])
        conc_ex = L.exists(dom, lambda x: m[x] == tv, over=[m])
        pairs = [(m_sym.array(), m.array()), (t, z3.BitVecVal(tv, 64))]
        assert _valid(z3.substitute(sym_all, *pairs) == z3.BoolVal(conc_all))
        assert _valid(z3.substitute(sym_ex, *pairs) == z3.BoolVal(conc_ex))

    case()


def test_forall_probe_catches_a_predicate_false_at_the_default() -> None:
    m = _map(7, {1: 1})
    # Every held key satisfies "value < 5", but the (infinitely many) default keys do not.
    assert L.forall(L.Domain("x"), lambda x: m[x] < 5, over=[m]) is False


def test_check_then_agrees() -> None:
    c1, c2, x = z3.Bool("c1"), z3.Bool("c2"), z3.BitVec("x", 64)
    build = lambda a, b, v: L.check_then(  # noqa: E731
        [(lambda: a, lambda: (1, 0)), (lambda: b, lambda: (2, v))], lambda: (0, L.wadd(v, 1)))
    sym = build(c1, c2, x)

    @settings(max_examples=CASES, database=None, deadline=None, derandomize=True)
    @given(st.booleans(), st.booleans(), words)
    def case(a: bool, b: bool, xv: int) -> None:
        conc = build(a, b, xv)
        pairs = [(c1, z3.BoolVal(a)), (c2, z3.BoolVal(b)), (x, z3.BitVecVal(xv, 64))]
        assert tuple(_decode(_substitute(s, pairs)) for s in sym) == conc
        mixed = build(c1, b, xv)
        assert tuple(_decode(_substitute(s, pairs)) for s in mixed) == conc
        expected = 1 if a else 2 if b else 0
        assert conc[0] == expected

    case()


def test_check_then_is_lazy_concretely() -> None:
    calls: list[str] = []

    def boom() -> bool:
        calls.append("evaluated")
        raise AssertionError("a check after a failing one must not run concretely")

    assert L.check_then([(lambda: True, lambda: "first"), (boom, lambda: "second")], lambda: "ok") == "first"
    assert calls == []


def test_concretize_reads_a_model_back() -> None:
    m = L.Map.symbolic("m", L.WORD, L.WORD)
    x = L.word("x")
    s = z3.Solver()
    s.add(m[x] == 5, x == 3, z3.ForAll([L.word("y")], z3.Implies(L.word("y") != 3, m[L.word("y")] == 0)))
    # the quantifier above pins the rest of the map to 0
    assert s.check() == z3.sat
    conc = L.concretize(s.model(), (m, x))
    assert conc[1] == 3
    assert conc[0][3] == 5 and conc[0][7] == 0
    assert L.to_json(_map(0, {2**40: 1}))["entries"] == {hex(2**40): 1}


@settings(max_examples=CASES, database=None, deadline=None, derandomize=True)
@given(maps, st.dictionaries(st.integers(0, 17), st.integers(0, 5), max_size=6))
def test_set_many_is_set_in_turn(dm: tuple[int, dict[int, int]], changes: dict[int, int]) -> None:
    default, d = dm
    m = _map(default, d)
    one_by_one = m
    for k, v in changes.items():
        one_by_one = one_by_one.set(k, v)
    assert m.set_many(changes) == one_by_one
    assert m == _map(default, d)  # maps are values: neither changed m


def test_map_checks_values_on_every_path() -> None:
    m = _map(0, {1: 2})
    for bad in (-1, 2**64, True, "x"):
        with pytest.raises((TypeError, ValueError)):
            m.set(3, bad)
        with pytest.raises((TypeError, ValueError)):
            m.set_many({3: bad})
        with pytest.raises((TypeError, ValueError)):
            _map(0, {3: bad})
        with pytest.raises((TypeError, ValueError)):
            m.update_where(lambda key, val: key == 1, lambda key, val, b=bad: b)
    with pytest.raises(ValueError):
        m.set(2**64, 1)
    m_sym = L.Map.symbolic("m", L.WORD, L.WORD)
    k = z3.BitVec("k", 64)
    s2 = m_sym.set_many({k: 3, 5: 4})
    assert _valid(z3.And(z3.Implies(k != 5, s2[k] == 3), s2[5] == 4))
