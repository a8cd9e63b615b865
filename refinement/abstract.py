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

IncrementalAbstraction computes the same function step by step, re-reading only the slots and
objects a step changed, with the full abstraction as a periodic cross-check.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from spec import abi
from spec.state import NULL, NULL_CAP, OBJ_NONE, Cap, State, pair
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


def list_ancestors(order: list[int], ctes: Any, caps: dict[int, Cap]) -> dict[int, tuple[int, ...]]:
    """The CDT on one MDB list (cdt_relation): each slot's strict ancestors, nearest first."""
    out: dict[int, tuple[int, ...]] = {}
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
        out[x] = (stack[-1],) + out[stack[-1]] if stack else ()
        stack.append(x)
    return out


def _abstract_cap(x: int, e: Any) -> Cap:
    c = spec_cap(e.cap)
    if c.type == abi.cap_null_cap:
        raise CorruptState(f"slot {x:#x}: stored with a null cap")
    return c


CAP_FIELDS = ("type", "obj", "bits", "rights", "badge", "guard_size", "free", "device", "mapped")


def abstract(k: Any) -> State:
    """The spec state that the concrete kernel k represents."""
    return _full(k)[0]


def _full(k: Any) -> tuple[State, dict[int, Cap], dict[int, tuple[int, ...]]]:
    """abstract(k), with the caps and each slot's ancestors (the incremental version keeps them)."""
    s = State.empty()
    obj_type: dict[int, int] = {}
    obj_bits: dict[int, int] = {}
    for base, o in k.objects.items():
        obj_type[base] = OBJ_ASID_POOL if o.obj_type < 0 else o.obj_type
        obj_bits[base] = o.size_bits
    fields: dict[str, dict[int, Any]] = {n: {} for n in CAP_FIELDS}
    ctes = k.ctes
    caps: dict[int, Cap] = {}
    original: dict[int, bool] = {}
    for x, e in ctes.items():
        c = caps[x] = _abstract_cap(x, e)
        for name in CAP_FIELDS:
            fields[name][x] = getattr(c, name)
        original[x] = bool(e.revocable)
    parent: dict[int, int] = {}
    depth: dict[int, int] = {}
    anc: dict[int, bool] = {}
    ancs: dict[int, tuple[int, ...]] = {}
    for order in mdb_lists(ctes):
        ancs.update(list_ancestors(order, ctes, caps))
    for x, up in ancs.items():
        if up:
            parent[x] = up[0]
            depth[x] = len(up)
            for a in up:
                anc[pair(a, x)] = True
    maps = {
        "obj_type": obj_type, "obj_bits": obj_bits, "cdt_parent": parent, "is_original": original,
        "depth": depth, "anc": anc,
        **{"cap_" + n: v for n, v in fields.items()},
    }
    s = s.replace(**{name: Map(*State.__sorts__[name], getattr(s, name).default, vals) for name, vals in maps.items()})
    return s, caps, ancs


# --- the incremental abstraction ----------------------------------------------------------------
#
# One step of a system call changes a few slots. Re-reading the whole kernel after each step
# cost more than the spec's step; instead the concrete state is compared with a shadow of what
# it held at the last look (every CTE's fields by value, the cap record by identity: caps are
# immutable), and the abstract state is updated for the slots that changed: their cap fields,
# and the CDT of every MDB list that holds one of them (a parent always shares its child's
# list, so the CDT of other lists cannot change). The full abstraction runs every
# `cross_check_every` steps and must agree.


class Diff(NamedTuple):
    """What changed in the concrete state since the last look."""

    changed: list[int]             # slots that gained a cap or whose CTE changed
    removed: dict[int, tuple[int, int]]  # slots that became empty: their old (prev, next)
    before: dict[int, tuple[int, int]]   # changed slots that held a cap before: their old (prev, next)
    objects_added: list[int]       # bases of new objects (a base in both lists was refilled)
    objects_removed: list[int]


class Shadow:
    """The slots and object bases of a kernel as they were at the last look."""

    def __init__(self, k: Any) -> None:
        """Look at k now."""
        self.ctes = {x: (e, e.cap, e.prev, e.next, e.revocable, e.first_badged) for x, e in k.ctes.items()}
        self.objects = dict(k.objects)

    def diff(self, k: Any) -> Diff:
        """What changed since the last look; the shadow then holds the current state."""
        shadow = self.ctes
        changed = []
        before = {}
        for x, e in k.ctes.items():
            old = shadow.get(x)
            if (old is None or old[0] is not e or old[1] is not e.cap or old[2] != e.prev or old[3] != e.next
                    or old[4] != e.revocable or old[5] != e.first_badged):
                changed.append(x)
                if old is not None:
                    before[x] = old[2:4]
                shadow[x] = (e, e.cap, e.prev, e.next, e.revocable, e.first_badged)
        removed = {}
        if len(shadow) != len(k.ctes) or changed:
            for x in shadow.keys() - k.ctes.keys():
                removed[x] = shadow.pop(x)[2:4]
        added: list[int] = []
        gone: list[int] = []
        objs, mine = k.objects, self.objects
        # Objects come and go only with Untyped_Retype (a reset may clear and refill the same
        # addresses), which always writes the untyped's cap: look at them only then.
        if len(objs) != len(mine) or any(shadow[x][1].capType == abi.cap_untyped_cap for x in changed):
            for b, o in objs.items():
                if mine.get(b) is not o:
                    if b in mine:
                        gone.append(b)
                    added.append(b)
            gone += [b for b in mine.keys() - objs.keys()]
            self.objects = dict(objs)
        return Diff(changed, removed, before, added, gone)


