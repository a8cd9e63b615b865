"""seL4 ABI constants for the configuration this project models.

Follows seL4 commit ``1326364bc913`` (github.com/seL4/seL4, VERSION ``16.0.0-dev``,
2026-08-06), as summarised in ``shared/sel4/cspace.md`` and ``shared/sel4/ipc-mcs.md``;
where those notes are silent the values were read from the C/XML sources at that commit.

Configuration modelled: x86_64 with ``CONFIG_KERNEL_MCS``, no ``CONFIG_IOMMU``, no
``CONFIG_VTX``, ``CONFIG_HUGE_PAGE`` on, single core, no hardware debug API, and every other
option at its ``config.cmake`` default (XSAVE size 576, so ``seL4_TCBBits`` is 11).

Names are seL4's own spelling (libsel4 names where libsel4 has one, otherwise the kernel's C
enum or macro name). Every value is a plain ``int`` so that both ``spec`` and ``impl`` can
share them as data; nothing here imports anything beyond the standard library.
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------------------
# Configuration (config.cmake, src/arch/x86/config.cmake; the build's gen_config.h)
# ---------------------------------------------------------------------------------------------

CONFIG_KERNEL_MCS = True
CONFIG_HUGE_PAGE = True
CONFIG_IOMMU = False
CONFIG_VTX = False
CONFIG_MAX_NUM_NODES = 1
CONFIG_XSAVE_SIZE = 576
CONFIG_ROOT_CNODE_SIZE_BITS = 12
CONFIG_RETYPE_FAN_OUT_LIMIT = 256
CONFIG_MAX_NUM_WORK_UNITS_PER_PREEMPTION = 100
CONFIG_RESET_CHUNK_BITS = 8
CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS = 230
CONFIG_NUM_DOMAINS = 1
CONFIG_NUM_PRIORITIES = 256
CONFIG_KERNEL_WCET_SCALE = 1
# 0 means "no static cap": MAX_PERIOD_US is then derived from the timer (see max_period_us).
CONFIG_KERNEL_STATIC_MAX_PERIOD_US = 0

# ---------------------------------------------------------------------------------------------
# Word and object sizes (libsel4/sel4_arch_include/x86_64/sel4/sel4_arch/constants.h)
# ---------------------------------------------------------------------------------------------

seL4_WordBits = 64
seL4_WordSizeBits = 3
seL4_PageBits = 12
seL4_SlotBits = 5
# 12 only when CONFIG_XSAVE_SIZE >= 832 (AVX state); the default XSAVE size is 576.
seL4_TCBBits = 12 if CONFIG_XSAVE_SIZE >= 832 else 11
seL4_EndpointBits = 4
seL4_NotificationBits = 6  # MCS; 5 without CONFIG_KERNEL_MCS
seL4_ReplyBits = 5  # MCS only

seL4_PageTableBits = 12
seL4_PageTableEntryBits = 3
seL4_PageTableIndexBits = 9
seL4_PageDirBits = 12
seL4_PageDirEntryBits = 3
seL4_PageDirIndexBits = 9
seL4_PDPTBits = 12
seL4_PDPTEntryBits = 3
seL4_PDPTIndexBits = 9
seL4_PML4Bits = 12
seL4_PML4EntryBits = 3
seL4_PML4IndexBits = 9
seL4_VSpaceBits = seL4_PML4Bits

seL4_LargePageBits = 21
seL4_HugePageBits = 30
seL4_NumASIDPoolsBits = 3
seL4_ASIDPoolBits = 12
seL4_ASIDPoolIndexBits = 9

seL4_MinUntypedBits = 4
seL4_MaxUntypedBits = 47

seL4_FastMessageRegisters = 4
seL4_IPCBufferSizeBits = 10

seL4_UserTop = 0x00007FFFFFFFF000
seL4_UserVSpaceTop = seL4_UserTop - 1

# ---------------------------------------------------------------------------------------------
# Message limits, rights width, SchedContext sizing (libsel4/include/sel4/constants.h)
# ---------------------------------------------------------------------------------------------

seL4_MsgLengthBits = 7
seL4_MsgExtraCapBits = 2
seL4_MsgMaxLength = 120
seL4_MsgMaxExtraCaps = (1 << seL4_MsgExtraCapBits) - 1
seL4_CapRightsBits = 4

seL4_MinSchedContextBits = 7
# 10 words of bookkeeping, two 8-byte tick fields, and MIN_REFILLS refills of 16 bytes each.
seL4_CoreSchedContextBytes = 10 * (1 << seL4_WordSizeBits) + 6 * 8
seL4_RefillSizeBytes = 2 * 8


def seL4_MaxExtraRefills(size_bits: int) -> int:
    """libsel4 seL4_MaxExtraRefills: refills beyond MIN_REFILLS that fit in a 2^size_bits SC."""
    return ((1 << size_bits) - seL4_CoreSchedContextBytes) // seL4_RefillSizeBytes


# ---------------------------------------------------------------------------------------------
# Kernel object layout (include/object/structures.h, include/arch/x86/arch/object/structures.h)
# ---------------------------------------------------------------------------------------------

MIN_REFILLS = 2
# l4v's name (Structures_A.thy); in C it is sizeof(sched_context_t): 2 ticks_t + 10 words.
sizeof_sched_context_t = 2 * 8 + 10 * (1 << seL4_WordSizeBits)


def refill_absolute_max(size_bits: int) -> int:
    """seL4 refill_absolute_max (include/kernel/sporadic.h), given the SC cap's size bits."""
    return ((1 << size_bits) - sizeof_sched_context_t) // seL4_RefillSizeBytes


