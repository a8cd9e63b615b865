"""The sel4spec command line: a dispatcher of lazily imported subcommands, and `sel4spec prove`."""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

if TYPE_CHECKING:
    from proofs.obligation import Obligation
    from proofs.solve import Result

PROG = "sel4spec"

# Exit statuses shared by every subcommand.
EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad usage: reported as one line on stderr, exit status 2."""


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (`sel4spec: error: ...`), not a usage dump."""

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing the usage and exiting."""
        raise UsageError(message)


def make_parser(command: str, description: str) -> CommandParser:
    """The argument parser of one subcommand, with the project's conventions."""
    return CommandParser(prog=f"{PROG} {command}", description=description, allow_abbrev=False)


def usage_error(message: str) -> int:
    """Print the one-line usage error and return exit status 2."""
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


F = TypeVar("F", bound=Callable[..., int])


def guarded(func: F) -> F:
    """Make a subcommand return its exit status for usage errors and --help instead of raising."""

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> int:
        try:
            return func(*args, **kwargs)
        except UsageError as exc:
            return usage_error(str(exc))
        except SystemExit as exc:  # argparse's --help exits 0
            code = exc.code
            return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_USAGE)

    return run  # type: ignore[return-value]


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return n


def positive_float(text: str) -> float:
    """argparse type: a number > 0."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not x > 0 or x == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return x


T = TypeVar("T")


def matches(name: str, pattern: str) -> bool:
    """--only semantics: an fnmatch glob on the name; a pattern without glob characters also matches as a substring."""
    import fnmatch

    if fnmatch.fnmatchcase(name, pattern):
        return True
    return not any(c in pattern for c in "*?[") and pattern in name


def select(items: Sequence[T], name_of: Callable[[T], str], patterns: Iterable[str], what: str) -> list[T]:
    """The items selected by --only patterns (all of them when none is given); a pattern selecting nothing is an error."""
    patterns = list(patterns)
    if not patterns:
        return list(items)
    for p in patterns:
        if not any(matches(name_of(i), p) for i in items):
            raise UsageError(f"--only {p!r} selects no {what}")
    return [i for i in items if any(matches(name_of(i), p) for p in patterns)]


def check_writable(path: str) -> None:
    """Fail with a usage error now, before any work, if the report could not be written to path."""
    if os.path.isdir(path):
        raise UsageError(f"cannot write {path}: is a directory")
    existed = os.path.exists(path)
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    if not existed:
        os.unlink(path)  # leave no empty report behind if the run is interrupted


def write_json(path: str, record: dict[str, Any]) -> None:
    """Write a JSON report."""
    import json

    with open(path, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)
        f.write("\n")


@dataclass(frozen=True)
class Command:
    """A subcommand: "module:function" (imported only when run; the function takes argv, returns the exit status)."""

    target: str
    help: str


COMMANDS: dict[str, Command] = {
    "prove": Command("proofs.cli:run_prove", "discharge the Z3 proof obligations"),
    "mutants": Command("proofs.mutants:run_mutants", "check that every seeded bug turns some check red"),
    "refine": Command("refinement.cli:main", "check that every impl step is a spec step on random traces"),
    "explore": Command("proofs.explore:run_explore", "search the spec's CrossHair contracts for counterexamples"),
}


def register_command(name: str, target: str, help: str) -> None:
    """Add a subcommand, e.g. register_command("refine", "refinement.cli:main", "check impl refines spec")."""
    COMMANDS[name] = Command(target, help)


def _load(target: str) -> Callable[[list[str]], int]:
    """Import the function a Command names."""
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)  # type: ignore[no-any-return]


def _top_help() -> str:
    """The text of `sel4spec --help`."""
    width = max(len(n) for n in COMMANDS)
    lines = [
        f"usage: {PROG} <command> [options]",
        "",
        "Formal-spec companion for the seL4 microkernel: proofs, refinement checks and seeded bugs.",
        "",
        "commands:",
        *(f"  {n.ljust(width)}  {c.help}" for n, c in COMMANDS.items()),
        "",
        f"Run '{PROG} <command> --help' for a command's options. Exit status: 0 when everything checked holds,",
        "1 when something fails, 2 on bad usage.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `sel4spec` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(_top_help())
        return EXIT_OK
    if not args:
        return usage_error(f"missing command (one of: {', '.join(COMMANDS)}); see '{PROG} --help'")
    if args[0] not in COMMANDS:
        what = "option" if args[0].startswith("-") else "command"
        return usage_error(f"unknown {what} {args[0]!r} (commands: {', '.join(COMMANDS)})")
    return guarded(_load(COMMANDS[args[0]].target))(args[1:])


def module_main(argv: list[str] | None = None) -> int:
    """`python -m proofs`: `sel4spec prove`, unless the first argument names another subcommand."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in COMMANDS:
        return main(args)
    return main(["prove", *args])


# ---------------------------------------------------------------------------------------------------------------
# sel4spec prove

_STYLE = {"proved": "green", "proved-bounded": "green", "refuted": "bold red", "vacuous": "bold red", "unknown": "yellow"}


def _status_text(ob: Obligation, r: Result) -> str:
    """The status as the table shows it: a bounded proof states its bound."""
    return f"proved up to {ob.bound}" if r.status == "proved-bounded" else r.status


def _is_error(r: Result) -> bool:
    """Whether an unknown is really a crash (which --allow-unknown does not excuse)."""
    return r.status == "unknown" and (r.reason or "").startswith("error:")


