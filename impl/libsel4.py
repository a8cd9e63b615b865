"""libsel4, for the running thread of an impl.Kernel: the generated invocation stubs
(libsel4/tools/syscall_stub_gen.py over object-api.xml), the x86_64 syscall wrappers
(libsel4/sel4_arch_include/x86_64/sel4/sel4_arch/syscalls.h) and the IPC-buffer accessors.

Each function takes the kernel first. Invocation stubs behave as libsel4's: marshal the first
four arguments into message registers and the rest into the IPC buffer (seL4_Uint8 parameters
masked to 8 bits, words to 64), put extra caps with seL4_SetCap, seL4_CallWithMRs, return the
reply label (an seL4_Error) and, on error, copy the four registers back into the IPC buffer so
seL4_GetMR reads the whole error payload.

Two things a real thread could never observe raise instead of returning: ``ThreadStopped``
when the call does not return to the thread (a cap fault with no fault handler, or no user
thread running), and ``OperationNotModelled`` when the kernel model does not cover the
operation yet (for example a Call on an endpoint).
"""

from __future__ import annotations

from typing import NamedTuple

from spec import abi
from spec.abi import (
    CNodeCancelBadgedSends,
    CNodeCopy,
    CNodeDelete,
    CNodeMint,
    CNodeMove,
    CNodeMutate,
    CNodeRevoke,
    CNodeRotate,
    UntypedRetype,
    X86PageGetAddress,
    seL4_NoError,
    seL4_SysCall,
    seL4_SysNBSend,
    seL4_SysSend,
)

from impl.caps import MASK64
from impl.kernel import Kernel
from impl.structures import SyscallResult

_U8 = 0xFF


class ThreadStopped(RuntimeError):
    """The calling thread did not get control back (it faulted, or none was running)."""

    def __init__(self, result: SyscallResult) -> None:
        """Keep what the kernel reported."""
        super().__init__(f"the calling thread is not running after the syscall: {result}")
        self.result = result


class OperationNotModelled(RuntimeError):
    """The kernel model does not implement this operation yet."""

    def __init__(self, result: SyscallResult) -> None:
        """Keep what the kernel reported."""
        super().__init__(f"not modelled: {result.not_modelled}")
        self.result = result


# --- IPC buffer accessors (libsel4/include/sel4/functions.h) ----------------------------------------


def seL4_SetMR(k: Kernel, i: int, mr: int) -> None:
    """libsel4 seL4_SetMR: write message word i of the running thread's IPC buffer."""
    k.current.ipc_buffer.msg[i] = mr & MASK64


def seL4_GetMR(k: Kernel, i: int) -> int:
    """libsel4 seL4_GetMR: read message word i of the running thread's IPC buffer."""
    return k.current.ipc_buffer.msg[i]


def seL4_SetCap(k: Kernel, i: int, cptr: int) -> None:
    """libsel4 seL4_SetCap: extra cap i of the next message (caps_or_badges[i])."""
    k.current.ipc_buffer.caps_or_badges[i] = cptr & MASK64


def seL4_GetCap(k: Kernel, i: int) -> int:
    """libsel4 seL4_GetCap."""
    return k.current.ipc_buffer.caps_or_badges[i]


def seL4_SetCapReceivePath(k: Kernel, receiveCNode: int, receiveIndex: int, receiveDepth: int) -> None:
    """libsel4 seL4_SetCapReceivePath: where a received cap would be stored."""
    buf = k.current.ipc_buffer
    buf.receiveCNode = receiveCNode & MASK64
    buf.receiveIndex = receiveIndex & MASK64
    buf.receiveDepth = receiveDepth & MASK64


def seL4_MessageInfo_new(label: int, capsUnwrapped: int, extraCaps: int, length: int) -> int:
    """libsel4 seL4_MessageInfo_new, as a word."""
    return abi.message_info_new(label, capsUnwrapped, extraCaps, length)


def seL4_MessageInfo_get_label(info: int) -> int:
    """libsel4 seL4_MessageInfo_get_label."""
    return (info & MASK64) >> 12


def seL4_MessageInfo_get_length(info: int) -> int:
    """libsel4 seL4_MessageInfo_get_length."""
    return info & 0x7F


def seL4_CapRights_new(grant_reply: int, grant: int, read: int, write: int) -> int:
    """libsel4 seL4_CapRights_new, as a word."""
    return abi.cap_rights_new(grant_reply, grant, read, write)


