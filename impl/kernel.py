"""The kernel state and the system-call entry (src/api/syscall.c, src/object/objecttype.c decodeInvocation)."""

from __future__ import annotations

import bisect
from typing import Any, Sequence

from spec.abi import (
    CONFIG_NUM_DOMAINS,
    DomainScheduleConfigure,
    DomainScheduleSetStart,
    DomainSetSet,
    IRQAckIRQ,
    IRQClearIRQHandler,
    IRQIssueIRQHandler,
    IRQSetIRQHandler,
    SchedContextBind,
    SchedContextConsumed,
    SchedContextUnbind,
    SchedContextUnbindObject,
    SchedContextYieldTo,
    SchedControlConfigureFlags,
    TCBReadRegisters,
    TCBSetFlags,
    X86ASIDControlMakePool,
    X86ASIDPoolAssign,
    X86IOPortControlIssue,
    X86IOPortIn8,
    X86IOPortOut32,
    X86IRQIssueIRQHandlerIOAPIC,
    X86IRQIssueIRQHandlerMSI,
    X86PageDirectoryMap,
    X86PageDirectoryUnmap,
    X86PageGetAddress,
    X86PageMap,
    X86PageTableMap,
    X86PageTableUnmap,
    X86PageUnmap,
    X86PDPTMap,
    X86PDPTUnmap,
    cap_asid_control_cap,
    cap_asid_pool_cap,
    cap_cnode_cap,
    cap_domain_cap,
    cap_endpoint_cap,
    cap_frame_cap,
    cap_io_port_cap,
    cap_io_port_control_cap,
    cap_irq_control_cap,
    cap_irq_handler_cap,
    cap_notification_cap,
    cap_null_cap,
    cap_page_directory_cap,
    cap_page_table_cap,
    cap_pdpt_cap,
    cap_pml4_cap,
    cap_reply_cap,
    cap_sched_context_cap,
    cap_sched_control_cap,
    cap_thread_cap,
    cap_untyped_cap,
    cap_zombie_cap,
    message_info_fields,
    message_info_new,
    seL4_FastMessageRegisters,
    seL4_IllegalOperation,
    seL4_InvalidCapability,
    seL4_MsgMaxLength,
    seL4_RevokeFirst,
    seL4_SlotBits,
    seL4_SysCall,
    seL4_SysNBSend,
    seL4_SysSend,
    seL4_WordBits,
    SYSCALL_MAX,
    SYSCALL_MIN,
    SYSCALL_NAMES,
    tcbBuffer,
    tcbFaultHandler,
)

from impl.caps import NULL_CAP, MASK64, VMReadOnly, VMReadWrite, Cap
from impl.cnode import decode_cnode_invocation, is_final_capability
from impl.cspace import lookup_cap_and_slot, lookup_slot
from impl.objects import (
    IPCBuffer,
    KernelObject,
    SchedContext,
    Tcb,
    ThreadState_Inactive,
    ThreadState_Restart,
    ThreadState_Running,
)
from impl.structures import (
    BootInfo,
    CapFault,
    Fault,
    LookupFailed,
    NotModelled,
    SyscallError,
    SlotTable,
    SyscallResult,
    UnknownSyscallFault,
)
from impl.untyped import decode_untyped_invocation

_SIGN_BIT = 1 << (seL4_WordBits - 1)
_N_MSG_REGISTERS = seL4_FastMessageRegisters

_TCB_LABELS = range(TCBReadRegisters, TCBSetFlags + 1)
_DOMAIN_LABELS = frozenset({DomainSetSet, DomainScheduleConfigure, DomainScheduleSetStart})
_IRQ_CONTROL_LABELS = frozenset({IRQIssueIRQHandler, X86IRQIssueIRQHandlerIOAPIC, X86IRQIssueIRQHandlerMSI})
_IRQ_HANDLER_LABELS = frozenset({IRQAckIRQ, IRQSetIRQHandler, IRQClearIRQHandler})
_SC_LABELS = frozenset({SchedContextConsumed, SchedContextBind, SchedContextUnbindObject, SchedContextYieldTo})
_TABLE_LABELS = {
    cap_page_table_cap: (X86PageTableMap, X86PageTableUnmap),
    cap_page_directory_cap: (X86PageDirectoryMap, X86PageDirectoryUnmap),
    cap_pdpt_cap: (X86PDPTMap, X86PDPTUnmap),
}


