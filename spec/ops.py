"""CNode and Untyped invocations at slot level: the checks after lookup, and the effect.

seL4's decode functions (src/object/cnode.c decodeCNodeInvocation, src/object/untyped.c
decodeUntypedInvocation) first look up slots, then check the state, then invoke. Each
operation here is split the same way: `<op>_checks` is the ordered list of (failure
condition, seL4 error) that depend on the state, `<op>_effect` is the invocation, and `<op>`
runs them with `check_then`. The decode layer (spec.decode) interleaves its lookups and
message-length checks in seL4's order. The proofs take the checks as hypotheses and the
effect as the thing that must keep the invariants, so they are about this very code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spec import abi
from spec.cdt import (cte_insert, cte_move, cte_swap, descendants_of, empty_slot, has_descendants,
                      revoke_descendants)
from spec.logic import (And, Bool, Domain, Implies, Map, Not, Or, Word, align_up, cases, check_then, eq, forall,
                        is_aligned, is_sym, ite, ne, shl, shr, ugt, ule, ult, wadd, wsub)
from spec.state import (ALL_RIGHTS, NULL_CAP, OBJ_NONE, VMReadWrite, Cap, State, get_cap, is_null,
                        is_paging_structure, is_untyped, mask_cap_rights, pair, pair_fst, pair_snd, same_object_as,
                        slot_of, untyped_top, update_cap_data, update_cap_data_parts)

N_MRS = 5  # the most words an error reply of these invocations carries (FailedLookup + GuardMismatch)


@dataclass(frozen=True)
class Reply:
    """What the invoking thread observes: seL4_Error and the words setMRs_syscall_error writes."""

    error: Word = abi.seL4_NoError
    length: Word = 0
    mrs: tuple[Word, ...] = (0,) * N_MRS


OK = Reply()


def fail(error: int, *words: Word) -> Reply:
    """An error reply carrying `words` as its message (seL4 setMRs_syscall_error)."""
    return Reply(error, len(words), tuple(words) + (0,) * (N_MRS - len(words)))


def missing_capability(is_source: int, bits_left: Word) -> Reply:
    """FailedLookup with a MissingCapability lookup fault (src/object/cnode.c, untyped.c)."""
    return fail(abi.seL4_FailedLookup, is_source, abi.seL4_MissingCapability, bits_left)


Check = tuple[Callable[[], Bool], Callable[[], Reply]]
Outcome = tuple[State, Reply]


def run(s: State, checks: list[Check], effect: Callable[[], State]) -> Outcome:
    """check_then over (state, reply): a failing check leaves the state unchanged."""
    return check_then([(c, (lambda f=f: (s, f()))) for c, f in checks], lambda: (effect(), OK))


# --------------------------------------------------------------------------------------------
# deriveCap (src/object/objecttype.c, src/arch/x86/object/objecttype.c Arch_deriveCap)

def derive_cap_error(s: State, slot: Word, c: Cap) -> Reply:
    """The error deriveCap raises for c in slot, or OK."""
    return cases(OK,
                 (And(is_untyped(c), has_descendants(s, slot)), fail(abi.seL4_RevokeFirst)),
                 (And(is_paging_structure(c), Not(c.mapped)), fail(abi.seL4_IllegalOperation)))


def derive_cap_fails(s: State, slot: Word, c: Cap) -> Bool:
    """deriveCap raises an error for c in slot (the condition of derive_cap_error, as one formula)."""
    return Or(And(is_untyped(c), has_descendants(s, slot)), And(is_paging_structure(c), Not(c.mapped)))


def derive_cap_parts(c: Cap) -> tuple[Bool, Cap]:
    """deriveCap without its errors, as (nulled, derived cap): seL4 returns NullCap when nulled."""
    nulled = Or(eq(c.type, abi.cap_zombie_cap), eq(c.type, abi.cap_irq_control_cap),
                eq(c.type, abi.cap_io_port_control_cap))
    # A frame copy starts unmapped.
    return nulled, dataclasses.replace(c, mapped=And(c.mapped, ne(c.type, abi.cap_frame_cap)))


def derive_cap(c: Cap) -> Cap:
    """The cap deriveCap returns when it raises no error."""
    nulled, derived = derive_cap_parts(c)
    return ite(nulled, NULL_CAP, derived)


# --------------------------------------------------------------------------------------------
# Copy, Mint, Move, Mutate (decodeCNodeInvocation after the source lookup)

def copy_cap(s: State, src: Word, rights: Word) -> Cap:
    """The cap CNode_Copy would insert: deriveCap(maskCapRights(rights, cap))."""
    nulled, c = derive_cap_parts(mask_cap_rights(rights, get_cap(s, src)))
    return ite(nulled, NULL_CAP, c)


def mint_cap(s: State, src: Word, rights: Word, badge: Word) -> Cap:
    """The cap CNode_Mint would insert: deriveCap(updateCapData(false, badge, maskCapRights(rights, cap))).

    deriveCap of a NullCap is a NullCap, so the two refusals combine into one condition.
    """
    refused, c = update_cap_data_parts(False, badge, mask_cap_rights(rights, get_cap(s, src)))
    nulled, c = derive_cap_parts(c)
    return ite(Or(refused, nulled), NULL_CAP, c)


def _insert_checks(s: State, dest: Word, src: Word, src_depth: Word, derived: Callable[[], Cap],
                   pre_derive: Callable[[], Cap]) -> list[Check]:
    return [
        # ensureEmptySlot(dest) comes before anything about the source.
        (lambda: ne(s.cap_type[dest], abi.cap_null_cap), lambda: fail(abi.seL4_DeleteFirst)),
        # An empty source slot is a lookup failure, not an illegal operation.
        (lambda: eq(s.cap_type[src], abi.cap_null_cap), lambda: missing_capability(1, src_depth)),
        # deriveCap: an untyped with children, an unmapped paging structure.
        (lambda: derive_cap_fails(s, src, pre_derive()), lambda: derive_cap_error(s, src, pre_derive())),
        # Null after derive or updateCapData: IRQControl, Zombie, a re-badge, a bad guard.
        (lambda: is_null(derived()), lambda: fail(abi.seL4_IllegalOperation)),
    ]


def cnode_copy_checks(s: State, dest: Word, src: Word, src_depth: Word, rights: Word) -> list[Check]:
    """The state checks of CNode_Copy, in seL4's order."""
    return _insert_checks(s, dest, src, src_depth, lambda: copy_cap(s, src, rights),
                          lambda: mask_cap_rights(rights, get_cap(s, src)))


