"""Discharge obligations with Z3: witness check, proof check, counterexample decoding, cache, parallel runs."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import z3

from proofs import rawz3 as raw
from proofs.decode import generic_decode, render_counterexample
from proofs.intread import IntReading, Untranslatable
from proofs.obligation import Obligation, Query

__all__ = [
    "STATUSES",
    "PASSING",
    "Result",
    "solve",
    "solve_all",
    "cache_key",
    "default_cache_dir",
    "render_counterexample",
    "generic_decode",
]

STATUSES: tuple[str, ...] = ("proved", "proved-bounded", "refuted", "vacuous", "unknown")
PASSING: frozenset[str] = frozenset({"proved", "proved-bounded"})

# Bump when the stored record's meaning changes, so old entries stop matching.
CACHE_FORMAT = 2
DEFAULT_CACHE_DIR = ".sel4spec-cache"
CACHE_ENV = "SEL4SPEC_CACHE_DIR"


@dataclass
class Result:
    """What solving one obligation established."""

    name: str
    status: str
    seconds: float
    counterexample: dict[str, Any] | None = None
    failing: list[str] = field(default_factory=list)
    reason: str | None = None
    cached: bool = False
    # On a cache hit, the time the original solve took; seconds is then the time to serve it.
    solve_seconds: float | None = None

    @property
    def passed(self) -> bool:
        """Whether the status counts as proved."""
        return self.status in PASSING

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (crosses process boundaries and goes into the cache)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Result:
        """The inverse of to_dict."""
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def default_cache_dir() -> Path:
    """The cache directory: $SEL4SPEC_CACHE_DIR, else .sel4spec-cache in the current directory."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR)


def _declarations(terms: list[z3.BoolRef]) -> list[str]:
    """The SMT-LIB declarations of every symbol in terms, sorted (Z3 emits them in an order that follows AST ids)."""
    ctx = terms[0].ctx
    vec = (z3.Ast * len(terms))(*[t.as_ast() for t in terms])
    text = z3.z3core.Z3_benchmark_to_smtlib_string(ctx.ref(), "", "", "", "", len(terms), vec, z3.BoolVal(True, ctx).as_ast())
    return sorted(ln for ln in text.split("\n") if ln.startswith("(declare-"))


# Obligations over one symbolic state share whole hypotheses (the invariant), so printing each term once pays.
# The memo keeps the term alive, so its AST id cannot be reused by another term.
_SEXPR_MEMO: dict[int, tuple[z3.ExprRef, str]] = {}


def _sexpr(t: z3.ExprRef) -> str:
    """t.sexpr(), printed once per process."""
    hit = _SEXPR_MEMO.get(t.get_id())
    if hit is not None and hit[0].ctx is t.ctx:
        return hit[1]
    text = str(t.sexpr())
    _SEXPR_MEMO[t.get_id()] = (t, text)
    return text


def _formula_text(query: Query) -> str:
    """The query's declarations and assertions as SMT-LIB text that depends on the formula alone."""
    # Not the benchmark printer's assertions: which subterms it let-binds follows their reference counts,
    # i.e. whatever else the process holds; sexpr() counts sharing within the term itself.
    terms = [h for _, h in query.hypotheses] + [g for _, g in query.goal]
    if not terms:
        return ""
    return "\n".join([*_declarations(terms), *(_sexpr(t) for t in terms)])


