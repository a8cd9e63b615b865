"""`sel4spec explore`: usage errors, a seeded bug found (exit 1), a real contract passing (exit 0)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proofs.cli import main
from proofs.explore import contracts_of, run_explore

SEEDED = "tests.crosshair_seeded"


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    """The captured stderr, checked to be a single `sel4spec: error:` line."""
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sel4spec: error: "), lines
    return lines[0]


@pytest.mark.parametrize(("argv", "says"), [
    (["--per-condition-timeout", "0"], "positive number"),
    (["--per-condition-timeout", "soon"], "positive number"),
    (["--only", "no_such_contract"], "selects no contract"),
    (["--module", "no.such.module"], "no.such.module"),
    (["--frobnicate"], "unrecognized arguments"),
])
def test_bad_usage_exits_2_with_one_line(argv: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explore", *argv]) == 2
    assert says in one_line_error(capsys)


def test_every_operation_has_a_contract() -> None:
    names = {n for n, _ in contracts_of("spec.contracts")}
    assert {"cnode_copy", "cnode_mint", "cnode_move", "cnode_mutate", "cnode_rotate", "cnode_delete", "cnode_revoke",
            "cnode_cancel_badged_sends", "empty_slot", "revoke_descendants", "untyped_retype",
            "lookup_slot_for_cnode_op"} <= names


def test_a_seeded_bug_is_a_counterexample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Copy that forgets the CDT: CrossHair finds a state whose invariants the copy breaks; exit 1."""
    report = tmp_path / "explore.json"
    code = run_explore(["--module", SEEDED, "--only", "cnode_copy_forgetting_the_cdt",
                        "--per-condition-timeout", "4", "--json", str(report)])
    assert code == 1
    record = json.loads(report.read_text())
    (contract,) = record["contracts"]
    assert contract["conditions"] == 2
    (found,) = contract["counterexamples"]
    assert found["status"] == "counterexample"
    assert found["condition"] == "invariants_hold(__return__[0])"
    assert "false when calling contract_cnode_copy_forgetting_the_cdt(" in found["message"]
    out = capsys.readouterr().out
    assert "COUNTEREXAMPLE: cnode_copy_forgetting_the_cdt" in out


def test_a_real_contract_passes(tmp_path: Path) -> None:
    """The real CancelBadgedSends contract: paths explored, nothing found; exit 0."""
    report = tmp_path / "explore.json"
    assert run_explore(["--only", "cnode_cancel_badged_sends", "--per-condition-timeout", "1",
                        "--json", str(report)]) == 0
    (contract,) = json.loads(report.read_text())["contracts"]
    assert contract["conditions"] == 2 and contract["counterexamples"] == []
    assert contract["paths"] > 0  # it explored something, not a vacuous pass