# The tcb_t sits in the upper half of the TCB object; the lower half holds the TCB's CNode.
TCB_SIZE_BITS = seL4_TCBBits - 1
TCB_CNODE_RADIX = 4
TCB_CNODE_SIZE_BITS = TCB_CNODE_RADIX + seL4_SlotBits
TCB_OFFSET = 1 << TCB_SIZE_BITS

# enum tcb_cnode_index, MCS variant.
tcbCTable = 0
tcbVTable = 1
tcbBuffer = 2
tcbFaultHandler = 3
tcbTimeoutHandler = 4
tcbCNodeEntries = 5
# Without CONFIG_VTX there is no tcbArchEPTRoot slot.
tcbArchCNodeEntries = tcbCNodeEntries

# Zombie caps record a TCB as type 2^wordRadix, a CNode by its radix (< 2^wordRadix).
wordRadix = 6  # include/arch/x86/arch/64/mode/types.h
ZombieType_ZombieTCB = 1 << wordRadix

# ---------------------------------------------------------------------------------------------
# Object types (libsel4/include/sel4/objecttype.h, .../x86_64/sel4/sel4_arch/objecttype.h,
# libsel4/arch_include/x86/sel4/arch/objecttype.h)
# ---------------------------------------------------------------------------------------------

seL4_UntypedObject = 0
seL4_TCBObject = 1
seL4_EndpointObject = 2
seL4_NotificationObject = 3
seL4_CapTableObject = 4
seL4_SchedContextObject = 5
seL4_ReplyObject = 6
seL4_NonArchObjectTypeCount = 7
seL4_X86_PDPTObject = 7
seL4_X64_PML4Object = 8
seL4_X64_HugePageObject = 9
seL4_ModeObjectTypeCount = 10
seL4_X86_4K = 10
seL4_X86_LargePageObject = 11
seL4_X86_PageTableObject = 12
seL4_X86_PageDirectoryObject = 13
seL4_ObjectTypeCount = 14

seL4_IA32_PDPTObject = seL4_X86_PDPTObject
# Types compiled out of this configuration get out-of-range placeholders, so Retype's
# "type >= seL4_ObjectTypeCount" check rejects them.
seL4_X86_IOPageTableObject = 0xFFFFFF
seL4_X86_VCPUObject = 0xFFFFFE
seL4_X86_EPTPML4Object = 0xFFFFFD
seL4_X86_EPTPDPTObject = 0xFFFFFC
seL4_X86_EPTPDObject = 0xFFFFFB
seL4_X86_EPTPTObject = 0xFFFFFA

OBJECT_TYPE_NAMES: dict[int, str] = {
    seL4_UntypedObject: "seL4_UntypedObject",
    seL4_TCBObject: "seL4_TCBObject",
    seL4_EndpointObject: "seL4_EndpointObject",
    seL4_NotificationObject: "seL4_NotificationObject",
    seL4_CapTableObject: "seL4_CapTableObject",
    seL4_SchedContextObject: "seL4_SchedContextObject",
    seL4_ReplyObject: "seL4_ReplyObject",
    seL4_X86_PDPTObject: "seL4_X86_PDPTObject",
    seL4_X64_PML4Object: "seL4_X64_PML4Object",
    seL4_X64_HugePageObject: "seL4_X64_HugePageObject",
    seL4_X86_4K: "seL4_X86_4K",
    seL4_X86_LargePageObject: "seL4_X86_LargePageObject",
    seL4_X86_PageTableObject: "seL4_X86_PageTableObject",
    seL4_X86_PageDirectoryObject: "seL4_X86_PageDirectoryObject",
}

