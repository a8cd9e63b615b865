"""Untyped_Retype (src/object/untyped.c): addresses, caps, reset, and every error with its payload."""

from __future__ import annotations

import pytest

from impl import boot
from impl.caps import (
    X64_HugePage,
    X86_LargePage,
    X86_MappingNone,
    X86_SmallPage,
    VMReadWrite,
    CNodeCap,
    EndpointCap,
    FrameCap,
    NotificationCap,
    PageDirectoryCap,
    PageTableCap,
    PDPTCap,
    PML4Cap,
    ReplyCap,
    SchedContextCap,
    ThreadCap,
    UntypedCap,
)
from impl.invariants import cdt_parent_map, check_kernel, mdb_descendants
from impl.kernel import Kernel
from impl.libsel4 import seL4_CNode_Delete, seL4_CNode_Revoke, seL4_GetMR, seL4_MessageInfo_new, seL4_SetCap, seL4_Untyped_Retype
from impl.objects import Tcb, ThreadState_Inactive
from spec import abi
from spec.abi import (
    seL4_CapInitThreadCNode as ROOT,
    seL4_DeleteFirst,
    seL4_FailedLookup,
    seL4_IllegalOperation,
    seL4_InvalidArgument,
    seL4_NoError,
    seL4_NotEnoughMemory,
    seL4_RangeError,
    seL4_TruncatedMessage,
)

W = 64


def addr(k: Kernel, i: int) -> int:
    return k.cap_at(k.current.slot(abi.tcbCTable)).capCNodePtr + 32 * i


def mrs(k: Kernel, n: int) -> list[int]:
    return [seL4_GetMR(k, i) for i in range(n)]


def untyped_of_bits(k: Kernel, bits: int, device: bool = False) -> int:
    """Root slot index of the first boot untyped with this size."""
    for i, d in enumerate(k.bootinfo.untyped_list):
        if d.size_bits == bits and d.is_device == device:
            return k.bootinfo.untyped.start + i
    raise LookupError(bits)


@pytest.fixture
def k() -> Kernel:
    return boot()


def default_cap(obj_type: int, base: int, user_size: int) -> object:
    return {
        abi.seL4_UntypedObject: UntypedCap(base, user_size, False, 0),
        abi.seL4_TCBObject: ThreadCap(base + abi.TCB_OFFSET),
        abi.seL4_EndpointObject: EndpointCap(base, 0, True, True, True, True),
        abi.seL4_NotificationObject: NotificationCap(base, 0, True, True),
        abi.seL4_CapTableObject: CNodeCap(base, user_size, 0, 0),
        abi.seL4_SchedContextObject: SchedContextCap(base, user_size),
        abi.seL4_ReplyObject: ReplyCap(base, True),
        abi.seL4_X86_PDPTObject: PDPTCap(base, False, 0, 0),
        abi.seL4_X64_PML4Object: PML4Cap(base, False, 0),
        abi.seL4_X64_HugePageObject: FrameCap(base, X64_HugePage, VMReadWrite, False, X86_MappingNone, 0, 0),
        abi.seL4_X86_4K: FrameCap(base, X86_SmallPage, VMReadWrite, False, X86_MappingNone, 0, 0),
        abi.seL4_X86_LargePageObject: FrameCap(base, X86_LargePage, VMReadWrite, False, X86_MappingNone, 0, 0),
        abi.seL4_X86_PageTableObject: PageTableCap(base, False, 0, 0),
        abi.seL4_X86_PageDirectoryObject: PageDirectoryCap(base, False, 0, 0),
    }[obj_type]


