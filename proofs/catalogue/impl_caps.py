"""Seeded bugs in the concrete kernel that the refinement checker must catch."""

from __future__ import annotations

from typing import Any

from proofs.mutants import Mutant, register_mutant


def _refinement_catches(steps: int = 3000, seeds: tuple[int, ...] = (1, 2)) -> str | None:
    """Run `sel4spec refine` on a few seeds; a one-line description of the first mismatch."""
    from refinement.caps import refine
    for seed in seeds:
        r = refine(steps, seed)
        if r.mismatches:
            m = r.mismatches[0]
            return f"refine seed {seed}: {m['what']} after {len(m['trace'])} steps: {m['detail']}"
    return None


def _is_mdb_parent_of_ignoring_badges(cte_a: Any, cte_b: Any) -> bool:
    """isMDBParentOf that forgets the badge rule: a badged original adopts every copy."""
    from impl.caps import same_region_as  # noqa: PLC0415 - resolved in the mutated process
    return bool(cte_a.revocable and same_region_as(cte_a.cap, cte_b.cap))


register_mutant(Mutant(
    name="impl_is_mdb_parent_of_ignores_badges",
    description="impl's isMDBParentOf ignores badges, so revoking a badged cap takes its siblings too",
    target="impl.cnode:is_mdb_parent_of", replacement=_is_mdb_parent_of_ignoring_badges,
    killers=(), checks=(_refinement_catches,)))