class IncrementalAbstraction:
    """abstract(k), kept up to date from step to step (see the comment above); a callable to
    use as a Simulation's abstraction, one per kernel."""

    def __init__(self, cross_check_every: int = 32) -> None:
        """No kernel seen yet."""
        self.cross_check_every = cross_check_every
        self.k: Any = None
        self.pending: Diff | None = None
        self.steps = 0

    def diff(self, k: Any) -> Diff | None:
        """The change since the last abstraction (None before the first); kept for the next call."""
        if self.k is not k:
            return None
        if self.pending is None:
            self.pending = self.shadow.diff(k)
        return self.pending

    def full(self, k: Any) -> State:
        """Abstract k from scratch and start tracking it."""
        self.k = None
        self.state, self.caps, self.ancs = _full(k)
        self.shadow = Shadow(k)
        self.pending = None
        self.k = k
        return self.state

    def __call__(self, k: Any) -> State:
        """The spec state k represents."""
        if self.k is not k:
            return self.full(k)
        d = self.diff(k)
        assert d is not None
        self.pending = None
        try:
            s = self._apply(k, d)
        except CorruptState:
            # The full abstraction says what is wrong, in its own words.
            self.k = None
            return self.full(k)
        self.steps += 1
        if self.cross_check_every and self.steps % self.cross_check_every == 0:
            self._cross_check(k)
        return s

    def _cross_check(self, k: Any) -> None:
        s = self.state
        full = self.full(k)
        for name in State.__sorts__:
            if getattr(s, name) != getattr(full, name):
                raise CorruptState(f"the incremental abstraction disagrees with the full one on {name}")

    def _apply(self, k: Any, d: Diff) -> State:
        ctes = k.ctes
        caps, ancs = self.caps, self.ancs
        s = self.state
        delta: dict[str, dict[Any, Any]] = {}

        def put(field: str, key: Any, value: Any) -> None:
            delta.setdefault(field, {})[key] = value

        for x in d.removed:
            del caps[x]
            for name in CAP_FIELDS:
                put("cap_" + name, x, getattr(NULL_CAP, name))
            put("is_original", x, False)
        for x in d.changed:
            e = ctes[x]
            c = caps[x] = _abstract_cap(x, e)
            for name in CAP_FIELDS:
                put("cap_" + name, x, getattr(c, name))
            put("is_original", x, bool(e.revocable))
        # The MDB lists that hold a changed slot, each walked once from its head.
        n = len(ctes)
        done: set[int] = set()
        new_ancs: dict[int, tuple[int, ...]] = {}
        for x in d.changed:
            if x in done:
                continue
            h, steps = x, 0
            while ctes[h].prev:
                h = ctes[h].prev
                steps += 1
                if h not in ctes or steps > n:
                    raise CorruptState(f"slot {x:#x}: its list has no head")
            order, y = [], h
            while y:
                if y in done or y not in ctes or len(order) > n:
                    raise CorruptState(f"slot {y:#x}: a broken MDB list")
                e = ctes[y]
                if e.next and ctes.get(e.next) is None or e.next and ctes[e.next].prev != y:
                    raise CorruptState(f"slot {y:#x}: a broken MDB link")
                done.add(y)
                order.append(y)
                y = e.next
            new_ancs.update(list_ancestors(order, ctes, caps))
        for x in d.removed:
            new_ancs[x] = ()
        for x, up in new_ancs.items():
            old = ancs.get(x, ())
            if up == old:
                continue
            for a in old:
                put("anc", pair(a, x), False)
            for a in up:
                put("anc", pair(a, x), True)
            put("cdt_parent", x, up[0] if up else NULL)
            put("depth", x, len(up))
            if up:
                ancs[x] = up
            else:
                ancs.pop(x, None)
        for b in d.objects_removed:
            put("obj_type", b, OBJ_NONE)
            put("obj_bits", b, 0)
        for b in d.objects_added:  # after the removals: a reset may refill the same address
            o = k.objects[b]
            put("obj_type", b, OBJ_ASID_POOL if o.obj_type < 0 else o.obj_type)
            put("obj_bits", b, o.size_bits)
        if delta:
            s = s.replace(**{name: getattr(s, name).set_many(ch) for name, ch in delta.items()})
        self.state = s
        return s


_unused = (OBJ_NONE, WORD, BOOL, INT, PAIR)