def cnode_copy_effect(s: State, dest: Word, src: Word, rights: Word) -> State:
    """invokeCNodeInsert for Copy."""
    return cte_insert(s, copy_cap(s, src, rights), src, dest)


def cnode_copy(s: State, dest: Word, src: Word, src_depth: Word, rights: Word) -> Outcome:
    """seL4_CNode_Copy after its lookups."""
    return run(s, cnode_copy_checks(s, dest, src, src_depth, rights), lambda: cnode_copy_effect(s, dest, src, rights))


def cnode_mint_checks(s: State, dest: Word, src: Word, src_depth: Word, rights: Word, badge: Word) -> list[Check]:
    """The state checks of CNode_Mint, in seL4's order."""
    return _insert_checks(s, dest, src, src_depth, lambda: mint_cap(s, src, rights, badge),
                          lambda: update_cap_data(False, badge, mask_cap_rights(rights, get_cap(s, src))))


def cnode_mint_effect(s: State, dest: Word, src: Word, rights: Word, badge: Word) -> State:
    """invokeCNodeInsert for Mint."""
    return cte_insert(s, mint_cap(s, src, rights, badge), src, dest)


def cnode_mint(s: State, dest: Word, src: Word, src_depth: Word, rights: Word, badge: Word) -> Outcome:
    """seL4_CNode_Mint after its lookups."""
    return run(s, cnode_mint_checks(s, dest, src, src_depth, rights, badge),
               lambda: cnode_mint_effect(s, dest, src, rights, badge))


