"""The abstract state for capabilities and memory, and seL4's relations on caps.

The state is a record of total maps, so that it lifts to Z3 arrays unchanged:

- objects are named by their base address: `obj_type` (seL4_ObjectType, or OBJ_NONE where no
  object starts) and `obj_bits` (log2 of its size). Untyped memory itself is not an object,
  as in l4v's kheap;
- slots are named by the address of their CTE (CNode base + index * 32; a TCB's own slots at
  the TCB base + index * 32), and each cap field is one map: `cap_type` (the C cap tag),
  `cap_obj`, `cap_bits`, `cap_rights`, `cap_badge` (EP/NTFN badge, a CNode's guard, or an IO
  port cap's last port, its first being `cap_obj`), `cap_guard_size`, `cap_free` (an untyped's
  capFreeIndex, in seL4's 16-byte units),
  `cap_device`, `cap_mapped`;
- the CDT is l4v's parent map `cdt_parent` (NULL for roots) with `is_original`
  (l4v is_original_cap, C mdbRevocable);
- ghost state, maintained by every operation so that the proofs need no transitive closure
  (Z3's TransitiveClosure proved unsound for us, see DESIGN.md): `depth` strictly grows from
  parent to child (so the CDT has no cycles), and `anc` is the ancestor relation of the CDT,
  kept as an explicit map over pairs of slots (key `pair(a, c)`: a is a strict ancestor of c).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import z3

from spec import abi
from spec.logic import (BOOL, INT, WORD, And, Bool, Map, Not, Or, Sort, Word, band, bnot, cases, eq,
                        is_sym, ite, mask, ne, shl, shr, ule, wadd, wsub)

NULL = 0  # the null slot / object reference (no kernel object lives at address 0)
OBJ_NONE = 0xFF  # obj_type of an address where no object starts
PAIR = Sort("word", 128)  # key sort of `anc`: (ancestor, descendant)

# Cap rights words, seL4_CapRights layout (libsel4/include/sel4/shared_types_64.bf).
ALL_RIGHTS = 0xF
# x86 frame VM rights (include/arch/x86/arch/64/mode/object/structures.bf vm_rights).
VMKernelOnly, VMReadOnly, VMReadWrite = 1, 2, 3


def pair(a: Word, c: Word) -> Any:
    """The `anc` key of (a, c)."""
    if is_sym(a) or is_sym(c):
        return z3.Concat(WORD.lift(a), WORD.lift(c))
    return (a << 64) | c


def pair_fst(k: Any) -> Word:
    """The ancestor half of an `anc` key."""
    return z3.Extract(127, 64, k) if is_sym(k) else k >> 64


def pair_snd(k: Any) -> Word:
    """The descendant half of an `anc` key."""
    return z3.Extract(63, 0, k) if is_sym(k) else k & ((1 << 64) - 1)


@dataclass(frozen=True)
class Cap:
    """A capability, field for field as the state stores it."""

    type: Word = abi.cap_null_cap
    obj: Word = 0
    bits: Word = 0
    rights: Word = 0
    badge: Word = 0
    guard_size: Word = 0
    free: Word = 0
    device: Bool = False
    mapped: Bool = False


NULL_CAP = Cap()
CAP_FIELDS = tuple(f.name for f in dataclasses.fields(Cap))


@dataclass(frozen=True)
class State:
    """The abstract kernel state for capabilities and memory (see the module docstring)."""

    obj_type: Map
    obj_bits: Map
    cap_type: Map
    cap_obj: Map
    cap_bits: Map
    cap_rights: Map
    cap_badge: Map
    cap_guard_size: Map
    cap_free: Map
    cap_device: Map
    cap_mapped: Map
    cdt_parent: Map
    is_original: Map
    depth: Map
    anc: Map

    __sorts__: ClassVar[dict[str, tuple[Sort, Sort]]] = {
        "obj_type": (WORD, WORD), "obj_bits": (WORD, WORD),
        "cap_type": (WORD, WORD), "cap_obj": (WORD, WORD), "cap_bits": (WORD, WORD),
        "cap_rights": (WORD, WORD), "cap_badge": (WORD, WORD), "cap_guard_size": (WORD, WORD),
        "cap_free": (WORD, WORD), "cap_device": (WORD, BOOL), "cap_mapped": (WORD, BOOL),
        "cdt_parent": (WORD, WORD), "is_original": (WORD, BOOL), "depth": (WORD, INT),
        "anc": (PAIR, BOOL),
    }
    _DEFAULTS: ClassVar[dict[str, Any]] = {"obj_type": OBJ_NONE, "cap_device": False, "cap_mapped": False,
                                           "is_original": False, "anc": False}

    @classmethod
    def empty(cls) -> "State":
        """No objects, no caps."""
        return cls(**{name: Map(k, v, cls._DEFAULTS.get(name, 0)) for name, (k, v) in cls.__sorts__.items()})

    def replace(self, **kw: Any) -> "State":
        """A copy with the given fields replaced."""
        return dataclasses.replace(self, **kw)

    def slot_maps(self) -> tuple[Map, ...]:
        """The maps keyed by slot, for quantifying over slots concretely.

        Every slot any field holds is visited, so that a stale field of an emptied slot (a free
        index, an ancestor pair) is checked concretely as it is symbolically.
        """
        maps = tuple(getattr(self, "cap_" + f) for f in CAP_FIELDS) + (self.cdt_parent, self.is_original, self.depth)
        if self.anc.symbolic_reading:
            return maps
        # The slots named by held ancestor pairs, as a map keyed by slot.
        halves = {h: True for k, _ in self.anc.items() for h in (pair_fst(k), pair_snd(k))}
        return maps + (Map(WORD, BOOL, False, halves),)

    def obj_maps(self) -> tuple[Map, ...]:
        """The maps keyed by object, for quantifying over objects concretely."""
        return (self.obj_type, self.obj_bits)


def get_cap(s: State, slot: Word) -> Cap:
    """The cap in a slot."""
    return Cap(*(getattr(s, "cap_" + f)[slot] for f in CAP_FIELDS))


def set_cap(s: State, slot: Word, cap: Cap) -> State:
    """The state with cap written into slot (every field, so nothing stale survives)."""
    return s.replace(**{"cap_" + f: getattr(s, "cap_" + f).set(slot, getattr(cap, f)) for f in CAP_FIELDS})


# --------------------------------------------------------------------------------------------
# Kinds of caps (src/object/objecttype.c, src/arch/x86/object/objecttype.c).

def is_null(c: Cap) -> Bool:
    """cap_get_capType(c) == cap_null_cap."""
    return eq(c.type, abi.cap_null_cap)


def is_untyped(c: Cap) -> Bool:
    """An untyped cap."""
    return eq(c.type, abi.cap_untyped_cap)


def is_ep_or_ntfn(c: Cap) -> Bool:
    """An endpoint or notification cap (the badged kinds)."""
    return Or(eq(c.type, abi.cap_endpoint_cap), eq(c.type, abi.cap_notification_cap))


def is_cnode(c: Cap) -> Bool:
    """A CNode cap."""
    return eq(c.type, abi.cap_cnode_cap)


def is_paging_structure(c: Cap) -> Bool:
    """An x86_64 page table, page directory, PDPT or PML4 cap."""
    return Or(*[eq(c.type, t) for t in (abi.cap_page_table_cap, abi.cap_page_directory_cap,
                                        abi.cap_pdpt_cap, abi.cap_pml4_cap)])


_PHYSICAL = (abi.cap_untyped_cap, abi.cap_endpoint_cap, abi.cap_notification_cap, abi.cap_reply_cap,
             abi.cap_cnode_cap, abi.cap_thread_cap, abi.cap_zombie_cap, abi.cap_sched_context_cap,
             abi.cap_frame_cap, abi.cap_page_table_cap, abi.cap_page_directory_cap, abi.cap_pdpt_cap,
             abi.cap_pml4_cap, abi.cap_asid_pool_cap)


def is_physical(c: Cap) -> Bool:
    """cap_get_capIsPhysical: the cap names memory."""
    return Or(*[eq(c.type, t) for t in _PHYSICAL])


def cap_size_bits(c: Cap) -> Word:
    """cap_get_capSizeBits: log2 of the bytes the cap's object (or untyped region) covers."""
    return cases(0,
                 (Or(is_untyped(c), eq(c.type, abi.cap_sched_context_cap), eq(c.type, abi.cap_frame_cap)), c.bits),
                 (eq(c.type, abi.cap_endpoint_cap), abi.seL4_EndpointBits),
                 (eq(c.type, abi.cap_notification_cap), abi.seL4_NotificationBits),
                 (eq(c.type, abi.cap_reply_cap), abi.seL4_ReplyBits),
                 (is_cnode(c), wadd(c.bits, abi.seL4_SlotBits)),
                 (eq(c.type, abi.cap_thread_cap), abi.seL4_TCBBits),
                 (is_paging_structure(c), abi.seL4_PageTableBits),
                 (eq(c.type, abi.cap_asid_pool_cap), abi.seL4_ASIDPoolBits))


