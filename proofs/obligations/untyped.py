"""The untyped alignment lemma (seL4 src/object/untyped.c: retypeBase = alignUp(free, objSize)).

Retype places its first object at the free index aligned up to the object size. Everything
the no-aliasing argument needs from that step is here, unbounded over 64-bit words.
"""

from __future__ import annotations

import z3

from proofs.obligation import Query, obligation
from spec import logic
from spec.logic import And, Implies, bit, eq, is_aligned, no_overflow_add, ule, ult, wadd


def _decode(x: z3.BitVecRef, n: z3.BitVecRef, r: z3.ExprRef):  # type: ignore[no-untyped-def]
    def decode(model: z3.ModelRef) -> dict[str, object]:
        v = {name: logic.model_value(model, t) for name, t in (("x", x), ("n", n), ("align_up(x, n)", r))}
        return {k: hex(val) if isinstance(val, int) else val for k, val in v.items()}
    return decode


@obligation(
    name="align_up:untyped_alignment",
    about=("spec.logic.align_up", "spec.ops.retype_plan"),
    property="aligning up to 2^n gives an aligned word, not below the input and below input + 2^n, "
             "when x + 2^n does not overflow",
    kind="invariant",
    timeout_s=30,
)
def untyped_alignment() -> Query:
    """The lemma over every 64-bit x and every n < 64."""
    x, n = logic.word("x"), logic.word("n")
    r = logic.align_up(x, n)
    fits = no_overflow_add(x, bit(n))
    return Query(
        hypotheses=[("n < 64", ult(n, 64)), ("x + 2^n does not overflow", And(fits, ult(x, wadd(x, bit(n)))))],
        goal=[("aligned", is_aligned(r, n)),
              ("not below x", ule(x, r)),
              ("below x + 2^n", ult(r, wadd(x, bit(n)))),
              ("aligned input is unchanged", Implies(is_aligned(x, n), eq(r, x)))],
        decode=_decode(x, n, r),
    )
