"""Kernel objects in physical memory (include/object/structures.h, structures_64.bf).

``Kernel.objects`` maps an object's base address to one of these. Every object carries its
``obj_type`` (a ``spec.abi`` seL4_ObjectType value, or ``ASID_POOL_OBJECT`` for the one ASID
pool made at boot) and ``size_bits`` (log2 of its footprint). Per-type fields keep the C names.
Capability slots are *not* stored here: a CNode's or TCB's slots live in ``Kernel.ctes``, keyed
by slot address (CNode base + 32*index; TCB base + 32*index for the TCB's own CNode).
"""

from __future__ import annotations

from spec.abi import (
    TCB_OFFSET,
    seL4_CapTableObject,
    seL4_EndpointObject,
    seL4_MsgMaxExtraCaps,
    seL4_MsgMaxLength,
    seL4_NotificationObject,
    seL4_ReplyObject,
    seL4_SchedContextObject,
    seL4_SlotBits,
    seL4_TCBBits,
    seL4_TCBObject,
)

# ASID pools are not a seL4_ObjectType (they come from ASIDControl_MakePool, or from boot);
# this tag only marks the boot-time pool in Kernel.objects.
ASID_POOL_OBJECT = -1

# enum _thread_state (include/object/structures.h), without CONFIG_VTX.
ThreadState_Inactive = 0
ThreadState_Running = 1
ThreadState_Restart = 2
ThreadState_BlockedOnReceive = 3
ThreadState_BlockedOnSend = 4
ThreadState_BlockedOnReply = 5
ThreadState_BlockedOnNotification = 6
ThreadState_IdleThreadState = 7

# Endpoint and notification states (include/object/structures.h).
EPState_Idle = 0
EPState_Send = 1
EPState_Recv = 2
NtfnState_Idle = 0
NtfnState_Waiting = 1
NtfnState_Active = 2


class KernelObject:
    """An object in physical memory: base address, seL4 object type, log2 size."""

    __slots__ = ("base", "obj_type", "size_bits")

    def __init__(self, base: int, obj_type: int, size_bits: int) -> None:
        """Models the part of createObject common to all types (src/object/objecttype.c)."""
        self.base = base
        self.obj_type = obj_type
        self.size_bits = size_bits

    def __repr__(self) -> str:
        """Readable form for counterexamples."""
        return f"{type(self).__name__}(base={self.base:#x}, type={self.obj_type}, bits={self.size_bits})"


class CNode(KernelObject):
    """A CNode of 2^radix slots; its slots are the Kernel.ctes entries in its address range."""

    __slots__ = ("radix",)

    def __init__(self, base: int, radix: int) -> None:
        """Models createObject for seL4_CapTableObject."""
        super().__init__(base, seL4_CapTableObject, radix + seL4_SlotBits)
        self.radix = radix


class Endpoint(KernelObject):
    """endpoint_t: queue state and intrusive thread queue (no IPC is modelled yet)."""

    __slots__ = ("state", "epQueue_head", "epQueue_tail")

    def __init__(self, base: int, size_bits: int) -> None:
        """Models createObject for seL4_EndpointObject."""
        super().__init__(base, seL4_EndpointObject, size_bits)
        self.state = EPState_Idle
        self.epQueue_head = 0
        self.epQueue_tail = 0


class Notification(KernelObject):
    """notification_t (MCS layout)."""

    __slots__ = (
        "state",
        "ntfnMsgIdentifier",
        "ntfnBoundTCB",
        "ntfnSchedContext",
        "ntfnQueue_head",
        "ntfnQueue_tail",
    )

    def __init__(self, base: int, size_bits: int) -> None:
        """Models createObject for seL4_NotificationObject."""
        super().__init__(base, seL4_NotificationObject, size_bits)
        self.state = NtfnState_Idle
        self.ntfnMsgIdentifier = 0
        self.ntfnBoundTCB = 0
        self.ntfnSchedContext = 0
        self.ntfnQueue_head = 0
        self.ntfnQueue_tail = 0