class Kernel:
    """The concrete kernel state: objects, slots, the running thread, bootinfo. See impl/__init__.py."""

    def __init__(self) -> None:
        """An empty machine; impl.boot() fills it."""
        self.objects: dict[int, KernelObject] = {}
        self._object_bases: list[int] = []  # sorted keys of objects, for range deletion on reset
        self.ctes: SlotTable = SlotTable()
        self.bootinfo: BootInfo | None = None
        self.idle_thread = Tcb(0, 0)
        self.current: Tcb = self.idle_thread
        self.cur_domain = 0
        assert CONFIG_NUM_DOMAINS == 1

    # --- physical memory ------------------------------------------------------------------------

    def add_objects(self, objs: Sequence[KernelObject]) -> None:
        """Record newly created objects (createObject); bases are consecutive and ascending."""
        objects = self.objects
        bases = self._object_bases
        for o in objs:
            if o.base not in objects:
                bisect.insort(bases, o.base)
            objects[o.base] = o

    def delete_objects(self, base: int, size_bits: int) -> None:
        """Forget every object whose base lies in [base, base + 2^size_bits) (memory was cleared)."""
        bases = self._object_bases
        lo = bisect.bisect_left(bases, base)
        hi = bisect.bisect_left(bases, base + (1 << size_bits))
        if lo == hi:
            return
        objects = self.objects
        for b in bases[lo:hi]:
            del objects[b]
        del bases[lo:hi]

    def cap_at(self, slot: int) -> Cap:
        """The cap in a slot (the null cap for an empty one)."""
        cte = self.ctes.get(slot)
        return NULL_CAP if cte is None else cte.cap

    # --- threads and scheduling contexts ---------------------------------------------------------

    def set_restart(self) -> None:
        """Models setThreadState(ksCurThread, ThreadState_Restart) in the decoders."""
        self.current.tcbState = ThreadState_Restart

    def is_schedulable(self, tcb: Tcb) -> bool:
        """Models isSchedulable (MCS): runnable, with a configured scheduling context."""
        if tcb.tcbState != ThreadState_Running and tcb.tcbState != ThreadState_Restart:
            return False
        if not tcb.tcbSchedContext:
            return False
        sc = self.objects.get(tcb.tcbSchedContext)
        return isinstance(sc, SchedContext) and sc.scRefillMax > 0

    def suspend(self, tcb: Tcb) -> None:
        """Models suspend: the thread becomes Inactive (no IPC or queues to cancel in this model)."""
        tcb.tcbState = ThreadState_Inactive

    def sched_context_unbind_tcb(self, sc_ptr: int) -> None:
        """Models schedContext_unbindTCB: the SC and its thread forget each other."""
        sc = self.objects[sc_ptr]
        assert isinstance(sc, SchedContext)
        tcb = self.objects.get(sc.scTcb)
        if isinstance(tcb, Tcb):
            tcb.tcbSchedContext = 0
        sc.scTcb = 0

    def _schedule(self) -> None:
        """Models schedule(): no other thread is ever runnable here, so either current continues or idle runs."""
        if self.current is not self.idle_thread and not self.is_schedulable(self.current):
            self.current = self.idle_thread

    def lookup_ipc_buffer(self, is_receiver: bool, thread: Tcb) -> IPCBuffer | None:
        """Models lookupIPCBuffer (x86): the buffer if the tcbBuffer cap is a usable frame cap."""
        cte = self.ctes.get(thread.base + (tcbBuffer << seL4_SlotBits))
        if cte is None:
            return None
        cap: Any = cte.cap
        if cap.capType != cap_frame_cap or cap.capFIsDevice:
            return None
        rights = cap.capFVMRights
        if rights == VMReadWrite or (not is_receiver and rights == VMReadOnly):
            return thread.ipc_buffer
        return None

    # --- system calls -----------------------------------------------------------------------------

    def syscall(self, sysno: int, cptr: int, msg_info: int, mrs: Sequence[int] = (), reply: int = 0) -> SyscallResult:
        """Models the syscall trap (c_handle_syscall, handleSyscall) for the running thread.

        Arguments are register values: any Python int is reduced to a 64-bit word as a register
        would hold it. ``mrs[0:4]`` go in the message registers (missing ones take the IPC buffer's
        words, as libsel4's seL4_Call loads them); ``mrs[4:120]`` are written to the IPC buffer
        first (as seL4_SetMR does). Extra caps come from the IPC buffer (seL4_SetCap).
        """
        t = self.current
        if t is self.idle_thread:
            return SyscallResult(0, 0, idle=True)
        word = sysno & MASK64
        signed = word - (1 << seL4_WordBits) if word & _SIGN_BIT else word
        buf_msg = t.ipc_buffer.msg
        n = len(mrs)
        if n > seL4_MsgMaxLength:
            n = seL4_MsgMaxLength
        for i in range(_N_MSG_REGISTERS, n):
            buf_msg[i] = mrs[i] & MASK64
        regs = t.mr_regs
        for i in range(_N_MSG_REGISTERS):
            regs[i] = (mrs[i] if i < n else buf_msg[i]) & MASK64
        t.cap_register = cptr & MASK64
        t.msg_info_register = msg_info & MASK64
        t.reply_register = reply & MASK64

        if signed < SYSCALL_MIN or signed > SYSCALL_MAX:
            # handleUnknownSyscall: no debug syscalls in this configuration (CONFIG_PRINTING off).
            result = self._handle_fault(t, UnknownSyscallFault(word))
        elif signed == seL4_SysCall:
            result = self._handle_invocation(t, True, True, True, False, t.cap_register)
        elif signed == seL4_SysSend:
            result = self._handle_invocation(t, False, True, False, False, t.cap_register)
        elif signed == seL4_SysNBSend:
            result = self._handle_invocation(t, False, False, False, False, t.cap_register)
        else:
            # Receive, ReplyRecv, NBSendRecv, NBSendWait, Wait, Yield: IPC and budgets come later.
            result = self._result(t, False, not_modelled=SYSCALL_NAMES[signed])
        self._schedule()
        return result

    def _result(
        self, t: Tcb, replied: bool, fault: Fault | None = None, not_modelled: str | None = None
    ) -> SyscallResult:
        """What the thread's registers (and, for a reply, its IPC buffer) hold now."""
        regs = t.mr_regs
        mrs: tuple[int, ...] = ()
        if replied:
            length = message_info_fields(t.msg_info_register)[3]
            buf = self.lookup_ipc_buffer(True, t)
            words = list(regs[:length])
            if length > _N_MSG_REGISTERS and buf is not None:
                words.extend(buf.msg[_N_MSG_REGISTERS:length])
            mrs = tuple(words)
        return SyscallResult(
            t.msg_info_register, t.cap_register, mrs, tuple(regs), fault=fault, not_modelled=not_modelled
        )

    def _handle_fault(self, t: Tcb, fault: Fault) -> SyscallResult:
        """Models handleFault (MCS): no fault handler endpoint, so handleNoFaultHandler makes t Inactive."""
        handler = self.ctes.get(t.base + (tcbFaultHandler << seL4_SlotBits))
        if handler is not None and handler.cap.capType == cap_endpoint_cap:
            return self._result(t, False, not_modelled="sendFaultIPC")
        t.tcbState = ThreadState_Inactive
        return self._result(t, False, fault=fault)

    def _handle_invocation(
        self, t: Tcb, is_call: bool, is_blocking: bool, can_donate: bool, first_phase: bool, cptr: int
    ) -> SyscallResult:
        """Models handleInvocation: look up the invoked cap and extra caps, decode, reply."""
        label, _, extra_caps, length = message_info_fields(t.msg_info_register)
        if length > seL4_MsgMaxLength:  # messageInfoFromWord
            length = seL4_MsgMaxLength

        try:
            cap, slot = lookup_cap_and_slot(self, t, cptr)
        except LookupFailed as lf:
            fault = CapFault(cptr, False, lf.fault)
            if is_blocking:
                return self._handle_fault(t, fault)
            return self._result(t, False)

        buffer = self.lookup_ipc_buffer(False, t)
        excaps: list[int] = []
        if buffer is not None:
            for i in range(extra_caps):
                xptr = buffer.caps_or_badges[i] & MASK64
                try:
                    excaps.append(lookup_slot(self, t, xptr))
                except LookupFailed as lf:
                    fault = CapFault(xptr, False, lf.fault)
                    if is_blocking:
                        return self._handle_fault(t, fault)
                    return self._result(t, False)
        if length > _N_MSG_REGISTERS and buffer is None:
            length = _N_MSG_REGISTERS
        args = t.mr_regs[:]
        if buffer is not None:
            args += [w & MASK64 for w in buffer.msg[_N_MSG_REGISTERS:length]]

        try:
            replied = self._decode_invocation(t, label, length, cptr, slot, cap, is_call, first_phase, args, excaps)
        except SyscallError as err:
            if is_call:
                self._reply_from_kernel_error(t, err)
            return self._result(t, is_call)
        except NotModelled as nm:
            return self._result(t, False, not_modelled=nm.what)
        if t.tcbState == ThreadState_Restart:
            if is_call:
                t.cap_register = 0
                t.msg_info_register = 0  # replyFromKernel_success_empty: seL4_MessageInfo_new(0, 0, 0, 0)
                replied = True
            t.tcbState = ThreadState_Running
        return self._result(t, replied)

    def _set_mr(self, t: Tcb, buf: IPCBuffer | None, offset: int, value: int) -> int:
        """Models setMR: registers first, then the IPC buffer; returns the new length."""
        if offset >= _N_MSG_REGISTERS:
            if buf is not None:
                buf.msg[offset] = value
                return offset + 1
            return _N_MSG_REGISTERS
        t.mr_regs[offset] = value
        return offset + 1

    def _reply_from_kernel_error(self, t: Tcb, err: SyscallError) -> None:
        """Models replyFromKernel_error with setMRs_syscall_error: label = error, length = words set."""
        buf = self.lookup_ipc_buffer(True, t)
        t.cap_register = 0
        length = 0
        for i, w in enumerate(err.mrs):
            length = self._set_mr(t, buf, i, w & MASK64)
        t.msg_info_register = message_info_new(err.error, 0, 0, length)

    def _decode_invocation(
        self,
        t: Tcb,
        label: int,
        length: int,
        cptr: int,
        slot: int,
        cap: Any,
        is_call: bool,
        first_phase: bool,
        args: list[int],
        excaps: list[int],
    ) -> bool:
        """Models decodeInvocation (MCS): dispatch on the cap type; True if it wrote its own reply."""
        ct = cap.capType
        if ct == cap_cnode_cap:
            if first_phase:
                raise SyscallError(seL4_InvalidCapability, (0,))
            decode_cnode_invocation(self, label, length, cap, args, excaps)
            return False
        if ct == cap_untyped_cap:
            decode_untyped_invocation(self, label, length, slot, cap, args, excaps)
            return False
        if ct == cap_null_cap or ct == cap_zombie_cap:
            raise SyscallError(seL4_InvalidCapability, (0,))
        if ct == cap_endpoint_cap:
            if not cap.capCanSend:
                raise SyscallError(seL4_InvalidCapability, (0,))
            raise NotModelled("sendIPC")
        if ct == cap_notification_cap:
            if not cap.capNtfnCanSend:
                raise SyscallError(seL4_InvalidCapability, (0,))
            raise NotModelled("sendSignal")
        if ct == cap_reply_cap:
            raise NotModelled("doReplyTransfer")
        if ct == cap_thread_cap:
            if first_phase:
                raise SyscallError(seL4_InvalidCapability, (0,))
            if label in _TCB_LABELS:
                raise NotModelled("decodeTCBInvocation")
            raise SyscallError(seL4_IllegalOperation)
        if ct == cap_domain_cap:
            if first_phase:
                raise SyscallError(seL4_InvalidCapability, (0,))
            if label in _DOMAIN_LABELS:
                raise NotModelled("decodeDomainInvocation")
            raise SyscallError(seL4_IllegalOperation)
        if ct == cap_irq_control_cap:
            if label in _IRQ_CONTROL_LABELS:
                raise NotModelled("decodeIRQControlInvocation")
            raise SyscallError(seL4_IllegalOperation)
        if ct == cap_irq_handler_cap:
            if label in _IRQ_HANDLER_LABELS:
                raise NotModelled("decodeIRQHandlerInvocation")
            raise SyscallError(seL4_IllegalOperation)
        if ct == cap_sched_control_cap:
            if first_phase:
                raise SyscallError(seL4_InvalidCapability, (0,))
            if label == SchedControlConfigureFlags:
                raise NotModelled("decodeSchedControl_ConfigureFlags")
            raise SyscallError(seL4_IllegalOperation)
        if ct == cap_sched_context_cap:
            if first_phase:
                raise SyscallError(seL4_InvalidCapability, (0,))
            if label == SchedContextUnbind:
                sc = self.objects.get(cap.capSCPtr)
                if isinstance(sc, SchedContext) and sc.scTcb == t.base:
                    raise SyscallError(seL4_IllegalOperation)
                raise NotModelled("invokeSchedContext_Unbind")
            if label in _SC_LABELS:
                raise NotModelled("decodeSchedContextInvocation")
            raise SyscallError(seL4_IllegalOperation)
        return self._decode_arch_invocation(t, label, slot, cap, is_call)

    def _decode_arch_invocation(self, t: Tcb, label: int, slot: int, cap: Any, is_call: bool) -> bool:
        """Models Arch_decodeInvocation (x86_64) as far as its label checks and PageGetAddress."""
        ct = cap.capType
        if ct == cap_frame_cap:
            if label == X86PageGetAddress:
                self.set_restart()
                # performPageGetAddress; physical addresses equal kernel addresses in this model.
                if is_call:
                    buf = self.lookup_ipc_buffer(True, t)
                    t.cap_register = 0
                    n = self._set_mr(t, buf, 0, cap.capFBasePtr)
                    t.msg_info_register = message_info_new(0, 0, 0, n)
                t.tcbState = ThreadState_Running
                return is_call
            if label == X86PageMap or label == X86PageUnmap:
                raise NotModelled("decodeX86FrameInvocation")
            raise SyscallError(seL4_IllegalOperation)
        if ct in _TABLE_LABELS:
            map_label, unmap_label = _TABLE_LABELS[ct]
            if label == unmap_label:
                if not is_final_capability(self, slot):
                    raise SyscallError(seL4_RevokeFirst)
                raise NotModelled("performX86PageTableInvocationUnmap")
            if label == map_label:
                raise NotModelled("decodeX86PageTableInvocation")
            raise SyscallError(seL4_IllegalOperation)
        if ct == cap_pml4_cap:
            raise SyscallError(seL4_IllegalOperation)
        if ct == cap_asid_control_cap:
            if label == X86ASIDControlMakePool:
                raise NotModelled("performASIDControlInvocation")
            raise SyscallError(seL4_IllegalOperation)
        if ct == cap_asid_pool_cap:
            if label == X86ASIDPoolAssign:
                raise NotModelled("performASIDPoolInvocation")
            raise SyscallError(seL4_IllegalOperation)
        if ct == cap_io_port_control_cap:
            if label == X86IOPortControlIssue:
                raise NotModelled("decodeX86PortControlInvocation")
            raise SyscallError(seL4_IllegalOperation)
        if ct == cap_io_port_cap:
            if X86IOPortIn8 <= label <= X86IOPortOut32:
                raise NotModelled("decodeX86PortInvocation")
            raise SyscallError(seL4_IllegalOperation)
        # Mode_decodeInvocation default.
        raise SyscallError(seL4_InvalidCapability, (0,))