def cache_key(ob: Obligation, query: Query) -> str:
    """sha256 of everything that decides the answer: solver version, kind, bound, timeout and the named formula."""
    payload = json.dumps(
        {
            "format": CACHE_FORMAT,
            "z3": z3.get_full_version(),
            "name": ob.name,
            "kind": ob.kind,
            "bound": ob.bound,
            "timeout_s": ob.timeout_s,
            "hypotheses": [n for n, _ in query.hypotheses],
            "goal": [n for n, _ in query.goal],
            "formula": _formula_text(query),
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _cache_path(cache_dir: Path, key: str) -> Path:
    """Where the record of one key lives."""
    return cache_dir / f"{key}.json"


def _cache_load(cache_dir: Path, key: str) -> dict[str, Any] | None:
    """The stored record, or None when missing or unreadable (a broken entry is just a miss)."""
    try:
        with open(_cache_path(cache_dir, key), encoding="utf-8") as f:
            rec = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or rec.get("key") != key or rec.get("status") not in STATUSES:
        return None
    if rec["status"] == "unknown":
        return None
    return rec


def _cache_store(cache_dir: Path, key: str, result: Result) -> None:
    """Store a decided result; atomically, since parallel runs may write the same key."""
    if result.status == "unknown":
        return  # a timeout says nothing about the formula, so it must be retried
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        ignore = cache_dir / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n", encoding="utf-8")
        rec = result.to_dict()
        rec.pop("cached", None)
        rec["key"] = key
        _write_json(cache_dir, _cache_path(cache_dir, key), rec)
    except OSError:
        pass  # a read-only cache only costs time


def _write_json(cache_dir: Path, path: Path, rec: dict[str, Any]) -> None:
    """Write rec to path atomically (parallel runs may write the same entry)."""
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(rec, f)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache may be shared
    os.replace(tmp, path)


def _from_cache(ob: Obligation, rec: dict[str, Any], started: float) -> Result:
    """A Result served from a stored record."""
    return Result(
        name=ob.name,
        status=rec["status"],
        seconds=time.perf_counter() - started,
        counterexample=rec.get("counterexample"),
        failing=list(rec.get("failing") or []),
        reason=rec.get("reason"),
        cached=True,
        solve_seconds=rec.get("seconds"),
    )


# The index: obligation -> the key of its formula, valid while the source that builds the formulas
# is unchanged. It lets `sel4spec prove` serve an unchanged obligation without building its query
# (building is most of a cached run's time). Only the CLI uses it: a process that patches the
# spec in memory (tests, `sel4spec mutants`) builds a formula its source files do not describe.
_SOURCE_PACKAGES = ("spec", "proofs", "refinement", "impl")
_FINGERPRINT: list[str] = []


def source_fingerprint() -> str:
    """sha256 of Z3's version, the cache format and every source file of the packages that build formulas."""
    if not _FINGERPRINT:
        root = Path(__file__).resolve().parent.parent
        h = hashlib.sha256(f"{z3.get_full_version()}\0{CACHE_FORMAT}\0".encode())
        for pkg in _SOURCE_PACKAGES:
            for f in sorted((root / pkg).rglob("*.py")):
                h.update(f"{f.relative_to(root)}\0".encode())
                h.update(f.read_bytes())
                h.update(b"\0")
        _FINGERPRINT.append(h.hexdigest())
    return _FINGERPRINT[0]


def _index_path(cache_dir: Path, ob: Obligation) -> Path:
    """Where the index entry of one obligation, under the current source, lives."""
    payload = json.dumps({"fingerprint": source_fingerprint(), "name": ob.name, "kind": ob.kind, "bound": ob.bound,
                          "timeout_s": ob.timeout_s}, sort_keys=True)
    return cache_dir / f"index-{hashlib.sha256(payload.encode()).hexdigest()}.json"


def _from_index(cache_dir: Path, ob: Obligation, started: float) -> Result | None:
    """The stored result of ob's formula, found through the index without building it; None on a miss."""
    try:
        key = json.loads(_index_path(cache_dir, ob).read_text(encoding="utf-8"))["key"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    rec = _cache_load(cache_dir, key) if isinstance(key, str) else None
    return _from_cache(ob, rec, started) if rec is not None else None


def _index_store(cache_dir: Path, ob: Obligation, key: str) -> None:
    """Record that ob's formula, under the current source, has this key (atomically, like the cache)."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        _write_json(cache_dir, _index_path(cache_dir, ob), {"name": ob.name, "key": key})
    except OSError:
        pass


def _check(s: z3.Solver, deadline: float) -> tuple[z3.CheckSatResult, str | None]:
    """One check within what is left of the obligation's budget; (unknown, reason) when it runs out."""
    remaining_ms = int((deadline - time.perf_counter()) * 1000)
    if remaining_ms < 1:
        return z3.unknown, "timeout"
    s.set("timeout", remaining_ms)
    r = s.check()
    return r, (s.reason_unknown() if r == z3.unknown else None)


def _unsat_core(query: Query, deadline: float) -> list[str] | None:
    """Names of hypotheses that together are contradictory, if Z3 finds them in the remaining time."""
    s = z3.Solver()
    tags = {}
    for i, (name, h) in enumerate(query.hypotheses):
        tag = z3.Bool(f"__hyp_{i}")
        tags[str(tag)] = name
        s.assert_and_track(h, tag)
    r, _ = _check(s, deadline)
    if r != z3.unsat:
        return None
    return [tags[str(t)] for t in s.unsat_core()]


def _decode(query: Query, model: z3.ModelRef) -> dict[str, Any]:
    """The counterexample as JSON, by the query's decoder if it has one."""
    terms = [h for _, h in query.hypotheses] + [g for _, g in query.goal]
    if query.decode is None:
        return generic_decode(model, terms)
    try:
        return query.decode(model)
    except Exception as exc:  # noqa: BLE001 - a broken decoder must not hide the refutation
        out = generic_decode(model, terms)
        out["decode_error"] = f"{type(exc).__name__}: {exc}"
        return out


def _solve_query(ob: Obligation, query: Query, started: float) -> Result:
    """Witness check, then the proof check, within the obligation's time budget."""
    deadline = started + ob.timeout_s

    def done(status: str, **kw: Any) -> Result:
        return Result(name=ob.name, status=status, seconds=time.perf_counter() - started, **kw)

    r, why = _witness(query, deadline)
    if r == z3.unsat:
        core = _unsat_core(query, deadline)
        what = f"hypotheses are unsatisfiable (together: {', '.join(core)})" if core else "hypotheses are unsatisfiable"
        return done("vacuous", reason=what)
    if r == z3.unknown:
        return done("unknown", reason=f"witness check: {why}")

    # Each goal conjunct is its own check: hypotheses and not-g unsatisfiable for every g is the
    # same as for the conjunction, and Z3 decides many small cases far faster than their
    # conjunction (measured: 48 case-split conjuncts in 2 s, their conjunction unknown after 120 s).
    # A fresh solver and context per bit-blasted check (_proof_check): a solver used once may be in a
    # mode slower for the next, and terms made in a context slow later checks there.
    # A case the integer reading proves is proved (proofs/intread.py); any other is bit-blasted,
    # which also gives the model of a refutation.
    reading = _IntQuery.of(query)
    for name, g in query.goal:
        if reading is not None and reading.proves(g, deadline):
            continue
        model, r, why = _proof_check(query, g, deadline)
        if r == z3.unknown:
            return done("unknown", reason=why if len(query.goal) == 1 else f"{why} (on {name})")
        if r == z3.sat:
            break
    else:
        return done("proved" if ob.bound is None else "proved-bounded")
    assert model is not None
    # Anything not evaluating to true (false, or left undecided under a quantifier) is reported.
    failing = [n for n, g in query.goal if not z3.is_true(model.eval(g, model_completion=True))]
    return done("refuted", counterexample=_decode(query, model), failing=failing)


def _witness(query: Query, deadline: float) -> tuple[z3.CheckSatResult, str | None]:
    """Whether the hypotheses are satisfiable: from the query's known model if it extends to one, else by search."""
    if query.known_model is not None and _extends_known_model(query, deadline):
        return z3.sat, None
    # In a context of its own, as _extends_known_model (measured: in_window:bounds, whose goal
    # checks take 2.5 s after it, 3.9 s when the search for a model ran in the query's context).
    ctx = z3.Context()
    w = z3.Solver(ctx=ctx)
    for _, h in query.hypotheses:
        w.add(h.translate(ctx))
    return _check(w, deadline)


# The most a known model may take to extend before the plain witness check runs instead.
KNOWN_MODEL_S = 5.0


def _extends_known_model(query: Query, deadline: float) -> bool:
    """Whether the hypotheses, with the known model's values bound, are satisfiable (then so are they)."""
    assert query.known_model is not None
    # In a context of its own: terms made in the query's context change how fast Z3 decides the
    # goal's cases there (measured: 102 s to 121 s over the Untyped_Retype obligations).
    ctx = z3.Context()
    hyps = [h.translate(ctx) for _, h in query.hypotheses]
    try:
        binding = query.known_model(_constants(hyps))
        bound = [z3.simplify(z3.substitute(h, *binding)) for h in hyps] if binding else []
    except Exception:  # noqa: BLE001 - a broken known model only costs the plain check
        return False
    if not bound or any(z3.is_false(b) for b in bound):
        return False
    s = z3.Solver(ctx=ctx)
    s.add([b for b in bound if not z3.is_true(b)])
    r, _ = _check(s, min(deadline, time.perf_counter() + KNOWN_MODEL_S))
    return r == z3.sat


def _constants(terms: Sequence[z3.ExprRef]) -> list[z3.ExprRef]:
    """The uninterpreted constants of terms (under quantifiers too), each once.

    A walk on raw ASTs (proofs/rawz3.py): through the Python wrappers it was most of the time of
    a known-model check (cnode_rotate:untyped_inc: 0.32 s of 0.37 s).
    """
    if not terms:
        return []
    ctx = terms[0].ctx
    c = ctx.ref()
    seen: set[int] = set()
    out: dict[int, Any] = {}
    stack = [t.as_ast() for t in terms]
    while stack:
        x = stack.pop()
        i = raw.ast_id(c, x)
        if i in seen:
            continue
        seen.add(i)
        kind = raw.ast_kind(c, x)
        if kind == z3.Z3_QUANTIFIER_AST:
            stack.append(raw.quantifier_body(c, x))
        elif kind == z3.Z3_APP_AST:
            n = raw.num_args(c, x)
            if n == 0 and raw.decl_kind(c, raw.app_decl(c, x)) == z3.Z3_OP_UNINTERPRETED:
                out[i] = x
            stack.extend(raw.app_arg(c, x, k) for k in range(n))
    # The terms are alive, so are their nodes: wrapping takes a reference of its own.
    return [z3.z3._to_expr_ref(x, ctx) for x in out.values()]


# For quantifier-free checks (arrays, bit-vectors): bit-blast after Ackermann reduction of the
# array reads. Measured on the Untyped_Retype queries: cases the default solver leaves unknown at
# 60 s are decided in under 20 s, and the rest 2-3 times faster.
def _QF(goal: z3.Goal) -> float:
    return z3.Probe("is-qfaufbv", goal.ctx)(goal)


def _bit_blaster(ctx: z3.Context) -> z3.Solver:
    return z3.Then(*[z3.Tactic(t, ctx) for t in ("simplify", "propagate-values", "solve-eqs", "elim-uncnstr",
                                                 "ackermannize_bv", "qfbv")]).solver()


def _proof_check(query: Query, g: z3.BoolRef, deadline: float
                 ) -> tuple[z3.ModelRef | None, z3.CheckSatResult, str | None]:
    """Hypotheses and not g: by bit-blasting when quantifier-free, else (or if that gives up) by
    Z3's default solver; (the model in g's context when sat, the answer, why when unknown)."""
    # In a context of its own, as the witness check: terms and models made in the query's context
    # slow the checks after them (measured: window_fits' last case 4.6 s after its six others,
    # 2.6 s on its own).
    ctx = z3.Context()
    goal = z3.Goal(ctx=ctx)
    for _, h in query.hypotheses:
        goal.add(h.translate(ctx))
    goal.add(z3.Not(g).translate(ctx))
    s = None
    if _QF(goal) == 1.0:
        s = _bit_blaster(ctx)
        s.add(goal.as_expr())
        r, why = _check(s, deadline)
    if s is None or (r == z3.unknown and why not in ("timeout", "canceled")):
        s = z3.Solver(ctx=ctx)
        s.add(goal.as_expr())
        r, why = _check(s, deadline)
    return (s.model().translate(g.ctx) if r == z3.sat else None), r, why


# The most one goal case may spend in the integer reading before it is bit-blasted instead.
INT_READING_S = 2.0


class _IntQuery:
    """A query's hypotheses in the integer reading (proofs/intread.py), which proves a goal case
    when it finds it unsat."""

    def __init__(self, reading: IntReading, hyps: list[z3.BoolRef]) -> None:
        self.reading = reading
        # One solver for every case, each case pushed and popped: unlike bit-blasting, linear
        # arithmetic keeps its speed when incremental (measured: untyped_retype:untyped_inc's 120
        # cases in 0.3 s, against 2.2 s with a fresh solver per case).
        self.solver = z3.Solver(ctx=reading.ctx)
        self.solver.add(*hyps)
        self.ranged = 0

    @classmethod
    def of(cls, query: Query) -> _IntQuery | None:
        """The reading of query's hypotheses; None when they have a term the reading does not cover."""
        reading = IntReading()
        try:
            return cls(reading, [reading.read(h) for _, h in query.hypotheses])
        except (Untranslatable, z3.Z3Exception):  # a reading that fails only costs the bit-blasting
            return None

    def proves(self, g: z3.BoolRef, deadline: float) -> bool:
        """Whether the hypotheses and not g are unsat in the reading, within INT_READING_S."""
        try:
            goal = self.reading.read(g)
        except (Untranslatable, z3.Z3Exception):
            return False
        s, ranges = self.solver, self.reading.ranges
        s.add(*ranges[self.ranged:])  # the range facts of words first met in g (true of every word)
        self.ranged = len(ranges)
        s.push()
        s.add(z3.Not(goal))
        r, _ = _check(s, min(deadline, time.perf_counter() + INT_READING_S))
        s.pop()
        return r == z3.unsat


def _safe_solve(ob: Obligation, query: Query) -> Result:
    """_solve_query, with a crash (in Z3 or a decoder) turned into an unknown result naming it."""
    started = time.perf_counter()
    try:
        return _solve_query(ob, query, started)
    except Exception as exc:  # noqa: BLE001 - never let one obligation take down the run
        reason = f"error: {type(exc).__name__}: {exc}"
        return Result(ob.name, "unknown", time.perf_counter() - started, reason=reason)


def _as_bool(name: str, term: Any) -> z3.BoolRef:
    """A conjunct as a Z3 Boolean: the concrete reading may fold a conjunct to a plain Python bool."""
    if isinstance(term, bool):
        return z3.BoolVal(term)
    if not z3.is_bool(term):
        raise TypeError(f"conjunct {name!r} is {type(term).__name__}, not a Z3 Boolean")
    return term


def _prepare(ob: Obligation) -> tuple[Query | None, Result | None]:
    """Build the query; a build that raises becomes an unknown result naming the error."""
    started = time.perf_counter()
    try:
        q = ob.build()
        if not isinstance(q, Query):
            raise TypeError(f"build() returned {type(q).__name__}, not Query")
        q.hypotheses = [(n, _as_bool(n, t)) for n, t in q.hypotheses]
        q.goal = [(n, _as_bool(n, t)) for n, t in q.goal]
        return q, None
    except Exception as exc:  # noqa: BLE001 - one broken obligation must not stop the others
        reason = f"error: build raised {type(exc).__name__}: {exc}"
        return None, Result(ob.name, "unknown", time.perf_counter() - started, reason=reason)


def _resolve_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    """The cache directory to use."""
    return Path(cache_dir) if cache_dir is not None else default_cache_dir()


def solve(ob: Obligation, use_cache: bool = True, cache_dir: str | os.PathLike[str] | None = None,
          indexed: bool = False) -> Result:
    """Solve one obligation, serving it from the cache when the same formula was decided before.

    indexed: also look the obligation up by name under the current source (the index above),
    before building its query; only for processes that run the source as it is on disk.
    """
    started = time.perf_counter()
    cdir = _resolve_dir(cache_dir)
    if use_cache and indexed:
        hit = _from_index(cdir, ob, started)
        if hit is not None:
            return hit
    query, failed = _prepare(ob)
    if failed is not None:
        return failed
    assert query is not None
    return _solve_prepared(ob, query, started, use_cache, cdir, indexed)


def _solve_prepared(ob: Obligation, query: Query, started: float, use_cache: bool, cdir: Path,
                    indexed: bool = False) -> Result:
    """Cache lookup, solve and store for an already built query."""
    key = cache_key(ob, query) if use_cache else ""
    if use_cache:
        rec = _cache_load(cdir, key)
        if rec is not None:
            if indexed:
                _index_store(cdir, ob, key)
            return _from_cache(ob, rec, started)
    result = _safe_solve(ob, query)
    if use_cache:
        _cache_store(cdir, key, result)
        if indexed and result.status != "unknown":
            _index_store(cdir, ob, key)
    return result


# The obligations of a parallel run, set just before forking: the children inherit them (Z3 terms
# and build functions do not pickle).
_FORK_OBS: dict[str, Obligation] = {}


def _child_solve(name: str, send: Any, use_cache: bool, cdir: Path, indexed: bool) -> None:
    """Forked child: build, look up, solve and store one obligation; send back a plain dict."""
    send.send(solve(_FORK_OBS[name], use_cache, cdir, indexed).to_dict())
    send.close()


def solve_all(
    obs: Sequence[Obligation],
    jobs: int = 1,
    use_cache: bool = True,
    progress_callback: Callable[[Result], None] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    indexed: bool = False,
) -> list[Result]:
    """Solve many obligations, jobs at a time; results come back in the order given (indexed: as for solve).

    Each obligation is built and solved in a child forked for it alone, so that Z3 meets every
    query as it would in a run of that obligation on its own: how fast a bit-blasted case is
    decided depends on the terms built before it in the process (measured: untyped_retype:
    untyped_inc 45 s alone, 117 s after the other obligations were built in the same process),
    and `--only NAME` must reproduce what the whole run saw. Building is parallel too.
    """
    names = [ob.name for ob in obs]
    if len(set(names)) != len(names):
        raise ValueError("obligation names must be unique")
    cdir = _resolve_dir(cache_dir)
    results: dict[str, Result] = {}

    def finish(r: Result) -> None:
        results[r.name] = r
        if progress_callback is not None:
            progress_callback(r)

    # Those with the largest budgets first, so that the longest are not left to run alone at the end.
    todo = [ob.name for ob in sorted(obs, key=lambda ob: -ob.timeout_s)]
    if use_cache and indexed:
        # Served through the index here, so a run with nothing to solve builds nothing and never forks.
        for ob in obs:
            hit = _from_index(cdir, ob, time.perf_counter())
            if hit is not None:
                finish(hit)
                todo.remove(ob.name)
    if len(todo) <= 1:
        for ob in obs:
            if ob.name in todo:
                finish(solve(ob, use_cache, cdir, indexed))
        return [results[n] for n in names]
    jobs = max(1, jobs)

    import multiprocessing  # only a parallel run pays for it
    from multiprocessing.connection import wait

    ctx = multiprocessing.get_context("fork")
    _FORK_OBS.clear()
    _FORK_OBS.update({ob.name: ob for ob in obs})
    running: dict[Any, tuple[Any, str]] = {}
    try:
        while todo or running:
            while todo and len(running) < jobs:
                name = todo.pop(0)
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_child_solve, args=(name, send, use_cache, cdir, indexed), daemon=True)
                proc.start()
                send.close()
                running[recv] = (proc, name)
            for conn in wait(list(running)):
                proc, name = running.pop(conn)
                try:
                    r = Result.from_dict(conn.recv())
                except (EOFError, OSError):
                    # A crash in Z3 (or a decoder) kills only this child.
                    r = Result(name, "unknown", 0.0, reason="error: its solver process died (a crash in Z3 or a decoder)")
                conn.close()
                proc.join()
                finish(r)
    finally:
        # Interrupted: stop the solvers now rather than wait out their timeouts.
        for proc, _ in running.values():
            proc.terminate()
        _FORK_OBS.clear()
    return [results[n] for n in names]
