"""The alignment lemma is proved; a wrong variant is refuted with a counterexample; a
variant with contradictory hypotheses is vacuous; each verdict gives prove's exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proofs.cli import run_prove
from proofs.obligation import Obligation, Query, get_obligation
from proofs.solve import solve
from spec import logic
from spec.logic import bit, is_aligned, ule, ult, wadd


def _variant(name: str, hypotheses: list, goal_of) -> Obligation:  # type: ignore[no-untyped-def]
    def build() -> Query:
        x, n = logic.word("x"), logic.word("n")
        return Query(hypotheses=hypotheses and [(h, f(x, n)) for h, f in hypotheses], goal=goal_of(x, n))
    return Obligation(name=name, about=("spec.logic.align_up",), property="test variant", kind="invariant",
                      build=build, timeout_s=20)


def test_the_lemma_is_proved(tmp_path: Path) -> None:
    r = solve(get_obligation("align_up:untyped_alignment"), cache_dir=tmp_path)
    assert r.status == "proved"


# Without the no-overflow hypothesis "below x + 2^n" is false: x = 2^64 - 1 rounds up to 0.
WRONG = _variant(
    "align_up:wrong_without_overflow_guard",
    [("n < 64", lambda x, n: ult(n, 64))],
    lambda x, n: [("not below x", ule(x, logic.align_up(x, n))),
                  ("below x + 2^n", ult(logic.align_up(x, n), wadd(x, bit(n))))])

CONTRADICTORY = _variant(
    "align_up:contradictory",
    [("n < 64", lambda x, n: ult(n, 64)), ("n >= 64", lambda x, n: ule(64, n))],
    lambda x, n: [("aligned", is_aligned(logic.align_up(x, n), n))])


def test_wrong_variant_is_refuted_with_a_counterexample(tmp_path: Path) -> None:
    r = solve(WRONG, use_cache=False, cache_dir=tmp_path)
    assert r.status == "refuted"
    assert r.counterexample and {"x", "n"} <= set(r.counterexample)
    assert r.failing  # the failing conjunct is isolated
    # The counterexample really breaks the claim, checked concretely.
    x = r.counterexample["x"]["int"] if isinstance(r.counterexample["x"], dict) else r.counterexample["x"]
    n = r.counterexample["n"]["int"] if isinstance(r.counterexample["n"], dict) else r.counterexample["n"]
    up = logic.align_up(x, n)
    assert not (x <= up and up < logic.wadd(x, logic.bit(n)))


def test_contradictory_hypotheses_are_vacuous(tmp_path: Path) -> None:
    assert solve(CONTRADICTORY, use_cache=False, cache_dir=tmp_path).status == "vacuous"


@pytest.mark.parametrize("ob, code, status", [(WRONG, 1, "refuted"), (CONTRADICTORY, 1, "vacuous")])
def test_prove_exit_codes(tmp_path: Path, ob: Obligation, code: int, status: str,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEL4SPEC_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out.json"
    good = get_obligation("align_up:untyped_alignment")
    assert run_prove(["--json", str(out)], obligations=[good, ob]) == code
    record = json.loads(out.read_text())
    statuses = {o["name"]: o["status"] for o in record["obligations"]}
    assert statuses == {good.name: "proved", ob.name: status}
    assert set(record) == {"solver", "seconds", "obligations"}
