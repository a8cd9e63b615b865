"""`sel4spec explore`: search the spec's CrossHair contracts (spec.contracts) for counterexamples.

Each contract is a module-level function with PEP316 conditions; CrossHair checks each `post:`
condition separately, for at most the per-condition timeout, so the run takes about
(number of conditions) x (timeout). A condition that passes is "no counterexample" (CrossHair
is a search, never a proof), or "confirmed" when CrossHair exhausted every path. A failing
postcondition, an exception, or a precondition no explored path could meet (the contract then
checked nothing) makes the run fail.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from proofs.cli import (EXIT_FAIL, EXIT_OK, check_writable, guarded, make_parser, positive_float, select,
                        write_json)

DEFAULT_MODULE = "spec.contracts"
DEFAULT_TIMEOUT = 4.0  # seconds per condition: enough for tens of paths on the contracts' small states
PREFIX = "contract_"  # contract functions are named contract_<operation>

# CrossHair message type -> what the table says; the first two are passes.
STATUS = {"confirmed": "confirmed", "cannot_confirm": "no counterexample", "post_fail": "counterexample",
          "post_err": "error in condition", "exec_err": "raises", "pre_unsat": "vacuous",
          "syntax_err": "bad contract", "import_err": "bad contract"}
PASSING = ("confirmed", "no counterexample")


@dataclass
class ConditionResult:
    """One postcondition of a contract, as CrossHair left it."""

    condition: str
    line: int
    status: str
    paths: int
    seconds: float
    message: str = ""

    @property
    def passed(self) -> bool:
        """Nothing was found against this condition."""
        return self.status in PASSING


@dataclass
class ContractResult:
    """A contract: its conditions' results."""

    name: str
    function: str
    conditions: list[ConditionResult] = field(default_factory=list)

    @property
    def counterexamples(self) -> list[ConditionResult]:
        """The conditions CrossHair found something against."""
        return [c for c in self.conditions if not c.passed]

    @property
    def seconds(self) -> float:
        """The time spent on this contract."""
        return sum(c.seconds for c in self.conditions)

    def to_json(self) -> dict[str, Any]:
        """The --json entry."""
        return {"name": self.name, "function": self.function, "conditions": len(self.conditions),
                "paths": sum(c.paths for c in self.conditions), "seconds": round(self.seconds, 4),
                "counterexamples": [{"condition": c.condition, "line": c.line, "status": c.status,
                                     "message": c.message} for c in self.counterexamples]}


def contracts_of(module_name: str) -> list[tuple[str, Callable[..., Any]]]:
    """(name, function) for every contract function of a module, in source order."""
    module = importlib.import_module(module_name)
    fns = [f for n, f in vars(module).items()
           if n.startswith(PREFIX) and inspect.isfunction(f) and f.__module__ == module.__name__]
    fns.sort(key=lambda f: f.__code__.co_firstlineno)
    return [(f.__name__[len(PREFIX):], f) for f in fns]


def _short(message: str) -> str:
    """CrossHair's message without the (long) repr of the returned state."""
    return message.split(" (which returns", 1)[0]


def explore_contract(name: str, fn: Callable[..., Any], timeout: float) -> ContractResult:
    """Run CrossHair on each postcondition of one contract."""
    from crosshair.condition_parser import condition_parser
    from crosshair.core import ConditionCheckable, analyze_calltree
    from crosshair.core_and_libs import analyze_function
    from crosshair.options import AnalysisKind, AnalysisOptionSet

    from proofs import crosshair_plugin

    crosshair_plugin.register()  # the untraced invariant check (after CrossHair's own registrations)
    from crosshair.statespace import MessageType, VerificationStatus

    # A path may take as long as the condition: a deletion recursing through a CNode is slow under
    # CrossHair's tracer, and CrossHair's default (the square root of the timeout) cut such paths short.
    options = AnalysisOptionSet(analysis_kind=[AnalysisKind.PEP316], per_condition_timeout=timeout,
                                per_path_timeout=timeout)
    result = ContractResult(name, f"{fn.__module__}.{fn.__qualname__}")
    for checkable in analyze_function(fn, options):
        started, wall = time.process_time(), time.perf_counter()
        if isinstance(checkable, ConditionCheckable):
            # ConditionCheckable.analyze, keeping the number of paths on which the condition held.
            opts = checkable.options
            opts.deadline = started + opts.per_condition_timeout
            (post,) = checkable.conditions.post
            with condition_parser(opts.analysis_kind):
                analysis = analyze_calltree(opts, checkable.conditions)
            messages, paths = analysis.messages, analysis.num_confirmed_paths
            if not messages:
                kind = ("confirmed" if analysis.verification_status is VerificationStatus.CONFIRMED
                        else "cannot_confirm")
                messages = [_Message(MessageType(kind), "", post.line)]
            condition, line = post.expr_source.strip(), post.line
        else:  # a contract CrossHair cannot parse
            messages, paths, condition, line = list(checkable.analyze()), 0, "(contract)", 0
        seconds = time.perf_counter() - wall
        worst = max(messages, key=lambda m: list(STATUS).index(m.state.value))
        result.conditions.append(ConditionResult(condition, line, STATUS[worst.state.value], paths, seconds,
                                                 _short(worst.message)))
    return result


