"""Slots and the mapping database (src/object/cnode.c), deriveCap/finaliseCap (objecttype.c), CNode invocations.

The CDT exists only as the MDB list order plus ``is_mdb_parent_of``: the children of a slot are
the maximal run of list successors that it is an MDB parent of.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spec.abi import (
    CNodeCancelBadgedSends,
    CNodeCopy,
    CNodeDelete,
    CNodeMint,
    CNodeMove,
    CNodeMutate,
    CNodeRevoke,
    CNodeRotate,
    ZombieType_ZombieTCB,
    cap_cnode_cap,
    cap_endpoint_cap,
    cap_frame_cap,
    cap_io_port_control_cap,
    cap_irq_control_cap,
    cap_notification_cap,
    cap_null_cap,
    cap_page_directory_cap,
    cap_page_table_cap,
    cap_pdpt_cap,
    cap_pml4_cap,
    cap_sched_context_cap,
    cap_thread_cap,
    cap_untyped_cap,
    cap_zombie_cap,
    seL4_DeleteFirst,
    seL4_IllegalOperation,
    seL4_RevokeFirst,
    seL4_SlotBits,
    seL4_TCBBits,
    seL4_TruncatedMessage,
    seL4_FailedLookup,
    tcbArchCNodeEntries,
    tcbCTable,
)

from impl.caps import (
    NULL_CAP,
    X86_MappingNone,
    Cap,
    asidInvalid,
    mask,
    mask_cap_rights,
    same_object_as,
    same_region_as,
    is_cap_revocable,
    update_cap_data,
    zombie_new,
)
from impl.cspace import lookup_pivot_slot, lookup_source_slot, lookup_target_slot
from impl.structures import CTE, SyscallError, lookup_fault_missing_capability_new

if TYPE_CHECKING:
    from impl.kernel import Kernel


# --- the MDB ---------------------------------------------------------------------------------------


def is_mdb_parent_of(cte_a: CTE, cte_b: CTE) -> bool:
    """Models isMDBParentOf: is b a CDT child of a (given b follows a in the MDB list)?"""
    if not cte_a.revocable:
        return False
    a = cte_a.cap
    if not same_region_as(a, cte_b.cap):
        return False
    # x86 Arch_isMDBParentOf is always true.
    t = a.capType
    if t == cap_endpoint_cap:
        badge = a.capEPBadge
        if badge == 0:
            return True
        return bool(badge == cte_b.cap.capEPBadge and not cte_b.first_badged)
    if t == cap_notification_cap:
        badge = a.capNtfnBadge
        if badge == 0:
            return True
        return bool(badge == cte_b.cap.capNtfnBadge and not cte_b.first_badged)
    return True


def ensure_no_children(k: Kernel, slot: int) -> None:
    """Models ensureNoChildren: RevokeFirst if the list successor is an MDB child."""
    cte = k.ctes.get(slot)
    if cte is not None and cte.next != 0:
        if is_mdb_parent_of(cte, k.ctes[cte.next]):
            raise SyscallError(seL4_RevokeFirst)


def ensure_empty_slot(k: Kernel, slot: int) -> None:
    """Models ensureEmptySlot: DeleteFirst if the slot holds a cap."""
    if slot in k.ctes:
        raise SyscallError(seL4_DeleteFirst)


def is_final_capability(k: Kernel, slot: int) -> bool:
    """Models isFinalCapability: no list neighbour names the same object (relies on mdb_chunked)."""
    ctes = k.ctes
    cte = ctes[slot]
    if cte.prev != 0 and same_object_as(ctes[cte.prev].cap, cte.cap):
        return False
    if cte.next == 0:
        return True
    return not same_object_as(cte.cap, ctes[cte.next].cap)


def set_untyped_cap_as_full(src_cap: Any, new_cap: Any, src_cte: CTE) -> None:
    """Models setUntypedCapAsFull: an untyped copied to an equal child can no longer allocate."""
    if (
        src_cap.capType == cap_untyped_cap
        and new_cap.capType == cap_untyped_cap
        and src_cap.capPtr == new_cap.capPtr
        and src_cap.capBlockSize == new_cap.capBlockSize
    ):
        # MAX_FREE_INDEX(bits) = 2^(bits - seL4_MinUntypedBits)
        src_cte.cap = src_cap._replace(capFreeIndex=1 << (src_cap.capBlockSize - 4))


def cte_insert(k: Kernel, new_cap: Cap, src: int, dest: int) -> None:
    """Models cteInsert: put new_cap in (empty) dest, right after src in the MDB list."""
    ctes = k.ctes
    src_cte = ctes[src]
    src_cap = src_cte.cap
    revocable = is_cap_revocable(new_cap, src_cap)
    set_untyped_cap_as_full(src_cap, new_cap, src_cte)
    nxt = src_cte.next
    ctes[dest] = CTE(new_cap, src, nxt, revocable, revocable)
    src_cte.next = dest
    if nxt:
        ctes[nxt].prev = dest


def insert_new_cap(k: Kernel, parent: int, slot: int, cap: Cap) -> None:
    """Models insertNewCap: a new original (revocable, firstBadged) cap right after parent."""
    ctes = k.ctes
    parent_cte = ctes[parent]
    nxt = parent_cte.next
    ctes[slot] = CTE(cap, parent, nxt, True, True)
    if nxt:
        ctes[nxt].prev = slot
    parent_cte.next = slot


def cte_move(k: Kernel, new_cap: Cap, src: int, dest: int) -> None:
    """Models cteMove: dest takes new_cap and src's MDB node (same list position); src becomes null."""
    ctes = k.ctes
    cte = ctes.pop(src)
    cte.cap = new_cap
    ctes[dest] = cte
    if cte.prev:
        ctes[cte.prev].next = dest
    if cte.next:
        ctes[cte.next].prev = dest