def cap_object_type(c: Cap) -> Word:
    """The seL4_ObjectType a physical, non-untyped cap names (OBJ_NONE otherwise)."""
    return cases(OBJ_NONE,
                 (eq(c.type, abi.cap_endpoint_cap), abi.seL4_EndpointObject),
                 (eq(c.type, abi.cap_notification_cap), abi.seL4_NotificationObject),
                 (eq(c.type, abi.cap_reply_cap), abi.seL4_ReplyObject),
                 (is_cnode(c), abi.seL4_CapTableObject),
                 (eq(c.type, abi.cap_thread_cap), abi.seL4_TCBObject),
                 (eq(c.type, abi.cap_sched_context_cap), abi.seL4_SchedContextObject),
                 (And(eq(c.type, abi.cap_frame_cap), eq(c.bits, abi.seL4_PageBits)), abi.seL4_X86_4K),
                 (And(eq(c.type, abi.cap_frame_cap), eq(c.bits, abi.seL4_LargePageBits)), abi.seL4_X86_LargePageObject),
                 (And(eq(c.type, abi.cap_frame_cap), eq(c.bits, abi.seL4_HugePageBits)), abi.seL4_X64_HugePageObject),
                 (eq(c.type, abi.cap_page_table_cap), abi.seL4_X86_PageTableObject),
                 (eq(c.type, abi.cap_page_directory_cap), abi.seL4_X86_PageDirectoryObject),
                 (eq(c.type, abi.cap_pdpt_cap), abi.seL4_X86_PDPTObject),
                 (eq(c.type, abi.cap_pml4_cap), abi.seL4_X64_PML4Object))