class Reply(KernelObject):
    """reply_t (MCS)."""

    __slots__ = ("replyTCB", "replyPrev", "replyNext")

    def __init__(self, base: int, size_bits: int) -> None:
        """Models createObject for seL4_ReplyObject."""
        super().__init__(base, seL4_ReplyObject, size_bits)
        self.replyTCB = 0
        self.replyPrev = 0
        self.replyNext = 0


class SchedContext(KernelObject):
    """sched_context_t with its refill ring (only the fields the CSpace model touches)."""

    __slots__ = (
        "scTcb",
        "scRefillMax",
        "scSporadic",
        "scNotification",
        "scReply",
        "scYieldFrom",
        "scBadge",
        "scCore",
        "scPeriod",
        "scConsumed",
        "refills",
    )

    def __init__(self, base: int, size_bits: int) -> None:
        """Models createObject for seL4_SchedContextObject (an unconfigured SC)."""
        super().__init__(base, seL4_SchedContextObject, size_bits)
        self.scTcb = 0
        self.scRefillMax = 0
        self.scSporadic = False
        self.scNotification = 0
        self.scReply = 0
        self.scYieldFrom = 0
        self.scBadge = 0
        self.scCore = 0
        self.scPeriod = 0
        self.scConsumed = 0
        self.refills: list[tuple[int, int]] = []


class Frame(KernelObject):
    """A user data frame (4K, large or huge page); device frames are never cleared."""

    __slots__ = ("is_device",)

    def __init__(self, base: int, obj_type: int, size_bits: int, is_device: bool) -> None:
        """Models createObject for the x86 frame types."""
        super().__init__(base, obj_type, size_bits)
        self.is_device = is_device


class IPCBuffer:
    """The thread's IPC buffer in user memory (libsel4 seL4_IPCBuffer): what seL4_SetMR/SetCap write."""

    __slots__ = ("msg", "userData", "caps_or_badges", "receiveCNode", "receiveIndex", "receiveDepth")

    def __init__(self) -> None:
        """A zeroed buffer, as a freshly cleared frame is."""
        self.msg = [0] * seL4_MsgMaxLength
        self.userData = 0
        self.caps_or_badges = [0] * seL4_MsgMaxExtraCaps
        self.receiveCNode = 0
        self.receiveIndex = 0
        self.receiveDepth = 0


class Tcb(KernelObject):
    """A TCB object: slots 0..4 of its CNode are in Kernel.ctes at base + 32*i; tcb_t at base + TCB_OFFSET.

    Registers: ``cap_register`` (x86_64 RDI, also the badge register), ``msg_info_register``
    (RSI), ``reply_register`` (MCS reply cptr), ``mr_regs`` (the 4 message registers).
    """

    __slots__ = (
        "tcbState",
        "tcbSchedContext",
        "tcbPriority",
        "tcbMCP",
        "tcbDomain",
        "tcbIPCBuffer",
        "tcbBoundNotification",
        "tcbYieldTo",
        "cap_register",
        "msg_info_register",
        "reply_register",
        "mr_regs",
        "ipc_buffer",
    )

    def __init__(self, base: int, domain: int = 0) -> None:
        """Models createObject for seL4_TCBObject: an inactive thread in the current domain."""
        super().__init__(base, seL4_TCBObject, seL4_TCBBits)
        self.tcbState = ThreadState_Inactive
        self.tcbSchedContext = 0
        self.tcbPriority = 0
        self.tcbMCP = 0
        self.tcbDomain = domain
        self.tcbIPCBuffer = 0
        self.tcbBoundNotification = 0
        self.tcbYieldTo = 0
        self.cap_register = 0
        self.msg_info_register = 0
        self.reply_register = 0
        self.mr_regs = [0, 0, 0, 0]
        self.ipc_buffer = IPCBuffer()

    @property
    def tcb_ptr(self) -> int:
        """Address of the tcb_t (what a thread cap's capTCBPtr holds)."""
        return self.base + TCB_OFFSET

    def slot(self, index: int) -> int:
        """Models TCB_PTR_CTE_PTR(tcb, index): address of the TCB's own CNode slot."""
        return self.base + (index << seL4_SlotBits)
