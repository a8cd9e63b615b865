"""Building time of the proof suite: how long each obligation takes to build its query.

`sel4spec prove --json` records each obligation's solving time only; a parallel run's wall time is
about (building + solving) / jobs. This builds every selected obligation's query in a child forked
for it alone, as the runner does, and prints the sum, the sum for each operation (the part of a
name before ':') and the slowest builds.
Usage: python benchmarks/bench_build.py [--only PATTERN] [--top K]  (--only as in sel4spec prove)
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proofs.cli import matches  # noqa: E402
from proofs.obligation import Obligation, all_obligations, discover  # noqa: E402


def _child(measure: Callable[[Obligation], Any], ob: Obligation, send: Any) -> None:
    try:
        send.send(("ok", measure(ob)))
    except Exception as exc:  # noqa: BLE001 - reported, not raised, so the other obligations go on
        send.send(("error", f"{type(exc).__name__}: {exc}"))
    send.close()


def in_child(measure: Callable[[Obligation], Any], ob: Obligation, tool: str) -> Any:
    """measure(ob), run in a child forked for ob alone, as the runner runs each obligation."""
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(measure, ob, send))
    proc.start()
    send.close()
    try:
        kind, value = recv.recv()
    except EOFError:
        kind, value = "error", "the process died"
    proc.join()
    if kind != "ok":
        sys.exit(f"{tool}: {ob.name}: {value}")
    return value


def _build(ob: Obligation) -> float:
    started = time.perf_counter()
    ob.build()
    return time.perf_counter() - started


def build_seconds(ob: Obligation) -> float:
    """Seconds to build ob's query in a forked child."""
    return float(in_child(_build, ob, "bench_build"))


def selected(only: list[str], tool: str) -> list[Obligation]:
    """The obligations --only selects (all without it); exits 2 when none does."""
    discover()
    obs = [ob for ob in all_obligations() if not only or any(matches(ob.name, p) for p in only)]
    if not obs:
        print(f"{tool}: no obligation matches {only}", file=sys.stderr)
        raise SystemExit(2)
    return obs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--top", type=int, default=10)
    args = ap.parse_args()
    obs = selected(args.only, "bench_build")
    times = [(build_seconds(ob), ob.name) for ob in obs]
    by_op: dict[str, float] = defaultdict(float)
    for secs, name in times:
        by_op[name.split(":")[0]] += secs
    print(f"obligations                {len(times)}")
    print(f"sum of building            {sum(s for s, _ in times):.1f} s")
    for op, secs in sorted(by_op.items(), key=lambda kv: -kv[1]):
        print(f"  {op:32s} {secs:7.1f} s")
    print("slowest:")
    for secs, name in sorted(times, reverse=True)[:args.top]:
        print(f"  {name:40s} {secs:7.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