@pytest.mark.parametrize("obj_type", range(abi.seL4_ObjectTypeCount))
def test_retype_every_type(k: Kernel, obj_type: int) -> None:
    user_size = {abi.seL4_UntypedObject: 12, abi.seL4_CapTableObject: 3, abi.seL4_SchedContextObject: 8}.get(obj_type, 0)
    size = abi.object_size_bits(obj_type, user_size)
    ut = untyped_of_bits(k, 30 if size >= 26 else 26)
    e = k.bootinfo.empty.start
    base = k.cap_at(addr(k, ut)).capPtr
    n = 1 if size >= 30 else 3
    assert seL4_Untyped_Retype(k, ut, obj_type, user_size, ROOT, 0, 0, e, n) == seL4_NoError
    for i in range(n):
        assert k.cap_at(addr(k, e + i)) == default_cap(obj_type, base + (i << size), user_size)
        if obj_type != abi.seL4_UntypedObject:
            o = k.objects[base + (i << size)]
            assert (o.obj_type, o.size_bits) == (obj_type, size)
    # The untyped was full; with no children it was reset, so allocation starts at its base.
    assert k.cap_at(addr(k, ut)).capFreeIndex == (n << size) >> 4
    # Newest first after the untyped in the MDB list; all are children of it.
    assert k.ctes[addr(k, ut)].next == addr(k, e + n - 1)
    assert mdb_descendants(k, addr(k, ut)) == [addr(k, e + i) for i in reversed(range(n))]
    assert all(k.ctes[addr(k, e + i)].revocable and k.ctes[addr(k, e + i)].first_badged for i in range(n))
    if obj_type == abi.seL4_TCBObject:
        t = k.objects[base]
        assert isinstance(t, Tcb) and t.tcbState == ThreadState_Inactive and t.tcbSchedContext == 0
    check_kernel(k, full=True)


def test_alignment_padding_is_consumed(k: Kernel) -> None:
    ut = untyped_of_bits(k, 13)
    e = k.bootinfo.empty.start
    base = k.cap_at(addr(k, ut)).capPtr
    assert seL4_Untyped_Retype(k, ut, abi.seL4_EndpointObject, 0, ROOT, 0, 0, e, 1) == seL4_NoError
    # Free bytes ignore alignment: 8192 - 16 = 8176 is not enough for two pages.
    assert seL4_Untyped_Retype(k, ut, abi.seL4_X86_4K, 0, ROOT, 0, 0, e + 1, 2) == seL4_NotEnoughMemory
    assert mrs(k, 1) == [8176]
    assert seL4_Untyped_Retype(k, ut, abi.seL4_X86_4K, 0, ROOT, 0, 0, e + 1, 1) == seL4_NoError
    assert k.cap_at(addr(k, e + 1)).capFBasePtr == base + 4096
    assert k.cap_at(addr(k, ut)).capFreeIndex == 8192 >> 4
    assert seL4_Untyped_Retype(k, ut, abi.seL4_EndpointObject, 0, ROOT, 0, 0, e + 2, 1) == seL4_NotEnoughMemory
    assert mrs(k, 1) == [0]
    check_kernel(k, full=True)


def test_reset_after_revoke_reuses_memory(k: Kernel) -> None:
    ut = untyped_of_bits(k, 23)
    e = k.bootinfo.empty.start
    base = k.cap_at(addr(k, ut)).capPtr
    assert seL4_Untyped_Retype(k, ut, abi.seL4_CapTableObject, 4, ROOT, 0, 0, e, 2) == seL4_NoError
    assert seL4_Untyped_Retype(k, ut, abi.seL4_TCBObject, 0, ROOT, 0, 0, e + 2, 1) == seL4_NoError
    tcb_base = k.cap_at(addr(k, e + 2)).capTCBPtr - abi.TCB_OFFSET
    assert tcb_base == base + 2048  # 2 CNodes of 512 B, then aligned up to 2 KiB
    assert seL4_CNode_Revoke(k, ROOT, ut, W) == seL4_NoError
    # Objects live on (no caps) until the untyped's memory is cleared by a reset.
    assert tcb_base in k.objects
    assert seL4_Untyped_Retype(k, ut, abi.seL4_EndpointObject, 0, ROOT, 0, 0, e, 1) == seL4_NoError
    assert k.cap_at(addr(k, e)).capEPPtr == base
    assert tcb_base not in k.objects and base in k.objects
    assert [b for b in k.objects if base <= b < base + (1 << 23)] == [base]
    check_kernel(k, full=True)


def test_children_keep_the_watermark(k: Kernel) -> None:
    ut = untyped_of_bits(k, 23)
    e = k.bootinfo.empty.start
    base = k.cap_at(addr(k, ut)).capPtr
    assert seL4_Untyped_Retype(k, ut, abi.seL4_EndpointObject, 0, ROOT, 0, 0, e, 2) == seL4_NoError
    assert seL4_CNode_Delete(k, ROOT, e, W) == seL4_NoError  # one child left: no reset
    assert seL4_Untyped_Retype(k, ut, abi.seL4_EndpointObject, 0, ROOT, 0, 0, e, 1) == seL4_NoError
    assert k.cap_at(addr(k, e)).capEPPtr == base + 32
    check_kernel(k, full=True)


