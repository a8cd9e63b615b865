"""Tests for spec.abi: internal consistency of the seL4 x86_64 MCS constants, plus spot checks
against values stated in shared/sel4/cspace.md and shared/sel4/ipc-mcs.md."""

from __future__ import annotations

import ast
import inspect

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spec import abi

WORD = st.integers(min_value=0, max_value=(1 << 64) - 1)


# --- module hygiene ------------------------------------------------------------------------------


def test_imports_only_standard_library() -> None:
    tree = ast.parse(inspect.getsource(abi))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= {"__future__"}


def test_docstring_states_release_and_configuration() -> None:
    doc = abi.__doc__ or ""
    for fact in ("1326364bc", "16.0.0-dev", "x86_64", "CONFIG_KERNEL_MCS", "CONFIG_IOMMU",
                 "CONFIG_VTX", "CONFIG_HUGE_PAGE"):
        assert fact in doc


def test_public_constants_are_plain_ints() -> None:
    for name, value in vars(abi).items():
        if name.startswith(("seL4_", "cap_", "tcb", "CONFIG_")) and not callable(value):
            assert isinstance(value, int), name


# --- word and object sizes -----------------------------------------------------------------------


def test_word_facts() -> None:
    assert abi.seL4_WordBits == 64
    assert 1 << abi.seL4_WordSizeBits == abi.seL4_WordBits // 8
    assert abi.seL4_SlotBits == 5
    assert (abi.seL4_MinUntypedBits, abi.seL4_MaxUntypedBits) == (4, 47)
    assert abi.seL4_TCBBits == 11
    assert abi.seL4_EndpointBits == 4
    assert abi.seL4_NotificationBits == 6
    assert abi.seL4_ReplyBits == 5
    assert (abi.seL4_PageBits, abi.seL4_LargePageBits, abi.seL4_HugePageBits) == (12, 21, 30)
    assert abi.seL4_IPCBufferSizeBits == 10
    assert abi.seL4_MsgMaxLength == 120
    assert abi.seL4_MsgMaxExtraCaps == 3
    assert abi.seL4_FastMessageRegisters == 4


@pytest.mark.parametrize(
    ("entry_bits", "index_bits", "table_bits"),
    [
        (abi.seL4_PageTableEntryBits, abi.seL4_PageTableIndexBits, abi.seL4_PageTableBits),
        (abi.seL4_PageDirEntryBits, abi.seL4_PageDirIndexBits, abi.seL4_PageDirBits),
        (abi.seL4_PDPTEntryBits, abi.seL4_PDPTIndexBits, abi.seL4_PDPTBits),
        (abi.seL4_PML4EntryBits, abi.seL4_PML4IndexBits, abi.seL4_PML4Bits),
        (abi.seL4_WordSizeBits, abi.seL4_ASIDPoolIndexBits, abi.seL4_ASIDPoolBits),
    ],
)
def test_paging_structures_are_one_page_of_entries(entry_bits: int, index_bits: int,
                                                    table_bits: int) -> None:
    assert entry_bits + index_bits == table_bits == abi.seL4_PageBits


def test_ipc_buffer_layout_fills_its_size() -> None:
    # tag + msg + userData + caps_or_badges + receiveCNode/Index/Depth, one word each.
    words = 1 + abi.seL4_MsgMaxLength + 1 + abi.seL4_MsgMaxExtraCaps + 3
    assert words * (1 << abi.seL4_WordSizeBits) == 1 << abi.seL4_IPCBufferSizeBits


def test_virtual_address_bits_cover_page_table_walk() -> None:
    levels = (abi.seL4_PML4IndexBits + abi.seL4_PDPTIndexBits + abi.seL4_PageDirIndexBits
              + abi.seL4_PageTableIndexBits)
    assert levels + abi.seL4_PageBits == 48
    assert abi.seL4_UserTop < 1 << 47
    assert abi.seL4_UserTop % (1 << abi.seL4_PageBits) == 0
    assert abi.seL4_UserVSpaceTop == abi.seL4_UserTop - 1


# --- SchedContext sizing -------------------------------------------------------------------------


def test_core_sched_context_fills_minimum_sc() -> None:
    assert abi.seL4_CoreSchedContextBytes == 2 ** abi.seL4_MinSchedContextBits == 128
    assert abi.seL4_RefillSizeBytes == 16
    assert abi.sizeof_sched_context_t == 96
    assert (abi.sizeof_sched_context_t + abi.MIN_REFILLS * abi.seL4_RefillSizeBytes
            == abi.seL4_CoreSchedContextBytes)
    # The minimum is tight: half of it would not hold the core.
    assert abi.seL4_CoreSchedContextBytes > 2 ** (abi.seL4_MinSchedContextBits - 1)


