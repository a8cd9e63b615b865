"""The proof runner: statuses, counterexamples, timeouts, the cache and parallel runs."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
import z3

from proofs import obligation as obligation_mod
from proofs.decode import generic_decode, render_counterexample
from proofs.obligation import Obligation, Query, obligation, register
from proofs.solve import Result, cache_key, solve, solve_all

try:
    from tests import toy_target as toy
except ImportError:  # tests/ itself on sys.path, as pytest's prepend mode puts it
    import toy_target as toy  # type: ignore[no-redef,import-not-found]


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A private cache directory."""
    return tmp_path / "cache"


def test_true_lemma_is_proved(cache: Path) -> None:
    r = solve(toy.proved(), cache_dir=cache)
    assert r.status == "proved"
    assert r.counterexample is None and r.failing == [] and not r.cached
    assert r.passed


def test_bounded_lemma_states_its_bound(cache: Path) -> None:
    r = solve(toy.bounded(), cache_dir=cache)
    assert r.status == "proved-bounded"
    assert toy.bounded().domain == {"bound": 8}
    assert toy.proved().domain == "unbounded"


def test_false_lemma_is_refuted_with_counterexample(cache: Path) -> None:
    r = solve(toy.refuted(), cache_dir=cache)
    assert r.status == "refuted"
    assert r.failing == ["below"]  # the conjunct that holds is not blamed
    assert r.counterexample is not None
    x = r.counterexample["x"]
    assert set(x) == {"int", "hex"}  # 16 bits: shown both ways
    assert x["int"] >= 1000 and int(x["hex"], 16) == x["int"]
    assert "x = 0x" in render_counterexample(r.counterexample)


def test_contradictory_hypotheses_are_vacuous(cache: Path) -> None:
    r = solve(toy.vacuous(), cache_dir=cache)
    assert r.status == "vacuous"
    assert not r.passed
    assert r.reason is not None and "small" in r.reason and "large" in r.reason


def test_timeout_is_unknown_never_proved(cache: Path) -> None:
    r = solve(toy.unknown(timeout_s=0.05), cache_dir=cache)
    assert r.status == "unknown"
    assert r.reason
    assert r.seconds < 2
    assert not r.passed


def test_unknown_is_not_cached(cache: Path) -> None:
    ob = toy.unknown(timeout_s=0.05)
    assert not solve(ob, cache_dir=cache).cached
    assert not solve(ob, cache_dir=cache).cached
    assert not list(cache.glob("*.json"))


def test_cache_serves_second_run(cache: Path) -> None:
    first = solve(toy.refuted(), cache_dir=cache)
    second = solve(toy.refuted(), cache_dir=cache)
    assert not first.cached and second.cached
    assert second.status == first.status == "refuted"
    assert second.failing == first.failing
    assert second.counterexample == first.counterexample
    assert second.solve_seconds == pytest.approx(first.seconds)
    third = solve(toy.refuted(), use_cache=False, cache_dir=cache)
    assert not third.cached


def test_cache_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEL4SPEC_CACHE_DIR", str(tmp_path / "env-cache"))
    solve(toy.proved())
    assert solve(toy.proved()).cached
    assert list((tmp_path / "env-cache").glob("*.json"))


