"""Seeded bugs in the vocabulary that the foundation's obligations must catch."""

from __future__ import annotations

from proofs.mutants import Mutant, register_mutant
from spec.logic import Word, align_down, band, bnot, mask, wadd


def _align_up_without_round(x: Word, n: Word) -> Word:
    """align_up that truncates instead of rounding (the classic off-by-one-object bug)."""
    return align_down(x, n)


def _align_up_off_by_one(x: Word, n: Word) -> Word:
    """align_up that adds 2^n instead of 2^n - 1, skipping an already aligned address."""
    return band(wadd(wadd(x, mask(n)), 1), bnot(mask(n)))


register_mutant(Mutant(
    name="align_up_truncates",
    description="retype's base alignment rounds down, so a new object can overlap allocated memory",
    target="spec.logic:align_up", replacement=_align_up_without_round,
    killers=("align_up:untyped_alignment",)))

register_mutant(Mutant(
    name="align_up_skips_aligned",
    description="retype's base alignment skips an already aligned free index, wasting an object",
    target="spec.logic:align_up", replacement=_align_up_off_by_one,
    killers=("align_up:untyped_alignment",)))
