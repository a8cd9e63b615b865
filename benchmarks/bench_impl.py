"""Throughput of the concrete kernel alone: Kernel.syscall calls per second on a random root-task mix.

The mix (impl.workload.RootTask) is mostly CNode and Untyped invocations aimed at real slots,
with a little noise; only the time inside Kernel.syscall is counted (not generating the calls,
not rebooting). Usage: python benchmarks/bench_impl.py [--steps N] [--seed S] [--garbage G]
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from impl import boot  # noqa: E402
from impl.workload import RootTask  # noqa: E402


def run(steps: int, seed: int, garbage: float) -> tuple[float, float, int]:
    """(syscalls per CPU-second inside the kernel, boots per CPU-second, boots) over `steps` calls."""
    task = RootTask(seed, garbage)
    # CPU time of this process: other load on the machine does not count against the kernel.
    pc = time.process_time
    inside = 0.0
    boot_time = 0.0
    boots = 0
    k = boot()
    for _ in range(steps):
        if k.current is k.idle_thread or task.stuck:
            t = pc()
            k = boot()
            boot_time += pc() - t
            boots += 1
        sc = task.next(k)
        t = pc()
        k.syscall(sc.sysno, sc.cptr, sc.msg_info, sc.mrs)
        inside += pc() - t
    return steps / inside, (boots / boot_time if boots else 0.0), boots


def main() -> None:
    """Print the rate."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--garbage", type=float, default=0.005)
    args = ap.parse_args()
    rate, boot_rate, boots = run(args.steps, args.seed, args.garbage)
    print(f"impl: {rate:,.0f} syscalls per CPU-second over {args.steps:,} random invocations ({boots} reboots, {boot_rate:,.0f} boots per CPU-second)")


if __name__ == "__main__":
    main()