def cap_top(c: Cap) -> Word:
    """The last byte the cap covers (inclusive, so a region at the top of memory does not wrap)."""
    return wadd(c.obj, mask(cap_size_bits(c)))


def untyped_top(c: Cap) -> Word:
    """The last byte of an untyped cap's region (l4v untyped_range): cap_top for an untyped cap,
    written without the case split over cap types, which the invariants on untypeds do not need."""
    return wadd(c.obj, mask(c.bits))


def cap_class(c: Cap) -> Word:
    """cap_get_capClass (include/object/cap.h): physical, IRQ, domain, ASID-control and so on."""
    return cases(0,  # NullClass
                 (is_physical(c), 1),
                 (Or(eq(c.type, abi.cap_irq_control_cap), eq(c.type, abi.cap_irq_handler_cap)), 2),
                 (eq(c.type, abi.cap_domain_cap), 3),
                 (eq(c.type, abi.cap_asid_control_cap), 4),
                 (Or(eq(c.type, abi.cap_io_port_control_cap), eq(c.type, abi.cap_io_port_cap)), 5),
                 (eq(c.type, abi.cap_sched_control_cap), 6))


# --------------------------------------------------------------------------------------------
# Relations between caps (src/object/objecttype.c sameRegionAs, sameObjectAs, isCapRevocable).