@pytest.mark.parametrize(("bits", "refills"), [(7, 2), (8, 10), (9, 26)])
def test_refill_capacity_matches_notes(bits: int, refills: int) -> None:
    assert abi.refill_absolute_max(bits) == refills
    assert abi.seL4_MaxExtraRefills(bits) == refills - abi.MIN_REFILLS


@given(st.integers(min_value=abi.seL4_MinSchedContextBits, max_value=abi.seL4_MaxUntypedBits))
def test_extra_refills_are_absolute_max_minus_min_refills(bits: int) -> None:
    assert abi.seL4_MaxExtraRefills(bits) == abi.refill_absolute_max(bits) - abi.MIN_REFILLS


# --- TCB layout ----------------------------------------------------------------------------------


def test_tcb_cnode_layout_mcs() -> None:
    indices = [abi.tcbCTable, abi.tcbVTable, abi.tcbBuffer, abi.tcbFaultHandler,
               abi.tcbTimeoutHandler]
    assert indices == list(range(abi.tcbCNodeEntries))
    assert abi.tcbArchCNodeEntries == abi.tcbCNodeEntries == 5
    assert abi.tcbCNodeEntries <= 1 << abi.TCB_CNODE_RADIX
    assert abi.TCB_OFFSET == 1 << (abi.seL4_TCBBits - 1) == 1024
    # The TCB's CNode must fit below the tcb_t.
    assert abi.TCB_CNODE_SIZE_BITS <= abi.TCB_SIZE_BITS
    assert abi.ZombieType_ZombieTCB == abi.seL4_WordBits


# --- object types --------------------------------------------------------------------------------


def test_object_type_numbering() -> None:
    assert abi.seL4_UntypedObject == 0
    assert abi.seL4_SchedContextObject == 5
    assert abi.seL4_ReplyObject == 6
    assert abi.seL4_NonArchObjectTypeCount == 7
    assert abi.seL4_X86_PDPTObject == abi.seL4_NonArchObjectTypeCount
    assert abi.seL4_X86_4K == abi.seL4_ModeObjectTypeCount
    assert abi.seL4_ObjectTypeCount == 14
    assert sorted(abi.OBJECT_TYPE_NAMES) == list(range(abi.seL4_ObjectTypeCount))
    for value, name in abi.OBJECT_TYPE_NAMES.items():
        assert getattr(abi, name) == value


def test_disabled_object_types_fail_the_range_check() -> None:
    for name in ("seL4_X86_IOPageTableObject", "seL4_X86_VCPUObject", "seL4_X86_EPTPML4Object",
                 "seL4_X86_EPTPDPTObject", "seL4_X86_EPTPDObject", "seL4_X86_EPTPTObject"):
        assert getattr(abi, name) >= abi.seL4_ObjectTypeCount


EXPECTED_SIZE_BITS = {
    abi.seL4_TCBObject: 11,
    abi.seL4_EndpointObject: 4,
    abi.seL4_NotificationObject: 6,
    abi.seL4_ReplyObject: 5,
    abi.seL4_X86_PDPTObject: 12,
    abi.seL4_X64_PML4Object: 12,
    abi.seL4_X64_HugePageObject: 30,
    abi.seL4_X86_4K: 12,
    abi.seL4_X86_LargePageObject: 21,
    abi.seL4_X86_PageTableObject: 12,
    abi.seL4_X86_PageDirectoryObject: 12,
}


def test_every_object_type_has_a_size_rule() -> None:
    variable = {abi.seL4_UntypedObject, abi.seL4_CapTableObject, abi.seL4_SchedContextObject}
    assert set(EXPECTED_SIZE_BITS) | variable == set(abi.OBJECT_TYPE_NAMES)


@pytest.mark.parametrize("obj_type", sorted(EXPECTED_SIZE_BITS))
@pytest.mark.parametrize("user_size_bits", [0, 1, 7, 12, 47, 63])
def test_fixed_size_objects_ignore_user_size(obj_type: int, user_size_bits: int) -> None:
    assert abi.object_size_bits(obj_type, user_size_bits) == EXPECTED_SIZE_BITS[obj_type]


