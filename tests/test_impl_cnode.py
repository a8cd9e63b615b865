"""CNode invocations and the MDB (src/object/cnode.c), driven through impl.libsel4 as a root task would."""

from __future__ import annotations

import pytest

from impl import boot
from impl.caps import (
    X86_MappingNone,
    VMReadOnly,
    CNodeCap,
    EndpointCap,
    NotificationCap,
    UntypedCap,
    ZombieCap,
)
from impl.invariants import cdt_parent_map, check_kernel, mdb_descendants
from impl.kernel import Kernel
from impl.libsel4 import (
    seL4_CNode_CancelBadgedSends,
    seL4_CNode_CapData_new,
    seL4_CNode_Copy,
    seL4_CNode_Delete,
    seL4_CNode_Mint,
    seL4_CNode_Move,
    seL4_CNode_Mutate,
    seL4_CNode_Revoke,
    seL4_CNode_Rotate,
    seL4_CapRights_new,
    seL4_GetMR,
    seL4_MessageInfo_new,
    seL4_SetCap,
    seL4_Untyped_Retype,
)
from spec import abi
from spec.abi import (
    seL4_AllRights,
    seL4_CapInitThreadCNode as ROOT,
    seL4_DeleteFirst,
    seL4_FailedLookup,
    seL4_IllegalOperation,
    seL4_NoError,
    seL4_RangeError,
    seL4_RevokeFirst,
    seL4_TruncatedMessage,
)

W = 64  # depth that addresses a slot of the boot root CNode


def addr(k: Kernel, i: int) -> int:
    """Address of root CNode slot i."""
    return k.cap_at(k.current.slot(abi.tcbCTable)).capCNodePtr + 32 * i


def mrs(k: Kernel, n: int) -> list[int]:
    return [seL4_GetMR(k, i) for i in range(n)]


@pytest.fixture
def k() -> Kernel:
    return boot()


def setup_endpoint(k: Kernel) -> tuple[int, int]:
    """Retype one endpoint into the first empty slot; return (untyped index, endpoint index)."""
    ut = k.bootinfo.untyped.start + 1
    e = k.bootinfo.empty.start
    assert seL4_Untyped_Retype(k, ut, abi.seL4_EndpointObject, 0, ROOT, 0, 0, e, 1) == seL4_NoError
    return ut, e


def test_copy_mint_and_cdt(k: Kernel) -> None:
    ut, ep = setup_endpoint(k)
    e = ep
    # Copy of the original: an unbadged, non-original child with masked rights.
    assert seL4_CNode_Copy(k, ROOT, e + 1, W, ROOT, ep, W, abi.seL4_CanWrite) == seL4_NoError
    orig = k.cap_at(addr(k, ep))
    assert k.cap_at(addr(k, e + 1)) == orig._replace(capCanReceive=False, capCanGrant=False, capCanGrantReply=False)
    # Mint a badge: an original (revocable, firstBadged) badged child.
    assert seL4_CNode_Mint(k, ROOT, e + 2, W, ROOT, ep, W, seL4_AllRights, 42) == seL4_NoError
    assert k.cap_at(addr(k, e + 2)).capEPBadge == 42
    assert k.ctes[addr(k, e + 2)].revocable and k.ctes[addr(k, e + 2)].first_badged
    # Copies of the badged cap are its children; copies of a copy are siblings.
    assert seL4_CNode_Copy(k, ROOT, e + 3, W, ROOT, e + 2, W, seL4_AllRights) == seL4_NoError
    assert seL4_CNode_Copy(k, ROOT, e + 4, W, ROOT, e + 3, W, seL4_AllRights) == seL4_NoError
    # A second Mint with the same badge starts a new badged subtree.
    assert seL4_CNode_Mint(k, ROOT, e + 5, W, ROOT, ep, W, seL4_AllRights, 42) == seL4_NoError
    parent = cdt_parent_map(k)
    a = lambda i: addr(k, i)  # noqa: E731
    assert parent[a(ep)] == a(ut)
    assert parent[a(e + 1)] == a(ep)
    assert parent[a(e + 2)] == a(ep)
    assert parent[a(e + 3)] == a(e + 2)
    assert parent[a(e + 4)] == a(e + 2)
    assert parent[a(e + 5)] == a(ep)
    # MDB order: each new cap right after its source.
    order = []
    s = a(ut)
    while s:
        order.append(s)
        s = k.ctes[s].next
    assert order == [a(ut), a(ep), a(e + 5), a(e + 2), a(e + 3), a(e + 4), a(e + 1)]
    check_kernel(k, full=True)