def cnode_move_checks(s: State, dest: Word, src: Word, src_depth: Word, new_cap: Callable[[], Cap]) -> list[Check]:
    """The state checks of CNode_Move and CNode_Mutate, in seL4's order."""
    return [
        (lambda: ne(s.cap_type[dest], abi.cap_null_cap), lambda: fail(abi.seL4_DeleteFirst)),
        (lambda: eq(s.cap_type[src], abi.cap_null_cap), lambda: missing_capability(1, src_depth)),
        (lambda: is_null(new_cap()), lambda: fail(abi.seL4_IllegalOperation)),
    ]


def cnode_move(s: State, dest: Word, src: Word, src_depth: Word) -> Outcome:
    """seL4_CNode_Move after its lookups: the cap moves unchanged."""
    cap = lambda: get_cap(s, src)  # noqa: E731
    return run(s, cnode_move_checks(s, dest, src, src_depth, cap), lambda: cte_move(s, cap(), src, dest))


def mutate_cap(s: State, src: Word, data: Word) -> Cap:
    """The cap CNode_Mutate would move (updateCapData with preserve = true)."""
    return update_cap_data(True, data, get_cap(s, src))


def cnode_mutate(s: State, dest: Word, src: Word, src_depth: Word, data: Word) -> Outcome:
    """seL4_CNode_Mutate after its lookups."""
    cap = lambda: mutate_cap(s, src, data)  # noqa: E731
    return run(s, cnode_move_checks(s, dest, src, src_depth, cap), lambda: cte_move(s, cap(), src, dest))


# --------------------------------------------------------------------------------------------
# Rotate (decodeCNodeInvocation, CNodeRotate; invokeCNodeRotate)

def cnode_rotate_checks(s: State, dest: Word, pivot: Word, src: Word, dest_badge: Word, pivot_badge: Word,
                        pivot_depth: Word, src_depth: Word) -> list[Check]:
    """The state checks of CNode_Rotate after both lookups, in seL4's order."""
    new_src = lambda: update_cap_data(True, pivot_badge, get_cap(s, src))  # noqa: E731
    new_pivot = lambda: update_cap_data(True, dest_badge, get_cap(s, pivot))  # noqa: E731
    return [
        # The pivot must be a third slot.
        (lambda: Or(eq(pivot, src), eq(pivot, dest)), lambda: fail(abi.seL4_IllegalOperation)),
        # dest may be src itself (a swap); otherwise it must be empty.
        (lambda: And(ne(src, dest), ne(s.cap_type[dest], abi.cap_null_cap)), lambda: fail(abi.seL4_DeleteFirst)),
        (lambda: eq(s.cap_type[src], abi.cap_null_cap), lambda: missing_capability(1, src_depth)),
        # seL4 reports an empty pivot as "not the source" (cnode.c).
        (lambda: eq(s.cap_type[pivot], abi.cap_null_cap), lambda: missing_capability(0, pivot_depth)),
        (lambda: is_null(new_src()), lambda: fail(abi.seL4_IllegalOperation)),
        (lambda: is_null(new_pivot()), lambda: fail(abi.seL4_IllegalOperation)),
    ]


def cnode_rotate_effect(s: State, dest: Word, pivot: Word, src: Word, dest_badge: Word, pivot_badge: Word) -> State:
    """invokeCNodeRotate: pivot's cap moves to dest and src's cap to pivot (a swap when src = dest)."""
    new_src = update_cap_data(True, pivot_badge, get_cap(s, src))
    new_pivot = update_cap_data(True, dest_badge, get_cap(s, pivot))
    rotated = cte_move(cte_move(s, new_pivot, pivot, dest), new_src, src, pivot)
    return ite(eq(src, dest), cte_swap(s, new_src, src, new_pivot, pivot), rotated)


