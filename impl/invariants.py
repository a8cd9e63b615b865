"""Concrete-state checks: l4v's valid_mdb_ctes (proof/refine/Invariants_H.thy) and friends, and the
CDT read back from the MDB list (descendants_of', the parent map).

Each ``check_*`` raises AssertionError naming the broken property and the slots involved.
``check_kernel(k, full=False)`` runs the linear-time checks; ``full=True`` adds the quadratic
ones (mdb_chunked, untyped_mdb', untyped_inc', caps_contained', valid_untyped).
"""

from __future__ import annotations

import bisect
from typing import Any

from spec.abi import (
    TCB_OFFSET,
    cap_cnode_cap,
    cap_endpoint_cap,
    cap_frame_cap,
    cap_irq_control_cap,
    cap_notification_cap,
    cap_page_directory_cap,
    cap_page_table_cap,
    cap_pdpt_cap,
    cap_pml4_cap,
    cap_asid_pool_cap,
    cap_reply_cap,
    cap_sched_context_cap,
    cap_thread_cap,
    cap_untyped_cap,
    cap_zombie_cap,
    seL4_CapTableObject,
    seL4_EndpointObject,
    seL4_NotificationObject,
    seL4_ReplyObject,
    seL4_SchedContextObject,
    seL4_SlotBits,
    seL4_TCBObject,
    seL4_X64_PML4Object,
    seL4_X86_PageDirectoryObject,
    seL4_X86_PageTableObject,
    seL4_X86_PDPTObject,
    tcbCNodeEntries,
    ZombieType_ZombieTCB,
)

from impl.caps import cap_get_cap_is_physical, cap_get_cap_ptr, cap_get_cap_size_bits, same_region_as
from impl.cnode import is_mdb_parent_of
from impl.kernel import Kernel
from impl.objects import ASID_POOL_OBJECT


def mdb_descendants(k: Kernel, slot: int) -> list[int]:
    """descendants_of' (Invariants_H.thy): the run of list successors that slot is an MDB parent of."""
    ctes = k.ctes
    cte = ctes.get(slot)
    out: list[int] = []
    if cte is None:
        return out
    nxt = cte.next
    while nxt and is_mdb_parent_of(cte, ctes[nxt]):
        out.append(nxt)
        nxt = ctes[nxt].next
    return out


def cdt_parent_map(k: Kernel) -> dict[int, int]:
    """The CDT as a child -> parent map: each slot's nearest MDB ancestor (absent for roots)."""
    desc = {s: mdb_descendants(k, s) for s in k.ctes}
    parent: dict[int, int] = {}
    size: dict[int, int] = {}
    for p, ds in desc.items():
        for c in ds:
            # Ancestors' descendant sets are nested, so the nearest has the smallest set.
            if c not in parent or len(ds) < size[c]:
                parent[c] = p
                size[c] = len(ds)
    return parent


def check_dlist(k: Kernel) -> None:
    """valid_dlist, no_0, mdb_chain_0, valid_nullcaps: one or more acyclic doubly linked lists."""
    ctes = k.ctes
    assert 0 not in ctes, "no_0: a slot at address 0"
    heads = []
    for p, cte in ctes.items():
        assert cte.cap.capType != 0, f"valid_nullcaps: null cap stored at {p:#x}"
        n = cte.next
        if n:
            assert n in ctes, f"valid_dlist: {p:#x}.next = {n:#x} is an empty slot"
            assert ctes[n].prev == p, f"valid_dlist: {p:#x}.next = {n:#x} but {n:#x}.prev = {ctes[n].prev:#x}"
        q = cte.prev
        if q:
            assert q in ctes, f"valid_dlist: {p:#x}.prev = {q:#x} is an empty slot"
            assert ctes[q].next == p, f"valid_dlist: {p:#x}.prev = {q:#x} but {q:#x}.next = {ctes[q].next:#x}"
        else:
            heads.append(p)
    seen = 0
    for h in heads:
        p = h
        while p:
            seen += 1
            p = ctes[p].next
            if seen > len(ctes):
                break
    assert seen == len(ctes), f"mdb_chain_0: {len(ctes) - seen} slots lie on a cycle"