def test_mint_rebadge_and_mutate_ep_are_illegal(k: Kernel) -> None:
    _, ep = setup_endpoint(k)
    e = ep + 1
    assert seL4_CNode_Mint(k, ROOT, e, W, ROOT, ep, W, seL4_AllRights, 5) == seL4_NoError
    # updateCapData(false) on a badged cap, or (true) on any EP cap, gives a null cap.
    assert seL4_CNode_Mint(k, ROOT, e + 1, W, ROOT, e, W, seL4_AllRights, 6) == seL4_IllegalOperation
    assert seL4_CNode_Mutate(k, ROOT, e + 1, W, ROOT, ep, W, 0) == seL4_IllegalOperation
    assert seL4_CNode_Rotate(k, ROOT, e + 1, W, 0, ROOT, ep, W, 0, ROOT, e, W) == seL4_IllegalOperation
    # Mint with badge 0 from an unbadged cap is a plain (non-original) copy.
    assert seL4_CNode_Mint(k, ROOT, e + 1, W, ROOT, ep, W, seL4_AllRights, 0) == seL4_NoError
    assert not k.ctes[addr(k, e + 1)].revocable
    check_kernel(k, full=True)


def test_revoke_badged_and_unbadged(k: Kernel) -> None:
    ut, ep = setup_endpoint(k)
    e = ep
    for i, badge in ((1, 0), (2, 9), (4, 9)):
        assert seL4_CNode_Mint(k, ROOT, e + i, W, ROOT, ep, W, seL4_AllRights, badge) == seL4_NoError
    assert seL4_CNode_Copy(k, ROOT, e + 3, W, ROOT, e + 2, W, seL4_AllRights) == seL4_NoError
    # Revoking the badged original removes only its own copies.
    assert seL4_CNode_Revoke(k, ROOT, e + 2, W) == seL4_NoError
    assert addr(k, e + 3) not in k.ctes and addr(k, e + 2) in k.ctes and addr(k, e + 4) in k.ctes
    check_kernel(k, full=True)
    # Revoking the unbadged original removes every other cap to the endpoint.
    assert seL4_CNode_Revoke(k, ROOT, ep, W) == seL4_NoError
    assert [i for i in range(e, e + 5) if addr(k, i) in k.ctes] == [ep]
    # Revoking the untyped removes the endpoint cap; the object stays until the untyped is reused.
    ep_ptr = k.cap_at(addr(k, ep)).capEPPtr
    assert seL4_CNode_Revoke(k, ROOT, ut, W) == seL4_NoError
    assert addr(k, ep) not in k.ctes and ep_ptr in k.objects
    assert mdb_descendants(k, addr(k, ut)) == []
    check_kernel(k, full=True)


def test_delete_passes_first_badged_on(k: Kernel) -> None:
    _, ep = setup_endpoint(k)
    e = ep
    assert seL4_CNode_Mint(k, ROOT, e + 1, W, ROOT, ep, W, seL4_AllRights, 3) == seL4_NoError
    assert seL4_CNode_Copy(k, ROOT, e + 2, W, ROOT, e + 1, W, seL4_AllRights) == seL4_NoError
    assert not k.ctes[addr(k, e + 2)].first_badged
    # Deleting the badged original: its copy inherits firstBadged and is no longer its child.
    assert seL4_CNode_Delete(k, ROOT, e + 1, W) == seL4_NoError
    assert k.ctes[addr(k, e + 2)].first_badged
    assert cdt_parent_map(k)[addr(k, e + 2)] == addr(k, ep)
    check_kernel(k, full=True)


def test_delete_and_revoke_empty_slots_succeed(k: Kernel) -> None:
    e = k.bootinfo.empty.start
    assert seL4_CNode_Delete(k, ROOT, e, W) == seL4_NoError
    assert seL4_CNode_Revoke(k, ROOT, e, W) == seL4_NoError