def cnode_rotate(s: State, dest: Word, pivot: Word, src: Word, dest_badge: Word, pivot_badge: Word,
                 pivot_depth: Word, src_depth: Word) -> Outcome:
    """seL4_CNode_Rotate after its lookups."""
    return run(s, cnode_rotate_checks(s, dest, pivot, src, dest_badge, pivot_badge, pivot_depth, src_depth),
               lambda: cnode_rotate_effect(s, dest, pivot, src, dest_badge, pivot_badge))


# --------------------------------------------------------------------------------------------
# Delete and Revoke (cteDelete, cteRevoke; l4v cap_delete, cap_revoke)

def is_final_cap(s: State, slot: int) -> bool:
    """l4v is_final_cap (C isFinalCapability): no other slot holds a cap to the same object."""
    c = get_cap(s, slot)
    return not any(x != slot and same_object_as(c, get_cap(s, x)) for x in list(s.cap_type.keys()))


def container_slots(s: State, slot: int) -> list[int]:
    """The non-empty slots inside the CNode or TCB that the cap in `slot` names."""
    c = get_cap(s, slot)
    if c.type == abi.cap_cnode_cap:
        lo, n = c.obj, 1 << c.bits
    elif c.type == abi.cap_thread_cap:
        lo, n = c.obj, abi.tcbCNodeEntries
    else:
        return []
    hi = lo + (n << abi.seL4_SlotBits)
    return sorted((x for x in s.cap_type.keys() if lo <= x < hi), reverse=True)


def cte_delete(s: State, slot: int) -> State:
    """cteDelete(slot, exposed=true) / l4v cap_delete, concrete reading.

    The final cap to a CNode or TCB first empties the object's own slots (seL4 does this
    through a Zombie, last slot first); then the slot is emptied. Every step is an
    `empty_slot`, which the proofs cover; the recursion itself runs only concretely.
    """
    if is_sym(slot) or s.cap_type.symbolic_reading:
        raise TypeError("cte_delete recurses through containers: concrete reading only (proofs use empty_slot)")
    if s.cap_type[slot] == abi.cap_null_cap:
        return s
    if is_final_cap(s, slot):
        for inner in container_slots(s, slot):
            if inner != slot:
                s = cte_delete(s, inner)
    return empty_slot(s, slot)


def cap_revoke(s: State, slot: int) -> State:
    """cteRevoke / l4v cap_revoke, concrete reading: delete every descendant of slot.

    Descendants that are the final cap to a CNode or TCB are deleted one by one (their
    contents go too); the rest go in one step, `revoke_descendants`, which the proofs cover.
    """
    if is_sym(slot) or s.cap_type.symbolic_reading:
        raise TypeError("cap_revoke: concrete reading only (proofs use revoke_descendants)")
    while True:
        containers = [d for d in descendants_of(s, slot)
                      if s.cap_type[d] in (abi.cap_cnode_cap, abi.cap_thread_cap) and is_final_cap(s, d)]
        if not containers:
            return revoke_descendants(s, slot)
        s = cte_delete(s, containers[0])


def cnode_cancel_badged_sends_checks(s: State, target: Word) -> list[Check]:
    """decodeCNodeInvocation, CNodeCancelBadgedSends: an endpoint cap with all four rights."""
    c = lambda: get_cap(s, target)  # noqa: E731
    return [(lambda: Or(ne(c().type, abi.cap_endpoint_cap), ne(c().rights, ALL_RIGHTS)),
             lambda: fail(abi.seL4_IllegalOperation))]


def cnode_cancel_badged_sends(s: State, target: Word) -> Outcome:
    """seL4_CNode_CancelBadgedSends: no thread blocks on an endpoint yet, so nothing is dequeued."""
    return run(s, cnode_cancel_badged_sends_checks(s, target), lambda: s)


# --------------------------------------------------------------------------------------------
# Untyped_Retype (decodeUntypedInvocation after the node lookup; invokeUntyped_Retype)