def seL4_CNode_CapData_new(guard: int, guard_size: int) -> int:
    """libsel4 seL4_CNode_CapData_new, as a word."""
    return abi.cnode_cap_data_new(guard, guard_size)


# --- system calls (x86_64 syscalls.h) ----------------------------------------------------------------


def _syscall(k: Kernel, sysno: int, dest: int, msgInfo: int, mrs: list[int]) -> SyscallResult:
    """Trap into the kernel; raise what the calling thread could not observe."""
    caller = k.current
    result = k.syscall(sysno, dest, msgInfo, mrs)
    if result.idle or result.fault is not None or k.current is not caller:
        raise ThreadStopped(result)
    if result.not_modelled is not None:
        raise OperationNotModelled(result)
    return result


def seL4_CallWithMRs(k: Kernel, dest: int, msgInfo: int, mr0: int, mr1: int, mr2: int, mr3: int) -> tuple[int, tuple[int, ...]]:
    """libsel4 seL4_CallWithMRs: (reply message info, the four registers after the call)."""
    length = msgInfo & 0x7F
    regs = [mr0 if length > 0 else 0, mr1 if length > 1 else 0, mr2 if length > 2 else 0, mr3 if length > 3 else 0]
    r = _syscall(k, seL4_SysCall, dest, msgInfo, regs)
    return r.msg_info, r.mr_regs


def seL4_Call(k: Kernel, dest: int, msgInfo: int) -> int:
    """libsel4 seL4_Call: MRs 0..3 travel in registers and are stored back; returns the reply info."""
    buf = k.current.ipc_buffer
    r = _syscall(k, seL4_SysCall, dest, msgInfo, buf.msg[:4])
    buf.msg[0:4] = list(r.mr_regs)
    return r.msg_info


def seL4_Send(k: Kernel, dest: int, msgInfo: int) -> None:
    """libsel4 seL4_Send."""
    _syscall(k, seL4_SysSend, dest, msgInfo, k.current.ipc_buffer.msg[:4])


def seL4_NBSend(k: Kernel, dest: int, msgInfo: int) -> None:
    """libsel4 seL4_NBSend."""
    _syscall(k, seL4_SysNBSend, dest, msgInfo, k.current.ipc_buffer.msg[:4])


def _invoke(k: Kernel, service: int, tag: int, mr0: int, mr1: int, mr2: int, mr3: int) -> int:
    """The common tail of a generated stub: call, take the label, unmarshal registers on error."""
    info, regs = seL4_CallWithMRs(k, service, tag, mr0, mr1, mr2, mr3)
    result = info >> 12
    if result != seL4_NoError:
        msg = k.current.ipc_buffer.msg
        msg[0:4] = list(regs)
    return result


# --- generated invocation stubs, in object-api.xml order --------------------------------------------


def seL4_Untyped_Retype(
    k: Kernel,
    _service: int,
    type: int,
    size_bits: int,
    root: int,
    node_index: int,
    node_depth: int,
    node_offset: int,
    num_objects: int,
) -> int:
    """libsel4 seL4_Untyped_Retype."""
    tag = seL4_MessageInfo_new(UntypedRetype, 0, 1, 6)
    seL4_SetCap(k, 0, root)
    seL4_SetMR(k, 4, node_offset)
    seL4_SetMR(k, 5, num_objects)
    return _invoke(k, _service, tag, type & MASK64, size_bits & MASK64, node_index & MASK64, node_depth & MASK64)


def seL4_CNode_Revoke(k: Kernel, _service: int, index: int, depth: int) -> int:
    """libsel4 seL4_CNode_Revoke."""
    tag = seL4_MessageInfo_new(CNodeRevoke, 0, 0, 2)
    return _invoke(k, _service, tag, index & MASK64, depth & _U8, 0, 0)


def seL4_CNode_Delete(k: Kernel, _service: int, index: int, depth: int) -> int:
    """libsel4 seL4_CNode_Delete."""
    tag = seL4_MessageInfo_new(CNodeDelete, 0, 0, 2)
    return _invoke(k, _service, tag, index & MASK64, depth & _U8, 0, 0)


