"""The abstraction function: the concrete kernel's state as a spec state.

It reads impl's objects, slots and MDB links and rebuilds what l4v's state relation relates
them to (proof/refine/StateRelation.thy): the object map, every cap field, `is_original` from
mdbRevocable, and the CDT parent map from MDB order and isMDBParentOf (cdt_relation). The
parent test is written here from seL4's C (src/object/cnode.c isMDBParentOf), not borrowed
from impl, so a bug in impl's copy cannot hide itself. The ghost `anc` is the transitive
closure of the parent map and `depth` the distance from a root.

It is total: a corrupted MDB (a dangling or one-sided link, a cycle, a list without a head)
raises CorruptState naming the slot and what is wrong, and the walk is bounded by the number
of slots, so it never loops.
"""

from __future__ import annotations

from typing import Any

from spec import abi
from spec.state import NULL, OBJ_NONE, Cap, State, pair
from spec.logic import Map, WORD, BOOL, INT
from spec.state import PAIR

OBJ_ASID_POOL = 0xFE  # the boot ASID pool: an object, but not one Retype can make
WORD_MASK = (1 << 64) - 1


class CorruptState(Exception):
    """The concrete state is not the image of any spec state; the message says where."""


def spec_cap(c: Any) -> Cap:
    """The spec's view of an impl cap record (field for field, as cap_relation)."""
    t = c.capType
    if t == abi.cap_null_cap:
        return Cap()
    if t == abi.cap_untyped_cap:
        return Cap(t, c.capPtr, c.capBlockSize, free=c.capFreeIndex, device=bool(c.capIsDevice))
    if t == abi.cap_endpoint_cap:
        rights = int(c.capCanSend) | int(c.capCanReceive) << 1 | int(c.capCanGrant) << 2 | int(c.capCanGrantReply) << 3
        return Cap(t, c.capEPPtr, rights=rights, badge=c.capEPBadge)
    if t == abi.cap_notification_cap:
        return Cap(t, c.capNtfnPtr, rights=int(c.capNtfnCanSend) | int(c.capNtfnCanReceive) << 1, badge=c.capNtfnBadge)
    if t == abi.cap_reply_cap:
        return Cap(t, c.capReplyPtr, rights=int(c.capReplyCanGrant) << 2)
    if t == abi.cap_cnode_cap:
        return Cap(t, c.capCNodePtr, c.capCNodeRadix, badge=c.capCNodeGuard, guard_size=c.capCNodeGuardSize)
    if t == abi.cap_thread_cap:
        return Cap(t, c.capTCBPtr - abi.TCB_OFFSET)  # the abstract ThreadCap names the object base
    if t == abi.cap_sched_context_cap:
        return Cap(t, c.capSCPtr, c.capSCSizeBits)
    if t == abi.cap_irq_handler_cap:
        return Cap(t, c.capIRQ)
    if t == abi.cap_zombie_cap:
        return Cap(t, c.capZombiePtr, c.capZombieType, badge=c.capZombieNumber)
    if t == abi.cap_frame_cap:
        bits = {0: abi.seL4_PageBits, 1: abi.seL4_LargePageBits, 2: abi.seL4_HugePageBits}[c.capFSize]
        return Cap(t, c.capFBasePtr, bits, rights=c.capFVMRights, device=bool(c.capFIsDevice),
                   mapped=c.capFMappedASID != 0)
    if t == abi.cap_page_table_cap:
        return Cap(t, c.capPTBasePtr, mapped=bool(c.capPTIsMapped))
    if t == abi.cap_page_directory_cap:
        return Cap(t, c.capPDBasePtr, mapped=bool(c.capPDIsMapped))
    if t == abi.cap_pdpt_cap:
        return Cap(t, c.capPDPTBasePtr, mapped=bool(c.capPDPTIsMapped))
    if t == abi.cap_pml4_cap:
        return Cap(t, c.capPML4BasePtr, mapped=bool(c.capPML4IsMapped))
    if t == abi.cap_asid_pool_cap:
        return Cap(t, c.capASIDPool, badge=c.capASIDBase)
    if t == abi.cap_io_port_cap:
        return Cap(t, c.capIOPortFirstPort, badge=c.capIOPortLastPort)
    # Caps with no fields: IRQ control, domain, SchedControl, ASID control, IO port control.
    return Cap(t)


# --- isMDBParentOf, from the C --------------------------------------------------------------

def _region(c: Cap) -> tuple[int, int] | None:
    bits = {abi.cap_untyped_cap: c.bits, abi.cap_endpoint_cap: abi.seL4_EndpointBits,
            abi.cap_notification_cap: abi.seL4_NotificationBits, abi.cap_reply_cap: abi.seL4_ReplyBits,
            abi.cap_cnode_cap: c.bits + abi.seL4_SlotBits, abi.cap_thread_cap: abi.seL4_TCBBits,
            abi.cap_sched_context_cap: c.bits, abi.cap_frame_cap: c.bits, abi.cap_page_table_cap: 12,
            abi.cap_page_directory_cap: 12, abi.cap_pdpt_cap: 12, abi.cap_pml4_cap: 12,
            abi.cap_asid_pool_cap: 12}.get(c.type)
    if bits is None:
        return None
    return c.obj, (c.obj + (1 << bits) - 1) & WORD_MASK


_SAME_OBJ = {abi.cap_endpoint_cap, abi.cap_notification_cap, abi.cap_thread_cap, abi.cap_reply_cap,
             abi.cap_irq_handler_cap, abi.cap_page_table_cap, abi.cap_page_directory_cap, abi.cap_pdpt_cap,
             abi.cap_pml4_cap, abi.cap_asid_pool_cap}


