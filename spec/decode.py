"""CSpace lookups and the decoding of CNode and Untyped invocations (the syscall layer).

Models src/kernel/cspace.c (resolveAddressBits, lookupSlotForCNodeOp), src/object/cnode.c
(decodeCNodeInvocation), src/object/untyped.c (decodeUntypedInvocation) and the parts of
src/api/syscall.c handleInvocation that concern caps: the invoked cap and the extra caps are
looked up at depth 64 in the thread's CSpace, and a failure there is a cap fault, not an error.

The lookups walk a chain of CNodes whose length is not known in advance, so this layer runs
in the concrete reading (the walk is bounded by 64 levels, each consuming at least one bit).
The state-dependent checks and effects it calls are those of spec.ops, which the proofs cover.
"""

from __future__ import annotations

from dataclasses import dataclass

from spec import abi
from spec.logic import WORD_MASK, mask, shr
from spec.ops import (OK, Reply, cap_revoke, cnode_cancel_badged_sends, cnode_copy_checks, cnode_copy_effect,
                      cnode_mint_checks, cnode_mint_effect, cnode_move, cnode_mutate, cnode_rotate_checks,
                      cnode_rotate_effect, cte_delete, fail, get_object_size, missing_capability, run,
                      untyped_retype_checks, untyped_retype_effect)
from spec.state import VMReadOnly, VMReadWrite, Cap, State, get_cap, slot_of

Outcome = tuple[State, Reply]


@dataclass(frozen=True)
class Lookup:
    """The result of resolveAddressBits: a slot, or a lookup fault with seL4's fields.

    `fault` is the user-visible seL4_LookupFailureType (seL4_NoFailure on success). On
    success `bits_left` is the number of bits not translated (bitsRemaining).
    """

    fault: int
    slot: int = 0
    bits_left: int = 0
    guard_found: int = 0   # GuardMismatch
    bits_found: int = 0    # DepthMismatch and GuardMismatch

    def words(self) -> tuple[int, ...]:
        """The lookup-failure description as setMRs_lookup_failure writes it (type first)."""
        if self.fault == abi.seL4_InvalidRoot:
            return (self.fault,)
        if self.fault == abi.seL4_MissingCapability:
            return (self.fault, self.bits_left)
        if self.fault == abi.seL4_DepthMismatch:
            return (self.fault, self.bits_left, self.bits_found)
        return (self.fault, self.bits_left, self.guard_found, self.bits_found)


def resolve_address_bits(s: State, node_cap: Cap, cptr: int, n_bits: int) -> Lookup:
    """resolveAddressBits (src/kernel/cspace.c): translate the n_bits low bits of cptr."""
    if node_cap.type != abi.cap_cnode_cap:
        return Lookup(abi.seL4_InvalidRoot)
    for _ in range(abi.seL4_WordBits):  # every level consumes at least one bit (radix >= 1)
        radix, guard_bits = node_cap.bits, node_cap.guard_size
        level = radix + guard_bits
        # The guard sits just below bit n_bits; the C masks the shift to the word's 6 bits.
        guard = shr(cptr, (n_bits - guard_bits) & 63) & mask(guard_bits)
        if guard_bits > n_bits or guard != node_cap.badge:
            return Lookup(abi.seL4_GuardMismatch, bits_left=n_bits, guard_found=node_cap.badge, bits_found=guard_bits)
        if level > n_bits:
            return Lookup(abi.seL4_DepthMismatch, bits_left=n_bits, bits_found=level)
        index = shr(cptr, n_bits - level) & mask(radix)
        slot = slot_of(node_cap.obj, index)
        if n_bits == level:
            return Lookup(abi.seL4_NoFailure, slot, 0)
        n_bits -= level
        node_cap = get_cap(s, slot)
        if node_cap.type != abi.cap_cnode_cap:
            return Lookup(abi.seL4_NoFailure, slot, n_bits)
    raise AssertionError("resolve_address_bits: a level consumed no bits (a CNode cap with radix 0)")


def failed_lookup(is_source: int, lookup: Lookup) -> Reply:
    """seL4_FailedLookup: MR0 = failedLookupWasSource, then the lookup-failure description."""
    return fail(abi.seL4_FailedLookup, is_source, *lookup.words())


def lookup_slot_for_cnode_op(s: State, is_source: int, root: Cap, cptr: int, depth: int) -> tuple[Reply, int]:
    """lookupSlotForCNodeOp: the slot exactly `depth` bits of cptr name, or the error."""
    if root.type != abi.cap_cnode_cap:
        return failed_lookup(is_source, Lookup(abi.seL4_InvalidRoot)), 0
    if depth < 1 or depth > abi.seL4_WordBits:
        return fail(abi.seL4_RangeError, 1, abi.seL4_WordBits), 0
    r = resolve_address_bits(s, root, cptr, depth)
    if r.fault != abi.seL4_NoFailure:
        return failed_lookup(is_source, r), 0
    if r.bits_left != 0:
        return failed_lookup(is_source, Lookup(abi.seL4_DepthMismatch, bits_left=r.bits_left, bits_found=0)), 0
    return OK, r.slot