# src/object/objecttype.c getObjectSize, src/arch/x86/object/objecttype.c Arch_getObjectSize,
# src/arch/x86/64/object/objecttype.c Mode_getObjectSize.
_FIXED_OBJECT_SIZE_BITS: dict[int, int] = {
    seL4_TCBObject: seL4_TCBBits,
    seL4_EndpointObject: seL4_EndpointBits,
    seL4_NotificationObject: seL4_NotificationBits,
    seL4_ReplyObject: seL4_ReplyBits,
    seL4_X86_PDPTObject: seL4_PDPTBits,
    seL4_X64_PML4Object: seL4_PML4Bits,
    seL4_X64_HugePageObject: seL4_HugePageBits,
    seL4_X86_4K: seL4_PageBits,
    seL4_X86_LargePageObject: seL4_LargePageBits,
    seL4_X86_PageTableObject: seL4_PageTableBits,
    seL4_X86_PageDirectoryObject: seL4_PageDirBits,
}


def object_size_bits(obj_type: int, user_size_bits: int) -> int:
    """seL4 getObjectSize: log2 of the bytes one object of obj_type occupies.

    The user size is the radix for a CNode and the full size for Untyped and SchedContext;
    every other type has a fixed size and ignores it. Range checks on the user size are
    Retype's job (decodeUntypedInvocation), not this function's. An obj_type outside
    [0, seL4_ObjectTypeCount) raises ValueError, where the C kernel would halt in fail().
    """
    if user_size_bits < 0:
        raise ValueError(f"user_size_bits must be a machine word, got {user_size_bits}")
    if obj_type == seL4_CapTableObject:
        return seL4_SlotBits + user_size_bits
    if obj_type in (seL4_UntypedObject, seL4_SchedContextObject):
        return user_size_bits
    try:
        return _FIXED_OBJECT_SIZE_BITS[obj_type]
    except KeyError:
        raise ValueError(f"not an object type in this configuration: {obj_type!r}") from None


# ---------------------------------------------------------------------------------------------
# Errors (libsel4/include/sel4/errors.h)
# ---------------------------------------------------------------------------------------------

seL4_NoError = 0
seL4_InvalidArgument = 1
seL4_InvalidCapability = 2
seL4_IllegalOperation = 3
seL4_RangeError = 4
seL4_AlignmentError = 5
seL4_FailedLookup = 6
seL4_TruncatedMessage = 7
seL4_DeleteFirst = 8
seL4_RevokeFirst = 9
seL4_NotEnoughMemory = 10
seL4_NumErrors = 11

ERROR_NAMES: dict[int, str] = {
    seL4_NoError: "seL4_NoError",
    seL4_InvalidArgument: "seL4_InvalidArgument",
    seL4_InvalidCapability: "seL4_InvalidCapability",
    seL4_IllegalOperation: "seL4_IllegalOperation",
    seL4_RangeError: "seL4_RangeError",
    seL4_AlignmentError: "seL4_AlignmentError",
    seL4_FailedLookup: "seL4_FailedLookup",
    seL4_TruncatedMessage: "seL4_TruncatedMessage",
    seL4_DeleteFirst: "seL4_DeleteFirst",
    seL4_RevokeFirst: "seL4_RevokeFirst",
    seL4_NotEnoughMemory: "seL4_NotEnoughMemory",
}

# ---------------------------------------------------------------------------------------------
# Lookup failures, user view (libsel4/include/sel4/constants.h seL4_LookupFailureType)
# ---------------------------------------------------------------------------------------------

seL4_NoFailure = 0
seL4_InvalidRoot = 1
seL4_MissingCapability = 2
seL4_DepthMismatch = 3
seL4_GuardMismatch = 4

LOOKUP_FAILURE_NAMES: dict[int, str] = {
    seL4_NoFailure: "seL4_NoFailure",
    seL4_InvalidRoot: "seL4_InvalidRoot",
    seL4_MissingCapability: "seL4_MissingCapability",
    seL4_DepthMismatch: "seL4_DepthMismatch",
    seL4_GuardMismatch: "seL4_GuardMismatch",
}

# Kernel view (include/object/structures_64.bf lookup_fault lufType); userland sees lufType + 1
# (src/api/faults.c setMRs_lookup_failure).
lookup_fault_invalid_root = 0
lookup_fault_missing_capability = 1
lookup_fault_depth_mismatch = 2
lookup_fault_guard_mismatch = 3

# CapFault message register indices (libsel4/include/sel4/shared_types.h seL4_CapFault_Msg).
seL4_CapFault_IP = 0
seL4_CapFault_Addr = 1
seL4_CapFault_InRecvPhase = 2
seL4_CapFault_LookupFailureType = 3
seL4_CapFault_BitsLeft = 4
seL4_CapFault_DepthMismatch_BitsFound = 5
seL4_CapFault_GuardMismatch_GuardFound = 5
seL4_CapFault_GuardMismatch_BitsFound = 6

