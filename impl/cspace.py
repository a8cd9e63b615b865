"""CSpace addressing (src/kernel/cspace.c)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spec.abi import (
    cap_cnode_cap,
    seL4_FailedLookup,
    seL4_RangeError,
    seL4_SlotBits,
    seL4_WordBits,
    tcbCTable,
)

from impl.caps import NULL_CAP, Cap
from impl.structures import (
    LookupFailed,
    SyscallError,
    lookup_fault_depth_mismatch_new,
    lookup_fault_guard_mismatch_new,
    lookup_fault_invalid_root_new,
)

if TYPE_CHECKING:
    from impl.kernel import Kernel
    from impl.objects import Tcb


def resolve_address_bits(k: Kernel, node_cap: Any, capptr: int, n_bits: int) -> tuple[int, int]:
    """Models resolveAddressBits: (slot address, bits remaining), or raises LookupFailed."""
    if node_cap.capType != cap_cnode_cap:
        raise LookupFailed(lookup_fault_invalid_root_new())
    ctes = k.ctes
    while True:
        radix_bits = node_cap.capCNodeRadix
        guard_bits = node_cap.capCNodeGuardSize
        level_bits = radix_bits + guard_bits
        cap_guard = node_cap.capCNodeGuard
        # The guard is checked before the depth, so too few bits is a GuardMismatch.
        if guard_bits > n_bits or ((capptr >> (n_bits - guard_bits)) & ((1 << guard_bits) - 1)) != cap_guard:
            raise LookupFailed(lookup_fault_guard_mismatch_new(cap_guard, n_bits, guard_bits))
        if level_bits > n_bits:
            raise LookupFailed(lookup_fault_depth_mismatch_new(level_bits, n_bits))
        offset = (capptr >> (n_bits - level_bits)) & ((1 << radix_bits) - 1)
        slot = node_cap.capCNodePtr + (offset << seL4_SlotBits)
        if n_bits == level_bits:
            return slot, 0
        n_bits -= level_bits
        cte = ctes.get(slot)
        if cte is None or cte.cap.capType != cap_cnode_cap:
            return slot, n_bits
        node_cap = cte.cap


def thread_cspace_root(k: Kernel, thread: Tcb) -> Cap:
    """The cap in TCB_PTR_CTE_PTR(thread, tcbCTable)."""
    cte = k.ctes.get(thread.base + (tcbCTable << seL4_SlotBits))
    return NULL_CAP if cte is None else cte.cap


def lookup_slot(k: Kernel, thread: Tcb, capptr: int) -> int:
    """Models lookupSlot: resolve all 64 bits from the thread's CSpace root; may stop early."""
    slot, _ = resolve_address_bits(k, thread_cspace_root(k, thread), capptr, seL4_WordBits)
    return slot


def lookup_cap_and_slot(k: Kernel, thread: Tcb, cptr: int) -> tuple[Cap, int]:
    """Models lookupCapAndSlot: the (possibly null) cap and its slot, or raises LookupFailed."""
    slot = lookup_slot(k, thread, cptr)
    cte = k.ctes.get(slot)
    return (NULL_CAP if cte is None else cte.cap), slot


def lookup_cap(k: Kernel, thread: Tcb, cptr: int) -> Cap:
    """Models lookupCap."""
    return lookup_cap_and_slot(k, thread, cptr)[0]


def lookup_slot_for_cnode_op(k: Kernel, is_source: bool, root: Any, capptr: int, depth: int) -> int:
    """Models lookupSlotForCNodeOp: the slot named by exactly `depth` bits, or raises SyscallError."""
    src = 1 if is_source else 0
    if root.capType != cap_cnode_cap:
        raise SyscallError(seL4_FailedLookup, (src,) + lookup_fault_invalid_root_new().to_mrs())
    if depth < 1 or depth > seL4_WordBits:
        raise SyscallError(seL4_RangeError, (1, seL4_WordBits))
    try:
        slot, remaining = resolve_address_bits(k, root, capptr, depth)
    except LookupFailed as lf:
        raise SyscallError(seL4_FailedLookup, (src,) + lf.fault.to_mrs()) from None
    if remaining != 0:
        raise SyscallError(seL4_FailedLookup, (src,) + lookup_fault_depth_mismatch_new(0, remaining).to_mrs())
    return slot


def lookup_source_slot(k: Kernel, root: Cap, capptr: int, depth: int) -> int:
    """Models lookupSourceSlot (isSource = true)."""
    return lookup_slot_for_cnode_op(k, True, root, capptr, depth)


def lookup_target_slot(k: Kernel, root: Cap, capptr: int, depth: int) -> int:
    """Models lookupTargetSlot (isSource = false)."""
    return lookup_slot_for_cnode_op(k, False, root, capptr, depth)


def lookup_pivot_slot(k: Kernel, root: Cap, capptr: int, depth: int) -> int:
    """Models lookupPivotSlot (isSource = true, as in the C)."""
    return lookup_slot_for_cnode_op(k, True, root, capptr, depth)