@dataclass(frozen=True)
class Invocation:
    """The user's side of an invocation: label, message words, and the extra caps' slots."""

    label: int
    mrs: tuple[int, ...]
    extra_slots: tuple[int, ...]

    def arg(self, i: int) -> int:
        """getSyscallArg(i)."""
        return self.mrs[i] if i < len(self.mrs) else 0

    @property
    def length(self) -> int:
        """The message length the kernel sees."""
        return len(self.mrs)


def _stop(s: State, reply: Reply) -> Outcome:
    return s, reply


def decode_cnode_invocation(s: State, cap: Cap, inv: Invocation) -> Outcome:
    """decodeCNodeInvocation and invokeCNode* (src/object/cnode.c)."""
    label = inv.label
    if not abi.CNodeRevoke <= label <= abi.CNodeRotate:
        return _stop(s, fail(abi.seL4_IllegalOperation))
    if inv.length < 2:
        return _stop(s, fail(abi.seL4_TruncatedMessage))
    err, dest = lookup_slot_for_cnode_op(s, 0, cap, inv.arg(0), inv.arg(1))
    if err.error:
        return _stop(s, err)
    if abi.CNodeCopy <= label <= abi.CNodeMutate:
        if inv.length < 4 or not inv.extra_slots:
            return _stop(s, fail(abi.seL4_TruncatedMessage))
        src_index, src_depth = inv.arg(2), inv.arg(3)
        src_root = get_cap(s, inv.extra_slots[0])
        if s.cap_type[dest] != abi.cap_null_cap:
            return _stop(s, fail(abi.seL4_DeleteFirst))
        err, src = lookup_slot_for_cnode_op(s, 1, src_root, src_index, src_depth)
        if err.error:
            return _stop(s, err)
        # An empty source is reported before the per-operation length checks.
        if s.cap_type[src] == abi.cap_null_cap:
            return _stop(s, missing_capability(1, src_depth))
        if label == abi.CNodeCopy:
            if inv.length < 5:
                return _stop(s, fail(abi.seL4_TruncatedMessage))
            rights = inv.arg(4)
            return run(s, cnode_copy_checks(s, dest, src, src_depth, rights),
                       lambda: cnode_copy_effect(s, dest, src, rights))
        if label == abi.CNodeMint:
            if inv.length < 6:
                return _stop(s, fail(abi.seL4_TruncatedMessage))
            rights, badge = inv.arg(4), inv.arg(5)
            return run(s, cnode_mint_checks(s, dest, src, src_depth, rights, badge),
                       lambda: cnode_mint_effect(s, dest, src, rights, badge))
        if label == abi.CNodeMove:
            return cnode_move(s, dest, src, src_depth)
        if inv.length < 5:
            return _stop(s, fail(abi.seL4_TruncatedMessage))
        return cnode_mutate(s, dest, src, src_depth, inv.arg(4))
    if label == abi.CNodeRevoke:
        return cap_revoke(s, dest), OK
    if label == abi.CNodeDelete:
        return cte_delete(s, dest), OK
    if label == abi.CNodeCancelBadgedSends:
        return cnode_cancel_badged_sends(s, dest)
    # CNodeRotate
    if inv.length < 8 or len(inv.extra_slots) < 2:
        return _stop(s, fail(abi.seL4_TruncatedMessage))
    dest_badge, pivot_index, pivot_depth = inv.arg(2), inv.arg(3), inv.arg(4)
    pivot_badge, src_index, src_depth = inv.arg(5), inv.arg(6), inv.arg(7)
    pivot_root, src_root = get_cap(s, inv.extra_slots[0]), get_cap(s, inv.extra_slots[1])
    err, src = lookup_slot_for_cnode_op(s, 1, src_root, src_index, src_depth)
    if err.error:
        return _stop(s, err)
    # seL4 reports a failed pivot lookup as a source lookup (lookupPivotSlot).
    err, pivot = lookup_slot_for_cnode_op(s, 1, pivot_root, pivot_index, pivot_depth)
    if err.error:
        return _stop(s, err)
    return run(s, cnode_rotate_checks(s, dest, pivot, src, dest_badge, pivot_badge, pivot_depth, src_depth),
               lambda: cnode_rotate_effect(s, dest, pivot, src, dest_badge, pivot_badge))