def cte_swap(k: Kernel, cap1: Cap, slot1: int, cap2: Cap, slot2: int) -> None:
    """Models cteSwap: exchange the caps and MDB nodes of two slots (each cap keeps its position)."""
    ctes = k.ctes
    e1 = ctes.get(slot1)
    if e1 is not None:
        p1, n1, r1, f1 = e1.prev, e1.next, e1.revocable, e1.first_badged
    else:
        p1, n1, r1, f1 = 0, 0, False, False
    # The C re-points slot1's neighbours before reading slot2's node: order matters when adjacent.
    if p1:
        ctes[p1].next = slot2
    if n1:
        ctes[n1].prev = slot2
    e2 = ctes.get(slot2)
    if e2 is not None:
        p2, n2, r2, f2 = e2.prev, e2.next, e2.revocable, e2.first_badged
    else:
        p2, n2, r2, f2 = 0, 0, False, False
    if cap2.capType != cap_null_cap:
        ctes[slot1] = CTE(cap2, p2, n2, r2, f2)
    else:
        ctes.pop(slot1, None)
    if cap1.capType != cap_null_cap:
        ctes[slot2] = CTE(cap1, p1, n1, r1, f1)
    else:
        ctes.pop(slot2, None)
    if p2:
        ctes[p2].next = slot1
    if n2:
        ctes[n2].prev = slot1


def cap_swap_for_delete(k: Kernel, slot1: int, slot2: int) -> None:
    """Models capSwapForDelete: swap two slots' contents unchanged."""
    if slot1 == slot2:
        return
    c1 = k.ctes.get(slot1)
    c2 = k.ctes.get(slot2)
    cte_swap(k, NULL_CAP if c1 is None else c1.cap, slot1, NULL_CAP if c2 is None else c2.cap, slot2)


def empty_slot(k: Kernel, slot: int, cleanup_info: Cap) -> None:
    """Models emptySlot: unlink the slot, OR its firstBadged into its successor, null it."""
    ctes = k.ctes
    cte = ctes.get(slot)
    if cte is None:
        return
    prev, nxt = cte.prev, cte.next
    if prev:
        ctes[prev].next = nxt
    if nxt:
        n = ctes[nxt]
        n.prev = prev
        n.first_badged = n.first_badged or cte.first_badged
    del ctes[slot]
    # postCapDeletion: only IRQHandler (and x86 IOPort) caps need cleanup; none can exist here.


# --- deriveCap ------------------------------------------------------------------------------------


