"""CrossHair single-step refinement checks: one invocation from a small booted state, impl against spec.

`contract_one_step_refines` boots a root task, replays one of a few fixed prefixes (BASES: nothing, the
badged-endpoint CDT of the seL4 manual, a retyped CNode), and runs one CNode or Untyped
invocation whose label, slots, depths, rights, badge and sizes CrossHair chooses; the post
condition is that the caps Simulation finds no mismatch (observation, state, representation
invariant). `crosshair check refinement.contracts` explores it, as `sel4spec explore --module
refinement.contracts` does. Like every CrossHair run this is a search over the values CrossHair
picks, never a proof; hypothesis (tests/test_refinement_stateful.py) drives the long traces.

Slots are indices into a small window of the root CNode, split into cases (spec.contracts.case)
so that CrossHair branches over them rather than solving address arithmetic.
"""

from __future__ import annotations

from typing import Any

import impl
from refinement.caps import ROOT_CNODE, Invoke, _small_untyped, scenarios, simulation
from refinement.checker import Stepper
from spec import abi
from spec.contracts import case

N_BASES = 3
N_SLOTS = 8       # the slots an event may name: the first empty ones after boot
N_OPS = 9         # the eight CNode labels and Untyped_Retype
RETYPE_TYPES = (abi.seL4_UntypedObject, abi.seL4_EndpointObject, abi.seL4_NotificationObject,
                abi.seL4_CapTableObject, abi.seL4_X86_4K)


def base(which: int) -> tuple[Any, int]:
    """A booted kernel after prefix `which`, and its first empty slot."""
    k = impl.boot()
    first = k.bootinfo.empty.start
    badged, reuse = scenarios(k)[:2]
    prefix = [[], badged[:5], reuse[:2]][case(which, N_BASES)]
    stepper = Stepper(simulation(k, incremental=False), k)
    for e in prefix:
        m = stepper.step(e)
        assert m is None, f"prefix {which} is not a spec trace: {m}"
    return k, first


def event(k: Any, first: int, op: int, a: int, b: int, c: int, depth: int, w: int) -> Invoke:
    """Invocation `op` on slots first + a, first + b, first + c of the root CNode."""
    dest, src, pivot = (first + case(x, N_SLOTS) for x in (a, b, c))
    op = case(op, N_OPS)
    if op == N_OPS - 1:
        t = RETYPE_TYPES[case(w % len(RETYPE_TYPES), len(RETYPE_TYPES))]
        size = {abi.seL4_UntypedObject: 4 + (w >> 4) % 4, abi.seL4_CapTableObject: 1 + (w >> 4) % 3}.get(t, 0)
        return Invoke(_small_untyped(k), abi.UntypedRetype, (t, size, ROOT_CNODE, 0, dest, 1 + (w >> 6) % 2),
                      (ROOT_CNODE,))
    label = abi.CNodeRevoke + op
    if label in (abi.CNodeRevoke, abi.CNodeDelete, abi.CNodeCancelBadgedSends):
        return Invoke(ROOT_CNODE, label, (dest, depth))
    if label == abi.CNodeRotate:
        return Invoke(ROOT_CNODE, label, (dest, depth, w, pivot, 64, w >> 2, src, 64), (ROOT_CNODE, ROOT_CNODE))
    return Invoke(ROOT_CNODE, label, (dest, depth, src, 64, w & 15, w >> 4), (ROOT_CNODE,))


def contract_one_step_refines(which: int, op: int, a: int, b: int, c: int, depth: int, w: int) -> bool:
    """One invocation from a small booted state is a spec step.

    pre: 0 <= which < 3
    pre: 0 <= op < 9
    pre: 0 <= a < 8 and 0 <= b < 8 and 0 <= c < 8
    pre: depth in (0, 1, 63, 64, 65)
    pre: 0 <= w < 256
    post: __return__
    """
    k, first = base(which)
    e = event(k, first, op, a, b, c, depth, w)
    return Stepper(simulation(k, incremental=False), k).step(e) is None
