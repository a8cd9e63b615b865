"""The capabilities refinement check: impl steps are spec steps, and the abstraction is total."""

from __future__ import annotations

import pytest

import impl
from spec import abi
from refinement.abstract import CorruptState, abstract
from refinement.caps import refine
from spec.invariants import failing_invariants


def test_random_traces_refine() -> None:
    r = refine(1500, seed=1)
    assert r.steps >= 1500
    assert r.mismatches == []


def test_boot_state_abstracts_to_a_valid_spec_state() -> None:
    s = abstract(impl.boot())
    assert len(list(s.cap_type.keys())) > 16
    assert failing_invariants(s) == []


@pytest.mark.parametrize("corrupt, message", [
    (lambda k, a, b: setattr(k.ctes[a], "next", 0xDEAD0), "dangling"),
    (lambda k, a, b: setattr(k.ctes[b], "prev", 0), "back link"),
    (lambda k, a, b: (setattr(k.ctes[b], "next", a), setattr(k.ctes[a], "prev", b)), "cycle"),
])
def test_abstraction_reports_a_corrupt_mdb(corrupt, message) -> None:  # type: ignore[no-untyped-def]
    k = impl.boot()
    # Two caps linked by the MDB: the root CNode cap and its copy in the TCB's CSpace slot.
    a = next(x for x in k.ctes.keys() if k.ctes[x].next)
    b = k.ctes[a].next
    corrupt(k, a, b)
    with pytest.raises(CorruptState, match=message):
        abstract(k)


def test_incremental_abstraction_agrees_with_the_full_one() -> None:
    """With a cross-check at every step, the incremental abstraction never disagrees."""
    import dataclasses
    import random

    from refinement.abstract import IncrementalAbstraction
    from refinement.caps import IncrementalRepInv, TraceGen, check_trace, scenarios, simulation

    rnd = random.Random(3)
    steps = 0
    for i in range(12):
        k = impl.boot()
        view = IncrementalAbstraction(cross_check_every=1)
        sim = dataclasses.replace(simulation(k), abstract=view, rep_inv=IncrementalRepInv(view, full_every=0))
        events = scenarios(k)[i] if i < 4 else [TraceGen(k, rnd).event() for _ in range(100)]
        n, m = check_trace(sim, k, events)
        assert m is None, str(m)
        steps += n
        assert view.steps == n  # every step went the incremental way, and was cross-checked
    assert steps > 300


def test_incremental_abstraction_reports_corruption() -> None:
    from refinement.abstract import IncrementalAbstraction
    k = impl.boot()
    view = IncrementalAbstraction()
    view(k)
    a = next(x for x in k.ctes.keys() if k.ctes[x].next)
    k.ctes[a].next = 0xDEAD0
    with pytest.raises(CorruptState, match="dangling"):
        view(k)


@pytest.mark.parametrize("corrupt, message", [
    (lambda k, a, b: setattr(k.ctes[b], "prev", 0), "valid_dlist"),
    (lambda k, a, b: (setattr(k.ctes[b], "next", a), setattr(k.ctes[a], "prev", b)), "cycle"),
    (lambda k, a, b: k.ctes.pop(b), "empty slot"),
])
def test_incremental_rep_inv_sees_what_a_step_broke(corrupt, message) -> None:  # type: ignore[no-untyped-def]
    from refinement.abstract import IncrementalAbstraction
    from refinement.caps import IncrementalRepInv
    k = impl.boot()
    view = IncrementalAbstraction()
    rep = IncrementalRepInv(view, full_every=0)
    view(k)
    a = next(x for x in k.ctes.keys() if k.ctes[x].next)
    b = k.ctes[a].next
    corrupt(k, a, b)
    bad = rep(k)
    assert bad and message in bad[0]


def _caps_of_every_kind() -> list:  # type: ignore[type-arg]
    """impl caps of every kind, with regions that nest, repeat and miss one another."""
    from impl import caps as c  # noqa: PLC0415

    ut, ep_at, cn_at, tcb_at, sc_at = 0x10_0000, 0x10_0400, 0x10_4000, 0x10_8000, 0x10_C000
    return [
        c.NullCap(), c.UntypedCap(ut, 20, False, 0), c.UntypedCap(ut, 12, False, 0),
        c.UntypedCap(0x20_0000, 12, True, 0),
        c.EndpointCap(ep_at, 0, True, True, True, True), c.EndpointCap(ep_at, 5, True, False, False, False),
        c.NotificationCap(ep_at, 0, True, True), c.ReplyCap(ep_at, True),
        c.CNodeCap(cn_at, 3, 0, 0), c.CNodeCap(cn_at, 4, 60, 1), c.ThreadCap(tcb_at + abi.TCB_OFFSET),
        c.SchedContextCap(sc_at, 8), c.SchedContextCap(sc_at, 9), c.SchedControlCap(0), c.DomainCap(),
        c.FrameCap(ut, 0, 3, False, 0, 0, 0), c.FrameCap(ut, 1, 3, False, 0, 0, 0),
        c.FrameCap(0x20_0000, 0, 1, True, 0, 0, 0),
        c.PageTableCap(0x10_1000, False, 0, 0), c.IRQControlCap(), c.IRQHandlerCap(3), c.IRQHandlerCap(4),
        c.IOPortControlCap(), c.IOPortCap(0x60, 0x64), c.IOPortCap(0x60, 0x6F), c.IOPortCap(0x70, 0x7F),
        c.ASIDControlCap(), c.ASIDPoolCap(0x10_2000, 0),
    ]


def test_spec_same_region_as_agrees_with_the_c_on_every_pair() -> None:
    """spec.state.same_region_as, read concretely on the abstraction of two impl caps, is impl's
    sameRegionAs (written from src/object/objecttype.c and x86 Arch_sameRegionAs) on every pair."""
    from impl.caps import same_region_as as c_same_region_as  # noqa: PLC0415
    from refinement.abstract import spec_cap  # noqa: PLC0415
    from spec.state import same_region_as  # noqa: PLC0415

    caps = _caps_of_every_kind()
    differ = [(a, b) for a in caps for b in caps
              if bool(same_region_as(spec_cap(a), spec_cap(b))) != c_same_region_as(a, b)]
    assert differ == []
    assert sum(c_same_region_as(a, b) for a in caps for b in caps) > len(caps)  # the pairs include related ones