def test_cache_key_follows_the_formula(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ob = toy.double_even()
    assert solve(ob, cache_dir=cache).status == "proved"
    before = cache_key(ob, ob.build())
    # The obligation is built lazily, so a patched spec function changes the formula and misses the cache.
    monkeypatch.setattr(toy, "double", lambda x: x + x + 1)
    assert cache_key(ob, ob.build()) != before
    r = solve(ob, cache_dir=cache)
    assert r.status == "refuted" and not r.cached and r.failing == ["even"]


def test_cache_key_covers_timeout_and_bound() -> None:
    ob = toy.proved()
    q = ob.build()
    keys = {
        cache_key(ob, q),
        cache_key(dataclasses.replace(ob, timeout_s=1.0), q),
        cache_key(dataclasses.replace(ob, bound=3), q),
        cache_key(dataclasses.replace(ob, kind="equivalence"), q),
    }
    assert len(keys) == 4
    assert cache_key(ob, ob.build()) == cache_key(ob, q)  # rebuilding gives the same key


def test_cache_key_ignores_what_else_is_alive() -> None:
    # Z3's benchmark printer let-binds by reference count, so a key built from it changed when other queries
    # sharing subterms were alive (e.g. built before, in a solve_all); the key must depend on the formula only.
    ob = toy.toy("toy:shared", toy.build_shared)
    alone = cache_key(ob, ob.build())
    held = [toy.build_shared(i) for i in range(5)]
    assert cache_key(ob, ob.build()) == alone
    del held


def test_corrupt_cache_entry_is_a_miss(cache: Path) -> None:
    solve(toy.proved(), cache_dir=cache)
    for f in cache.glob("*.json"):
        f.write_text("{not json")
    r = solve(toy.proved(), cache_dir=cache)
    assert r.status == "proved" and not r.cached


def test_build_error_is_unknown_with_reason(cache: Path) -> None:
    def broken() -> Query:
        raise RuntimeError("spec exploded")

    r = solve(toy.toy("toy:broken", broken), cache_dir=cache)
    assert r.status == "unknown"
    assert r.reason is not None and r.reason.startswith("error:") and "spec exploded" in r.reason


def test_custom_decoder_and_failing_decoder(cache: Path) -> None:
    def build_custom() -> Query:
        q = toy.build_false()
        x = z3.BitVec("x", 16)
        q.decode = lambda m: {"x_plus_one": m.eval(x + 1, True).as_long()}
        return q

    r = solve(toy.toy("toy:custom", build_custom), use_cache=False)
    assert r.counterexample is not None and set(r.counterexample) == {"x_plus_one"}

    def build_bad() -> Query:
        q = toy.build_false()
        q.decode = lambda m: {"oops": 1 // 0}
        return q

    r = solve(toy.toy("toy:bad_decoder", build_bad), use_cache=False)
    assert r.status == "refuted"
    assert r.counterexample is not None and "x" in r.counterexample and "ZeroDivisionError" in r.counterexample["decode_error"]


def test_array_counterexample_is_decoded(cache: Path) -> None:
    r = solve(toy.toy("toy:array", toy.build_array), cache_dir=cache)
    assert r.status == "refuted" and r.failing == ["m_zero"]
    assert r.counterexample is not None
    m = r.counterexample["m"]
    assert set(m) >= {"entries"}
    k = r.counterexample["k"]
    assert isinstance(k, int)  # 8 bits: a plain int
    # Z3 may answer with a constant array or a table: either way m[k] must read 0x1000.
    assert m["entries"].get(str(k), m.get("default")) == {"int": 0x1000, "hex": "0x1000"}
    json.dumps(r.counterexample)  # plain JSON
    assert "0x1000 (4096)" in render_counterexample(r.counterexample)


def test_generic_decoder_shapes() -> None:
    a = z3.Array("a", z3.BitVecSort(4), z3.BoolSort())
    f = z3.Function("f", z3.IntSort(), z3.IntSort())
    b, n = z3.Bool("b"), z3.Int("n")
    i = z3.BitVec("i", 4)
    i_val = 3
    facts = [a == z3.Store(z3.K(z3.BitVecSort(4), z3.BoolVal(False)), i, z3.BoolVal(True)), i == i_val, b, f(n) == 7, n == 2]
    s = z3.Solver()
    s.add(*facts)
    assert s.check() == z3.sat
    d = generic_decode(s.model(), facts)
    assert d["b"] is True and d["n"] == 2 and d["i"] == i_val
    assert d["a"] == {"default": False, "entries": {"3": True}}
    assert d["f"]["entries"].get("2", d["f"]["default"]) == 7
    text = render_counterexample(d)
    assert "a:" in text and "[3] = true" in text and "otherwise = false" in text


def test_solve_all_keeps_order_and_parallel_agrees(cache: Path) -> None:
    obs = [toy.refuted(), toy.proved(), toy.vacuous(), toy.bounded(), toy.unknown()]
    serial = solve_all(obs, jobs=1, use_cache=False)
    parallel = solve_all(obs, jobs=2, use_cache=False)
    assert [r.name for r in serial] == [ob.name for ob in obs] == [r.name for r in parallel]
    assert [r.status for r in serial] == [r.status for r in parallel]
    assert [r.status for r in serial] == ["refuted", "proved", "vacuous", "proved-bounded", "unknown"]
    assert parallel[0].failing == ["below"]


def test_solve_all_progress_and_cache(cache: Path) -> None:
    seen: list[Result] = []
    obs = [toy.proved(), toy.refuted()]
    solve_all(obs, jobs=2, cache_dir=cache, progress_callback=seen.append)
    assert sorted(r.name for r in seen) == sorted(ob.name for ob in obs)
    again = solve_all(obs, jobs=2, cache_dir=cache)
    assert all(r.cached for r in again)


def test_solve_all_survives_a_dying_worker() -> None:
    def build_crash() -> Query:
        q = toy.build_false()
        q.decode = lambda m: os._exit(3)  # what a segfault in Z3 looks like from outside
        return q

    crash, ok = solve_all([toy.toy("toy:crash", build_crash), toy.proved()], jobs=2, use_cache=False)
    assert crash.status == "unknown" and crash.reason is not None and crash.reason.startswith("error:")
    assert ok.status in ("proved", "unknown")  # it may have been lost with the broken pool, never passed off


def test_solve_all_rejects_duplicate_names() -> None:
    with pytest.raises(ValueError):
        solve_all([toy.proved(), toy.proved()], use_cache=False)


def test_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(obligation_mod, "_REGISTRY", {})

    @obligation(name="toy:decorated", about="tests.toy_target.double", property="it holds", kind="invariant", bound=4)
    def build() -> Query:
        return toy.build_true()

    ob = obligation_mod.get_obligation("toy:decorated")
    assert ob.about == ("tests.toy_target.double",) and ob.bound == 4 and ob.build is build
    with pytest.raises(ValueError, match="duplicate"):
        register(dataclasses.replace(ob))
    monkeypatch.setattr(obligation_mod, "_discovered", True)
    assert [o.name for o in obligation_mod.all_obligations()] == ["toy:decorated"]


def test_discovery_imports_the_obligations_package() -> None:
    obligation_mod.discover()  # every module under proofs.obligations imports cleanly


def test_obligation_validation() -> None:
    with pytest.raises(ValueError):
        Obligation("x", ("a",), "p", "lemma", toy.build_true)
    with pytest.raises(ValueError):
        Obligation("x", ("a",), "p", "invariant", toy.build_true, bound=-1)
    with pytest.raises(ValueError):
        Obligation("x", ("a",), "p", "invariant", toy.build_true, timeout_s=0)


def test_the_index_serves_an_unchanged_obligation_without_building(cache: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from proofs import solve as solve_mod

    built: list[str] = []

    def counting() -> Query:
        built.append("x")
        return toy.build_true()

    ob = toy.toy("toy:indexed", counting)
    assert solve(ob, cache_dir=cache, indexed=True).status == "proved" and built == ["x"]
    r = solve(ob, cache_dir=cache, indexed=True)
    assert r.status == "proved" and r.cached and built == ["x"]  # served through the index: not built
    # Without the index (a process that may have patched the spec), the formula is built again.
    assert solve(ob, cache_dir=cache).cached and built == ["x", "x"]
    # A run with nothing left to solve never forks (a forked child here would die: unknown).
    solve_all([toy.refuted()], cache_dir=cache, indexed=True)
    monkeypatch.setattr(solve_mod, "_child_solve", lambda *a: os._exit(1))
    again = solve_all([ob, toy.refuted()], jobs=2, cache_dir=cache, indexed=True)
    assert [r.status for r in again] == ["proved", "refuted"] and all(r.cached for r in again)
    # Any change to the source (here: its fingerprint) makes the index miss.
    monkeypatch.setattr(solve_mod, "_FINGERPRINT", ["another source"])
    r = solve(ob, cache_dir=cache, indexed=True)
    assert r.status == "proved" and r.cached and built == ["x", "x", "x"]


def test_the_source_fingerprint_covers_the_spec() -> None:
    from proofs import solve as solve_mod

    fp = solve_mod.source_fingerprint()
    assert len(fp) == 64 and solve_mod.source_fingerprint() == fp
    assert "spec" in solve_mod._SOURCE_PACKAGES and "proofs" in solve_mod._SOURCE_PACKAGES