def decode_untyped_invocation(s: State, ut_slot: int, inv: Invocation) -> Outcome:
    """decodeUntypedInvocation and invokeUntyped_Retype (src/object/untyped.c)."""
    if inv.label != abi.UntypedRetype:
        return _stop(s, fail(abi.seL4_IllegalOperation))
    if inv.length < 6 or not inv.extra_slots:
        return _stop(s, fail(abi.seL4_TruncatedMessage))
    new_type, user_bits = inv.arg(0), inv.arg(1)
    node_index, node_depth, node_offset, n = inv.arg(2), inv.arg(3), inv.arg(4), inv.arg(5)
    root = get_cap(s, inv.extra_slots[0])
    if new_type >= abi.seL4_ObjectTypeCount:
        return _stop(s, fail(abi.seL4_InvalidArgument, 0))
    obj_bits = get_object_size(new_type, user_bits)
    if user_bits >= abi.seL4_WordBits or obj_bits > abi.seL4_MaxUntypedBits:
        return _stop(s, fail(abi.seL4_RangeError, 0, abi.seL4_MaxUntypedBits))
    if new_type == abi.seL4_CapTableObject and user_bits == 0:
        return _stop(s, fail(abi.seL4_InvalidArgument, 1))
    if new_type == abi.seL4_UntypedObject and user_bits < abi.seL4_MinUntypedBits:
        return _stop(s, fail(abi.seL4_InvalidArgument, 1))
    if new_type == abi.seL4_SchedContextObject and user_bits < abi.seL4_MinSchedContextBits:
        return _stop(s, fail(abi.seL4_InvalidArgument, 1))
    if node_depth == 0:
        node_cap = root
    else:
        err, node_slot = lookup_slot_for_cnode_op(s, 0, root, node_index, node_depth)
        if err.error:
            return _stop(s, err)
        node_cap = get_cap(s, node_slot)
    if node_cap.type != abi.cap_cnode_cap:
        return _stop(s, missing_capability(0, node_depth))
    return run(s, untyped_retype_checks(s, ut_slot, new_type, user_bits, node_cap.obj, node_cap.bits, node_offset, n),
               lambda: untyped_retype_effect(s, ut_slot, new_type, user_bits, node_cap.obj, node_offset, n))


@dataclass(frozen=True)
class CapFault:
    """A cap fault raised while looking up the invoked cap or an extra cap (handleInvocation)."""

    cptr: int
    in_receive_phase: bool
    lookup: Lookup


def lookup_cap_and_slot(s: State, cspace_root: Cap, cptr: int) -> Lookup:
    """lookupCapAndSlot: resolve all 64 bits, accepting a walk that stops early."""
    return resolve_address_bits(s, cspace_root, cptr, abi.seL4_WordBits)


def lookup_ipc_buffer(s: State, tcb: int) -> bool:
    """lookupIPCBuffer(isReceiver=false): the thread's tcbBuffer slot holds a usable frame cap."""
    c = get_cap(s, tcb + (abi.tcbBuffer << abi.seL4_SlotBits))
    return (c.type == abi.cap_frame_cap and not c.device
            and c.rights in (VMReadWrite, VMReadOnly))


def handle_invocation(s: State, tcb: int, cptr: int, label: int, mrs: tuple[int, ...],
                      extra_cptrs: tuple[int, ...]) -> tuple[State, Reply | CapFault | None]:
    """handleInvocation for caps and memory, on behalf of the thread whose TCB is at `tcb`.

    Returns the new state and the Reply, or a CapFault when a lookup failed. None means the
    invoked cap's object is not modelled yet (endpoints, notifications, threads and the rest
    arrive with the IPC and scheduling issues), and the state is unchanged.
    """
    cspace_root = get_cap(s, tcb + (abi.tcbCTable << abi.seL4_SlotBits))
    has_buffer = lookup_ipc_buffer(s, tcb)
    mrs = tuple(m & WORD_MASK for m in mrs[: abi.seL4_MsgMaxLength])
    r = lookup_cap_and_slot(s, cspace_root, cptr & WORD_MASK)
    if r.fault != abi.seL4_NoFailure:
        return s, CapFault(cptr & WORD_MASK, False, r)
    slots = []
    # lookupExtraCaps: without an IPC buffer there are no extra caps.
    for x in (extra_cptrs[:3] if has_buffer else ()):
        e = lookup_cap_and_slot(s, cspace_root, x & WORD_MASK)
        if e.fault != abi.seL4_NoFailure:
            return s, CapFault(x & WORD_MASK, False, e)
        slots.append(e.slot)
    if not has_buffer:
        mrs = mrs[: abi.seL4_FastMessageRegisters]  # the words past the registers live in the buffer
    inv = Invocation(label & WORD_MASK, mrs, tuple(slots))
    cap = get_cap(s, r.slot)
    if cap.type in (abi.cap_null_cap, abi.cap_zombie_cap):
        out: tuple[State, Reply | CapFault | None] = (s, fail(abi.seL4_InvalidCapability, 0))
    elif cap.type == abi.cap_cnode_cap:
        out = decode_cnode_invocation(s, cap, inv)
    elif cap.type == abi.cap_untyped_cap:
        out = decode_untyped_invocation(s, r.slot, inv)
    else:
        return s, None
    reply = out[1]
    if not has_buffer and isinstance(reply, Reply) and reply.length > abi.seL4_FastMessageRegisters:
        # setMR beyond the message registers writes nothing without a buffer.
        reply = Reply(reply.error, abi.seL4_FastMessageRegisters, reply.mrs)
    return out[0], reply