@given(st.integers(min_value=0, max_value=63))
def test_variable_size_objects(user_size_bits: int) -> None:
    assert abi.object_size_bits(abi.seL4_UntypedObject, user_size_bits) == user_size_bits
    assert abi.object_size_bits(abi.seL4_SchedContextObject, user_size_bits) == user_size_bits
    assert (abi.object_size_bits(abi.seL4_CapTableObject, user_size_bits)
            == abi.seL4_SlotBits + user_size_bits)


@pytest.mark.parametrize("obj_type", [-1, abi.seL4_ObjectTypeCount, 15, abi.seL4_X86_VCPUObject,
                                      abi.seL4_X86_IOPageTableObject])
def test_object_size_rejects_unknown_types(obj_type: int) -> None:
    with pytest.raises(ValueError):
        abi.object_size_bits(obj_type, 12)


def test_object_size_rejects_negative_user_size() -> None:
    with pytest.raises(ValueError):
        abi.object_size_bits(abi.seL4_UntypedObject, -1)


# --- errors and lookup failures ------------------------------------------------------------------


def test_errors_contiguous() -> None:
    assert sorted(abi.ERROR_NAMES) == list(range(abi.seL4_NumErrors)) == list(range(11))
    assert abi.ERROR_NAMES[0] == "seL4_NoError"
    assert abi.ERROR_NAMES[10] == "seL4_NotEnoughMemory"
    assert abi.seL4_DeleteFirst == 8
    assert abi.seL4_RevokeFirst == 9
    for value, name in abi.ERROR_NAMES.items():
        assert getattr(abi, name) == value


def test_lookup_failures() -> None:
    assert sorted(abi.LOOKUP_FAILURE_NAMES) == list(range(5))
    for value, name in abi.LOOKUP_FAILURE_NAMES.items():
        assert getattr(abi, name) == value
    # Userland sees the kernel's lufType shifted by one, leaving 0 for "no failure".
    assert abi.seL4_InvalidRoot == abi.lookup_fault_invalid_root + 1
    assert abi.seL4_MissingCapability == abi.lookup_fault_missing_capability + 1
    assert abi.seL4_DepthMismatch == abi.lookup_fault_depth_mismatch + 1
    assert abi.seL4_GuardMismatch == abi.lookup_fault_guard_mismatch + 1
    assert abi.seL4_CapFault_LookupFailureType == 3


# --- cap tags ------------------------------------------------------------------------------------


def test_cap_tags() -> None:
    tags = abi.CAP_TYPE_NAMES
    assert len(tags) == len(set(tags.values()))
    for value, name in tags.items():
        assert getattr(abi, name) == value
        assert 0 <= value < 32  # 5-bit capType
    arch = {abi.cap_frame_cap, abi.cap_page_table_cap, abi.cap_page_directory_cap,
            abi.cap_pdpt_cap, abi.cap_pml4_cap, abi.cap_asid_control_cap, abi.cap_asid_pool_cap,
            abi.cap_io_port_cap, abi.cap_io_port_control_cap}
    assert all(t % 2 == 1 for t in arch)
    assert all(t % 2 == 0 for t in set(tags) - arch)
    assert sorted(set(tags) - arch) == list(range(0, 26, 2))
    assert (abi.cap_sched_context_cap, abi.cap_sched_control_cap) == (22, 24)
    assert (abi.cap_pml4_cap, abi.cap_io_port_control_cap) == (9, 31)


# --- word layouts --------------------------------------------------------------------------------


def test_layouts_tile_the_word() -> None:
    layouts = {
        "message_info": [abi.MESSAGE_INFO_LABEL, abi.MESSAGE_INFO_CAPS_UNWRAPPED,
                         abi.MESSAGE_INFO_EXTRA_CAPS, abi.MESSAGE_INFO_LENGTH],
        "cnode_cap_data": [abi.CNODE_CAP_DATA_GUARD, abi.CNODE_CAP_DATA_GUARD_SIZE],
    }
    for fields in layouts.values():
        covered = 0
        for shift, width in fields:
            mask = ((1 << width) - 1) << shift
            assert covered & mask == 0
            covered |= mask
        assert covered == (1 << 64) - 1


@settings(max_examples=200)
@given(st.integers(0, (1 << 52) - 1), st.integers(0, 7), st.integers(0, 3), st.integers(0, 127))
def test_message_info_round_trip(label: int, unwrapped: int, extra: int, length: int) -> None:
    word = abi.message_info_new(label, unwrapped, extra, length)
    assert 0 <= word < 1 << 64
    assert abi.message_info_fields(word) == (label, unwrapped, extra, length)


@settings(max_examples=200)
@given(WORD)
def test_message_info_word_round_trip(word: int) -> None:
    assert abi.message_info_new(*abi.message_info_fields(word)) == word