def default_cap(obj_type: Word, obj: Word, user_bits: Word, device: Bool) -> Cap:
    """l4v default_cap / C createObject: the cap a fresh object of obj_type gets."""
    t = obj_type
    frame = lambda bits: Cap(abi.cap_frame_cap, obj, bits, VMReadWrite, device=device)  # noqa: E731
    return cases(NULL_CAP,
                 (eq(t, abi.seL4_UntypedObject), Cap(abi.cap_untyped_cap, obj, user_bits, device=device)),
                 (eq(t, abi.seL4_TCBObject), Cap(abi.cap_thread_cap, obj)),
                 (eq(t, abi.seL4_EndpointObject), Cap(abi.cap_endpoint_cap, obj, rights=ALL_RIGHTS)),
                 (eq(t, abi.seL4_NotificationObject), Cap(abi.cap_notification_cap, obj, rights=3)),
                 (eq(t, abi.seL4_CapTableObject), Cap(abi.cap_cnode_cap, obj, user_bits)),
                 (eq(t, abi.seL4_SchedContextObject), Cap(abi.cap_sched_context_cap, obj, user_bits)),
                 (eq(t, abi.seL4_ReplyObject), Cap(abi.cap_reply_cap, obj, rights=4)),
                 (eq(t, abi.seL4_X86_4K), frame(abi.seL4_PageBits)),
                 (eq(t, abi.seL4_X86_LargePageObject), frame(abi.seL4_LargePageBits)),
                 (eq(t, abi.seL4_X64_HugePageObject), frame(abi.seL4_HugePageBits)),
                 (eq(t, abi.seL4_X86_PageTableObject), Cap(abi.cap_page_table_cap, obj)),
                 (eq(t, abi.seL4_X86_PageDirectoryObject), Cap(abi.cap_page_directory_cap, obj)),
                 (eq(t, abi.seL4_X86_PDPTObject), Cap(abi.cap_pdpt_cap, obj)),
                 (eq(t, abi.seL4_X64_PML4Object), Cap(abi.cap_pml4_cap, obj)))


def get_object_size(obj_type: Word, user_bits: Word) -> Word:
    """getObjectSize (src/object/objecttype.c): log2 bytes of one object."""
    fixed = [(t, b) for t, b in ((abi.seL4_TCBObject, abi.seL4_TCBBits), (abi.seL4_EndpointObject, abi.seL4_EndpointBits),
                                 (abi.seL4_NotificationObject, abi.seL4_NotificationBits),
                                 (abi.seL4_ReplyObject, abi.seL4_ReplyBits),
                                 (abi.seL4_X86_PDPTObject, abi.seL4_PDPTBits), (abi.seL4_X64_PML4Object, abi.seL4_PML4Bits),
                                 (abi.seL4_X64_HugePageObject, abi.seL4_HugePageBits), (abi.seL4_X86_4K, abi.seL4_PageBits),
                                 (abi.seL4_X86_LargePageObject, abi.seL4_LargePageBits),
                                 (abi.seL4_X86_PageTableObject, abi.seL4_PageTableBits),
                                 (abi.seL4_X86_PageDirectoryObject, abi.seL4_PageDirBits))]
    return cases(user_bits, (eq(obj_type, abi.seL4_CapTableObject), wadd(user_bits, abi.seL4_SlotBits)),
                 *[(eq(obj_type, t), b) for t, b in fixed])


def is_frame_type(obj_type: Word) -> Bool:
    """Arch_isFrameType (x86_64): 4K, large and huge pages."""
    return Or(eq(obj_type, abi.seL4_X86_4K), eq(obj_type, abi.seL4_X86_LargePageObject),
              eq(obj_type, abi.seL4_X64_HugePageObject))


@dataclass(frozen=True)
class RetypePlan:
    """The values invokeUntyped_Retype works with, computed once from the checked arguments."""

    reset: Bool
    free_index: Word   # the free index after the reset decision (16-byte units)
    obj_bits: Word
    base: Word         # retypeBase: the first new object
    first_slot: Word   # the slot of the first new cap

    def is_new_slot(self, k: Word, n: Word) -> Bool:
        """k is one of the n destination slots."""
        return in_window(k, self.first_slot, n, abi.seL4_SlotBits)

    def is_new_object(self, o: Word, n: Word) -> Bool:
        """o is one of the n new objects."""
        return in_window(o, self.base, n, self.obj_bits)

    def object_for(self, k: Word) -> Word:
        """The object the cap in destination slot k names: the i-th slot gets the i-th object."""
        return wadd(self.base, shl(shr(wsub(k, self.first_slot), abi.seL4_SlotBits), self.obj_bits))


