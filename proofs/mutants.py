"""The seeded-bug catalogue: each mutant replaces one spec or impl function and must turn some check red."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from proofs.cli import (
    EXIT_FAIL,
    EXIT_OK,
    check_writable,
    guarded,
    make_parser,
    positive_int,
    select,
    write_json,
)

if TYPE_CHECKING:
    from proofs.obligation import Obligation
    from proofs.solve import Result

CATALOGUE_PACKAGE = "proofs.catalogue"
VERDICTS: tuple[str, ...] = ("killed", "survived", "invalid")

Check = Callable[[], "str | None"]


@dataclass(frozen=True)
class Mutant:
    """A seeded bug: target ("package.module:function") is replaced by replacement while the killers run."""

    name: str
    description: str
    target: str
    replacement: Callable[..., Any]
    killers: tuple[str, ...]
    checks: tuple[Check, ...] = ()

    def __post_init__(self) -> None:
        """Normalise the pattern and check tuples, and reject a target without a module part."""
        if isinstance(self.killers, str):
            object.__setattr__(self, "killers", (self.killers,))
        else:
            object.__setattr__(self, "killers", tuple(self.killers))
        object.__setattr__(self, "checks", tuple(self.checks))
        if ":" not in self.target:
            raise ValueError(f"mutant {self.name}: target {self.target!r} is not 'package.module:function'")


@dataclass
class MutantResult:
    """The verdict on one mutant."""

    name: str
    target: str
    verdict: str
    killed_by: list[str]
    detail: str
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The --json entry."""
        return {
            "name": self.name,
            "target": self.target,
            "verdict": self.verdict,
            "killed_by": list(self.killed_by),
            "detail": self.detail,
        }


_MUTANTS: dict[str, Mutant] = {}
_discovered = False


def register_mutant(m: Mutant) -> Mutant:
    """Add a mutant to the catalogue; a second one with the same name is an error."""
    if m.name in _MUTANTS:
        raise ValueError(f"duplicate mutant name {m.name!r}")
    _MUTANTS[m.name] = m
    return m


def all_mutants() -> list[Mutant]:
    """Every registered mutant, after importing every module of the catalogue package."""
    global _discovered
    if not _discovered:
        pkg = importlib.import_module(CATALOGUE_PACKAGE)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=CATALOGUE_PACKAGE + "."):
            importlib.import_module(info.name)
        _discovered = True
    return list(_MUTANTS.values())


def resolve_target(target: str) -> tuple[Any, str, Any]:
    """(owner, attribute, original object) of "package.module:name" or "package.module:Class.name"."""
    module_name, _, qualname = target.partition(":")
    if not module_name or not qualname:
        raise LookupError(f"target {target!r} is not 'package.module:function'")
    try:
        owner: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise LookupError(f"cannot import {module_name}: {exc}") from None
    *path, attr = qualname.split(".")
    for part in path:
        if not hasattr(owner, part):
            raise LookupError(f"{module_name} has no {qualname}")
        owner = getattr(owner, part)
    if not hasattr(owner, attr):
        raise LookupError(f"{module_name} has no {qualname}")
    return owner, attr, getattr(owner, attr)