def same_region_as(a: Cap, b: Cap) -> Bool:
    """sameRegionAs(a, b): b names memory or an object inside what a names (asymmetric)."""
    b_top = cap_top(b)
    a_top = cap_top(a)
    inside = And(ule(a.obj, b.obj), ule(b_top, a_top), ule(b.obj, b_top))
    same_obj = And(eq(a.type, b.type), eq(a.obj, b.obj))
    return cases(False,
                 (is_untyped(a), And(is_physical(b), inside)),
                 (is_cnode(a), And(same_obj, eq(a.bits, b.bits))),
                 (eq(a.type, abi.cap_sched_context_cap), And(same_obj, eq(a.bits, b.bits))),
                 (Or(*[eq(a.type, t) for t in (abi.cap_endpoint_cap, abi.cap_notification_cap,
                                                abi.cap_thread_cap, abi.cap_reply_cap,
                                                abi.cap_irq_handler_cap, abi.cap_page_table_cap,
                                                abi.cap_page_directory_cap, abi.cap_pdpt_cap,
                                                abi.cap_pml4_cap, abi.cap_asid_pool_cap)]), same_obj),
                 (eq(a.type, abi.cap_frame_cap), And(eq(b.type, abi.cap_frame_cap), inside)),
                 (eq(a.type, abi.cap_irq_control_cap),
                  Or(eq(b.type, abi.cap_irq_control_cap), eq(b.type, abi.cap_irq_handler_cap))),
                 (eq(a.type, abi.cap_io_port_control_cap),
                  Or(eq(b.type, abi.cap_io_port_control_cap), eq(b.type, abi.cap_io_port_cap))),
                 # An IO port cap's first and last port are its obj and badge (x86 Arch_sameRegionAs).
                 (eq(a.type, abi.cap_io_port_cap), And(eq(b.type, abi.cap_io_port_cap), eq(a.obj, b.obj),
                                                       eq(a.badge, b.badge))),
                 (Or(eq(a.type, abi.cap_domain_cap), eq(a.type, abi.cap_sched_control_cap),
                     eq(a.type, abi.cap_asid_control_cap)), eq(a.type, b.type)))


def same_object_as(a: Cap, b: Cap) -> Bool:
    """sameObjectAs(a, b): an untyped names no object; frames must match exactly."""
    frames = And(eq(a.type, abi.cap_frame_cap), eq(b.type, abi.cap_frame_cap))
    return cases(same_region_as(a, b),
                 (is_untyped(a), False),
                 (And(eq(a.type, abi.cap_irq_control_cap), eq(b.type, abi.cap_irq_handler_cap)), False),
                 (frames, And(eq(a.obj, b.obj), eq(a.bits, b.bits), eq(a.device, b.device))))


def is_cap_revocable(new: Cap, src: Cap) -> Bool:
    """isCapRevocable(new, src): will the new copy be an original (mdbRevocable)?"""
    return cases(False,
                 (is_ep_or_ntfn(new), ne(new.badge, src.badge)),
                 (eq(new.type, abi.cap_irq_handler_cap), eq(src.type, abi.cap_irq_control_cap)),
                 (is_untyped(new), True),
                 (eq(new.type, abi.cap_io_port_cap), eq(src.type, abi.cap_io_port_control_cap)))


def should_be_parent_of(parent: Cap, parent_original: Bool, child: Cap, child_original: Bool) -> Bool:
    """l4v should_be_parent_of (C isMDBParentOf on the abstract state)."""
    badged = And(is_ep_or_ntfn(parent), ne(parent.badge, 0))
    return And(parent_original, same_region_as(parent, child),
               Or(Not(badged), And(eq(child.badge, parent.badge), Not(child_original))))


# --------------------------------------------------------------------------------------------
# Transformations of caps (maskCapRights, updateCapData).