# ---------------------------------------------------------------------------------------------
# Cap type tags (include/arch/x86/arch/64/mode/object/structures.bf tagged_union cap capType)
# ---------------------------------------------------------------------------------------------
# Even tags are generic, odd tags are arch caps. Tags 15/17 (io_space, io_page_table) exist only
# with CONFIG_IOMMU and 21..29 (vcpu, ept_*) only with CONFIG_VTX, so they are absent here.

cap_null_cap = 0
cap_untyped_cap = 2
cap_endpoint_cap = 4
cap_notification_cap = 6
cap_reply_cap = 8
cap_cnode_cap = 10
cap_thread_cap = 12
cap_irq_control_cap = 14
cap_irq_handler_cap = 16
cap_zombie_cap = 18
cap_domain_cap = 20
cap_sched_context_cap = 22
cap_sched_control_cap = 24

cap_frame_cap = 1
cap_page_table_cap = 3
cap_page_directory_cap = 5
cap_pdpt_cap = 7
cap_pml4_cap = 9
cap_asid_control_cap = 11
cap_asid_pool_cap = 13
cap_io_port_cap = 19
cap_io_port_control_cap = 31

CAP_TYPE_NAMES: dict[int, str] = {
    cap_null_cap: "cap_null_cap",
    cap_untyped_cap: "cap_untyped_cap",
    cap_endpoint_cap: "cap_endpoint_cap",
    cap_notification_cap: "cap_notification_cap",
    cap_reply_cap: "cap_reply_cap",
    cap_cnode_cap: "cap_cnode_cap",
    cap_thread_cap: "cap_thread_cap",
    cap_irq_control_cap: "cap_irq_control_cap",
    cap_irq_handler_cap: "cap_irq_handler_cap",
    cap_zombie_cap: "cap_zombie_cap",
    cap_domain_cap: "cap_domain_cap",
    cap_sched_context_cap: "cap_sched_context_cap",
    cap_sched_control_cap: "cap_sched_control_cap",
    cap_frame_cap: "cap_frame_cap",
    cap_page_table_cap: "cap_page_table_cap",
    cap_page_directory_cap: "cap_page_directory_cap",
    cap_pdpt_cap: "cap_pdpt_cap",
    cap_pml4_cap: "cap_pml4_cap",
    cap_asid_control_cap: "cap_asid_control_cap",
    cap_asid_pool_cap: "cap_asid_pool_cap",
    cap_io_port_cap: "cap_io_port_cap",
    cap_io_port_control_cap: "cap_io_port_control_cap",
}

# ---------------------------------------------------------------------------------------------
# Word layouts (libsel4/mode_include/64/sel4/shared_types.bf)
# ---------------------------------------------------------------------------------------------
# Each field is (shift, width). The constants let symbolic code build the same words with
# shifts and masks; the helpers below are the concrete, range-checked versions.

MESSAGE_INFO_LABEL = (12, 52)
MESSAGE_INFO_CAPS_UNWRAPPED = (9, 3)
MESSAGE_INFO_EXTRA_CAPS = (7, seL4_MsgExtraCapBits)
MESSAGE_INFO_LENGTH = (0, seL4_MsgLengthBits)

CAP_RIGHTS_ALLOW_GRANT_REPLY = (3, 1)
CAP_RIGHTS_ALLOW_GRANT = (2, 1)
CAP_RIGHTS_ALLOW_READ = (1, 1)
CAP_RIGHTS_ALLOW_WRITE = (0, 1)

CNODE_CAP_DATA_GUARD = (6, 58)
CNODE_CAP_DATA_GUARD_SIZE = (0, 6)

_WORD_MASK = (1 << seL4_WordBits) - 1


def _pack(fields: tuple[tuple[tuple[int, int], int, str], ...]) -> int:
    word = 0
    for (shift, width), value, name in fields:
        if not 0 <= value < (1 << width):
            raise ValueError(f"{name}={value} does not fit in {width} bits")
        word |= value << shift
    return word


def _get(word: int, field: tuple[int, int]) -> int:
    shift, width = field
    return (word >> shift) & ((1 << width) - 1)


def _check_word(word: int) -> None:
    if not 0 <= word <= _WORD_MASK:
        raise ValueError(f"not a 64-bit machine word: {word}")


def message_info_new(label: int, caps_unwrapped: int, extra_caps: int, length: int) -> int:
    """libsel4 seL4_MessageInfo_new, as a 64-bit word; ValueError where libsel4 would assert."""
    return _pack(
        (
            (MESSAGE_INFO_LABEL, label, "label"),
            (MESSAGE_INFO_CAPS_UNWRAPPED, caps_unwrapped, "capsUnwrapped"),
            (MESSAGE_INFO_EXTRA_CAPS, extra_caps, "extraCaps"),
            (MESSAGE_INFO_LENGTH, length, "length"),
        )
    )


