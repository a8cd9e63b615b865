"""The seeded-bug catalogue: mutants are killed, survive or are invalid, in isolated processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import z3

from proofs import mutants as mutants_mod
from proofs.mutants import Mutant, MutantResult, register_mutant, run_all_mutants, run_mutants
from proofs.obligation import Query

try:
    from tests import toy_target as toy
except ImportError:  # tests/ itself on sys.path, as pytest's prepend mode puts it
    import toy_target as toy  # type: ignore[no-redef,import-not-found]

TARGET = toy.__name__  # the name the toy module was imported under

# What `from toy_target import double` leaves behind: a second binding the mutation must reach.
double_copy = toy.double


def build_copy_even() -> Query:
    """Like toy:double_even, but through the copied binding."""
    x = z3.BitVec("x", 64)
    return Query(hypotheses=[], goal=[("even", toy.is_even(double_copy(x)))])


def concrete_double() -> str | None:
    """A non-solver check: run double on a concrete value."""
    got = toy.double(3)
    return None if got == 6 else f"double(3) = {got}, expected 6"


OBS = [toy.double_even(), toy.toy("toy:copy_even", build_copy_even), toy.refuted(), toy.proved()]


def off_by_one(x: z3.BitVecRef) -> z3.BitVecRef:
    """A seeded bug: one too many."""
    return x + x + 1


def times_two(x: z3.BitVecRef) -> z3.BitVecRef:
    """An equivalent mutant: nothing can kill it."""
    return x * 2


KILLED = Mutant("double_off_by_one", "double adds one too many", f"{TARGET}:double", off_by_one, ("toy:double_even",))
SURVIVES = Mutant("double_times_two", "an equivalent rewrite", f"{TARGET}:double", times_two, ("toy:double_*",))


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache directory (forked children inherit the environment)."""
    d = tmp_path / "cache"
    monkeypatch.setenv("SEL4SPEC_CACHE_DIR", str(d))
    return d


def judge(*ms: Mutant, jobs: int = 1) -> list[MutantResult]:
    """Run mutants over the toy obligations."""
    return run_all_mutants(ms, OBS, jobs=jobs)


def test_killed_and_survived() -> None:
    killed, survived = judge(KILLED, SURVIVES)
    assert killed.verdict == "killed"
    assert killed.killed_by == ["toy:double_even"]
    assert "toy:double_even refuted" in killed.detail and "even" in killed.detail
    assert survived.verdict == "survived" and survived.killed_by == []
    assert "toy:double_even: proved" in survived.detail
    # The mutation happened in a child: this process still has the original.
    assert toy.double is double_copy and toy.double(z3.BitVecVal(3, 8)).eq(z3.BitVecVal(3, 8) + 3)


def test_from_import_copies_are_patched() -> None:
    m = Mutant("copy", "", f"{TARGET}:double", off_by_one, ("toy:copy_even",))
    (r,) = judge(m)
    assert r.verdict == "killed" and r.killed_by == ["toy:copy_even"]


def test_check_kills() -> None:
    m = Mutant("by_check", "", f"{TARGET}:double", lambda x: x + x + 1, (), checks=(concrete_double,))
    (r,) = judge(m)
    assert r.verdict == "killed"
    assert r.killed_by == ["check:concrete_double"]
    assert "double(3) = 7" in r.detail


def test_vacuous_killer_does_not_kill() -> None:
    # Falsifying the hypothesis makes the killer vacuous, not refuted: that is no evidence.
    m = Mutant("never_in_range", "", f"{TARGET}:in_range", lambda x: z3.BoolVal(False), ("toy:double_even",))
    (r,) = judge(m)
    assert r.verdict == "survived"
    assert "vacuous" in r.detail


def test_invalid_mutants() -> None:
    missing = Mutant("missing", "", f"{TARGET}:no_such_function", off_by_one, ("toy:double_even",))
    no_module = Mutant("no_module", "", "no.such.module:f", off_by_one, ("toy:double_even",))
    no_killer = Mutant("no_killer", "", f"{TARGET}:double", off_by_one, ("toy:nothing*",))
    # A killer that is already refuted unmutated proves nothing about the mutation.
    red_already = Mutant("red_already", "", f"{TARGET}:double", off_by_one, ("toy:false",))
    results = judge(missing, no_module, no_killer, red_already)
    assert [r.verdict for r in results] == ["invalid"] * 4
    assert "no_such_function" in results[0].detail
    assert "toy:nothing*" in results[2].detail
    assert "refuted unmutated" in results[3].detail


def test_parallel_agrees() -> None:
    ms = (KILLED, SURVIVES, Mutant("copy", "", f"{TARGET}:double", off_by_one, ("toy:copy_even",)))
    assert [r.verdict for r in judge(*ms, jobs=2)] == [r.verdict for r in judge(*ms, jobs=1)]


def test_cli_exit_codes_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.json"
    assert run_mutants(["--json", str(path)], mutants=[KILLED], obligations=OBS) == 0
    rec = json.loads(path.read_text())
    assert set(rec) == {"mutants", "seconds"} and isinstance(rec["seconds"], float)
    (entry,) = rec["mutants"]
    assert set(entry) == {"name", "target", "verdict", "killed_by", "detail"}
    assert entry["verdict"] == "killed" and entry["killed_by"] == ["toy:double_even"]
    assert entry["target"] == f"{TARGET}:double"

    assert run_mutants([], mutants=[KILLED, SURVIVES], obligations=OBS) == 1
    out = capsys.readouterr().out
    assert "double_off_by_one" in out and "SURVIVED: double_times_two" in out
    assert out.strip().splitlines()[-1].startswith("2 mutants: 1 killed, 1 survived;")

    assert run_mutants(["--only", "off_by"], mutants=[KILLED, SURVIVES], obligations=OBS) == 0
    capsys.readouterr()


def test_cli_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--bogus"], ["--only", "zzz"], ["-j", "0"], ["--json", str(tmp_path / "nope" / "m.json")]):
        assert run_mutants(argv, mutants=[KILLED], obligations=OBS) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("sel4spec: error: ")


def test_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mutants_mod, "_MUTANTS", {})
    register_mutant(KILLED)
    with pytest.raises(ValueError, match="duplicate"):
        register_mutant(KILLED)
    monkeypatch.setattr(mutants_mod, "_discovered", True)
    assert mutants_mod.all_mutants() == [KILLED]
    with pytest.raises(ValueError):
        Mutant("bad", "", "no_colon", off_by_one, ())


def test_catalogue_package_imports() -> None:
    ms = mutants_mod.all_mutants()  # every module under proofs.catalogue imports cleanly
    assert all(isinstance(m, Mutant) for m in ms)
