"""Fuzz Kernel.syscall with a random root task: no Python exception may escape, and the MDB must
stay a valid set of acyclic doubly linked lists after every step (l4v valid_dlist, no_0,
mdb_chain_0), with the full concrete invariants checked periodically.

Sizing: 100,000 invocations, fixed seed; about 15 s on an idle 2-core machine (measured with
this seed; the test prints its own rate).
"""

from __future__ import annotations

import time

from impl import boot
from impl.invariants import check_dlist, check_kernel
from impl.workload import RootTask

STEPS = 100_000
SEED = 20260806
EPISODE = 4000  # reboot after this many steps, or when the root thread stops or lost its CSpace


def test_fuzz_syscalls_keep_the_mdb_valid() -> None:
    task = RootTask(SEED, garbage=0.005)
    k = boot()
    episode = 0
    boots = 1
    faults = not_modelled = errors = 0
    max_slots = 0
    t0 = time.perf_counter()
    for step in range(STEPS):
        if k.current is k.idle_thread or episode >= EPISODE or task.stuck:
            check_kernel(k, full=len(k.ctes) <= 300)
            k = boot()
            boots += 1
            episode = 0
        sc = task.next(k)
        try:
            r = k.syscall(*sc)
        except Exception as exc:  # pragma: no cover - the failure report
            raise AssertionError(f"step {step}: {sc} raised {exc!r}") from exc
        episode += 1
        faults += r.fault is not None
        not_modelled += r.not_modelled is not None
        errors += bool(r.mrs) or r.label != 0
        try:
            check_dlist(k)
            if step % 250 == 249:
                check_kernel(k, full=False)
        except AssertionError as exc:
            raise AssertionError(f"step {step}: after {sc} -> {r}: {exc}") from exc
        max_slots = max(max_slots, len(k.ctes))
    check_kernel(k, full=True)
    dt = time.perf_counter() - t0
    print(
        f"\nfuzz: {STEPS} syscalls in {dt:.1f}s ({STEPS / dt:.0f}/s incl. checks), {boots} boots, "
        f"{faults} faults, {not_modelled} not modelled, {errors} error replies, max {max_slots} slots"
    )
    # The mix must reach the interesting paths, not just bounce off errors.
    assert errors < STEPS * 0.9 and boots < STEPS / 50 and max_slots > 100