def test_copy_checks_dest_before_source(k: Kernel) -> None:
    e = k.bootinfo.empty.start
    # Destination occupied: DeleteFirst even though the source lookup would fail.
    assert seL4_CNode_Copy(k, ROOT, ROOT, W, ROOT, 1 << 40, W, seL4_AllRights) == seL4_DeleteFirst
    # Empty source: FailedLookup, source side, MissingCapability(bitsLeft = src depth).
    assert seL4_CNode_Copy(k, ROOT, e, W, ROOT, e + 1, W, seL4_AllRights) == seL4_FailedLookup
    assert mrs(k, 3) == [1, abi.seL4_MissingCapability, 64]
    # Bad source depth: RangeError(1, 64); bad destination: FailedLookup with isSource 0.
    assert seL4_CNode_Copy(k, ROOT, e, W, ROOT, 3, 0, seL4_AllRights) == seL4_RangeError
    assert mrs(k, 2) == [1, 64]
    assert seL4_CNode_Copy(k, ROOT, e, 12, ROOT, 3, W, seL4_AllRights) == seL4_FailedLookup
    assert mrs(k, 5) == [0, abi.seL4_GuardMismatch, 12, 0, 52]
    # Source root that is not a CNode: InvalidRoot.
    assert seL4_CNode_Copy(k, ROOT, e, W, abi.seL4_CapDomain, 3, W, seL4_AllRights) == seL4_FailedLookup
    assert mrs(k, 2) == [1, abi.seL4_InvalidRoot]


def test_truncated_messages(k: Kernel) -> None:
    e = k.bootinfo.empty.start
    for label, length, extra in (
        (abi.CNodeCopy, 4, 1),
        (abi.CNodeCopy, 3, 1),
        (abi.CNodeCopy, 5, 0),
        (abi.CNodeMint, 5, 1),
        (abi.CNodeMutate, 4, 1),
        (abi.CNodeRotate, 7, 2),
        (abi.CNodeRotate, 8, 1),
        (abi.CNodeDelete, 1, 0),
    ):
        seL4_SetCap(k, 0, ROOT)
        seL4_SetCap(k, 1, ROOT)
        r = k.syscall(abi.seL4_SysCall, ROOT, seL4_MessageInfo_new(label, 0, extra, length), [e, W, 3, W, 15, 1, 3, W])
        assert (r.label, r.length) == (seL4_TruncatedMessage, 0), (label, length, extra)
    # A label outside the CNode range: IllegalOperation.
    r = k.syscall(abi.seL4_SysCall, ROOT, seL4_MessageInfo_new(abi.CNodeRotate + 1, 0, 0, 2), [e, W])
    assert r.label == seL4_IllegalOperation


def test_move_and_mutate_keep_cdt_position(k: Kernel) -> None:
    ut, ep = setup_endpoint(k)
    e = ep + 1
    assert seL4_CNode_Copy(k, ROOT, e, W, ROOT, ep, W, seL4_AllRights) == seL4_NoError
    assert seL4_CNode_Move(k, ROOT, e + 1, W, ROOT, ep, W) == seL4_NoError
    assert addr(k, ep) not in k.ctes
    assert k.ctes[addr(k, e + 1)].revocable
    assert cdt_parent_map(k)[addr(k, e)] == addr(k, e + 1)
    assert cdt_parent_map(k)[addr(k, e + 1)] == addr(k, ut)
    # Mutate a CNode cap's guard; a guard that does not fit is refused.
    assert seL4_CNode_Copy(k, ROOT, e + 2, W, ROOT, ROOT, W, seL4_AllRights) == seL4_NoError
    assert seL4_CNode_Mutate(k, ROOT, e + 3, W, ROOT, e + 2, W, seL4_CNode_CapData_new(5, 53)) == seL4_IllegalOperation
    assert seL4_CNode_Mutate(k, ROOT, e + 3, W, ROOT, e + 2, W, seL4_CNode_CapData_new(0x1F, 3)) == seL4_NoError
    c = k.cap_at(addr(k, e + 3))
    assert (c.capCNodeGuardSize, c.capCNodeGuard) == (3, 7)
    check_kernel(k, full=True)