def retype_plan(s: State, ut: Word, obj_type: Word, user_bits: Word, node: Word, offset: Word) -> RetypePlan:
    """Decisions 14 and 17 of decodeUntypedInvocation: reset or not, and where objects go."""
    uc = get_cap(s, ut)
    reset = Not(has_descendants(s, ut))
    free_index = ite(reset, 0, uc.free)
    obj_bits = get_object_size(obj_type, user_bits)
    base = align_up(wadd(uc.obj, shl(free_index, abi.seL4_MinUntypedBits)), obj_bits)
    return RetypePlan(reset, free_index, obj_bits, base, slot_of(node, offset))


def untyped_retype_checks(s: State, ut: Word, obj_type: Word, user_bits: Word, node: Word, radix: Word,
                          offset: Word, n: Word) -> list[Check]:
    """The checks of decodeUntypedInvocation after the destination CNode is found, in seL4's order.

    `node` and `radix` are the destination CNode's base and radix.
    """
    uc = lambda: get_cap(s, ut)  # noqa: E731
    plan = lambda: retype_plan(s, ut, obj_type, user_bits, node, offset)  # noqa: E731
    node_size = shl(1, radix)
    free_bytes = lambda: wsub(shl(1, uc().bits), shl(plan().free_index, abi.seL4_MinUntypedBits))  # noqa: E731
    return [
        (lambda: ugt(offset, wsub(node_size, 1)), lambda: fail(abi.seL4_RangeError, 0, wsub(node_size, 1))),
        (lambda: Or(ult(n, 1), ugt(n, abi.CONFIG_RETYPE_FAN_OUT_LIMIT)),
         lambda: fail(abi.seL4_RangeError, 1, abi.CONFIG_RETYPE_FAN_OUT_LIMIT)),
        (lambda: ugt(n, wsub(node_size, offset)), lambda: fail(abi.seL4_RangeError, 1, wsub(node_size, offset))),
        # Every destination slot must be empty (seL4 stops at the first full one).
        (lambda: Not(_slots_empty(s, slot_of(node, offset), n)), lambda: fail(abi.seL4_DeleteFirst)),
        # Capacity ignores alignment: the untyped's base is aligned to its size.
        (lambda: ult(shr(free_bytes(), plan().obj_bits), n), lambda: fail(abi.seL4_NotEnoughMemory, free_bytes())),
        (lambda: And(uc().device, Not(is_frame_type(obj_type)), ne(obj_type, abi.seL4_UntypedObject)),
         lambda: fail(abi.seL4_InvalidArgument, 1)),
    ]


def _slots_empty(s: State, first: Word, n: Word) -> Bool:
    """Every slot of the window first .. first + (n - 1) * 2^SlotBits is empty (seL4's loop over destSlots).

    Stated per slot (a slot in the window is empty) rather than per index, so that a proof can
    apply it to any slot it meets; the two statements say the same.
    """
    if not is_sym(first) and not is_sym(n) and not s.cap_type.symbolic_reading:
        return all(s.cap_type[slot_of(first, i)] == abi.cap_null_cap
                   for i in range(min(n, abi.CONFIG_RETYPE_FAN_OUT_LIMIT)))
    return forall(Domain("slot"), lambda k: Implies(in_window(k, first, n, abi.seL4_SlotBits),
                                                    eq(s.cap_type[k], abi.cap_null_cap)), over=(s.cap_type,))


def in_window(k: Word, first: Word, n: Word, bits: Word) -> Bool:
    """k is first + i * 2^bits for some i < n."""
    d = wsub(k, first)
    return And(is_aligned(d, bits), ult(shr(d, bits), n))


