"""Kernel.syscall: the trap, cap faults, message info handling, other cap types, robustness."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from impl import CapFault, UnknownSyscallFault, boot
from impl.invariants import check_kernel
from impl.kernel import Kernel
from impl.libsel4 import (
    OperationNotModelled,
    ThreadStopped,
    seL4_Call,
    seL4_CNode_Copy,
    seL4_CNode_Delete,
    seL4_GetMR,
    seL4_MessageInfo_new,
    seL4_SetCap,
    seL4_SetMR,
    seL4_Untyped_Retype,
    seL4_X86_Page_GetAddress,
)
from impl.objects import ThreadState_Inactive, ThreadState_Running
from impl.structures import LookupFault
from spec import abi
from spec.abi import seL4_AllRights, seL4_CapInitThreadCNode as ROOT, seL4_NoError

W = 64


def addr(k: Kernel, i: int) -> int:
    return k.cap_at(k.current.slot(abi.tcbCTable)).capCNodePtr + 32 * i


@pytest.fixture
def k() -> Kernel:
    return boot()


def call(k: Kernel, cptr: int, label: int, args: list[int], extra: int = 0, length: int | None = None):
    info = seL4_MessageInfo_new(label, 0, extra, len(args) if length is None else length)
    return k.syscall(abi.seL4_SysCall, cptr, info, args)


def test_success_reply_is_empty(k: Kernel) -> None:
    r = call(k, ROOT, abi.CNodeDelete, [k.bootinfo.empty.start, W])
    assert (r.msg_info, r.badge, r.mrs, r.fault, r.not_modelled) == (0, 0, (), None, None)
    assert k.current.tcbState == ThreadState_Running


def test_error_reply_words(k: Kernel) -> None:
    # GuardMismatch has five words: MR0..3 in registers, MR4 in the IPC buffer.
    r = call(k, ROOT, abi.CNodeDelete, [5, 40])
    assert r.label == abi.seL4_FailedLookup and r.length == 5 and r.badge == 0
    assert r.mrs == (0, abi.seL4_GuardMismatch, 40, 0, 52)
    assert r.mr_regs == (0, abi.seL4_GuardMismatch, 40, 0)
    assert k.current.ipc_buffer.msg[4] == 52


def test_invoking_an_empty_slot(k: Kernel) -> None:
    r = call(k, k.bootinfo.empty.start, abi.CNodeDelete, [0, 0])
    assert (r.label, r.mrs) == (abi.seL4_InvalidCapability, (0,))


def test_cap_fault_stops_the_thread(k: Kernel) -> None:
    t = k.current
    r = call(k, 1 << 20, abi.CNodeDelete, [0, W])
    assert r.fault == CapFault(1 << 20, False, LookupFault(abi.lookup_fault_guard_mismatch, 64, 52, 0))
    assert r.fault.to_mrs()[3:] == (abi.seL4_GuardMismatch, 64, 0, 52)
    assert t.tcbState == ThreadState_Inactive and k.current is k.idle_thread
    assert k.syscall(abi.seL4_SysCall, ROOT, 0).idle
    check_kernel(k, full=True)


def test_send_faults_but_nbsend_does_not(k: Kernel) -> None:
    r = k.syscall(abi.seL4_SysNBSend, 1 << 20, seL4_MessageInfo_new(abi.CNodeDelete, 0, 0, 2), [0, W])
    assert r.fault is None and k.current.tcbState == ThreadState_Running
    r = k.syscall(abi.seL4_SysSend, 1 << 20, seL4_MessageInfo_new(abi.CNodeDelete, 0, 0, 2), [0, W])
    assert isinstance(r.fault, CapFault) and k.current is k.idle_thread


def test_extra_cap_lookup_fault(k: Kernel) -> None:
    seL4_SetCap(k, 0, 5000)
    r = call(k, ROOT, abi.CNodeCopy, [0, W, 0, W, 15], extra=1)
    assert r.fault == CapFault(5000, False, LookupFault(abi.lookup_fault_guard_mismatch, 64, 52, 0))


def test_unknown_syscall_faults(k: Kernel) -> None:
    r = k.syscall(-12, 0, 0)
    assert r.fault == UnknownSyscallFault((1 << 64) - 12)
    assert k.current is k.idle_thread


def test_send_runs_but_drops_errors(k: Kernel) -> None:
    e = k.bootinfo.empty.start
    seL4_SetCap(k, 0, ROOT)
    info = seL4_MessageInfo_new(abi.CNodeCopy, 0, 1, 5)
    r = k.syscall(abi.seL4_SysSend, ROOT, info, [e, W, abi.seL4_CapDomain, W, 0])
    assert r.msg_info == info and r.mrs == () and k.cap_at(addr(k, e)).capType == abi.cap_domain_cap
    r = k.syscall(abi.seL4_SysSend, ROOT, info, [e, W, abi.seL4_CapDomain, W, 0])
    assert r.msg_info == info and r.badge == ROOT  # DeleteFirst, not reported


def test_length_is_clamped_and_truncated(k: Kernel) -> None:
    e = k.bootinfo.empty.start
    # length 127 -> 120: enough for Delete; the kernel does not complain.
    r = k.syscall(abi.seL4_SysCall, ROOT, (abi.CNodeDelete << 12) | 127, [e, W])
    assert r.label == seL4_NoError
    # Extra caps above the count in msg_info are not looked up.
    seL4_SetCap(k, 0, ROOT)
    r = call(k, ROOT, abi.CNodeCopy, [e, W, 2, W, 15], extra=0)
    assert r.label == abi.seL4_TruncatedMessage


def test_registers_come_from_the_buffer_when_not_given(k: Kernel) -> None:
    e = k.bootinfo.empty.start
    for i, w in enumerate([e, W]):
        seL4_SetMR(k, i, w)
    r = k.syscall(abi.seL4_SysCall, ROOT, seL4_MessageInfo_new(abi.CNodeRevoke, 0, 0, 2))
    assert r.label == seL4_NoError
    assert seL4_Call(k, ROOT, seL4_MessageInfo_new(abi.CNodeRevoke, 0, 0, 2)) == 0


def test_other_cap_types(k: Kernel) -> None:
    # Labels the object does not know: IllegalOperation.
    for cptr in (abi.seL4_CapInitThreadTCB, abi.seL4_CapDomain, abi.seL4_CapIRQControl,
                 abi.seL4_CapInitThreadSC, k.bootinfo.schedcontrol.start, abi.seL4_CapASIDControl,
                 abi.seL4_CapInitThreadASIDPool, abi.seL4_CapIOPortControl, abi.seL4_CapInitThreadVSpace,
                 abi.seL4_CapBootInfoFrame, k.bootinfo.user_image_paging.start):
        r = call(k, cptr, abi.CNodeCopy, [0, 0])
        assert (r.label, r.length) == (abi.seL4_IllegalOperation, 0), cptr
    # Operations this model does not cover yet are reported, with no state change.
    for cptr, label in ((abi.seL4_CapInitThreadTCB, abi.TCBSuspend), (abi.seL4_CapDomain, abi.DomainSetSet),
                        (abi.seL4_CapIRQControl, abi.IRQIssueIRQHandler), (k.bootinfo.schedcontrol.start, abi.SchedControlConfigureFlags),
                        (abi.seL4_CapASIDControl, abi.X86ASIDControlMakePool), (abi.seL4_CapBootInfoFrame, abi.X86PageMap)):
        r = call(k, cptr, label, [0, 0])
        assert r.not_modelled is not None and r.msg_info == seL4_MessageInfo_new(label, 0, 0, 2), label
    # The current thread's own SC cannot be unbound.
    r = call(k, abi.seL4_CapInitThreadSC, abi.SchedContextUnbind, [])
    assert r.label == abi.seL4_IllegalOperation
    # Unmapping a table with another cap to it: RevokeFirst.
    pt = k.bootinfo.user_image_paging.end - 1
    e = k.bootinfo.empty.start
    assert seL4_CNode_Copy(k, ROOT, e, W, ROOT, pt, W, seL4_AllRights) == seL4_NoError
    assert call(k, pt, abi.X86PageTableUnmap, []).label == abi.seL4_RevokeFirst
    check_kernel(k, full=True)


def test_endpoints_and_ipc_are_not_modelled(k: Kernel) -> None:
    ut = k.bootinfo.untyped.start + 1
    e = k.bootinfo.empty.start
    assert seL4_Untyped_Retype(k, ut, abi.seL4_EndpointObject, 0, ROOT, 0, 0, e, 1) == seL4_NoError
    assert seL4_CNode_Copy(k, ROOT, e + 1, W, ROOT, e, W, abi.seL4_CanRead) == seL4_NoError
    assert call(k, e, 0, []).not_modelled == "sendIPC"
    r = call(k, e + 1, 0, [])
    assert (r.label, r.mrs) == (abi.seL4_InvalidCapability, (0,))
    with pytest.raises(OperationNotModelled):
        seL4_Call(k, e, seL4_MessageInfo_new(0, 0, 0, 0))
    r = k.syscall(abi.seL4_SysRecv, e, 0)
    assert r.not_modelled == "seL4_SysRecv" and k.current.tcbState == ThreadState_Running


def test_page_get_address(k: Kernel) -> None:
    frame = k.cap_at(addr(k, abi.seL4_CapBootInfoFrame))
    assert seL4_X86_Page_GetAddress(k, abi.seL4_CapBootInfoFrame) == (0, frame.capFBasePtr)
    assert seL4_X86_Page_GetAddress(k, abi.seL4_CapInitThreadTCB).error == abi.seL4_IllegalOperation


def test_deleting_own_tcb_stops_the_thread(k: Kernel) -> None:
    t = k.current
    root_slot = addr(k, ROOT)
    with pytest.raises(ThreadStopped):
        seL4_CNode_Delete(k, ROOT, abi.seL4_CapInitThreadTCB, W)
    assert t.tcbState == ThreadState_Inactive and t.tcbSchedContext == 0
    # The TCB's own slots were cleared by its Zombie; the root CNode cap in slot 2 remains.
    assert all(t.slot(i) not in k.ctes for i in range(5))
    assert k.cap_at(root_slot).capType == abi.cap_cnode_cap
    check_kernel(k, full=True)


def test_deleting_own_sc_stops_the_thread(k: Kernel) -> None:
    t = k.current
    sc = k.objects[t.tcbSchedContext]
    r = call(k, ROOT, abi.CNodeDelete, [abi.seL4_CapInitThreadSC, W])
    # The reply was written, but the thread has no scheduling context left to run on.
    assert r.msg_info == 0 and t.tcbState == ThreadState_Running
    assert t.tcbSchedContext == 0 and sc.scTcb == 0 and sc.scRefillMax == 0
    assert k.current is k.idle_thread


def test_revoking_the_root_cnode_removes_the_cspace(k: Kernel) -> None:
    t = k.current
    r = call(k, ROOT, abi.CNodeRevoke, [ROOT, W])
    assert r.label == seL4_NoError and t.slot(abi.tcbCTable) not in k.ctes
    r = call(k, ROOT, abi.CNodeRevoke, [ROOT, W])
    assert r.fault == CapFault(ROOT, False, LookupFault(abi.lookup_fault_invalid_root))


WORDS = st.one_of(
    st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.integers(min_value=0, max_value=4200),
    st.sampled_from([0, 1, 2, 3, 12, 52, 63, 64, 65, 255, 256, 257, (1 << 64) - 1, 1 << 64, -1]),
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    sysno=st.one_of(st.integers(min_value=-40, max_value=5), WORDS),
    cptr=WORDS,
    label=st.one_of(st.integers(min_value=0, max_value=60), WORDS),
    extra=st.integers(min_value=0, max_value=3),
    length=st.integers(min_value=0, max_value=127),
    mrs=st.lists(WORDS, max_size=10),
    caps=st.lists(WORDS, min_size=3, max_size=3),
    reply=WORDS,
)
def test_no_exception_escapes(sysno, cptr, label, extra, length, mrs, caps, reply) -> None:
    k = boot()
    for i, c in enumerate(caps):
        k.current.ipc_buffer.caps_or_badges[i] = c
    info = ((label & ((1 << 52) - 1)) << 12) | (extra << 7) | length
    for info_word in (info, label):
        r = k.syscall(sysno, cptr, info_word, mrs, reply)
        assert 0 <= r.msg_info < 1 << 64 and 0 <= r.badge < 1 << 64
        assert all(0 <= w < 1 << 64 for w in r.mrs)
    check_kernel(k, full=True)


def test_libsel4_helpers(k: Kernel) -> None:
    from impl.libsel4 import seL4_CapRights_new, seL4_CNode_CapData_new, seL4_GetCap, seL4_SetCapReceivePath

    assert seL4_MessageInfo_new(abi.CNodeCopy, 0, 1, 5) == (abi.CNodeCopy << 12) | (1 << 7) | 5
    assert seL4_CapRights_new(1, 1, 1, 1) == abi.seL4_AllRights
    assert seL4_CNode_CapData_new(3, 2) == (3 << 6) | 2
    seL4_SetCapReceivePath(k, ROOT, 77, W)
    b = k.current.ipc_buffer
    assert (b.receiveCNode, b.receiveIndex, b.receiveDepth) == (ROOT, 77, W)
    seL4_SetCap(k, 2, -1)
    assert seL4_GetCap(k, 2) == (1 << 64) - 1
    # Depths are seL4_Uint8 in the stubs: 64 + 256 arrives as 64.
    e = k.bootinfo.empty.start
    assert seL4_CNode_Copy(k, ROOT, e, W + 256, ROOT, abi.seL4_CapDomain, W, 0) == seL4_NoError
    # On error the stub copies the four registers back, so GetMR sees the whole payload.
    assert seL4_CNode_Copy(k, ROOT, e + 1, 3, ROOT, abi.seL4_CapDomain, W, 0) == abi.seL4_FailedLookup
    assert [seL4_GetMR(k, i) for i in range(5)] == [0, abi.seL4_GuardMismatch, 3, 0, 52]