@dataclass
class _Message:
    """The shape of CrossHair's AnalysisMessage that explore_contract reads."""

    state: Any
    message: str
    line: int


@guarded
def run_explore(argv: Sequence[str]) -> int:
    """`sel4spec explore`: CrossHair on the spec's contracts; a table per contract, exit 1 on any counterexample."""
    parser = make_parser("explore", "Search the spec's CrossHair contracts for counterexamples.")
    parser.add_argument("--json", metavar="PATH", help="also write the machine-readable record to PATH")
    parser.add_argument("--only", metavar="PATTERN", action="append", default=[],
                        help="select contracts by name: a glob, or a substring (repeatable)")
    parser.add_argument("--per-condition-timeout", metavar="S", type=positive_float, default=DEFAULT_TIMEOUT,
                        help=f"seconds CrossHair spends on each condition (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--module", metavar="NAME", default=DEFAULT_MODULE,
                        help=f"the module whose contract_* functions to check (default {DEFAULT_MODULE})")
    args = parser.parse_args(list(argv))

    from proofs.cli import UsageError

    try:
        contracts = contracts_of(args.module)
    except ImportError as exc:
        raise UsageError(f"--module {args.module!r}: {exc}") from None
    selected = select(contracts, lambda c: c[0], args.only, "contract")
    if args.json:
        check_writable(args.json)
    if not selected:
        print(f"sel4spec: error: {args.module} has no contract_* functions", file=sys.stderr)
        return EXIT_FAIL

    started = time.perf_counter()
    results = []
    for name, fn in selected:
        if sys.stderr.isatty():
            print(f"exploring {name} ...", file=sys.stderr, flush=True)
        results.append(explore_contract(name, fn, args.per_condition_timeout))
    seconds = time.perf_counter() - started

    _print(results, seconds)
    if args.json:
        import crosshair

        write_json(args.json, {"tool": f"crosshair {getattr(crosshair, '__version__', '?')}",
                               "module": args.module, "per_condition_timeout": args.per_condition_timeout,
                               "seconds": round(seconds, 4), "contracts": [r.to_json() for r in results]})
    return EXIT_OK if all(not r.counterexamples for r in results) else EXIT_FAIL


def _print(results: Sequence[ContractResult], seconds: float) -> None:
    """The table (contract, conditions, paths, counterexamples, seconds), then each finding."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    out = Console(highlight=False)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("contract", overflow="fold")
    table.add_column("conditions", justify="right")
    table.add_column("paths", justify="right")
    table.add_column("counterexamples", justify="right")
    table.add_column("seconds", justify="right")
    for r in results:
        n = len(r.counterexamples)
        table.add_row(Text(r.name), str(len(r.conditions)), str(sum(c.paths for c in r.conditions)),
                      Text(str(n), style="bold red" if n else "green"), f"{r.seconds:.2f}")
    out.print(table)
    for r in results:
        for c in r.counterexamples:
            out.print()
            out.print(Text(f"{c.status.upper()}: {r.name}, line {c.line}: {c.condition}", style="bold red"))
            if c.message:
                out.print(f"  {c.message}", markup=False, soft_wrap=True)
    n_cond = sum(len(r.conditions) for r in results)
    n_bad = sum(len(r.counterexamples) for r in results)
    out.print(f"{len(results)} contracts, {n_cond} conditions: {n_bad} with a counterexample; {seconds:.2f} s",
              markup=False, soft_wrap=True)