def test_two_level_addressing(k: Kernel) -> None:
    ut = k.bootinfo.untyped.start + 1
    e = k.bootinfo.empty.start
    # A root CNode cap with no guard consumes 12 bits; a radix-4 CNode in slot e adds 4 more.
    assert seL4_CNode_Mint(k, ROOT, e, W, ROOT, ROOT, W, 0, seL4_CNode_CapData_new(0, 0)) == seL4_NoError
    assert seL4_Untyped_Retype(k, ut, abi.seL4_CapTableObject, 4, ROOT, 0, 0, e + 1, 1) == seL4_NoError
    assert seL4_Untyped_Retype(k, ut, abi.seL4_NotificationObject, 0, ROOT, e + 1, W, 9, 1) == seL4_NoError
    sub = k.cap_at(addr(k, e + 1)).capCNodePtr
    assert k.cap_at(sub + 32 * 9).capType == abi.cap_notification_cap
    # Copy sub[9] to root slot e+2 through the 12-bit root cap: 16 bits name sub[9].
    assert seL4_CNode_Copy(k, e, e + 2, 12, e, ((e + 1) << 4) | 9, 16, seL4_AllRights) == seL4_NoError
    assert k.cap_at(addr(k, e + 2)) == k.cap_at(sub + 32 * 9)
    # 20 bits: 4 left over after the radix-4 level, whose slot holds no CNode.
    assert seL4_CNode_Copy(k, e, e + 3, 12, e, ((e + 1) << 8) | (9 << 4), 20, seL4_AllRights) == seL4_FailedLookup
    assert mrs(k, 4) == [1, abi.seL4_DepthMismatch, 4, 0]
    # 14 bits: the radix-4 level does not fit in the 2 bits left.
    assert seL4_CNode_Copy(k, e, e + 3, 12, e, ((e + 1) << 2), 14, seL4_AllRights) == seL4_FailedLookup
    assert mrs(k, 4) == [1, abi.seL4_DepthMismatch, 2, 4]
    check_kernel(k, full=True)


def test_rotate(k: Kernel) -> None:
    ut = k.bootinfo.untyped.start + 1
    e = k.bootinfo.empty.start
    assert seL4_Untyped_Retype(k, ut, abi.seL4_CapTableObject, 2, ROOT, 0, 0, e, 3) == seL4_NoError
    a, b, c = (k.cap_at(addr(k, e + i)) for i in range(3))
    # Three slots: src -> pivot, pivot -> dest, with the badges crossed (dest_badge goes to pivot's cap).
    assert seL4_CNode_Rotate(k, ROOT, e + 3, W, seL4_CNode_CapData_new(1, 2), ROOT, e, W, seL4_CNode_CapData_new(0, 1), ROOT, e + 1, W) == seL4_NoError
    assert k.cap_at(addr(k, e + 3)) == a._replace(capCNodeGuardSize=2, capCNodeGuard=1)
    assert k.cap_at(addr(k, e)) == b._replace(capCNodeGuardSize=1, capCNodeGuard=0)
    assert addr(k, e + 1) not in k.ctes
    # src == dest: swap.
    assert seL4_CNode_Rotate(k, ROOT, e + 2, W, 0, ROOT, e + 3, W, 0, ROOT, e + 2, W) == seL4_NoError
    assert k.cap_at(addr(k, e + 2)).capCNodePtr == a.capCNodePtr
    assert k.cap_at(addr(k, e + 3)).capCNodePtr == c.capCNodePtr
    # The pivot may be neither source nor destination.
    assert seL4_CNode_Rotate(k, ROOT, e + 2, W, 0, ROOT, e + 2, W, 0, ROOT, e + 3, W) == seL4_IllegalOperation
    # Empty pivot: FailedLookup reported as *not* source; empty source: as source.
    assert seL4_CNode_Rotate(k, ROOT, e + 5, W, 0, ROOT, e + 6, W, 0, ROOT, e + 2, W) == seL4_FailedLookup
    assert mrs(k, 3) == [0, abi.seL4_MissingCapability, 64]
    assert seL4_CNode_Rotate(k, ROOT, e + 5, W, 0, ROOT, e + 2, W, 0, ROOT, e + 6, W) == seL4_FailedLookup
    assert mrs(k, 3) == [1, abi.seL4_MissingCapability, 64]
    # Destination occupied (and not the source): DeleteFirst.
    assert seL4_CNode_Rotate(k, ROOT, e, W, 0, ROOT, e + 2, W, 0, ROOT, e + 3, W) == seL4_DeleteFirst
    for s in (e, e + 2, e + 3):
        assert cdt_parent_map(k)[addr(k, s)] == addr(k, ut)
    check_kernel(k, full=True)


