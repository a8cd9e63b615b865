"""`sel4spec refine`: random traces from booted systems, every step checked against the spec."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from proofs.cli import check_writable, guarded, make_parser, positive_int


@guarded
def main(argv: Sequence[str]) -> int:
    """Run the capabilities refinement check; exit 0 only with no mismatch."""
    ap = make_parser("refine", "check that every impl step is a spec step (abstraction + simulation)")
    ap.add_argument("--steps", type=positive_int, default=2000, help="steps to check (default 2000)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--trace-len", type=positive_int, default=200, help="events per trace from a fresh boot")
    ap.add_argument("--json", metavar="PATH", help="write a machine-readable record")
    args = ap.parse_args(list(argv))
    if args.json:
        check_writable(args.json)
    from refinement.caps import refine
    r = refine(args.steps, args.seed, trace_len=args.trace_len)
    rate = r.steps / r.seconds if r.seconds else 0.0
    print(f"{'area':<8}{'steps':>8}{'traces':>8}{'mismatches':>12}{'seconds':>10}{'steps/s':>10}")
    print(f"{'caps':<8}{r.steps:>8}{r.traces:>8}{len(r.mismatches):>12}{r.seconds:>10.2f}{rate:>10.0f}")
    for m in r.mismatches:
        print(f"\nmismatch ({m['what']}) at step {m['step']} of the shortest failing trace:")
        for i, e in enumerate(m["trace"]):
            print(f"  {i}: {e}")
        print(f"  first difference: {m['detail']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"steps": r.steps, "traces": r.traces, "seed": args.seed, "seconds": round(r.seconds, 3),
                       "mismatches": r.mismatches}, f, indent=2)
    return 1 if r.mismatches else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