@settings(max_examples=200)
@given(WORD)
def test_message_info_from_word_clamps_length_only(word: int) -> None:
    label, unwrapped, extra, length = abi.message_info_fields(word)
    clamped = abi.message_info_fields(abi.message_info_from_word(word))
    assert clamped == (label, unwrapped, extra, min(length, abi.seL4_MsgMaxLength))


def test_message_info_known_encodings() -> None:
    assert abi.message_info_new(0, 0, 0, 0) == 0
    assert abi.message_info_new(1, 0, 0, 0) == 1 << 12
    assert abi.message_info_new(0, 0, 3, 0) == 0b11 << 7
    assert abi.message_info_new(0, 0, 0, 120) == 120
    # The fastpath's "length <= 4 and no extra caps" test on the low 9 bits.
    for extra in range(4):
        for length in range(128):
            mi = abi.message_info_new(0, 0, extra, length)
            assert ((((mi & 0x1FF) + 3) & ~7) == 0) == (extra == 0 and length <= 4)


@pytest.mark.parametrize("args", [(1 << 52, 0, 0, 0), (0, 8, 0, 0), (0, 0, 4, 0), (0, 0, 0, 128),
                                  (-1, 0, 0, 0)])
def test_message_info_rejects_out_of_range(args: tuple[int, int, int, int]) -> None:
    with pytest.raises(ValueError):
        abi.message_info_new(*args)


@pytest.mark.parametrize("word", [-1, 1 << 64])
def test_field_readers_reject_non_words(word: int) -> None:
    for reader in (abi.message_info_fields, abi.cap_rights_fields, abi.cnode_cap_data_fields):
        with pytest.raises(ValueError):
            reader(word)


def test_cap_rights_named_values() -> None:
    assert abi.seL4_CanWrite == 1 << 0
    assert abi.seL4_CanRead == 1 << 1
    assert abi.seL4_CanGrant == 1 << 2
    assert abi.seL4_CanGrantReply == 1 << 3
    assert abi.seL4_AllRights == 0xF == (1 << abi.seL4_CapRightsBits) - 1
    assert abi.seL4_ReadWrite == abi.seL4_CanRead | abi.seL4_CanWrite
    assert abi.seL4_NoWrite == abi.seL4_AllRights & ~abi.seL4_CanWrite
    assert abi.seL4_NoRead == abi.seL4_AllRights & ~abi.seL4_CanRead
    assert abi.seL4_NoRights == 0


@given(st.integers(0, 1), st.integers(0, 1), st.integers(0, 1), st.integers(0, 1))
def test_cap_rights_round_trip(gr: int, g: int, r: int, w: int) -> None:
    assert abi.cap_rights_fields(abi.cap_rights_new(gr, g, r, w)) == (gr, g, r, w)


@settings(max_examples=200)
@given(WORD)
def test_cap_rights_ignores_high_bits(word: int) -> None:
    assert abi.cap_rights_fields(word) == abi.cap_rights_fields(word & abi.seL4_AllRights)


@settings(max_examples=200)
@given(st.integers(0, (1 << 58) - 1), st.integers(0, 63))
def test_cnode_cap_data_round_trip(guard: int, guard_size: int) -> None:
    word = abi.cnode_cap_data_new(guard, guard_size)
    assert abi.cnode_cap_data_fields(word) == (guard, guard_size)
    assert word & 0x3F == guard_size


def test_cnode_cap_data_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        abi.cnode_cap_data_new(1 << 58, 0)
    with pytest.raises(ValueError):
        abi.cnode_cap_data_new(0, 64)


# --- syscalls ------------------------------------------------------------------------------------


def test_mcs_syscall_numbers() -> None:
    assert sorted(abi.SYSCALL_NAMES) == list(range(abi.SYSCALL_MIN, abi.SYSCALL_MAX + 1))
    assert (abi.SYSCALL_MIN, abi.SYSCALL_MAX) == (-11, -1)
    for value, name in abi.SYSCALL_NAMES.items():
        assert getattr(abi, name) == value
    assert abi.seL4_SysCall == -1
    assert abi.seL4_SysReplyRecv == -2
    assert abi.seL4_SysSend == -5
    assert abi.seL4_SysRecv == -7
    assert abi.seL4_SysYield == -11
    assert not hasattr(abi, "seL4_SysReply")  # MCS has no Reply syscall