def detype(s: State, uc: Cap) -> State:
    """l4v delete_objects: forget every object inside an untyped's range (its reset)."""
    inside = lambda o: And(ule(uc.obj, o), ule(o, untyped_top(uc)))  # noqa: E731
    return s.replace(obj_type=s.obj_type.update_where(lambda k, v: inside(k), lambda k, v: OBJ_NONE),
                     obj_bits=s.obj_bits.update_where(lambda k, v: inside(k), lambda k, v: 0))


def untyped_retype_effect(s: State, ut: Word, obj_type: Word, user_bits: Word, node: Word, offset: Word,
                          n: Word) -> State:
    """invokeUntyped_Retype / l4v invoke_untyped: reset if childless, then create n objects and caps."""
    uc = get_cap(s, ut)
    p = retype_plan(s, ut, obj_type, user_bits, node, offset)
    s = ite(p.reset, detype(s, uc), s)
    end = wadd(p.base, shl(n, p.obj_bits))
    s = s.replace(cap_free=s.cap_free.set(ut, shr(wsub(end, uc.obj), abi.seL4_MinUntypedBits)))
    concrete = not any(is_sym(x) for x in (p.base, p.first_slot, n, p.obj_bits)) and not s.obj_type.symbolic_reading
    new_objs = [p.base + (i << p.obj_bits) for i in range(n)] if concrete else []
    new_slots = [p.first_slot + (i << abi.seL4_SlotBits) for i in range(n)] if concrete else []
    is_obj = lambda k: p.is_new_object(k, n)  # noqa: E731
    is_slot = lambda k: p.is_new_slot(k, n)  # noqa: E731
    # Untyped memory is not an object (l4v retype_region writes nothing for it).
    makes_object = ne(obj_type, abi.seL4_UntypedObject)
    s = s.replace(
        obj_type=s.obj_type.update_where(lambda k, v: And(makes_object, is_obj(k)), lambda k, v: obj_type,
                                         extra_keys=new_objs),
        obj_bits=s.obj_bits.update_where(lambda k, v: And(makes_object, is_obj(k)), lambda k, v: p.obj_bits,
                                         extra_keys=new_objs))

    caps: dict[str, Map] = {}
    for f in dataclasses.fields(Cap):
        m: Map = getattr(s, "cap_" + f.name)
        caps["cap_" + f.name] = m.update_where(
            lambda k, v: is_slot(k),
            lambda k, v, f=f: getattr(default_cap(obj_type, p.object_for(k), user_bits, uc.device), f.name),
            extra_keys=new_slots)
    s = s.replace(**caps)
    anc_extra: list[Any] = []
    if concrete and not s.anc.symbolic_reading:
        from spec.cdt import ancestors_of
        ups = [ut] + ancestors_of(s, ut)
        anc_extra = [pair(a, k) for k in new_slots for a in ups]
    return s.replace(
        cdt_parent=s.cdt_parent.update_where(lambda k, v: is_slot(k), lambda k, v: ut, extra_keys=new_slots),
        is_original=s.is_original.update_where(lambda k, v: is_slot(k), lambda k, v: True, extra_keys=new_slots),
        depth=s.depth.update_where(lambda k, v: is_slot(k), lambda k, v: s.depth[ut] + 1, extra_keys=new_slots),
        anc=s.anc.update_where(lambda k, v: is_slot(pair_snd(k)),
                               lambda k, v: Or(eq(pair_fst(k), ut), s.anc[pair(pair_fst(k), ut)]),
                               extra_keys=anc_extra))


def untyped_retype(s: State, ut: Word, obj_type: Word, user_bits: Word, node: Word, radix: Word, offset: Word,
                   n: Word) -> Outcome:
    """seL4_Untyped_Retype after its argument checks and the node lookup."""
    return run(s, untyped_retype_checks(s, ut, obj_type, user_bits, node, radix, offset, n),
               lambda: untyped_retype_effect(s, ut, obj_type, user_bits, node, offset, n))


__all__ = [name for name in dir() if not name.startswith("_")]