def test_child_untyped_and_nested_descendants(k: Kernel) -> None:
    ut = untyped_of_bits(k, 23)
    e = k.bootinfo.empty.start
    assert seL4_Untyped_Retype(k, ut, abi.seL4_UntypedObject, 16, ROOT, 0, 0, e, 2) == seL4_NoError
    assert seL4_Untyped_Retype(k, e + 1, abi.seL4_NotificationObject, 0, ROOT, 0, 0, e + 2, 4) == seL4_NoError
    child = k.cap_at(addr(k, e + 1))
    assert k.cap_at(addr(k, e + 2)).capNtfnPtr == child.capPtr
    parent = cdt_parent_map(k)
    assert parent[addr(k, e + 2)] == addr(k, e + 1) and parent[addr(k, e + 1)] == addr(k, ut)
    assert addr(k, e + 5) in mdb_descendants(k, addr(k, ut))
    # Revoking the parent untyped removes the whole subtree.
    assert seL4_CNode_Revoke(k, ROOT, ut, W) == seL4_NoError
    assert all(addr(k, e + i) not in k.ctes for i in range(6))
    check_kernel(k, full=True)


def test_retype_into_another_cnode(k: Kernel) -> None:
    ut = untyped_of_bits(k, 23)
    e = k.bootinfo.empty.start
    assert seL4_Untyped_Retype(k, ut, abi.seL4_CapTableObject, 2, ROOT, 0, 0, e, 1) == seL4_NoError
    cn = k.cap_at(addr(k, e)).capCNodePtr
    # node_index/node_depth name the destination CNode's cap relative to root.
    assert seL4_Untyped_Retype(k, ut, abi.seL4_EndpointObject, 0, ROOT, e, W, 1, 3) == seL4_NoError
    assert [k.cap_at(cn + 32 * i).capType for i in range(4)] == [abi.cap_null_cap] + [abi.cap_endpoint_cap] * 3
    # node_depth = 0 takes the root cap itself: here the radix-2 CNode is the extra cap.
    assert seL4_Untyped_Retype(k, ut, abi.seL4_EndpointObject, 0, e, 0, 0, 0, 1) == seL4_NoError
    assert k.cap_at(cn).capType == abi.cap_endpoint_cap
    check_kernel(k, full=True)


def test_device_untyped(k: Kernel) -> None:
    dev = untyped_of_bits(k, 16, device=True)
    e = k.bootinfo.empty.start
    assert seL4_Untyped_Retype(k, dev, abi.seL4_EndpointObject, 0, ROOT, 0, 0, e, 1) == seL4_InvalidArgument
    assert mrs(k, 1) == [1]
    assert seL4_Untyped_Retype(k, dev, abi.seL4_X86_4K, 0, ROOT, 0, 0, e, 2) == seL4_NoError
    assert k.cap_at(addr(k, e)).capFIsDevice and k.objects[k.cap_at(addr(k, e)).capFBasePtr].is_device
    assert seL4_Untyped_Retype(k, dev, abi.seL4_UntypedObject, 12, ROOT, 0, 0, e + 2, 1) == seL4_NoError
    assert k.cap_at(addr(k, e + 2)).capIsDevice
    check_kernel(k, full=True)


def retype_error(k: Kernel, service: int, args: list[int], length: int = 6, extra: int = 1) -> tuple[int, list[int]]:
    seL4_SetCap(k, 0, ROOT)
    r = k.syscall(abi.seL4_SysCall, service, seL4_MessageInfo_new(abi.UntypedRetype, 0, extra, length), args)
    return r.label, list(r.mrs)


