"""A toy two-reading "spec" and toy obligations about it, for the runner, CLI and mutant tests."""

from __future__ import annotations

import z3

from proofs.obligation import Obligation, Query

# A 64-bit semiprime (two 32-bit primes): factoring it by bit-blasting takes far longer than any test timeout.
SEMIPRIME = 4294967291 * 4294967279


def double(x: z3.BitVecRef) -> z3.BitVecRef:
    """Twice x, wrapping (the function the mutants replace)."""
    return x + x


def is_even(x: z3.BitVecRef) -> z3.BoolRef:
    """Whether the low bit of x is clear."""
    return (x & 1) == 0


def in_range(x: z3.BitVecRef) -> z3.BoolRef:
    """A satisfiable precondition."""
    return z3.ULT(x, 1000)


def build_double_even() -> Query:
    """double(x) is even for every x in range; looks double up at build time, so a mutation changes it."""
    x = z3.BitVec("x", 64)
    return Query(hypotheses=[("in_range", in_range(x))], goal=[("even", is_even(double(x)))])


def build_true() -> Query:
    """A true lemma over 8-bit words, with two goal conjuncts."""
    x, y = z3.BitVecs("x y", 8)
    return Query(
        hypotheses=[("x_small", z3.ULT(x, 100)), ("y_small", z3.ULT(y, 100))],
        goal=[("no_overflow", z3.ULT(x + y, 200)), ("commutes", x + y == y + x)],
    )


def build_false() -> Query:
    """A false lemma: only its second goal conjunct can fail."""
    x = z3.BitVec("x", 16)
    return Query(
        hypotheses=[("x_positive", z3.UGT(x, 0))],
        goal=[("commutes", x + 1 == 1 + x), ("below", z3.ULT(x, 1000))],
    )


def build_contradiction() -> Query:
    """Hypotheses that no state satisfies."""
    x = z3.BitVec("x", 8)
    return Query(
        hypotheses=[("small", z3.ULT(x, 5)), ("some", x == x), ("large", z3.UGT(x, 10))],
        goal=[("anything", x == 0)],
    )


def build_factoring() -> Query:
    """A claim that SEMIPRIME has no factors: false, but out of reach in a tiny timeout."""
    p, q = z3.BitVecs("p q", 64)
    product = z3.ZeroExt(64, p) * z3.ZeroExt(64, q)
    return Query(
        hypotheses=[],
        goal=[("prime", z3.Not(z3.And(product == SEMIPRIME, z3.UGT(p, 1), z3.UGT(q, 1))))],
    )


def build_array() -> Query:
    """A false claim about a map, so that its counterexample holds an array."""
    m = z3.Array("m", z3.BitVecSort(8), z3.BitVecSort(64))
    k = z3.BitVec("k", 8)
    return Query(hypotheses=[("k_set", m[k] == 0x1000)], goal=[("m_zero", m[k] == 0)])


def build_shared(bound: int = 1000) -> Query:
    """A CDT-shaped claim whose terms share subterms with every other query built from it."""
    parent = z3.Array("parent", z3.BitVecSort(64), z3.BitVecSort(64))
    depth = z3.Array("depth", z3.BitVecSort(64), z3.BitVecSort(64))
    s, d, c = z3.BitVecs("s d c", 64)

    def no_mloop(p: z3.ArrayRef, dp: z3.ArrayRef) -> z3.BoolRef:
        return z3.ForAll([c], z3.Implies(p[c] != 0, z3.ULT(dp[p[c]], dp[c])))

    return Query(
        hypotheses=[("no_mloop", no_mloop(parent, depth)), ("shallow", z3.ULT(depth[s], bound))],
        goal=[("no_mloop", no_mloop(z3.Store(parent, d, s), z3.Store(depth, d, depth[s] + 1)))],
    )


def toy(name: str, build: object, bound: int | None = None, timeout_s: float = 10.0) -> Obligation:
    """An invariant obligation about this module."""
    return Obligation(
        name=name,
        about=("tests.toy_target",),
        property=f"the toy claim {name} holds",
        kind="invariant",
        build=build,  # type: ignore[arg-type]
        bound=bound,
        timeout_s=timeout_s,
    )


def proved() -> Obligation:
    """An obligation that is proved."""
    return toy("toy:true", build_true)


def bounded() -> Obligation:
    """An obligation that is proved up to a bound."""
    return toy("toy:bounded", build_true, bound=8)


def refuted() -> Obligation:
    """An obligation that is refuted."""
    return toy("toy:false", build_false)


def vacuous() -> Obligation:
    """An obligation whose hypotheses are contradictory."""
    return toy("toy:vacuous", build_contradiction)


def unknown(timeout_s: float = 0.05) -> Obligation:
    """An obligation that times out."""
    return toy("toy:factoring", build_factoring, timeout_s=timeout_s)


def double_even() -> Obligation:
    """The obligation the double mutants must break."""
    return toy("toy:double_even", build_double_even)
