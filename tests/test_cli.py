"""The sel4spec command line: exit codes, usage errors, --json, --only, the cache and -j."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from proofs.cli import main, run_prove
from proofs.obligation import Obligation, Query

try:
    from tests import toy_target as toy
except ImportError:  # tests/ itself on sys.path, as pytest's prepend mode puts it
    import toy_target as toy  # type: ignore[no-redef,import-not-found]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache directory."""
    d = tmp_path / "cache"
    monkeypatch.setenv("SEL4SPEC_CACHE_DIR", str(d))
    return d


def prove(argv: Sequence[str], obs: Sequence[Obligation]) -> int:
    """Run `sel4spec prove` over the given obligations."""
    return run_prove(list(argv), obligations=list(obs))


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    """The captured stderr, checked to be a single `sel4spec: error:` line."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sel4spec: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("make", "code"),
    [(toy.proved, 0), (toy.bounded, 0), (toy.refuted, 1), (toy.vacuous, 1), (toy.unknown, 1)],
)
def test_exit_status_per_status(make: object, code: int) -> None:
    assert prove([], [make()]) == code  # type: ignore[operator]


def test_allow_unknown_excuses_only_unknown() -> None:
    assert prove(["--allow-unknown"], [toy.proved(), toy.unknown()]) == 0
    assert prove(["--allow-unknown"], [toy.unknown(), toy.vacuous()]) == 1

    def broken() -> Query:
        raise RuntimeError("boom")

    # A build crash is reported as unknown but is never excused.
    assert prove(["--allow-unknown"], [toy.toy("toy:broken", broken)]) == 1


def test_json_record(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    obs = [toy.proved(), toy.bounded(), toy.refuted(), toy.vacuous(), toy.unknown()]
    assert prove(["--json", str(path)], obs) == 1
    rec = json.loads(path.read_text())
    assert set(rec) == {"solver", "seconds", "obligations"}
    assert rec["solver"].startswith("z3 ") and rec["solver"][3].isdigit()
    assert isinstance(rec["seconds"], float)
    assert [o["name"] for o in rec["obligations"]] == [ob.name for ob in obs]
    base = {"name", "about", "kind", "property", "domain", "status", "seconds"}
    for o in rec["obligations"]:
        assert set(o) == (base | {"counterexample"} if o["status"] == "refuted" else base)
        assert o["about"] == ["tests.toy_target"] and o["kind"] == "invariant"
        assert isinstance(o["seconds"], float) and o["property"]
    by = {o["name"]: o for o in rec["obligations"]}
    assert by["toy:true"]["domain"] == "unbounded" and by["toy:true"]["status"] == "proved"
    assert by["toy:bounded"]["domain"] == {"bound": 8} and by["toy:bounded"]["status"] == "proved-bounded"
    assert by["toy:false"]["status"] == "refuted" and "x" in by["toy:false"]["counterexample"]
    assert by["toy:vacuous"]["status"] == "vacuous"
    assert by["toy:factoring"]["status"] == "unknown"


def test_table_summary_and_counterexample_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert prove([], [toy.bounded(), toy.refuted()]) == 1
    out = capsys.readouterr().out
    assert "toy:bounded" in out and "proved up to 8" in out
    assert "REFUTED: toy:false" in out
    assert "failing goal conjuncts: below" in out
    assert "x = 0x" in out
    assert out.strip().splitlines()[-1].startswith("2 obligations: 1 proved-bounded, 1 refuted; 0 from cache;")


def test_unknown_option_is_one_line_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert prove(["--frobnicate"], [toy.proved()]) == 2
    assert "--frobnicate" in one_line_error(capsys)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("jobs", ["0", "-3", "many"])
def test_bad_jobs(jobs: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert prove(["-j", jobs], [toy.proved()]) == 2
    one_line_error(capsys)


def test_only_selecting_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert prove(["--only", "toy:true", "--only", "nothing*here"], [toy.proved()]) == 2
    assert "nothing*here" in one_line_error(capsys)


def test_unwritable_json_is_checked_before_solving(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    built: list[str] = []

    def build() -> Query:
        built.append("yes")
        return toy.build_true()

    bad = tmp_path / "no-such-dir" / "out.json"
    assert prove(["--json", str(bad)], [toy.toy("toy:watched", build)]) == 2
    assert str(bad) in one_line_error(capsys)
    assert built == []
    assert prove(["--json", str(tmp_path)], [toy.proved()]) == 2  # a directory
    one_line_error(capsys)


def test_only_glob_and_substring(tmp_path: Path) -> None:
    path = tmp_path / "o.json"
    obs = [toy.proved(), toy.bounded(), toy.refuted()]

    def names(*only: str) -> list[str]:
        argv = ["--json", str(path)]
        for p in only:
            argv += ["--only", p]
        prove(argv, obs)
        return [o["name"] for o in json.loads(path.read_text())["obligations"]]

    assert names("toy:t*") == ["toy:true"]
    assert names("bound") == ["toy:bounded"]  # no glob characters: a substring
    assert names("toy:[bf]*") == ["toy:bounded", "toy:false"]
    assert names("true", "false") == ["toy:true", "toy:false"]


def test_cache_and_no_cache(capsys: pytest.CaptureFixture[str], private_cache: Path) -> None:
    obs = [toy.proved(), toy.refuted()]
    prove([], obs)
    assert "; 0 from cache;" in capsys.readouterr().out
    prove([], obs)
    second = capsys.readouterr().out
    assert "; 2 from cache;" in second and "(cached)" in second
    assert "failing goal conjuncts: below" in second  # a cached refutation still shows its counterexample
    prove(["--no-cache"], obs)
    assert "; 0 from cache;" in capsys.readouterr().out


def test_parallel_matches_serial(tmp_path: Path) -> None:
    obs = [toy.refuted(), toy.proved(), toy.vacuous(), toy.bounded(), toy.unknown()]
    statuses = []
    for jobs in ("1", "2"):
        path = tmp_path / f"j{jobs}.json"
        assert prove(["--no-cache", "-j", jobs, "--json", str(path)], obs) == 1
        statuses.append([(o["name"], o["status"]) for o in json.loads(path.read_text())["obligations"]])
    assert statuses[0] == statuses[1]


def test_timeout_override() -> None:
    slow = toy.unknown(timeout_s=120.0)
    assert prove(["--timeout", "0.05"], [slow]) == 1
    assert prove(["--timeout", "0"], [slow]) == 2


def test_dispatcher(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "prove" in out and "mutants" in out
    assert main([]) == 2
    one_line_error(capsys)
    assert main(["frobnicate"]) == 2
    assert "frobnicate" in one_line_error(capsys)
    assert main(["--frobnicate"]) == 2
    one_line_error(capsys)
    assert main(["prove", "--help"]) == 0
    assert "--only" in capsys.readouterr().out
    assert main(["prove", "--only"]) == 2  # missing argument
    one_line_error(capsys)


def test_python_dash_m_proofs_help() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run(
        [sys.executable, "-m", "proofs", "--help"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 0, p.stderr
    assert "sel4spec prove" in p.stdout and "--json" in p.stdout
    # The dispatcher's help must not pay for the solver or the table library.
    probe = "import sys; from proofs.cli import main; main(['--help']); print(sorted({'z3', 'rich'} & set(sys.modules)))"
    p = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert p.stdout.strip().splitlines()[-1] == "[]"