def test_copy_untyped(k: Kernel) -> None:
    ut = k.bootinfo.untyped.start + 1
    e = k.bootinfo.empty.start
    before = k.cap_at(addr(k, ut))
    assert seL4_CNode_Copy(k, ROOT, e, W, ROOT, ut, W, seL4_AllRights) == seL4_NoError
    # The copy is an original child; the source is frozen full.
    assert k.cap_at(addr(k, e)) == before
    assert k.ctes[addr(k, e)].revocable
    assert cdt_parent_map(k)[addr(k, e)] == addr(k, ut)
    assert k.cap_at(addr(k, ut)).capFreeIndex == 1 << (before.capBlockSize - 4)
    # An untyped with children cannot be copied.
    assert seL4_CNode_Copy(k, ROOT, e + 1, W, ROOT, ut, W, seL4_AllRights) == seL4_RevokeFirst
    # Retyping from the copy resets it (no children) and allocates from the base.
    assert seL4_Untyped_Retype(k, e, abi.seL4_EndpointObject, 0, ROOT, 0, 0, e + 2, 1) == seL4_NoError
    assert k.cap_at(addr(k, e + 2)).capEPPtr == before.capPtr
    check_kernel(k, full=True)


def test_copy_special_caps(k: Kernel) -> None:
    e = k.bootinfo.empty.start
    # IRQControl and IOPortControl copies derive to null.
    assert seL4_CNode_Copy(k, ROOT, e, W, ROOT, abi.seL4_CapIRQControl, W, seL4_AllRights) == seL4_IllegalOperation
    assert seL4_CNode_Copy(k, ROOT, e, W, ROOT, abi.seL4_CapIOPortControl, W, seL4_AllRights) == seL4_IllegalOperation
    # IRQControl may be moved, though.
    assert seL4_CNode_Move(k, ROOT, e, W, ROOT, abi.seL4_CapIRQControl, W) == seL4_NoError
    # A mapped frame copy is unmapped and its rights can only shrink.
    rw = seL4_CapRights_new(0, 0, 1, 0)
    assert seL4_CNode_Copy(k, ROOT, e + 1, W, ROOT, abi.seL4_CapBootInfoFrame, W, rw) == seL4_NoError
    f = k.cap_at(addr(k, e + 1))
    assert f.capFMapType == X86_MappingNone and f.capFMappedASID == 0 and f.capFVMRights == VMReadOnly
    # Mapped paging structures and the mapped PML4 may be copied; unmapped ones may not.
    assert seL4_CNode_Copy(k, ROOT, e + 2, W, ROOT, abi.seL4_CapInitThreadVSpace, W, seL4_AllRights) == seL4_NoError
    pt = k.bootinfo.user_image_paging.end - 1
    assert seL4_CNode_Copy(k, ROOT, e + 3, W, ROOT, pt, W, seL4_AllRights) == seL4_NoError
    ut = k.bootinfo.untyped.start + 1
    assert seL4_Untyped_Retype(k, ut, abi.seL4_X86_PageTableObject, 0, ROOT, 0, 0, e + 4, 1) == seL4_NoError
    assert seL4_CNode_Copy(k, ROOT, e + 5, W, ROOT, e + 4, W, seL4_AllRights) == seL4_IllegalOperation
    # Caps without rights ignore the rights mask.
    assert seL4_CNode_Copy(k, ROOT, e + 5, W, ROOT, abi.seL4_CapInitThreadTCB, W, 0) == seL4_NoError
    assert k.cap_at(addr(k, e + 5)) == k.cap_at(addr(k, abi.seL4_CapInitThreadTCB))
    check_kernel(k, full=True)


def test_notification_rights_and_badge(k: Kernel) -> None:
    ut = k.bootinfo.untyped.start + 1
    e = k.bootinfo.empty.start
    assert seL4_Untyped_Retype(k, ut, abi.seL4_NotificationObject, 0, ROOT, 0, 0, e, 1) == seL4_NoError
    assert k.cap_at(addr(k, e)) == NotificationCap(k.cap_at(addr(k, e)).capNtfnPtr, 0, True, True)
    assert seL4_CNode_Mint(k, ROOT, e + 1, W, ROOT, e, W, abi.seL4_CanRead, (1 << 64) - 1) == seL4_NoError
    c = k.cap_at(addr(k, e + 1))
    assert (c.capNtfnBadge, c.capNtfnCanSend, c.capNtfnCanReceive) == ((1 << 64) - 1, False, True)
    check_kernel(k, full=True)