def message_info_fields(word: int) -> tuple[int, int, int, int]:
    """(label, capsUnwrapped, extraCaps, length) of a seL4_MessageInfo word, unclamped."""
    _check_word(word)
    return (
        _get(word, MESSAGE_INFO_LABEL),
        _get(word, MESSAGE_INFO_CAPS_UNWRAPPED),
        _get(word, MESSAGE_INFO_EXTRA_CAPS),
        _get(word, MESSAGE_INFO_LENGTH),
    )


def message_info_from_word(word: int) -> int:
    """seL4 messageInfoFromWord (include/api/types.h): the slowpath clamps length to 120."""
    label, caps_unwrapped, extra_caps, length = message_info_fields(word)
    return message_info_new(label, caps_unwrapped, extra_caps, min(length, seL4_MsgMaxLength))


def cap_rights_new(grant_reply: int, grant: int, read: int, write: int) -> int:
    """libsel4 seL4_CapRights_new (same argument order), as a word."""
    return _pack(
        (
            (CAP_RIGHTS_ALLOW_GRANT_REPLY, grant_reply, "capAllowGrantReply"),
            (CAP_RIGHTS_ALLOW_GRANT, grant, "capAllowGrant"),
            (CAP_RIGHTS_ALLOW_READ, read, "capAllowRead"),
            (CAP_RIGHTS_ALLOW_WRITE, write, "capAllowWrite"),
        )
    )


def cap_rights_fields(word: int) -> tuple[int, int, int, int]:
    """(grantReply, grant, read, write) of a rights word; other bits ignored, as the kernel's
    rightsFromWord and the seL4_CapRights getters do."""
    _check_word(word)
    return (
        _get(word, CAP_RIGHTS_ALLOW_GRANT_REPLY),
        _get(word, CAP_RIGHTS_ALLOW_GRANT),
        _get(word, CAP_RIGHTS_ALLOW_READ),
        _get(word, CAP_RIGHTS_ALLOW_WRITE),
    )


# libsel4/include/sel4/shared_types.h: the named rights values, as words.
seL4_ReadWrite = cap_rights_new(0, 0, 1, 1)
seL4_AllRights = cap_rights_new(1, 1, 1, 1)
seL4_CanRead = cap_rights_new(0, 0, 1, 0)
seL4_CanWrite = cap_rights_new(0, 0, 0, 1)
seL4_CanGrant = cap_rights_new(0, 1, 0, 0)
seL4_CanGrantReply = cap_rights_new(1, 0, 0, 0)
seL4_NoWrite = cap_rights_new(1, 1, 1, 0)
seL4_NoRead = cap_rights_new(1, 1, 0, 1)
seL4_NoRights = cap_rights_new(0, 0, 0, 0)


def cnode_cap_data_new(guard: int, guard_size: int) -> int:
    """libsel4 seL4_CNode_CapData_new(guard, guardSize), as the word Mint/Mutate pass."""
    return _pack(
        (
            (CNODE_CAP_DATA_GUARD, guard, "guard"),
            (CNODE_CAP_DATA_GUARD_SIZE, guard_size, "guardSize"),
        )
    )


def cnode_cap_data_fields(word: int) -> tuple[int, int]:
    """(guard, guardSize) of a seL4_CNode_CapData word."""
    _check_word(word)
    return (_get(word, CNODE_CAP_DATA_GUARD), _get(word, CNODE_CAP_DATA_GUARD_SIZE))


# ---------------------------------------------------------------------------------------------
# System call numbers, MCS (libsel4/include/api/syscall.xml <api-mcs>, tools/syscall_header_gen.py)
# ---------------------------------------------------------------------------------------------

seL4_SysCall = -1
seL4_SysReplyRecv = -2
seL4_SysNBSendRecv = -3
seL4_SysNBSendWait = -4
seL4_SysSend = -5
seL4_SysNBSend = -6
seL4_SysRecv = -7
seL4_SysNBRecv = -8
seL4_SysWait = -9
seL4_SysNBWait = -10
seL4_SysYield = -11

# Kernel range check: numbers outside [SYSCALL_MIN, SYSCALL_MAX] go to handleUnknownSyscall.
SYSCALL_MAX = -1
SYSCALL_MIN = -11