def derive_cap(k: Kernel, slot: int, cap: Any) -> Cap:
    """Models deriveCap (with x86 Arch_deriveCap/Mode_deriveCap): the cap a copy receives."""
    t = cap.capType
    if t & 1:
        if t == cap_page_table_cap:
            if cap.capPTIsMapped:
                return cap
            raise SyscallError(seL4_IllegalOperation)
        if t == cap_page_directory_cap:
            if cap.capPDIsMapped:
                return cap
            raise SyscallError(seL4_IllegalOperation)
        if t == cap_pml4_cap:
            if cap.capPML4IsMapped:
                return cap
            raise SyscallError(seL4_IllegalOperation)
        if t == cap_pdpt_cap:
            if cap.capPDPTIsMapped:
                return cap
            raise SyscallError(seL4_IllegalOperation)
        if t == cap_frame_cap:
            # A copy of a frame is never mapped (capFMappedAddress is left as it was).
            return cap._replace(capFMapType=X86_MappingNone, capFMappedASID=asidInvalid)
        if t == cap_io_port_control_cap:
            return NULL_CAP
        return cap  # ASID control/pool, IO port
    if t == cap_zombie_cap or t == cap_irq_control_cap:
        return NULL_CAP
    if t == cap_untyped_cap:
        ensure_no_children(k, slot)
    return cap


# --- finalisation and deletion ---------------------------------------------------------------------


def finalise_cap(k: Kernel, cap: Any, final: bool, exposed: bool) -> tuple[Cap, Cap]:
    """Models finaliseCap: (remainder, cleanupInfo) for the state this model has.

    EP/NTFN/Reply finalisation cancels IPC, signals and call-stack links: with no thread ever
    blocked in this model there is nothing to cancel. Arch caps: unmapping, ASID and ASID-pool
    deletion change page tables / ASID tables, which are not modelled; only the cap goes away.
    """
    t = cap.capType
    if t & 1:
        return NULL_CAP, NULL_CAP
    if t == cap_cnode_cap:
        if final:
            radix = cap.capCNodeRadix
            return zombie_new(1 << radix, radix, cap.capCNodePtr), NULL_CAP
        return NULL_CAP, NULL_CAP
    if t == cap_thread_cap:
        if final:
            tcb = k.objects[cap.capTCBPtr & ~mask(seL4_TCBBits)]
            # unbindNotification: no notification can be bound in this model.
            sc_ptr = tcb.tcbSchedContext
            if sc_ptr:
                k.sched_context_unbind_tcb(sc_ptr)
            k.suspend(tcb)
            return zombie_new(tcbArchCNodeEntries, ZombieType_ZombieTCB, tcb.base + (tcbCTable << seL4_SlotBits)), NULL_CAP
        return NULL_CAP, NULL_CAP
    if t == cap_sched_context_cap:
        if final:
            sc = k.objects[cap.capSCPtr]
            if sc.scTcb:
                k.sched_context_unbind_tcb(sc.base)
            # unbindNtfn / unbindReply / completeYieldTo: never bound in this model.
            sc.scRefillMax = 0
            sc.scSporadic = False
        return NULL_CAP, NULL_CAP
    if t == cap_zombie_cap:
        return cap, NULL_CAP
    # Endpoint, notification, reply, null, domain, untyped, IRQ control, sched control,
    # and non-final IRQ handlers: nothing to do in this model.
    return NULL_CAP, NULL_CAP


def cap_removable(cap: Any, slot: int) -> bool:
    """Models capRemovable: may finaliseSlot stop with this remainder in this slot?"""
    if cap.capType == cap_null_cap:
        return True
    n = cap.capZombieNumber
    return bool(n == 0 or (n == 1 and slot == cap.capZombiePtr))


def cap_cyclic_zombie(cap: Any, slot: int) -> bool:
    """Models capCyclicZombie: a Zombie sitting in the first slot of the object it destroys."""
    return bool(cap.capType == cap_zombie_cap and cap.capZombiePtr == slot)


def finalise_slot(k: Kernel, slot: int, immediate: bool) -> tuple[bool, Cap]:
    """Models finaliseSlot: finalise the slot's cap, reducing Zombies; (success, cleanupInfo)."""
    ctes = k.ctes
    while True:
        cte = ctes.get(slot)
        if cte is None:
            return True, NULL_CAP
        final = is_final_capability(k, slot)
        remainder, cleanup = finalise_cap(k, cte.cap, final, False)
        if cap_removable(remainder, slot):
            return True, cleanup
        # finaliseCap may have touched other slots, but never this one: cte is still ours.
        cte.cap = remainder
        if not immediate and cap_cyclic_zombie(remainder, slot):
            return False, cleanup
        reduce_zombie(k, slot, immediate)
        # preemptionPoint: not modelled (no interrupts), so the loop always runs to the end.