def check_slots_in_objects(k: Kernel) -> None:
    """Every stored slot is a slot of an existing CNode, or one of a TCB's tcbCNodeEntries slots."""
    bases = sorted(k.objects)
    for p in k.ctes:
        i = bisect.bisect_right(bases, p) - 1
        assert i >= 0, f"slot {p:#x} lies in no object"
        o = k.objects[bases[i]]
        off = p - o.base
        assert off % (1 << seL4_SlotBits) == 0, f"slot {p:#x} misaligned in {o}"
        if o.obj_type == seL4_CapTableObject:
            assert off < (1 << o.size_bits), f"slot {p:#x} beyond {o}"
        elif o.obj_type == seL4_TCBObject:
            assert off < (tcbCNodeEntries << seL4_SlotBits), f"slot {p:#x} beyond the TCB CNode of {o}"
        else:
            raise AssertionError(f"slot {p:#x} inside non-CNode object {o}")


def check_pspace(k: Kernel) -> None:
    """pspace_aligned and pspace_distinct: objects aligned to their size, footprints disjoint."""
    prev_end = -1
    prev = None
    for b in sorted(k.objects):
        o = k.objects[b]
        assert b % (1 << o.size_bits) == 0, f"pspace_aligned: {o}"
        assert b >= prev_end, f"pspace_distinct: {prev} overlaps {o}"
        prev_end = b + (1 << o.size_bits)
        prev = o
    assert k.objects.keys() == set(k._object_bases) and k._object_bases == sorted(k._object_bases)
    assert k.ctes.sorted_slots() == sorted(k.ctes), "Kernel.ctes index out of step"


_OBJ_TYPE_OF_CAP = {
    cap_endpoint_cap: seL4_EndpointObject,
    cap_notification_cap: seL4_NotificationObject,
    cap_reply_cap: seL4_ReplyObject,
    cap_sched_context_cap: seL4_SchedContextObject,
    cap_cnode_cap: seL4_CapTableObject,
    cap_thread_cap: seL4_TCBObject,
    cap_page_table_cap: seL4_X86_PageTableObject,
    cap_page_directory_cap: seL4_X86_PageDirectoryObject,
    cap_pdpt_cap: seL4_X86_PDPTObject,
    cap_pml4_cap: seL4_X64_PML4Object,
    cap_asid_pool_cap: ASID_POOL_OBJECT,
}


def check_caps(k: Kernel) -> None:
    """valid_cap, ut_revocable', irq_control, valid_badges, untyped free index in range."""
    ctes = k.ctes
    irq_controls = []
    for p, cte in ctes.items():
        c: Any = cte.cap
        t = c.capType
        if t == cap_untyped_cap:
            assert cte.revocable, f"ut_revocable': untyped at {p:#x} not revocable"
            assert 0 <= c.capFreeIndex <= 1 << (c.capBlockSize - 4), f"untyped free index out of range at {p:#x}"
            assert c.capPtr % (1 << c.capBlockSize) == 0, f"untyped at {p:#x} misaligned"
        elif t == cap_irq_control_cap:
            irq_controls.append(p)
            assert cte.revocable, "irq_control: IRQControl cap not revocable"
        elif t == cap_zombie_cap:
            o = k.objects.get(c.capZombiePtr)
            want = seL4_TCBObject if c.capZombieType == ZombieType_ZombieTCB else seL4_CapTableObject
            assert o is not None and o.obj_type == want, f"valid_cap: Zombie at {p:#x} names {o}"
        elif t in _OBJ_TYPE_OF_CAP or t == cap_frame_cap:
            base = cap_get_cap_ptr(c)
            o = k.objects.get(base)
            assert o is not None, f"valid_cap: {c} at {p:#x} names no object"
            if t == cap_frame_cap:
                assert o.size_bits == cap_get_cap_size_bits(c), f"valid_cap: frame size {c} vs {o}"
            else:
                assert o.obj_type == _OBJ_TYPE_OF_CAP[t], f"valid_cap: {c} at {p:#x} names {o}"
                assert o.size_bits == cap_get_cap_size_bits(c), f"valid_cap: size of {c} vs {o}"
            if t == cap_thread_cap:
                assert c.capTCBPtr == base + TCB_OFFSET
            if t == cap_cnode_cap:  # updateCapData masks a guard to its size
                assert c.capCNodeGuard >> c.capCNodeGuardSize == 0, f"valid_cap: guard of {c} at {p:#x} too wide"
        n = cte.next
        if n:
            nc: Any = ctes[n].cap
            if same_region_as(c, nc):
                if t == cap_endpoint_cap and c.capEPBadge != nc.capEPBadge and nc.capEPBadge != 0:
                    assert ctes[n].first_badged, f"valid_badges: {n:#x} after {p:#x}"
                if t == cap_notification_cap and c.capNtfnBadge != nc.capNtfnBadge and nc.capNtfnBadge != 0:
                    assert ctes[n].first_badged, f"valid_badges: {n:#x} after {p:#x}"
    assert len(irq_controls) <= 1, f"irq_control: several IRQControl caps {irq_controls}"