def test_cancel_badged_sends(k: Kernel) -> None:
    _, ep = setup_endpoint(k)
    e = ep + 1
    assert seL4_CNode_Mint(k, ROOT, e, W, ROOT, ep, W, seL4_AllRights, 7) == seL4_NoError
    assert seL4_CNode_Mint(k, ROOT, e + 1, W, ROOT, ep, W, abi.seL4_NoRead, 8) == seL4_NoError
    # Full rights needed; badge 0 or not, nothing is queued here, so nothing changes.
    assert seL4_CNode_CancelBadgedSends(k, ROOT, ep, W) == seL4_NoError
    assert seL4_CNode_CancelBadgedSends(k, ROOT, e, W) == seL4_NoError
    assert seL4_CNode_CancelBadgedSends(k, ROOT, e + 1, W) == seL4_IllegalOperation
    assert seL4_CNode_CancelBadgedSends(k, ROOT, ROOT, W) == seL4_IllegalOperation
    assert seL4_CNode_CancelBadgedSends(k, ROOT, e + 5, W) == seL4_IllegalOperation


def test_delete_cnode_with_contents(k: Kernel) -> None:
    ut = k.bootinfo.untyped.start + 1
    e = k.bootinfo.empty.start
    assert seL4_Untyped_Retype(k, ut, abi.seL4_CapTableObject, 3, ROOT, 0, 0, e, 1) == seL4_NoError
    cn = k.cap_at(addr(k, e)).capCNodePtr
    assert seL4_Untyped_Retype(k, ut, abi.seL4_EndpointObject, 0, ROOT, e, W, 2, 3) == seL4_NoError
    assert seL4_CNode_Copy(k, e, 7, 3, ROOT, abi.seL4_CapDomain, W, 0) == seL4_NoError
    assert len([s for s in k.ctes if cn <= s < cn + 32 * 8]) == 4
    # The last cap to the CNode: it becomes a Zombie that clears every slot, then goes.
    assert seL4_CNode_Delete(k, ROOT, e, W) == seL4_NoError
    assert [s for s in k.ctes if cn <= s < cn + 32 * 8] == []
    assert addr(k, e) not in k.ctes
    check_kernel(k, full=True)


def test_delete_cnode_holding_the_last_cap_to_another(k: Kernel) -> None:
    """seL4 leaves the inner CNode as a Zombie in its own slot 0 (finaliseSlot, not exposed)."""
    ut = k.bootinfo.untyped.start + 1
    e = k.bootinfo.empty.start
    assert seL4_Untyped_Retype(k, ut, abi.seL4_CapTableObject, 2, ROOT, 0, 0, e, 2) == seL4_NoError
    outer, inner = k.cap_at(addr(k, e)), k.cap_at(addr(k, e + 1))
    assert seL4_Untyped_Retype(k, ut, abi.seL4_EndpointObject, 0, ROOT, e + 1, W, 3, 1) == seL4_NoError
    assert seL4_CNode_Move(k, e, 1, 2, ROOT, e + 1, W) == seL4_NoError  # inner's only cap now inside outer
    assert seL4_CNode_Delete(k, ROOT, e, W) == seL4_NoError
    assert [s for s in k.ctes if outer.capCNodePtr <= s < outer.capCNodePtr + 128] == []
    z = k.cap_at(inner.capCNodePtr)
    assert isinstance(z, ZombieCap) and z.capZombiePtr == inner.capCNodePtr and z.capZombieType == 2
    assert k.cap_at(inner.capCNodePtr + 32 * 3).capType == abi.cap_endpoint_cap
    check_kernel(k, full=True)
    # Revoking the untyped finishes the job.
    assert seL4_CNode_Revoke(k, ROOT, ut, W) == seL4_NoError
    assert [s for s in k.ctes if inner.capCNodePtr <= s < inner.capCNodePtr + 128] == []
    assert mdb_descendants(k, addr(k, ut)) == []
    check_kernel(k, full=True)