def reduce_zombie(k: Kernel, slot: int, immediate: bool) -> None:
    """Models reduceZombie: clear the Zombie's last slot (immediate) or move it into its own slot 0."""
    ctes = k.ctes
    zombie: Any = ctes[slot].cap
    ptr = zombie.capZombiePtr
    n = zombie.capZombieNumber
    ztype = zombie.capZombieType
    if immediate:
        # Deleting an empty slot is a no-op, and preemption is not modelled, so skip straight to
        # the highest occupied slot below n: a CNode may have 2^40 slots, almost all empty.
        top = _highest_occupied_slot(k, ptr, n)
        if top < n - 1:
            n = top + 1
            zombie = zombie._replace(capZombieID=(zombie.capZombieID & ~mask(zombie.capZombieBits + 1)) | n)
            ctes[slot].cap = zombie
            if cap_removable(zombie, slot):
                return
        end_slot = ptr + ((n - 1) << seL4_SlotBits)
        cte_delete(k, end_slot, False)
        cte = ctes.get(slot)
        if cte is None:
            return
        cap: Any = cte.cap
        if cap.capType == cap_zombie_cap:
            if cap.capZombiePtr == ptr and cap.capZombieNumber == n and cap.capZombieType == ztype:
                cte.cap = cap._replace(capZombieID=(cap.capZombieID & ~mask(cap.capZombieBits + 1)) | (n - 1))
            # else: the C asserts the Zombie became self-referential (ptr2 == slot).
    else:
        cap_swap_for_delete(k, ptr, slot)


def _highest_occupied_slot(k: Kernel, ptr: int, n: int) -> int:
    """Index of the highest non-null slot among ptr[0 .. n-1], or -1."""
    a = k.ctes.highest_in(ptr, ptr + (n << seL4_SlotBits))
    return -1 if a < 0 else (a - ptr) >> seL4_SlotBits


def cte_delete(k: Kernel, slot: int, exposed: bool) -> None:
    """Models cteDelete: finalise the slot, then empty it if exposed or finalisation completed."""
    success, cleanup = finalise_slot(k, slot, exposed)
    if exposed or success:
        empty_slot(k, slot, cleanup)


def cte_delete_one(k: Kernel, slot: int) -> None:
    """Models cteDeleteOne: delete a cap whose finalisation never needs recursion."""
    cte = k.ctes.get(slot)
    if cte is not None:
        final = is_final_capability(k, slot)
        finalise_cap(k, cte.cap, final, True)
        empty_slot(k, slot, NULL_CAP)


def cte_revoke(k: Kernel, slot: int) -> None:
    """Models cteRevoke: delete every CDT descendant of the slot (its MDB-child run), newest first."""
    ctes = k.ctes
    cte = ctes.get(slot)
    while cte is not None and cte.next != 0:
        nxt = cte.next
        if not is_mdb_parent_of(cte, ctes[nxt]):
            return
        cte_delete(k, nxt, True)
        # preemptionPoint: not modelled.
        cte = ctes.get(slot)


# --- CNode invocations (decodeCNodeInvocation) -------------------------------------------------------