def mask_vm_rights(vm: Word, rights: Word) -> Word:
    """maskVMRights (src/arch/x86/object/objecttype.c)."""
    can_read = ne(band(rights, 2), 0)
    can_write = ne(band(rights, 1), 0)
    return cases(VMKernelOnly,
                 (And(eq(vm, VMReadOnly), can_read), VMReadOnly),
                 (And(eq(vm, VMReadWrite), can_read), ite(can_write, VMReadWrite, VMReadOnly)))


# The transformations below keep a cap's type, object and size fields as the very terms of the
# source cap and say in one condition when seL4 turns the result into a NullCap. The meaning is
# seL4's; the shape lets the solver see that a derived cap names what its source names.

def mask_cap_rights(rights: Word, c: Cap) -> Cap:
    """maskCapRights: rights only ever shrink; caps without rights are unchanged."""
    r = band(rights, ALL_RIGHTS)
    return dataclasses.replace(c, rights=cases(c.rights,
                                               (eq(c.type, abi.cap_endpoint_cap), band(c.rights, r)),
                                               (eq(c.type, abi.cap_notification_cap), band(c.rights, band(r, 3))),
                                               (eq(c.type, abi.cap_reply_cap), band(c.rights, band(r, 4))),
                                               (eq(c.type, abi.cap_frame_cap), mask_vm_rights(c.rights, r))))


def update_cap_data_parts(preserve: Bool, data: Word, c: Cap) -> tuple[Bool, Cap]:
    """updateCapData as (refused, updated cap): seL4 returns NullCap when refused."""
    guard_size = band(data, 0x3F)
    guard = band(shr(data, 6), mask(58))
    ep = is_ep_or_ntfn(c)
    cnode = is_cnode(c)
    # A badge is set once, by Mint only; a CNode guard must fit in the word with the radix.
    refused = Or(And(ep, Or(preserve, ne(c.badge, 0))),
                 And(cnode, Not(ule(wadd(guard_size, c.bits), 64))))
    updated = dataclasses.replace(c, badge=cases(c.badge, (ep, data), (cnode, band(guard, mask(guard_size)))),
                                  guard_size=ite(cnode, guard_size, c.guard_size))
    return refused, updated


def update_cap_data(preserve: Bool, data: Word, c: Cap) -> Cap:
    """updateCapData: set a badge once (Mint only) or a CNode's guard; Null where seL4 refuses."""
    refused, updated = update_cap_data_parts(preserve, data, c)
    return ite(refused, NULL_CAP, updated)


# --------------------------------------------------------------------------------------------
# Views of the state.

def has_children(s: State, slot: Word) -> Bool:
    """Some slot has `slot` as its CDT parent (C: ensureNoChildren fails)."""
    from spec.logic import Domain, exists
    return exists(Domain("child"), lambda x: eq(s.cdt_parent[x], slot), over=(s.cdt_parent,))


def is_descendant(s: State, ancestor: Word, slot: Word) -> Bool:
    """`slot` is a strict CDT descendant of `ancestor` (l4v descendants_of)."""
    return s.anc[pair(ancestor, slot)]


def object_top(s: State, o: Word) -> Word:
    """The last byte of the object at o."""
    return wadd(o, mask(s.obj_bits[o]))


def mask_off(x: Word, n: Word) -> Word:
    """x with its low n bits cleared (used for aligned object bases)."""
    return band(x, bnot(mask(n)))


def in_range(x: Word, lo: Word, hi: Word) -> Bool:
    """lo <= x <= hi, unsigned, inclusive."""
    return And(ule(lo, x), ule(x, hi))


def slot_of(cnode: Word, index: Word) -> Word:
    """The address of slot `index` of the CNode at `cnode`."""
    return wadd(cnode, shl(index, abi.seL4_SlotBits))


def free_ref(c: Cap) -> Word:
    """The first free byte of an untyped (base + freeIndex * 16)."""
    return wadd(c.obj, shl(c.free, abi.seL4_MinUntypedBits))


def max_free_index(bits: Word) -> Word:
    """MAX_FREE_INDEX(bits): an untyped's size in 16-byte units."""
    return shl(1, wsub(bits, abi.seL4_MinUntypedBits))
