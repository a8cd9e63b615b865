"""Startup and cache figures of `sel4spec prove` (the foundation issue's two numbers).

Prints: the wall time of `sel4spec --help`; a cold run of `sel4spec prove` into an empty
cache; a second run of the same unchanged obligations (nothing left to solve: every result
served from the cache); and how many obligations the second run took from the cache.
Usage: python benchmarks/bench_prove.py [--only PATTERN] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time


def run(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds and stdout of one `python -m proofs ...` process."""
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "proofs", *argv], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if p.returncode not in (0, 1):
        sys.exit(f"bench_prove: {' '.join(argv)} exited {p.returncode}: {p.stderr.strip()}")
    return seconds, p.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    only = [a for p in args.only for a in ("--only", p)]
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, SEL4SPEC_CACHE_DIR=cache)
        helps = [run(["--help"], env)[0] for _ in range(args.repeat)]
        cold, _ = run(["prove", "-j", "2", *only], env)
        warm = []
        out = ""
        for _ in range(args.repeat):
            seconds, out = run(["prove", *only], env)
            warm.append(seconds)
    summary = out.strip().splitlines()[-1] if out.strip() else ""
    m = re.search(r"(\d+) obligations?: .*?(\d+) from cache", summary)
    total, cached = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    print(f"sel4spec --help                      median {statistics.median(helps):.3f} s")
    print(f"sel4spec prove, cold (solves all)    {cold:.3f} s")
    print(f"sel4spec prove, nothing to solve     median {statistics.median(warm):.3f} s, max {max(warm):.3f} s "
          f"(goal < 1.5 s)")
    print(f"second run served from cache         {cached} of {total} obligations")
    print(f"last summary: {summary}")
    return 0 if total and cached == total else 1


if __name__ == "__main__":
    sys.exit(main())