def test_retype_errors_in_order(k: Kernel) -> None:
    ut = untyped_of_bits(k, 23)
    e = k.bootinfo.empty.start
    ok = [abi.seL4_EndpointObject, 0, 0, 0, e, 1]
    assert seL4_Untyped_Retype(k, ut, abi.seL4_EndpointObject, 0, ROOT, 0, 0, e + 10, 1) == seL4_NoError
    r = k.syscall(abi.seL4_SysCall, ut, seL4_MessageInfo_new(abi.CNodeCopy, 0, 1, 6), ok)
    assert r.label == seL4_IllegalOperation
    assert retype_error(k, ut, ok, length=5) == (seL4_TruncatedMessage, [])
    assert retype_error(k, ut, ok, extra=0) == (seL4_TruncatedMessage, [])
    assert retype_error(k, ut, [14, 0, 0, 0, e, 1]) == (seL4_InvalidArgument, [0])
    assert retype_error(k, ut, [(1 << 64) - 1, 0, 0, 0, e, 1]) == (seL4_InvalidArgument, [0])
    assert retype_error(k, ut, [abi.seL4_UntypedObject, 48, 0, 0, e, 1]) == (seL4_RangeError, [0, 47])
    assert retype_error(k, ut, [abi.seL4_CapTableObject, 43, 0, 0, e, 1]) == (seL4_RangeError, [0, 47])
    assert retype_error(k, ut, [abi.seL4_EndpointObject, 64, 0, 0, e, 1]) == (seL4_RangeError, [0, 47])
    assert retype_error(k, ut, [abi.seL4_CapTableObject, (1 << 64) - 3, 0, 0, e, 1]) == (seL4_RangeError, [0, 47])
    assert retype_error(k, ut, [abi.seL4_CapTableObject, 0, 0, 0, e, 1]) == (seL4_InvalidArgument, [1])
    assert retype_error(k, ut, [abi.seL4_UntypedObject, 3, 0, 0, e, 1]) == (seL4_InvalidArgument, [1])
    assert retype_error(k, ut, [abi.seL4_SchedContextObject, 6, 0, 0, e, 1]) == (seL4_InvalidArgument, [1])
    # Destination CNode lookup.
    assert retype_error(k, ut, [abi.seL4_EndpointObject, 0, e + 10, 65, e, 1]) == (seL4_RangeError, [1, 64])
    assert retype_error(k, ut, [abi.seL4_EndpointObject, 0, e + 10, 12, e, 1]) == (seL4_FailedLookup, [0, 4, 12, 0, 52])
    assert retype_error(k, ut, [abi.seL4_EndpointObject, 0, e + 10, W, e, 1]) == (seL4_FailedLookup, [0, 2, 64])
    assert retype_error(k, ut, [abi.seL4_EndpointObject, 0, e + 11, W, e, 1]) == (seL4_FailedLookup, [0, 2, 64])
    # Window checks.
    assert retype_error(k, ut, [abi.seL4_EndpointObject, 0, 0, 0, 4096, 1]) == (seL4_RangeError, [0, 4095])
    assert retype_error(k, ut, [abi.seL4_EndpointObject, 0, 0, 0, e, 0]) == (seL4_RangeError, [1, 256])
    assert retype_error(k, ut, [abi.seL4_EndpointObject, 0, 0, 0, e, 257]) == (seL4_RangeError, [1, 256])
    assert retype_error(k, ut, [abi.seL4_EndpointObject, 0, 0, 0, 4000, 100]) == (seL4_RangeError, [1, 96])
    assert retype_error(k, ut, [abi.seL4_EndpointObject, 0, 0, 0, e + 5, 10]) == (seL4_DeleteFirst, [])
    # Memory: a 2^24 object does not fit a 2^23 untyped (NotEnoughMemory, not RangeError).
    free = (1 << 23) - 16
    assert retype_error(k, ut, [abi.seL4_UntypedObject, 24, 0, 0, e, 1]) == (seL4_NotEnoughMemory, [free])
    # A root that is not a CNode with node_depth 0: MissingCapability with bitsLeft 0.
    seL4_SetCap(k, 0, e + 10)
    r = k.syscall(abi.seL4_SysCall, ut, seL4_MessageInfo_new(abi.UntypedRetype, 0, 1, 6), [abi.seL4_EndpointObject, 0, 0, 0, e, 1])
    assert (r.label, list(r.mrs)) == (seL4_FailedLookup, [0, 2, 0])
    check_kernel(k, full=True)


def test_sched_context_sizes(k: Kernel) -> None:
    ut = untyped_of_bits(k, 23)
    e = k.bootinfo.empty.start
    assert seL4_Untyped_Retype(k, ut, abi.seL4_SchedContextObject, 7, ROOT, 0, 0, e, 1) == seL4_NoError
    assert seL4_Untyped_Retype(k, ut, abi.seL4_SchedContextObject, 10, ROOT, 0, 0, e + 1, 1) == seL4_NoError
    assert k.cap_at(addr(k, e + 1)) == SchedContextCap(k.cap_at(addr(k, ut)).capPtr + 1024, 10)
    check_kernel(k, full=True)


def test_boot_untyped_starts_full(k: Kernel) -> None:
    for i, d in enumerate(k.bootinfo.untyped_list):
        assert k.cap_at(addr(k, k.bootinfo.untyped.start + i)).capFreeIndex == 1 << (d.size_bits - 4)