def decode_cnode_invocation(
    k: Kernel, label: int, length: int, cap: Any, args: list[int], excaps: list[int]
) -> None:
    """Models decodeCNodeInvocation and the invokeCNode* functions; raises SyscallError."""
    if label < CNodeRevoke or label > CNodeRotate:
        raise SyscallError(seL4_IllegalOperation)
    if length < 2:
        raise SyscallError(seL4_TruncatedMessage)
    index = args[0]
    w_bits = args[1]
    dest_slot = lookup_target_slot(k, cap, index, w_bits)
    ctes = k.ctes

    if CNodeCopy <= label <= CNodeMutate:
        if length < 4 or len(excaps) < 1:
            raise SyscallError(seL4_TruncatedMessage)
        src_index = args[2]
        src_depth = args[3]
        src_root_cte = ctes.get(excaps[0])
        src_root = NULL_CAP if src_root_cte is None else src_root_cte.cap
        # The destination must be empty before the source is even looked up.
        ensure_empty_slot(k, dest_slot)
        src_slot = lookup_source_slot(k, src_root, src_index, src_depth)
        src_cte = ctes.get(src_slot)
        if src_cte is None:
            raise SyscallError(seL4_FailedLookup, (1,) + lookup_fault_missing_capability_new(src_depth).to_mrs())
        src_cap = src_cte.cap
        if label == CNodeCopy:
            if length < 5:
                raise SyscallError(seL4_TruncatedMessage)
            new_cap = derive_cap(k, src_slot, mask_cap_rights(args[4], src_cap))
            is_move = False
        elif label == CNodeMint:
            if length < 6:
                raise SyscallError(seL4_TruncatedMessage)
            masked = mask_cap_rights(args[4], src_cap)
            new_cap = derive_cap(k, src_slot, update_cap_data(False, args[5], masked))
            is_move = False
        elif label == CNodeMove:
            new_cap = src_cap
            is_move = True
        else:  # CNodeMutate
            if length < 5:
                raise SyscallError(seL4_TruncatedMessage)
            new_cap = update_cap_data(True, args[4], src_cap)
            is_move = True
        if new_cap.capType == cap_null_cap:
            raise SyscallError(seL4_IllegalOperation)
        k.set_restart()
        if is_move:
            cte_move(k, new_cap, src_slot, dest_slot)
        else:
            cte_insert(k, new_cap, src_slot, dest_slot)
        return

    if label == CNodeRevoke:
        k.set_restart()
        cte_revoke(k, dest_slot)
        return

    if label == CNodeDelete:
        k.set_restart()
        cte_delete(k, dest_slot, True)
        return

    if label == CNodeCancelBadgedSends:
        dest_cte = ctes.get(dest_slot)
        dest_cap: Any = NULL_CAP if dest_cte is None else dest_cte.cap
        if not _has_cancel_send_rights(dest_cap):
            raise SyscallError(seL4_IllegalOperation)
        k.set_restart()
        # invokeCNodeCancelBadgedSends: with badge != 0, cancelBadgedSends dequeues the threads
        # blocked sending with that badge; no thread is ever queued on an endpoint in this model.
        return

    # CNodeRotate
    if length < 8 or len(excaps) < 2:
        raise SyscallError(seL4_TruncatedMessage)
    pivot_new_data = args[2]
    pivot_index = args[3]
    pivot_depth = args[4]
    src_new_data = args[5]
    src_index = args[6]
    src_depth = args[7]
    pivot_root_cte = ctes.get(excaps[0])
    src_root_cte = ctes.get(excaps[1])
    pivot_root = NULL_CAP if pivot_root_cte is None else pivot_root_cte.cap
    src_root = NULL_CAP if src_root_cte is None else src_root_cte.cap
    src_slot = lookup_source_slot(k, src_root, src_index, src_depth)
    pivot_slot = lookup_pivot_slot(k, pivot_root, pivot_index, pivot_depth)
    if pivot_slot == src_slot or pivot_slot == dest_slot:
        raise SyscallError(seL4_IllegalOperation)
    if src_slot != dest_slot:
        ensure_empty_slot(k, dest_slot)
    src_cte = ctes.get(src_slot)
    if src_cte is None:
        raise SyscallError(seL4_FailedLookup, (1,) + lookup_fault_missing_capability_new(src_depth).to_mrs())
    pivot_cte = ctes.get(pivot_slot)
    if pivot_cte is None:
        raise SyscallError(seL4_FailedLookup, (0,) + lookup_fault_missing_capability_new(pivot_depth).to_mrs())
    new_src_cap = update_cap_data(True, src_new_data, src_cte.cap)
    new_pivot_cap = update_cap_data(True, pivot_new_data, pivot_cte.cap)
    if new_src_cap.capType == cap_null_cap:
        raise SyscallError(seL4_IllegalOperation)
    if new_pivot_cap.capType == cap_null_cap:
        raise SyscallError(seL4_IllegalOperation)
    k.set_restart()
    invoke_cnode_rotate(k, new_src_cap, new_pivot_cap, src_slot, pivot_slot, dest_slot)


def invoke_cnode_rotate(k: Kernel, cap1: Cap, cap2: Cap, slot1: int, slot2: int, slot3: int) -> None:
    """Models invokeCNodeRotate: slot2's cap (as cap2) to slot3, slot1's cap (as cap1) to slot2.

    decodeCNodeInvocation passes (newSrcCap, newPivotCap, srcSlot, pivotSlot, destSlot); when
    src and dest are one slot the rotation is a swap of src and pivot.
    """
    if slot1 == slot3:
        cte_swap(k, cap1, slot1, cap2, slot2)
    else:
        # The pivot's cap leaves first: slot2 must be empty before slot1's cap moves in.
        cte_move(k, cap2, slot2, slot3)
        cte_move(k, cap1, slot1, slot2)


def _has_cancel_send_rights(cap: Any) -> bool:
    """Models hasCancelSendRights."""
    return bool(
        cap.capType == cap_endpoint_cap
        and cap.capCanSend
        and cap.capCanReceive
        and cap.capCanGrantReply
        and cap.capCanGrant
    )
