"""Solving time of the proof suite, by operation, from the record `sel4spec prove --json` writes.

Runs `sel4spec prove --no-cache -j N --json` (or reads a record given with --record) and prints the
wall time, the sum of the obligations' `seconds` (solving only, per obligation), the sum for each
operation (the part of a name before ':') and the slowest obligations.
Usage: python benchmarks/bench_area.py [-j N] [--only PATTERN] [--record PATH] [--top K]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-j", "--jobs", type=int, default=1)
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--record", help="read this --json record instead of running the suite")
    ap.add_argument("--top", type=int, default=10)
    args = ap.parse_args()
    wall = None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.record) if args.record else Path(tmp) / "prove.json"
        if not args.record:
            only = [a for p in args.only for a in ("--only", p)]
            t = time.perf_counter()
            p = subprocess.run([sys.executable, "-m", "proofs", "prove", "--no-cache", "-j", str(args.jobs), *only,
                                "--json", str(path)], capture_output=True, text=True)
            wall = time.perf_counter() - t
            if p.returncode not in (0, 1):
                sys.exit(f"bench_area: sel4spec prove exited {p.returncode}: {p.stderr.strip()}")
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            obs = record["obligations"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"bench_area: cannot read the record {path}: {exc}", file=sys.stderr)
            return 2
    by_op: dict[str, float] = defaultdict(float)
    for ob in obs:
        by_op[ob["name"].split(":")[0]] += ob["seconds"]
    statuses = sorted({ob["status"] for ob in obs})
    print(f"obligations                {len(obs)} ({', '.join(statuses)})")
    if wall is not None:
        print(f"wall time (-j {args.jobs})           {wall:.1f} s")
    print(f"runner's total             {record.get('seconds', 0):.1f} s")
    print(f"sum of seconds (solving)   {sum(ob['seconds'] for ob in obs):.1f} s")
    for op, secs in sorted(by_op.items(), key=lambda kv: -kv[1]):
        print(f"  {op:32s} {secs:7.1f} s")
    print("slowest:")
    for ob in sorted(obs, key=lambda o: -o["seconds"])[:args.top]:
        print(f"  {ob['name']:40s} {ob['seconds']:7.2f} s  {ob['status']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