# The <debug> syscalls are numbered after the API ones whether or not their config option is
# enabled; each is only usable when its option (in parentheses) is set.
seL4_SysDebugPutChar = -12  # (CONFIG_PRINTING)
seL4_SysDebugDumpScheduler = -13  # (CONFIG_PRINTING)
seL4_SysDebugHalt = -14  # (CONFIG_DEBUG_BUILD)
seL4_SysDebugCapIdentify = -15  # (CONFIG_DEBUG_BUILD)
seL4_SysDebugSnapshot = -16  # (CONFIG_DEBUG_BUILD)
seL4_SysDebugNameThread = -17  # (CONFIG_DEBUG_BUILD)
seL4_SysDebugSendIPI = -18  # (CONFIG_DEBUG_BUILD and SMP)
seL4_SysDebugGetThreadAffinity = -19  # (CONFIG_DEBUG_BUILD and SMP)
seL4_SysDebugRun = -20  # (CONFIG_DANGEROUS_CODE_INJECTION)
seL4_SysBenchmarkFlushCaches = -21  # (CONFIG_ENABLE_BENCHMARKS)
seL4_SysBenchmarkResetLog = -22  # (CONFIG_ENABLE_BENCHMARKS)
seL4_SysBenchmarkFinalizeLog = -23  # (CONFIG_ENABLE_BENCHMARKS)
seL4_SysBenchmarkSetLogBuffer = -24  # (CONFIG_ENABLE_BENCHMARKS)
seL4_SysBenchmarkNullSyscall = -25  # (CONFIG_ENABLE_BENCHMARKS)
seL4_SysBenchmarkGetThreadUtilisation = -26  # (CONFIG_BENCHMARK_TRACK_UTILISATION)
seL4_SysBenchmarkResetThreadUtilisation = -27  # (CONFIG_BENCHMARK_TRACK_UTILISATION)
seL4_SysBenchmarkDumpAllThreadsUtilisation = -28  # (DEBUG_BUILD and TRACK_UTILISATION)
seL4_SysBenchmarkResetAllThreadsUtilisation = -29  # (DEBUG_BUILD and TRACK_UTILISATION)
seL4_SysX86DangerousWRMSR = -30  # (CONFIG_KERNEL_X86_DANGEROUS_MSR)
seL4_SysX86DangerousRDMSR = -31  # (CONFIG_KERNEL_X86_DANGEROUS_MSR)
seL4_SysVMEnter = -32  # (CONFIG_VTX)
seL4_SysSetTLSBase = -33  # (CONFIG_SET_TLS_BASE_SELF)

SYSCALL_NAMES: dict[int, str] = {
    seL4_SysCall: "seL4_SysCall",
    seL4_SysReplyRecv: "seL4_SysReplyRecv",
    seL4_SysNBSendRecv: "seL4_SysNBSendRecv",
    seL4_SysNBSendWait: "seL4_SysNBSendWait",
    seL4_SysSend: "seL4_SysSend",
    seL4_SysNBSend: "seL4_SysNBSend",
    seL4_SysRecv: "seL4_SysRecv",
    seL4_SysNBRecv: "seL4_SysNBRecv",
    seL4_SysWait: "seL4_SysWait",
    seL4_SysNBWait: "seL4_SysNBWait",
    seL4_SysYield: "seL4_SysYield",
}

# ---------------------------------------------------------------------------------------------
# Invocation labels (generated by tools/invocation_header_gen.py from
# libsel4/include/interfaces/object-api.xml, .../x86_64/interfaces/object-api-sel4-arch.xml,
# libsel4/arch_include/x86/interfaces/object-api-arch.xml; MCS on, SMP/debug/IOMMU/VTX off)
# ---------------------------------------------------------------------------------------------

InvalidInvocation = 0
UntypedRetype = 1
TCBReadRegisters = 2
TCBWriteRegisters = 3
TCBCopyRegisters = 4
TCBConfigure = 5
TCBSetPriority = 6
TCBSetMCPriority = 7
TCBSetSchedParams = 8
TCBSetTimeoutEndpoint = 9
TCBSetIPCBuffer = 10
TCBSetSpace = 11
TCBSuspend = 12
TCBResume = 13
TCBBindNotification = 14
TCBUnbindNotification = 15
TCBSetTLSBase = 16
TCBSetFlags = 17
CNodeRevoke = 18
CNodeDelete = 19
CNodeCancelBadgedSends = 20
CNodeCopy = 21
CNodeMint = 22
CNodeMove = 23
CNodeMutate = 24
CNodeRotate = 25
IRQIssueIRQHandler = 26
IRQAckIRQ = 27
IRQSetIRQHandler = 28
IRQClearIRQHandler = 29
DomainSetSet = 30
DomainScheduleConfigure = 31
DomainScheduleSetStart = 32
SchedControlConfigureFlags = 33
SchedContextBind = 34
SchedContextUnbind = 35
SchedContextUnbindObject = 36
SchedContextConsumed = 37
SchedContextYieldTo = 38
nInvocationLabels = 39

