"""The seeded spec bugs of issue 3: registered, their property obligations prove, the quick ones are killed."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest
import z3

from proofs.mutants import Mutant, all_mutants, resolve_target, run_all_mutants
from proofs.obligation import all_obligations, get_obligation
from proofs.obligations.cspace_props import PathExplosion, explore_paths, over_paths
from proofs.solve import solve

# name -> (target, the obligations at least one of which must refute it)
SEEDED: dict[str, tuple[str, tuple[str, ...]]] = {
    "spec_retype_ignores_free_index": ("spec.ops:retype_plan", ("untyped_retype:no_aliasing",)),
    "spec_retype_skips_alignment": ("spec.ops:retype_plan", ("untyped_retype:pspace_aligned",)),
    "spec_revoke_direct_children_only": ("spec.cdt:revoke_descendants",
                                         ("revoke_descendants:no_descendants", "revoke_descendants:mdb_cte_at")),
    "spec_copy_forgets_cdt_parent": ("spec.ops:cnode_copy_effect", ("cnode_copy:records_parent",)),
    "spec_mint_rebadges_badged_cap": ("spec.state:update_cap_data_parts", ("cnode_mint:badge_once",)),
    "spec_move_leaves_cdt_on_old_slot": ("spec.cdt:cte_move", ("cnode_move:mdb_cte_at",)),
    "spec_delete_orphans_children": ("spec.cdt:empty_slot", ("empty_slot:cdt_anc",)),
    "spec_lookup_ignores_guard": ("spec.decode:resolve_address_bits", ("resolve_address_bits:guard",)),
    "spec_mint_keeps_unmasked_guard": ("spec.state:update_cap_data_parts", ("cnode_mint:valid_caps",)),
    "spec_retype_large_page_cap_4m": ("spec.ops:default_cap", ("untyped_retype:valid_caps",)),
}
# Their killers solve in seconds (all of them since the integer reading, proofs/intread.py).
QUICK = tuple(sorted(SEEDED))


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh cache, so that every verdict here is solved, not remembered."""
    d = tmp_path / "cache"
    monkeypatch.setenv("SEL4SPEC_CACHE_DIR", str(d))
    return d


def _registered() -> dict[str, Mutant]:
    return {m.name: m for m in all_mutants()}


@pytest.mark.parametrize("name", sorted(SEEDED))
def test_seeded_bug_is_registered(name: str) -> None:
    m = _registered()[name]
    target, must = SEEDED[name]
    assert m.target == target
    owner, attr, original = resolve_target(m.target)
    assert original is not m.replacement and callable(m.replacement)
    names = [ob.name for ob in all_obligations()]
    for pattern in m.killers:
        assert any(fnmatch.fnmatchcase(n, pattern) for n in names), f"{pattern} selects no obligation"
    assert all(any(fnmatch.fnmatchcase(k, p) for p in m.killers) for k in must)


@pytest.mark.parametrize("name,status", [("resolve_address_bits:guard", "proved-bounded"),
                                         ("cnode_mint:badge_once", "proved"),
                                         ("cnode_copy:records_parent", "proved")])
def test_property_obligations_prove(name: str, status: str, tmp_path: Path) -> None:
    ob = get_obligation(name)
    r = solve(ob, cache_dir=tmp_path)
    assert r.status == status, r.reason
    assert (ob.bound == 2) == (status == "proved-bounded")


def test_quick_seeded_bugs_are_killed() -> None:
    registry = _registered()
    results = run_all_mutants([registry[n] for n in QUICK], all_obligations(), jobs=1)
    for r in results:
        assert r.verdict == "killed", f"{r.name}: {r.detail}"
        assert set(r.killed_by) & set(SEEDED[r.name][1]), r.killed_by
        # The detail is the first killer's refutation with its decoded counterexample.
        assert " refuted (failing: " in r.detail and r.detail.split(": ", 2)[-1].strip()
    by_name = {r.name: r for r in results}
    guard = by_name["spec_lookup_ignores_guard"].detail
    assert "a success consumed the level-1 guard" in guard and "cptr = " in guard
    assert "refused with seL4_IllegalOperation" in by_name["spec_mint_rebadges_badged_cap"].detail
    assert "a copy of an original cap is its CDT child" in by_name["spec_copy_forgets_cdt_parent"].detail


# ---- path exploration, the tool the lookup obligation rests on ------------------------------------


def _walk(x: z3.BitVecRef) -> int:
    """A concrete-reading function: Python branches on x."""
    if z3.ULT(x, 10):
        return 0 if x == 3 else 1
    return 2


def test_explore_paths_covers_every_feasible_path() -> None:
    x = z3.BitVec("x", 64)
    paths = explore_paths(lambda: _walk(x), [z3.ULT(x, 100)])
    assert sorted(p.result for p in paths) == [0, 1, 2]
    # The path conditions partition the assumptions: exactly one holds for every x < 100.
    s = z3.Solver()
    s.add(z3.ULT(x, 100), z3.Sum([z3.If(z3.And(p.condition), 1, 0) for p in paths]) != 1)
    assert s.check() == z3.unsat
    # A true claim is valid, a false one is not.
    true_claim, false_claim = over_paths(paths, lambda r: r <= 2), over_paths(paths, lambda r: r != 0)
    for claim, valid in ((true_claim, True), (false_claim, False)):
        s = z3.Solver()
        s.add(z3.ULT(x, 100), z3.Not(claim))
        assert (s.check() == z3.unsat) == valid


def test_explore_paths_prunes_infeasible_branches_and_restores_z3() -> None:
    x = z3.BitVec("x", 64)
    paths = explore_paths(lambda: _walk(x), [z3.ULT(x, 3)])
    assert [p.result for p in paths] == [1]
    with pytest.raises(z3.Z3Exception):
        bool(z3.ULT(x, 10))  # outside exploration a symbolic branch is an error again


def test_explore_paths_refuses_unbounded_walks() -> None:
    x = z3.BitVec("x", 64)

    def count_down() -> int:
        n = 0
        while z3.ULT(x, 1000 - n):
            n += 1
        return n

    with pytest.raises(PathExplosion):
        explore_paths(count_down, [], max_decisions=8)