def apply_mutation(target: str, replacement: Callable[..., Any]) -> int:
    """Put replacement in place of the target everywhere it is bound; return how many bindings changed."""
    owner, attr, original = resolve_target(target)
    setattr(owner, attr, replacement)
    count = 1
    # `from m import f` copies f into the importer: patch every module-level name bound to the original,
    # and the values of module-level dict and list tables (dispatch tables built at import time).
    for mod in list(sys.modules.values()):
        namespace = getattr(mod, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for key, value in list(namespace.items()):
            if value is original:
                namespace[key] = replacement
                count += 1
            elif type(value) is dict:
                for k, v in list(value.items()):
                    if v is original:
                        value[k] = replacement
                        count += 1
            elif type(value) is list:
                for i, v in enumerate(value):
                    if v is original:
                        value[i] = replacement
                        count += 1
    return count


def _check_name(check: Check) -> str:
    """How a check is named in reports."""
    return "check:" + getattr(check, "__qualname__", getattr(check, "__name__", repr(check)))


def _run_check(check: Check) -> str | None:
    """A check's failure line, or None when it passed; a check that raises has caught something too."""
    try:
        out = check()
    except Exception as exc:  # noqa: BLE001 - the mutation may make the checked code raise
        return f"raised {type(exc).__name__}: {exc}"
    return None if out is None else str(out)


def _excerpt(r: Result, limit: int = 200) -> str:
    """A short, one-line account of a refutation: failing conjuncts and the start of the counterexample."""
    from proofs.decode import render_counterexample

    cex = render_counterexample(r.counterexample or {}, indent=0).replace("\n", "; ")
    text = f"{r.name} refuted (failing: {', '.join(r.failing) or '?'}): {cex}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class _Evidence:
    """What the killers and checks said, in one process."""

    statuses: dict[str, str]
    excerpts: dict[str, str]
    reasons: dict[str, str]
    checks: list[str | None]


def _evaluate(obs: Sequence[Obligation], checks: Sequence[Check], jobs: int, use_cache: bool) -> _Evidence:
    """Solve the obligations and run the checks in this process, as it stands (mutated or not)."""
    from proofs.solve import solve_all

    results = solve_all(obs, jobs=jobs, use_cache=use_cache)
    return _Evidence(
        statuses={r.name: r.status for r in results},
        excerpts={r.name: _excerpt(r) for r in results if r.status == "refuted"},
        reasons={r.name: r.reason or "" for r in results if r.reason},
        checks=[_run_check(c) for c in checks],
    )


def _in_child(fn: Callable[..., Any], *args: Any) -> Any:
    """Start fn(*args) in a forked child; return (process, connection) to collect ("ok", value) or ("error", text)."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)

    def body() -> None:
        try:
            send.send(("ok", fn(*args)))
        except BaseException:  # noqa: BLE001 - report anything, the parent decides
            send.send(("error", traceback.format_exc(limit=-3)))
        finally:
            send.close()

    # Not a daemon: the baseline may run a parallel pool of its own.
    proc = ctx.Process(target=body, daemon=False)
    proc.start()
    send.close()
    return proc, recv


def _collect(proc: Any, conn: Any) -> tuple[str, Any]:
    """The child's answer, or an error when it died without one."""
    try:
        answer = conn.recv()
    except EOFError:
        answer = None
    proc.join()
    conn.close()
    if answer is None:
        return "error", f"runner process died (exit code {proc.exitcode})"
    return answer  # type: ignore[no-any-return]


@dataclass
class _Plan:
    """A valid mutant with the obligations its patterns select."""

    mutant: Mutant
    killers: list[Obligation]


def _mutant_body(plan: _Plan, baseline: _Evidence, all_checks: list[Check], use_cache: bool) -> MutantResult:
    """In the forked child: mutate, solve the killers, run the checks, judge against the baseline."""
    started = time.perf_counter()
    m = plan.mutant
    # Killers and checks that already fail unmutated cannot tell us anything about the mutation.
    obs = [ob for ob in plan.killers if baseline.statuses.get(ob.name) in ("proved", "proved-bounded")]
    checks = [c for c in m.checks if baseline.checks[_index(all_checks, c)] is None]
    kept = {ob.name for ob in obs}
    dropped = [f"{ob.name} ({baseline.statuses.get(ob.name)} unmutated)" for ob in plan.killers if ob.name not in kept]
    dropped += [f"{_check_name(c)} (fails unmutated)" for c in m.checks if not any(c is k for k in checks)]
    if not obs and not checks:
        return MutantResult(m.name, m.target, "invalid", [], "no killer holds on the unmutated code: " + "; ".join(dropped))

    apply_mutation(m.target, m.replacement)
    ev = _evaluate(obs, checks, jobs=1, use_cache=use_cache)
    killed_by = [ob.name for ob in obs if ev.statuses[ob.name] == "refuted"]
    check_fails = [(c, f) for c, f in zip(checks, ev.checks, strict=True) if f is not None]
    killed_by += [_check_name(c) for c, _ in check_fails]
    seconds = time.perf_counter() - started
    if killed_by:
        first = next((ev.excerpts[n] for n in killed_by if n in ev.excerpts), None)
        detail = first if first is not None else f"{_check_name(check_fails[0][0])}: {check_fails[0][1]}"
        return MutantResult(m.name, m.target, "killed", killed_by, detail, seconds)
    said = [
        f"{ob.name}: {ev.statuses[ob.name]}" + (f" ({ev.reasons[ob.name]})" if ob.name in ev.reasons else "")
        for ob in obs
    ]
    said += [f"{_check_name(c)}: passed" for c in checks]
    if dropped:
        said.append("not counted: " + ", ".join(dropped))
    return MutantResult(m.name, m.target, "survived", [], "; ".join(said), seconds)


def _index(items: Sequence[Any], x: Any) -> int:
    """Position of x in items by identity (checks are compared as objects, not by equality)."""
    return next(i for i, y in enumerate(items) if y is x)


def run_all_mutants(
    mutants: Sequence[Mutant],
    obligations: Sequence[Obligation],
    jobs: int = 1,
    use_cache: bool = True,
    progress_callback: Callable[[MutantResult], None] | None = None,
) -> list[MutantResult]:
    """Judge every mutant, each in its own forked process, up to jobs at a time; results in the order given."""
    from multiprocessing.connection import wait

    if len({m.name for m in mutants}) != len(mutants):
        raise ValueError("mutant names must be unique")
    results: dict[str, MutantResult] = {}

    def finish(r: MutantResult) -> None:
        results[r.name] = r
        if progress_callback is not None:
            progress_callback(r)

    plans: list[_Plan] = []
    for m in mutants:
        try:
            resolve_target(m.target)
        except LookupError as exc:
            finish(MutantResult(m.name, m.target, "invalid", [], f"target not found: {exc}"))
            continue
        empty = [p for p in m.killers if not any(_killer_match(ob.name, p) for ob in obligations)]
        if empty:
            finish(MutantResult(m.name, m.target, "invalid", [], f"killer pattern selects no obligation: {', '.join(empty)}"))
            continue
        if not m.killers and not m.checks:
            finish(MutantResult(m.name, m.target, "invalid", [], "no killers and no checks"))
            continue
        killers = [ob for ob in obligations if any(_killer_match(ob.name, p) for p in m.killers)]
        plans.append(_Plan(m, killers))

    if plans:
        # One unmutated run of every killer and check, in a child so that the checks' side effects stay there.
        seen: dict[str, Obligation] = {}
        for p in plans:
            for ob in p.killers:
                seen.setdefault(ob.name, ob)
        all_checks: list[Check] = []
        for p in plans:
            for c in p.mutant.checks:
                if not any(c is x for x in all_checks):
                    all_checks.append(c)
        status, baseline = _collect(*_in_child(_evaluate, list(seen.values()), all_checks, jobs, use_cache))
        if status != "ok":
            raise RuntimeError(f"the unmutated baseline run failed:\n{baseline}")

        queue = list(plans)
        running: dict[Any, tuple[Any, _Plan]] = {}
        while queue or running:
            while queue and len(running) < jobs:
                plan = queue.pop(0)
                proc, conn = _in_child(_mutant_body, plan, baseline, all_checks, use_cache)
                running[conn] = (proc, plan)
            for conn in wait(list(running)):
                proc, plan = running.pop(conn)
                status, value = _collect(proc, conn)
                if status == "ok":
                    finish(value)
                else:
                    m = plan.mutant
                    last = str(value).strip().splitlines()[-1] if str(value).strip() else str(value)
                    finish(MutantResult(m.name, m.target, "invalid", [], f"runner crashed: {last}"))
    return [results[m.name] for m in mutants]


def _killer_match(name: str, pattern: str) -> bool:
    """Killer patterns are fnmatch globs over obligation names (no substring matching: they are code, not typing)."""
    import fnmatch

    return fnmatch.fnmatchcase(name, pattern)


_STYLE = {"killed": "green", "survived": "bold red", "invalid": "bold red"}


@guarded
def run_mutants(
    argv: Sequence[str],
    mutants: Sequence[Mutant] | None = None,
    obligations: Sequence[Obligation] | None = None,
) -> int:
    """`sel4spec mutants`: run the seeded-bug catalogue (the registry's, unless given) and print a verdict table."""
    parser = make_parser("mutants", "Check that every seeded bug is caught by the obligations or checks that claim it.")
    parser.add_argument("--json", metavar="PATH", help="also write the machine-readable record to PATH")
    parser.add_argument(
        "--only", metavar="PATTERN", action="append", default=[],
        help="select mutants by name: a glob, or a substring (repeatable)",
    )
    parser.add_argument("-j", "--jobs", metavar="N", type=positive_int, default=1, help="run N mutants at a time")
    parser.add_argument("--no-cache", action="store_true", help="solve again even what the cache has")
    args = parser.parse_args(list(argv))

    if mutants is None:
        mutants = all_mutants()
    if obligations is None:
        from proofs.obligation import all_obligations

        obligations = all_obligations()
    selected = select(mutants, lambda m: m.name, args.only, "mutant")
    if args.json:
        check_writable(args.json)
    if not selected:
        print("sel4spec: error: no mutants are registered", file=sys.stderr)
        return EXIT_FAIL

    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    started = time.perf_counter()
    results = _run_with_progress(selected, obligations, args.jobs, not args.no_cache)
    seconds = time.perf_counter() - started

    out = Console(highlight=False)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("mutant", overflow="fold")
    table.add_column("verdict", no_wrap=True)
    table.add_column("killed by", overflow="fold")
    for r in results:
        table.add_row(Text(r.name), Text(r.verdict, style=_STYLE[r.verdict]), Text(", ".join(r.killed_by) or "-"))
    out.print(table)
    for r in results:
        if r.verdict != "killed":
            out.print()
            out.print(Text(f"{r.verdict.upper()}: {r.name} ({r.target})", style=_STYLE[r.verdict]))
            out.print(f"  {r.detail}", markup=False, soft_wrap=True)
    counts = ", ".join(f"{sum(r.verdict == v for r in results)} {v}" for v in VERDICTS if any(r.verdict == v for r in results))
    n = len(results)
    out.print(f"{n} mutant{'s' if n != 1 else ''}: {counts}; {seconds:.2f} s", markup=False, soft_wrap=True)
    if args.json:
        write_json(args.json, {"mutants": [r.to_json() for r in results], "seconds": round(seconds, 4)})
    return EXIT_OK if all(r.verdict == "killed" for r in results) else EXIT_FAIL


def _run_with_progress(
    mutants: Sequence[Mutant], obligations: Sequence[Obligation], jobs: int, use_cache: bool
) -> list[MutantResult]:
    """run_all_mutants, with a progress bar on stderr when it is a terminal."""
    if not sys.stderr.isatty():
        return run_all_mutants(mutants, obligations, jobs=jobs, use_cache=use_cache)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("mutants"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), console=Console(stderr=True), transient=True,
        auto_refresh=False,  # no refresh thread: solver processes are forked while this is live
    ) as progress:
        task = progress.add_task("", total=len(mutants))
        progress.refresh()

        def advance(r: MutantResult) -> None:
            progress.update(task, advance=1, description=f"{r.name}: {r.verdict}", refresh=True)

        return run_all_mutants(mutants, obligations, jobs=jobs, use_cache=use_cache, progress_callback=advance)