def test_debug_syscalls_follow_api_range() -> None:
    debug = {v for k, v in vars(abi).items() if k.startswith("seL4_Sys") and v < abi.SYSCALL_MIN}
    assert sorted(debug, reverse=True) == list(range(abi.SYSCALL_MIN - 1, abi.SYSCALL_MIN - 1
                                                     - len(debug), -1))
    assert abi.seL4_SysDebugPutChar == -12
    assert abi.seL4_SysDebugDumpScheduler == -13
    assert abi.seL4_SysDebugHalt == -14


# --- invocation labels ---------------------------------------------------------------------------


def test_invocation_labels_unique_and_contiguous() -> None:
    labels = abi.INVOCATION_LABEL_NAMES
    assert sorted(labels) == list(range(abi.nArchInvocationLabels))
    assert len(set(labels.values())) == len(labels)
    for value, name in labels.items():
        assert getattr(abi, name) == value


def test_invocation_label_enum_boundaries() -> None:
    assert abi.nInvocationLabels == 39
    assert abi.X86PDPTMap == abi.nInvocationLabels
    assert abi.nSeL4ArchInvocationLabels == 41
    assert abi.X86PageDirectoryMap == abi.nSeL4ArchInvocationLabels
    assert abi.nArchInvocationLabels == abi.X86IRQIssueIRQHandlerMSI + 1 == 59


def test_invocation_labels_match_notes() -> None:
    assert abi.UntypedRetype == 1
    assert abi.TCBSetTimeoutEndpoint == 9
    assert abi.TCBSetFlags == 17
    assert abi.SchedControlConfigureFlags == 33
    assert abi.SchedContextYieldTo == 38
    assert abi.X86ASIDControlMakePool == 48
    assert abi.X86IRQIssueIRQHandlerMSI == 58
    assert not hasattr(abi, "CNodeSaveCaller")  # non-MCS only


def test_cnode_labels_in_decoder_order() -> None:
    # decodeCNodeInvocation range-checks [CNodeRevoke, CNodeRotate], so the order matters.
    order = [abi.CNodeRevoke, abi.CNodeDelete, abi.CNodeCancelBadgedSends, abi.CNodeCopy,
             abi.CNodeMint, abi.CNodeMove, abi.CNodeMutate, abi.CNodeRotate]
    assert order == list(range(18, 26))


# --- bootinfo ------------------------------------------------------------------------------------


def test_bootinfo_slots() -> None:
    slots = abi.BOOTINFO_SLOT_NAMES
    assert sorted(slots) == list(range(abi.seL4_NumInitialCaps))
    assert len(set(slots.values())) == len(slots)
    for value, name in slots.items():
        assert getattr(abi, name) == value
    assert abi.seL4_CapInitThreadCNode == 2
    assert abi.seL4_CapInitThreadSC == 14
    assert abi.seL4_NumInitialCaps == 16
    assert abi.seL4_CapInitThreadPD == abi.seL4_CapInitThreadVSpace


def test_root_cnode_defaults() -> None:
    assert abi.CONFIG_ROOT_CNODE_SIZE_BITS == 12
    assert 1 << abi.CONFIG_ROOT_CNODE_SIZE_BITS >= abi.seL4_NumInitialCaps
    assert abi.CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS == 230
    assert abi.seL4_BootInfoFrameBits == abi.seL4_PageBits
    assert abi.CONFIG_RETYPE_FAN_OUT_LIMIT == 256


# --- scheduling ----------------------------------------------------------------------------------


def test_priorities_and_flags() -> None:
    assert abi.CONFIG_NUM_PRIORITIES == 256
    assert (abi.seL4_MinPrio, abi.seL4_MaxPrio, abi.seL4_InvalidPrio) == (0, 255, -1)
    assert abi.CONFIG_NUM_DOMAINS == 1
    assert abi.L2_BITMAP_SIZE == 4
    assert abi.seL4_SchedContext_NoFlag == 0
    assert abi.seL4_SchedContext_Sporadic == 1


@given(st.integers(min_value=1, max_value=10_000))
def test_timer_derived_limits(tsc_mhz: int) -> None:
    assert abi.MIN_BUDGET_US == 20
    assert abi.min_budget_ticks(tsc_mhz) == 20 * tsc_mhz
    period = abi.max_period_us(tsc_mhz)
    # MAX_RELEASE_TIME keeps five max periods of headroom below 2^64 without underflowing.
    assert 0 < abi.max_release_time(tsc_mhz) < (1 << 64) - 1
    assert abi.max_release_time(tsc_mhz) == (1 << 64) - 1 - 5 * period * tsc_mhz
    assert abi.min_budget_ticks(tsc_mhz) <= abi.us_to_ticks(period, tsc_mhz)
