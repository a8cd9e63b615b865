"""The seeded impl bugs of proofs/catalogue/impl_caps.py: each is killed by the refinement checker.

Only the fixed-scenario check runs here (a few seconds in all); `sel4spec mutants --only
'impl_*'` also runs the random-trace check.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from proofs.catalogue.impl_caps import _scenarios_catch
from proofs.mutants import all_mutants, run_all_mutants

EXPECTED = {
    "impl_is_mdb_parent_of_ignores_badges",
    "impl_cte_insert_wrong_place",
    "impl_cte_revoke_stops_early",
    "impl_retype_free_index_off_by_one",
    "impl_resolve_guard_wrong_bits",
    "impl_rotate_mishandles_pivot",
}


def test_every_impl_mutant_is_killed_by_the_refinement_scenarios(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEL4SPEC_CACHE_DIR", str(tmp_path / "cache"))  # no proof cache is touched
    impl_mutants = [m for m in all_mutants() if m.name.startswith("impl_")]
    assert {m.name for m in impl_mutants} == EXPECTED
    only_scenarios = [dataclasses.replace(m, checks=(_scenarios_catch,)) for m in impl_mutants]
    results = run_all_mutants(only_scenarios, [], jobs=2)
    for r in results:
        assert r.verdict == "killed", f"{r.name}: {r.verdict}: {r.detail}"
        assert r.killed_by == ["check:_scenarios_catch"]
        # The check names the first difference it saw.
        assert "scenarios: " in r.detail and " after " in r.detail, r.detail