def _cap_range(c: Any) -> tuple[int, int] | None:
    """capRange: [base, base + 2^bits) of a physical cap, else None."""
    if not cap_get_cap_is_physical(c):
        return None
    b = cap_get_cap_ptr(c)
    return b, b + (1 << cap_get_cap_size_bits(c))


def check_full(k: Kernel) -> None:
    """mdb_chunked, untyped_mdb', untyped_inc', caps_contained', valid_untyped (quadratic)."""
    ctes = k.ctes
    order: dict[int, tuple[int, int]] = {}  # slot -> (list id, position)
    lid = 0
    for p, cte in ctes.items():
        if cte.prev == 0:
            q, i = p, 0
            while q:
                order[q] = (lid, i)
                q = ctes[q].next
                i += 1
            lid += 1
    items = list(ctes.items())
    desc = {p: set(mdb_descendants(k, p)) for p in ctes}
    for p, cp in items:
        a: Any = cp.cap
        for q, cq in items:
            if p == q:
                continue
            b: Any = cq.cap
            if same_region_as(a, b):
                # mdb_chunked: same list, and every slot between is sameRegionAs the first.
                assert order[p][0] == order[q][0], f"mdb_chunked: {p:#x} and {q:#x} in different lists"
                if order[p][1] < order[q][1]:
                    r = cp.next
                    while r != q:
                        assert same_region_as(a, ctes[r].cap), f"mdb_chunked: {r:#x} breaks the chunk {p:#x}..{q:#x}"
                        r = ctes[r].next
            if a.capType == cap_untyped_cap:
                ua = (a.capPtr, a.capPtr + (1 << a.capBlockSize))
                rb = _cap_range(b)
                if rb is not None and rb[0] < ua[1] and ua[0] < rb[1]:
                    if b.capType != cap_untyped_cap:
                        assert q in desc[p], f"untyped_mdb': {q:#x} overlaps untyped {p:#x} but is no descendant"
                        assert ua[0] <= rb[0] and rb[1] <= ua[1], f"caps_contained': {q:#x} sticks out of {p:#x}"
                    else:
                        nested = (ua[0] <= rb[0] and rb[1] <= ua[1]) or (rb[0] <= ua[0] and ua[1] <= rb[1])
                        assert nested, f"untyped_inc': {p:#x} and {q:#x} overlap without nesting"
                        if ua != rb and ua[0] <= rb[0] and rb[1] <= ua[1]:
                            assert q in desc[p], f"untyped_inc': inner {q:#x} not a descendant of {p:#x}"
                            free = a.capPtr + (a.capFreeIndex << 4)
                            assert free >= rb[1], f"untyped_inc': {q:#x} inside the free part of {p:#x}"
                        if ua == rb:
                            assert q in desc[p] or p in desc[q], f"untyped_inc': equal {p:#x}, {q:#x} unrelated"
                            if q in desc[p]:
                                assert a.capFreeIndex == 1 << (a.capBlockSize - 4), f"untyped_inc': {p:#x} not full"
    # valid_untyped: objects inside an untyped lie entirely below its watermark.
    for p, cp in items:
        a = cp.cap
        if a.capType != cap_untyped_cap:
            continue
        lo, hi = a.capPtr, a.capPtr + (1 << a.capBlockSize)
        free = a.capPtr + (a.capFreeIndex << 4)
        for b, o in k.objects.items():
            e = b + (1 << o.size_bits)
            if b < hi and lo < e:
                assert lo <= b and e <= hi, f"valid_untyped: {o} sticks out of untyped {p:#x}"
                assert e <= free, f"valid_untyped: {o} in the free part of untyped {p:#x}"


def check_kernel(k: Kernel, full: bool = False) -> None:
    """All the checks above (the quadratic ones only when full)."""
    check_dlist(k)
    check_slots_in_objects(k)
    check_pspace(k)
    check_caps(k)
    if full:
        check_full(k)