# enum sel4_arch_invocation_label starts at nInvocationLabels.
X86PDPTMap = 39
X86PDPTUnmap = 40
nSeL4ArchInvocationLabels = 41

# enum arch_invocation_label starts at nSeL4ArchInvocationLabels.
X86PageDirectoryMap = 41
X86PageDirectoryUnmap = 42
X86PageTableMap = 43
X86PageTableUnmap = 44
X86PageMap = 45
X86PageUnmap = 46
X86PageGetAddress = 47
X86ASIDControlMakePool = 48
X86ASIDPoolAssign = 49
X86IOPortControlIssue = 50
X86IOPortIn8 = 51
X86IOPortIn16 = 52
X86IOPortIn32 = 53
X86IOPortOut8 = 54
X86IOPortOut16 = 55
X86IOPortOut32 = 56
X86IRQIssueIRQHandlerIOAPIC = 57
X86IRQIssueIRQHandlerMSI = 58
nArchInvocationLabels = 59

# Only real labels: the n*InvocationLabels counters share their value with the next label.
INVOCATION_LABEL_NAMES: dict[int, str] = {
    InvalidInvocation: "InvalidInvocation",
    UntypedRetype: "UntypedRetype",
    TCBReadRegisters: "TCBReadRegisters",
    TCBWriteRegisters: "TCBWriteRegisters",
    TCBCopyRegisters: "TCBCopyRegisters",
    TCBConfigure: "TCBConfigure",
    TCBSetPriority: "TCBSetPriority",
    TCBSetMCPriority: "TCBSetMCPriority",
    TCBSetSchedParams: "TCBSetSchedParams",
    TCBSetTimeoutEndpoint: "TCBSetTimeoutEndpoint",
    TCBSetIPCBuffer: "TCBSetIPCBuffer",
    TCBSetSpace: "TCBSetSpace",
    TCBSuspend: "TCBSuspend",
    TCBResume: "TCBResume",
    TCBBindNotification: "TCBBindNotification",
    TCBUnbindNotification: "TCBUnbindNotification",
    TCBSetTLSBase: "TCBSetTLSBase",
    TCBSetFlags: "TCBSetFlags",
    CNodeRevoke: "CNodeRevoke",
    CNodeDelete: "CNodeDelete",
    CNodeCancelBadgedSends: "CNodeCancelBadgedSends",
    CNodeCopy: "CNodeCopy",
    CNodeMint: "CNodeMint",
    CNodeMove: "CNodeMove",
    CNodeMutate: "CNodeMutate",
    CNodeRotate: "CNodeRotate",
    IRQIssueIRQHandler: "IRQIssueIRQHandler",
    IRQAckIRQ: "IRQAckIRQ",
    IRQSetIRQHandler: "IRQSetIRQHandler",
    IRQClearIRQHandler: "IRQClearIRQHandler",
    DomainSetSet: "DomainSetSet",
    DomainScheduleConfigure: "DomainScheduleConfigure",
    DomainScheduleSetStart: "DomainScheduleSetStart",
    SchedControlConfigureFlags: "SchedControlConfigureFlags",
    SchedContextBind: "SchedContextBind",
    SchedContextUnbind: "SchedContextUnbind",
    SchedContextUnbindObject: "SchedContextUnbindObject",
    SchedContextConsumed: "SchedContextConsumed",
    SchedContextYieldTo: "SchedContextYieldTo",
    X86PDPTMap: "X86PDPTMap",
    X86PDPTUnmap: "X86PDPTUnmap",
    X86PageDirectoryMap: "X86PageDirectoryMap",
    X86PageDirectoryUnmap: "X86PageDirectoryUnmap",
    X86PageTableMap: "X86PageTableMap",
    X86PageTableUnmap: "X86PageTableUnmap",
    X86PageMap: "X86PageMap",
    X86PageUnmap: "X86PageUnmap",
    X86PageGetAddress: "X86PageGetAddress",
    X86ASIDControlMakePool: "X86ASIDControlMakePool",
    X86ASIDPoolAssign: "X86ASIDPoolAssign",
    X86IOPortControlIssue: "X86IOPortControlIssue",
    X86IOPortIn8: "X86IOPortIn8",
    X86IOPortIn16: "X86IOPortIn16",
    X86IOPortIn32: "X86IOPortIn32",
    X86IOPortOut8: "X86IOPortOut8",
    X86IOPortOut16: "X86IOPortOut16",
    X86IOPortOut32: "X86IOPortOut32",
    X86IRQIssueIRQHandlerIOAPIC: "X86IRQIssueIRQHandlerIOAPIC",
    X86IRQIssueIRQHandlerMSI: "X86IRQIssueIRQHandlerMSI",
}

