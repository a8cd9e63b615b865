"""How the runner decides goal cases: in the integer reading (proofs/intread.py) or bit-blasted.

For every selected obligation, in a child forked for it alone as the runner does, this builds the
query, reads its hypotheses (the integer reading), tries each goal case there and bit-blasts each
case the reading does not prove, as proofs/solve.py does (the witness check is left out). It prints
the cases decided each way and the seconds each way took, by operation and for the obligations
that bit-blast the most. With --compare it also bit-blasts the cases the reading proved, to print
what they cost without it.
Usage: python benchmarks/bench_reading.py [--only PATTERN] [--top K] [--compare]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_build import in_child, selected  # noqa: E402

from proofs import solve  # noqa: E402
from proofs.obligation import Obligation  # noqa: E402

FIELDS = ("cases", "in_reading", "bit_blasted", "reading_s", "bit_blast_s", "without_reading_s")


def _measure(compare: bool) -> Any:
    def measure(ob: Obligation) -> dict[str, float]:
        q = ob.build()
        out = dict.fromkeys(FIELDS, 0.0)
        started = time.perf_counter()
        reading = solve._IntQuery.of(q)
        out["reading_s"] += time.perf_counter() - started
        for _, g in q.goal:
            out["cases"] += 1
            started = time.perf_counter()
            proved = reading is not None and reading.proves(g, float("inf"))
            out["reading_s"] += time.perf_counter() - started
            if proved and not compare:
                out["in_reading"] += 1
                continue
            started = time.perf_counter()
            solve._proof_check(q, g, time.perf_counter() + ob.timeout_s)
            took = time.perf_counter() - started
            if proved:
                out["in_reading"] += 1
                out["without_reading_s"] += took
            else:
                out["bit_blasted"] += 1
                out["bit_blast_s"] += took
                out["without_reading_s"] += took
        return out
    return measure


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--compare", action="store_true", help="also bit-blast the cases the reading proved")
    args = ap.parse_args()
    obs = selected(args.only, "bench_reading")
    rows = [(ob.name, in_child(_measure(args.compare), ob, "bench_reading")) for ob in obs]
    total: dict[str, float] = defaultdict(float)
    by_op: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for name, m in rows:
        for k, v in m.items():
            total[k] += v
            by_op[name.split(":")[0]][k] += v
    print(f"obligations                {len(rows)}")
    print(f"goal cases                 {total['cases']:.0f}: {total['in_reading']:.0f} proved in the integer reading, "
          f"{total['bit_blasted']:.0f} bit-blasted")
    print(f"seconds                    {total['reading_s']:.1f} in the reading (reading included), "
          f"{total['bit_blast_s']:.1f} bit-blasting")
    if args.compare:
        print(f"without the reading        {total['without_reading_s']:.1f} s bit-blasting every case")
    print("by operation (cases in the reading / bit-blasted; seconds in the reading / bit-blasting):")
    for op, m in sorted(by_op.items(), key=lambda kv: -(kv[1]["reading_s"] + kv[1]["bit_blast_s"])):
        print(f"  {op:24s} {m['in_reading']:5.0f} / {m['bit_blasted']:<5.0f} {m['reading_s']:7.2f} / "
              f"{m['bit_blast_s']:.2f} s")
    print("most bit-blasting:")
    for name, m in sorted(rows, key=lambda r: -r[1]["bit_blast_s"])[:args.top]:
        print(f"  {name:40s} {m['bit_blasted']:3.0f} cases {m['bit_blast_s']:7.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
