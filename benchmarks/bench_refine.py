"""Throughput of the refinement checker against the concrete kernel alone, on the same events.

The events are `sel4spec refine`'s random traces (refinement.caps.TraceGen), generated up front.
Two passes replay them from fresh boots, stopping each trace where the checker stops it:

- impl alone: only the time inside impl's step (Kernel.syscall with the extra caps set);
- checked: the time inside the checker's step (spec step, impl step, representation invariant,
  abstraction, comparison), with a breakdown by part.

Both count CPU time of this process, so other load on the machine does not count. Boots and
the first abstraction of each trace are reported apart. Usage:
python benchmarks/bench_refine.py [--steps N] [--seed S] [--trace-len L] [--full]
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import random
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import impl  # noqa: E402
from refinement.caps import Invoke, TraceGen, impl_step, simulation  # noqa: E402
from refinement.checker import Stepper  # noqa: E402

pc = time.process_time


def make_traces(steps: int, seed: int, trace_len: int) -> list[list[Invoke]]:
    """Random traces of trace_len events, enough to cover `steps` (traces may stop early)."""
    rnd = random.Random(seed)
    bi_kernel = impl.boot()
    out = []
    for _ in range(10 * steps // trace_len + 10):  # traces stop early at faults: plenty
        gen = TraceGen(bi_kernel, rnd)
        out.append([gen.event() for _ in range(trace_len)])
    return out


def run_impl(traces: list[list[Invoke]], steps: int) -> tuple[int, float]:
    """(invocations, CPU seconds inside impl's step) over the traces, up to `steps` invocations."""
    sim = simulation(impl.boot())
    done, inside = 0, 0.0
    for events in traces:
        k = impl.boot()
        for e in events:
            t = pc()
            o = impl_step(k, e)
            inside += pc() - t
            done += 1
            if sim.stops(o) or done >= steps:
                break
        if done >= steps:
            break
    return done, inside


def _timed(f: Callable[..., Any], acc: dict[str, float], name: str) -> Callable[..., Any]:
    def g(*a: Any) -> Any:
        t = pc()
        try:
            return f(*a)
        finally:
            acc[name] += pc() - t
    return g


def run_checked(traces: list[list[Invoke]], steps: int, incremental: bool = True) -> tuple[int, float, float, dict[str, float]]:
    """(steps, CPU seconds inside the checker's step, CPU seconds booting and first abstractions,
    per-part CPU seconds) over the same traces."""
    parts = dict.fromkeys(("spec step", "impl step", "representation invariant", "abstraction", "comparison"), 0.0)
    done, inside, setup = 0, 0.0, 0.0
    for events in traces:
        t = pc()
        k = impl.boot()
        base = simulation(k, incremental=incremental)
        sim = dataclasses.replace(
            base, spec_step=_timed(base.spec_step, parts, "spec step"),
            impl_step=_timed(base.impl_step, parts, "impl step"),
            rep_inv=_timed(base.rep_inv, parts, "representation invariant"),
            abstract=_timed(base.abstract, parts, "abstraction"),
            obs_mismatch=_timed(base.obs_mismatch, parts, "comparison"),
            diff=_timed(base.diff, parts, "comparison"))
        st = Stepper(base, k)  # the first abstraction counts as setup, not as a step
        st.sim = sim
        setup += pc() - t
        for e in events:
            t = pc()
            m = st.step(e)
            inside += pc() - t
            done += 1
            if m is not None:
                raise SystemExit(f"mismatch: {m}")
            if st.stopped or done >= steps:
                break
        if done >= steps:
            break
    return done, inside, setup, parts


def main() -> None:
    """Print impl's rate, the checked rate, and their ratio."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--trace-len", type=int, default=200)
    ap.add_argument("--full", action="store_true",
                    help="abstract and check the representation invariant in full at every step")
    args = ap.parse_args()
    traces = make_traces(args.steps, args.seed, args.trace_len)
    n_impl, t_impl = run_impl(traces, args.steps)
    n_chk, t_chk, t_setup, parts = run_checked(traces, args.steps, incremental=not args.full)
    impl_rate = n_impl / t_impl
    chk_rate = n_chk / t_chk
    print(f"impl alone:   {impl_rate:10,.0f} invocations per CPU-second ({n_impl:,} invocations)")
    print(f"checked:      {chk_rate:10,.0f} steps per CPU-second ({n_chk:,} steps, "
          f"{1e6 * t_chk / n_chk:,.0f} us per step)")
    print(f"ratio:        {impl_rate / chk_rate:10,.1f} (impl invocations per checked step, same events)")
    print(f"with boots:   {n_chk / (t_chk + t_setup):10,.0f} steps per CPU-second including a boot and a "
          f"first abstraction per trace ({t_setup:.2f} s)")
    total = sum(parts.values())
    print("per step:     " + ", ".join(f"{name} {1e6 * v / n_chk:,.0f} us ({100 * v / total:.0f}%)"
                                       for name, v in parts.items()))


if __name__ == "__main__":
    main()