# ---------------------------------------------------------------------------------------------
# Bootinfo and the root CNode (libsel4/include/sel4/bootinfo_types.h)
# ---------------------------------------------------------------------------------------------

seL4_CapNull = 0
seL4_CapInitThreadTCB = 1
seL4_CapInitThreadCNode = 2
seL4_CapInitThreadVSpace = 3
seL4_CapIRQControl = 4
seL4_CapASIDControl = 5
seL4_CapInitThreadASIDPool = 6
seL4_CapIOPortControl = 7
seL4_CapIOSpace = 8  # null cap here: no IOMMU
seL4_CapBootInfoFrame = 9
seL4_CapInitThreadIPCBuffer = 10
seL4_CapDomain = 11
seL4_CapSMMUSIDControl = 12  # null cap on x86
seL4_CapSMMUCBControl = 13  # null cap on x86
seL4_CapInitThreadSC = 14
seL4_CapSMC = 15  # null cap on x86
seL4_NumInitialCaps = 16

seL4_CapInitThreadPD = seL4_CapInitThreadVSpace

seL4_BootInfoFrameBits = seL4_PageBits
seL4_BootInfoFrameSize = 1 << seL4_BootInfoFrameBits

BOOTINFO_SLOT_NAMES: dict[int, str] = {
    seL4_CapNull: "seL4_CapNull",
    seL4_CapInitThreadTCB: "seL4_CapInitThreadTCB",
    seL4_CapInitThreadCNode: "seL4_CapInitThreadCNode",
    seL4_CapInitThreadVSpace: "seL4_CapInitThreadVSpace",
    seL4_CapIRQControl: "seL4_CapIRQControl",
    seL4_CapASIDControl: "seL4_CapASIDControl",
    seL4_CapInitThreadASIDPool: "seL4_CapInitThreadASIDPool",
    seL4_CapIOPortControl: "seL4_CapIOPortControl",
    seL4_CapIOSpace: "seL4_CapIOSpace",
    seL4_CapBootInfoFrame: "seL4_CapBootInfoFrame",
    seL4_CapInitThreadIPCBuffer: "seL4_CapInitThreadIPCBuffer",
    seL4_CapDomain: "seL4_CapDomain",
    seL4_CapSMMUSIDControl: "seL4_CapSMMUSIDControl",
    seL4_CapSMMUCBControl: "seL4_CapSMMUCBControl",
    seL4_CapInitThreadSC: "seL4_CapInitThreadSC",
    seL4_CapSMC: "seL4_CapSMC",
}

# ---------------------------------------------------------------------------------------------
# Priorities and MCS scheduling (libsel4/include/sel4/constants.h, include/kernel/sporadic.h,
# include/arch/x86/arch/machine/timer.h, include/model/statedata.h)
# ---------------------------------------------------------------------------------------------

seL4_InvalidPrio = -1
seL4_MinPrio = 0
seL4_MaxPrio = CONFIG_NUM_PRIORITIES - 1

seL4_SchedContext_NoFlag = 0x0
seL4_SchedContext_Sporadic = 0x1

# Per-domain ready-queue bitmap: one L1 word, L2_BITMAP_SIZE L2 words.
L2_BITMAP_SIZE = (CONFIG_NUM_PRIORITIES + seL4_WordBits - 1) // seL4_WordBits

# x86 getKernelWcetUs(); a thread needs twice the kernel WCET of budget to enter and leave.
KERNEL_WCET_US = 10
MIN_BUDGET_US = 2 * KERNEL_WCET_US * CONFIG_KERNEL_WCET_SCALE

_UINT64_MAX = (1 << 64) - 1


def us_to_ticks(us: int, tsc_mhz: int) -> int:
    """x86 usToTicks: the MCS timer counts TSC cycles, so ticks = µs × TSC MHz."""
    return us * tsc_mhz


def min_budget_ticks(tsc_mhz: int) -> int:
    """MIN_BUDGET on x86 (in ticks); it depends on the TSC frequency measured at boot."""
    return 2 * us_to_ticks(KERNEL_WCET_US, tsc_mhz) * CONFIG_KERNEL_WCET_SCALE


def max_period_us(tsc_mhz: int) -> int:
    """MAX_PERIOD_US: the static cap if set, else an eighth of the µs range the TSC covers."""
    if CONFIG_KERNEL_STATIC_MAX_PERIOD_US != 0:
        return CONFIG_KERNEL_STATIC_MAX_PERIOD_US
    return (_UINT64_MAX // tsc_mhz) // 8


def max_release_time(tsc_mhz: int) -> int:
    """MAX_RELEASE_TIME: refill times at or past this are never advanced further."""
    return _UINT64_MAX - 5 * us_to_ticks(max_period_us(tsc_mhz), tsc_mhz)