def same_region_as(a: Cap, b: Cap) -> bool:
    """sameRegionAs (src/object/objecttype.c, Arch_sameRegionAs for x86)."""
    if a.type in (abi.cap_untyped_cap, abi.cap_frame_cap):
        rb = _region(b)
        if rb is None or (a.type == abi.cap_frame_cap and b.type != abi.cap_frame_cap):
            return False
        ra = _region(a)
        assert ra is not None
        return ra[0] <= rb[0] and rb[1] <= ra[1] and rb[0] <= rb[1]
    if a.type in (abi.cap_cnode_cap, abi.cap_sched_context_cap):
        return b.type == a.type and b.obj == a.obj and b.bits == a.bits
    if a.type in _SAME_OBJ:
        return b.type == a.type and b.obj == a.obj
    if a.type == abi.cap_irq_control_cap:
        return b.type in (abi.cap_irq_control_cap, abi.cap_irq_handler_cap)
    if a.type == abi.cap_io_port_control_cap:
        return b.type in (abi.cap_io_port_control_cap, abi.cap_io_port_cap)
    if a.type == abi.cap_io_port_cap:
        return b.type == a.type and b.obj == a.obj and b.badge == a.badge
    if a.type in (abi.cap_domain_cap, abi.cap_sched_control_cap, abi.cap_asid_control_cap):
        return b.type == a.type
    return False


def is_mdb_parent_of(a: Cap, a_revocable: bool, b: Cap, b_first_badged: bool) -> bool:
    """isMDBParentOf (src/object/cnode.c): a is revocable, covers b, and badges allow it."""
    if not a_revocable or not same_region_as(a, b):
        return False
    if a.type in (abi.cap_endpoint_cap, abi.cap_notification_cap) and a.badge != 0:
        return b.badge == a.badge and not b_first_badged
    return True


# --- the walk -------------------------------------------------------------------------------

def mdb_lists(ctes: Any) -> list[list[int]]:
    """The MDB lists, each from its head; CorruptState on any broken link or cycle."""
    slots = set(ctes.keys())
    heads = []
    for x in sorted(slots):
        e = ctes[x]
        if e.next and e.next not in slots:
            raise CorruptState(f"slot {x:#x}: next {e.next:#x} is not a slot holding a cap (dangling link)")
        if e.prev and e.prev not in slots:
            raise CorruptState(f"slot {x:#x}: prev {e.prev:#x} is not a slot holding a cap (dangling link)")
        if e.next and ctes[e.next].prev != x:
            raise CorruptState(f"slot {x:#x}: next {e.next:#x} has prev {ctes[e.next].prev:#x} (broken back link)")
        if e.prev and ctes[e.prev].next != x:
            raise CorruptState(f"slot {x:#x}: prev {e.prev:#x} has next {ctes[e.prev].next:#x} (broken back link)")
        if not e.prev:
            heads.append(x)
    seen: set[int] = set()
    lists = []
    for h in heads:
        order, x = [], h
        while x:
            if x in seen:
                raise CorruptState(f"slot {x:#x}: reached twice (an MDB cycle)")
            seen.add(x)
            order.append(x)
            x = ctes[x].next
        lists.append(order)
    if len(seen) != len(slots):
        first = min(slots - seen)
        raise CorruptState(f"slot {first:#x}: on no list that starts at a head (an MDB cycle)")
    return lists


def abstract(k: Any) -> State:
    """The spec state that the concrete kernel k represents."""
    s = State.empty()
    obj_type: dict[int, int] = {}
    obj_bits: dict[int, int] = {}
    for base, o in k.objects.items():
        obj_type[base] = OBJ_ASID_POOL if o.obj_type < 0 else o.obj_type
        obj_bits[base] = o.size_bits
    fields: dict[str, dict[int, Any]] = {n: {} for n in
                                         ("type", "obj", "bits", "rights", "badge", "guard_size", "free", "device",
                                          "mapped")}
    ctes = k.ctes
    caps: dict[int, Cap] = {}
    original: dict[int, bool] = {}
    for x in ctes.keys():
        e = ctes[x]
        c = spec_cap(e.cap)
        if c.type == abi.cap_null_cap:
            raise CorruptState(f"slot {x:#x}: stored with a null cap")
        caps[x] = c
        for name in fields:
            fields[name][x] = getattr(c, name)
        original[x] = bool(e.revocable)
    parent: dict[int, int] = {}
    depth: dict[int, int] = {}
    anc: dict[int, bool] = {}
    for order in mdb_lists(ctes):
        # A stack of the open subtrees: each entry's descendants are the contiguous run after it.
        stack: list[int] = []
        closed: set[int] = set()
        for x in order:
            e = ctes[x]
            for p in stack:
                if p not in closed and not is_mdb_parent_of(caps[p], ctes[p].revocable, caps[x], e.first_badged):
                    closed.add(p)  # a run of descendants that ends never resumes
            while stack and stack[-1] in closed:
                stack.pop()
            p = stack[-1] if stack else NULL
            if p != NULL:
                parent[x] = p
                depth[x] = depth.get(p, 0) + 1
                for a in [p] + _ancestors(parent, p):
                    anc[pair(a, x)] = True
            stack.append(x)
    maps = {
        "obj_type": obj_type, "obj_bits": obj_bits, "cdt_parent": parent, "is_original": original,
        "depth": depth, "anc": anc,
        **{"cap_" + n: v for n, v in fields.items()},
    }
    return s.replace(**{name: Map(*State.__sorts__[name], getattr(s, name).default, vals) for name, vals in maps.items()})


def _ancestors(parent: dict[int, int], x: int) -> list[int]:
    out = []
    while x in parent:
        x = parent[x]
        out.append(x)
    return out


_unused = (OBJ_NONE, WORD, BOOL, INT, PAIR)