def seL4_CNode_CancelBadgedSends(k: Kernel, _service: int, index: int, depth: int) -> int:
    """libsel4 seL4_CNode_CancelBadgedSends."""
    tag = seL4_MessageInfo_new(CNodeCancelBadgedSends, 0, 0, 2)
    return _invoke(k, _service, tag, index & MASK64, depth & _U8, 0, 0)


def seL4_CNode_Copy(
    k: Kernel, _service: int, dest_index: int, dest_depth: int, src_root: int, src_index: int, src_depth: int, rights: int
) -> int:
    """libsel4 seL4_CNode_Copy."""
    tag = seL4_MessageInfo_new(CNodeCopy, 0, 1, 5)
    seL4_SetCap(k, 0, src_root)
    seL4_SetMR(k, 4, rights)
    return _invoke(k, _service, tag, dest_index & MASK64, dest_depth & _U8, src_index & MASK64, src_depth & _U8)


def seL4_CNode_Mint(
    k: Kernel,
    _service: int,
    dest_index: int,
    dest_depth: int,
    src_root: int,
    src_index: int,
    src_depth: int,
    rights: int,
    badge: int,
) -> int:
    """libsel4 seL4_CNode_Mint."""
    tag = seL4_MessageInfo_new(CNodeMint, 0, 1, 6)
    seL4_SetCap(k, 0, src_root)
    seL4_SetMR(k, 4, rights)
    seL4_SetMR(k, 5, badge)
    return _invoke(k, _service, tag, dest_index & MASK64, dest_depth & _U8, src_index & MASK64, src_depth & _U8)


def seL4_CNode_Move(
    k: Kernel, _service: int, dest_index: int, dest_depth: int, src_root: int, src_index: int, src_depth: int
) -> int:
    """libsel4 seL4_CNode_Move."""
    tag = seL4_MessageInfo_new(CNodeMove, 0, 1, 4)
    seL4_SetCap(k, 0, src_root)
    return _invoke(k, _service, tag, dest_index & MASK64, dest_depth & _U8, src_index & MASK64, src_depth & _U8)


def seL4_CNode_Mutate(
    k: Kernel,
    _service: int,
    dest_index: int,
    dest_depth: int,
    src_root: int,
    src_index: int,
    src_depth: int,
    badge: int,
) -> int:
    """libsel4 seL4_CNode_Mutate."""
    tag = seL4_MessageInfo_new(CNodeMutate, 0, 1, 5)
    seL4_SetCap(k, 0, src_root)
    seL4_SetMR(k, 4, badge)
    return _invoke(k, _service, tag, dest_index & MASK64, dest_depth & _U8, src_index & MASK64, src_depth & _U8)


def seL4_CNode_Rotate(
    k: Kernel,
    _service: int,
    dest_index: int,
    dest_depth: int,
    dest_badge: int,
    pivot_root: int,
    pivot_index: int,
    pivot_depth: int,
    pivot_badge: int,
    src_root: int,
    src_index: int,
    src_depth: int,
) -> int:
    """libsel4 seL4_CNode_Rotate."""
    tag = seL4_MessageInfo_new(CNodeRotate, 0, 2, 8)
    seL4_SetCap(k, 0, pivot_root)
    seL4_SetCap(k, 1, src_root)
    seL4_SetMR(k, 4, pivot_depth & _U8)
    seL4_SetMR(k, 5, pivot_badge)
    seL4_SetMR(k, 6, src_index)
    seL4_SetMR(k, 7, src_depth & _U8)
    return _invoke(k, _service, tag, dest_index & MASK64, dest_depth & _U8, dest_badge & MASK64, pivot_index & MASK64)


class seL4_X86_Page_GetAddress_t(NamedTuple):
    """libsel4's return struct for seL4_X86_Page_GetAddress."""

    error: int
    paddr: int


def seL4_X86_Page_GetAddress(k: Kernel, _service: int) -> seL4_X86_Page_GetAddress_t:
    """libsel4 seL4_X86_Page_GetAddress: the frame's physical address, from MR0."""
    tag = seL4_MessageInfo_new(X86PageGetAddress, 0, 0, 0)
    info, regs = seL4_CallWithMRs(k, _service, tag, 0, 0, 0, 0)
    error = info >> 12
    if error != seL4_NoError:
        k.current.ipc_buffer.msg[0:4] = list(regs)
        return seL4_X86_Page_GetAddress_t(error, 0)
    return seL4_X86_Page_GetAddress_t(error, regs[0])