def test_cnode_holding_its_own_last_cap(k: Kernel) -> None:
    ut = k.bootinfo.untyped.start + 1
    e = k.bootinfo.empty.start
    assert seL4_Untyped_Retype(k, ut, abi.seL4_CapTableObject, 3, ROOT, 0, 0, e, 1) == seL4_NoError
    cn = k.cap_at(addr(k, e))
    assert seL4_Untyped_Retype(k, ut, abi.seL4_EndpointObject, 0, ROOT, e, W, 0, 2) == seL4_NoError
    assert seL4_CNode_Move(k, e, 5, 3, ROOT, e, W) == seL4_NoError
    assert k.cap_at(cn.capCNodePtr + 32 * 5) == cn
    assert seL4_CNode_Revoke(k, ROOT, ut, W) == seL4_NoError
    assert [s for s in k.ctes if cn.capCNodePtr <= s < cn.capCNodePtr + 256] == []
    assert mdb_descendants(k, addr(k, ut)) == []
    check_kernel(k, full=True)


def test_huge_sparse_cnode(k: Kernel) -> None:
    ut = k.bootinfo.untyped.start + 10  # the 1 GiB untyped
    e = k.bootinfo.empty.start
    assert k.cap_at(addr(k, ut)).capBlockSize == 30
    assert seL4_Untyped_Retype(k, ut, abi.seL4_CapTableObject, 24, ROOT, 0, 0, e, 1) == seL4_NoError
    assert seL4_Untyped_Retype(k, ut, abi.seL4_EndpointObject, 0, ROOT, e, W, (1 << 24) - 1, 1) == seL4_NoError
    assert seL4_Untyped_Retype(k, ut, abi.seL4_EndpointObject, 0, ROOT, e, W, 12345, 1) == seL4_NoError
    assert seL4_CNode_Delete(k, ROOT, e, W) == seL4_NoError
    assert len(k.ctes) == len(boot().ctes)
    check_kernel(k, full=True)


def test_cdt_endpoint_type_is_endpoint_cap(k: Kernel) -> None:
    _, ep = setup_endpoint(k)
    c = k.cap_at(addr(k, ep))
    assert c == EndpointCap(c.capEPPtr, 0, True, True, True, True)
    assert isinstance(k.cap_at(addr(k, k.bootinfo.untyped.start + 1)), UntypedCap)
    assert isinstance(k.cap_at(addr(k, ROOT)), CNodeCap)


def test_cnode_whose_only_cap_is_in_its_own_slot_0(k: Kernel) -> None:
    ut = k.bootinfo.untyped.start + 1
    e = k.bootinfo.empty.start
    assert seL4_Untyped_Retype(k, ut, abi.seL4_CapTableObject, 2, ROOT, 0, 0, e, 1) == seL4_NoError
    cn = k.cap_at(addr(k, e))
    assert seL4_Untyped_Retype(k, ut, abi.seL4_EndpointObject, 0, ROOT, e, W, 2, 2) == seL4_NoError
    assert seL4_CNode_Move(k, e, 0, 2, ROOT, e, W) == seL4_NoError
    # Revoke: the CNode cap in its own slot 0 becomes a Zombie there and clears slots 3..1 first.
    assert seL4_CNode_Revoke(k, ROOT, ut, W) == seL4_NoError
    assert [s for s in k.ctes if cn.capCNodePtr <= s < cn.capCNodePtr + 128] == []
    check_kernel(k, full=True)


def test_a_zombie_moved_elsewhere_is_finished_by_delete(k: Kernel) -> None:
    """cteMove and cteDelete on the kernel's slots directly: no user cap names the inner CNode."""
    from impl.cnode import cte_delete, cte_move

    ut = k.bootinfo.untyped.start + 1
    e = k.bootinfo.empty.start
    assert seL4_Untyped_Retype(k, ut, abi.seL4_CapTableObject, 2, ROOT, 0, 0, e, 2) == seL4_NoError
    inner = k.cap_at(addr(k, e + 1))
    assert seL4_Untyped_Retype(k, ut, abi.seL4_EndpointObject, 0, ROOT, e + 1, W, 3, 1) == seL4_NoError
    assert seL4_CNode_Move(k, e, 1, 2, ROOT, e + 1, W) == seL4_NoError
    assert seL4_CNode_Delete(k, ROOT, e, W) == seL4_NoError
    z = k.cap_at(inner.capCNodePtr)
    assert isinstance(z, ZombieCap) and z.capZombieNumber == 4
    cte_move(k, z, inner.capCNodePtr, addr(k, e + 2))
    cte_delete(k, addr(k, e + 2), True)
    assert [s for s in k.ctes if inner.capCNodePtr <= s < inner.capCNodePtr + 128] == []
    assert addr(k, e + 2) not in k.ctes
    check_kernel(k, full=True)