def prove_record(obs: Sequence[Obligation], results: Sequence[Result], seconds: float) -> dict[str, Any]:
    """The --json record of a prove run."""
    import z3

    entries = []
    for ob, r in zip(obs, results, strict=True):
        e: dict[str, Any] = {
            "name": ob.name,
            "about": list(ob.about),
            "kind": ob.kind,
            "property": ob.property,
            "domain": ob.domain,
            "status": r.status,
            "seconds": round(r.seconds, 4),
        }
        if r.status == "refuted":
            e["counterexample"] = r.counterexample
        entries.append(e)
    return {"solver": f"z3 {z3.get_version_string()}", "seconds": round(seconds, 4), "obligations": entries}


def _summary(results: Sequence[Result], seconds: float) -> str:
    """One line: counts per status, cache hits, total time."""
    from proofs.solve import STATUSES

    counts = [f"{sum(r.status == s for r in results)} {s}" for s in STATUSES if any(r.status == s for r in results)]
    cached = sum(r.cached for r in results)
    n = len(results)
    return f"{n} obligation{'s' if n != 1 else ''}: {', '.join(counts)}; {cached} from cache; {seconds:.2f} s"


@guarded
def run_prove(argv: Sequence[str], obligations: Sequence[Obligation] | None = None) -> int:
    """`sel4spec prove`: solve the selected obligations (the registry's, unless given), print a table."""
    parser = make_parser("prove", "Discharge the proof obligations with Z3 and report each one's status.")
    parser.add_argument("--json", metavar="PATH", help="also write the machine-readable record to PATH")
    parser.add_argument(
        "--only", metavar="PATTERN", action="append", default=[],
        help="select obligations by name: a glob, or a substring (repeatable)",
    )
    parser.add_argument("-j", "--jobs", metavar="N", type=positive_int, default=1, help="solve N at a time")
    parser.add_argument("--no-cache", action="store_true", help="solve again even what the cache has")
    parser.add_argument("--timeout", metavar="S", type=positive_float, help="seconds per obligation (overrides each)")
    parser.add_argument("--allow-unknown", action="store_true", help="do not fail on unknown (timeouts)")
    args = parser.parse_args(list(argv))

    if obligations is None:
        from proofs.obligation import all_obligations

        obligations = all_obligations()
    selected = select(obligations, lambda ob: ob.name, args.only, "obligation")
    if args.json:
        check_writable(args.json)
    if not selected:
        print(f"{PROG}: error: no obligations are registered", file=sys.stderr)
        return EXIT_FAIL
    if args.timeout is not None:
        import dataclasses

        selected = [dataclasses.replace(ob, timeout_s=args.timeout) for ob in selected]

    from rich.console import Console

    from proofs.solve import solve_all

    started = time.perf_counter()
    results = _solve_with_progress(selected, args.jobs, not args.no_cache, solve_all)
    seconds = time.perf_counter() - started

    out = Console(highlight=False)
    _print_results(out, selected, results)
    out.print(_summary(results, seconds), markup=False, soft_wrap=True)
    if args.json:
        write_json(args.json, prove_record(selected, results, seconds))

    def ok(r: Result) -> bool:
        return r.passed or (args.allow_unknown and r.status == "unknown" and not _is_error(r))

    return EXIT_OK if all(ok(r) for r in results) else EXIT_FAIL


def _solve_with_progress(
    obs: Sequence[Obligation], jobs: int, use_cache: bool, solve_all: Callable[..., list[Result]]
) -> list[Result]:
    """solve_all, with a progress bar on stderr when it is a terminal (and nothing otherwise)."""
    # indexed: this process runs the source as it is on disk (proofs/solve.py, the index).
    if not sys.stderr.isatty():
        return solve_all(obs, jobs=jobs, use_cache=use_cache, indexed=True)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("proving"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), console=Console(stderr=True), transient=True,
        auto_refresh=False,  # no refresh thread: solver processes are forked while this is live
    ) as progress:
        task = progress.add_task("", total=len(obs))
        progress.refresh()

        def advance(r: Result) -> None:
            progress.update(task, advance=1, description=f"{r.name}: {r.status}", refresh=True)

        return solve_all(obs, jobs=jobs, use_cache=use_cache, progress_callback=advance, indexed=True)


def _print_results(out: Any, obs: Sequence[Obligation], results: Sequence[Result]) -> None:
    """The table, then what each failure has to say: counterexamples with their failing conjuncts, reasons."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from proofs.decode import render_counterexample

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("obligation", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("seconds", justify="right", no_wrap=True)
    for ob, r in zip(obs, results, strict=True):
        secs = f"{r.seconds:.2f}" + (" (cached)" if r.cached else "")
        table.add_row(Text(ob.name), Text(_status_text(ob, r), style=_STYLE[r.status]), secs)
    out.print(table)
    for ob, r in zip(obs, results, strict=True):
        if r.passed:
            continue
        out.print()
        out.print(Text(f"{r.status.upper()}: {ob.name}", style=_STYLE[r.status]))
        out.print(f"  property: {ob.property}", markup=False)
        if r.status == "refuted":
            out.print(f"  failing goal conjuncts: {', '.join(r.failing) or '(none isolated)'}", markup=False)
            out.print("  counterexample:", markup=False)
            text = render_counterexample(r.counterexample or {}, indent=2)
            out.print("\n".join("    " + line for line in text.splitlines()), markup=False, soft_wrap=True)
        elif r.reason:
            out.print(f"  reason: {r.reason}", markup=False, soft_wrap=True)
