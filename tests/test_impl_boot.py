"""impl.boot: the root task's initial CSpace, bootinfo and objects (src/kernel/boot.c,
src/arch/x86/kernel/boot.c init_sys_state)."""

from __future__ import annotations

import pytest

from impl import boot
from impl.caps import (
    IT_ASID,
    X86_MappingNone,
    X86_MappingVSpace,
    CNodeCap,
    FrameCap,
    PML4Cap,
    SchedContextCap,
    SchedControlCap,
    ThreadCap,
    UntypedCap,
)
from impl.cnode import is_mdb_parent_of
from impl.invariants import cdt_parent_map, check_kernel
from impl.objects import ThreadState_Running
from spec import abi


def slot(k, i: int) -> int:
    cnode = k.cap_at(k.current.slot(abi.tcbCTable))
    return cnode.capCNodePtr + 32 * i


def test_well_known_slots() -> None:
    k = boot()
    tags = {i: k.cap_at(slot(k, i)).capType for i in range(abi.seL4_NumInitialCaps)}
    assert tags == {
        abi.seL4_CapNull: abi.cap_null_cap,
        abi.seL4_CapInitThreadTCB: abi.cap_thread_cap,
        abi.seL4_CapInitThreadCNode: abi.cap_cnode_cap,
        abi.seL4_CapInitThreadVSpace: abi.cap_pml4_cap,
        abi.seL4_CapIRQControl: abi.cap_irq_control_cap,
        abi.seL4_CapASIDControl: abi.cap_asid_control_cap,
        abi.seL4_CapInitThreadASIDPool: abi.cap_asid_pool_cap,
        abi.seL4_CapIOPortControl: abi.cap_io_port_control_cap,
        abi.seL4_CapIOSpace: abi.cap_null_cap,
        abi.seL4_CapBootInfoFrame: abi.cap_frame_cap,
        abi.seL4_CapInitThreadIPCBuffer: abi.cap_frame_cap,
        abi.seL4_CapDomain: abi.cap_domain_cap,
        abi.seL4_CapSMMUSIDControl: abi.cap_null_cap,
        abi.seL4_CapSMMUCBControl: abi.cap_null_cap,
        abi.seL4_CapInitThreadSC: abi.cap_sched_context_cap,
        abi.seL4_CapSMC: abi.cap_null_cap,
    }


def test_root_cnode_translates_all_64_bits() -> None:
    k = boot()
    cap = k.cap_at(slot(k, abi.seL4_CapInitThreadCNode))
    assert cap == CNodeCap(cap.capCNodePtr, 12, 52, 0)
    assert k.objects[cap.capCNodePtr].obj_type == abi.seL4_CapTableObject
    assert k.objects[cap.capCNodePtr].size_bits == 17
    # The thread's CSpace root is a copy (a CDT child) of slot 2.
    assert k.cap_at(k.current.slot(abi.tcbCTable)) == cap
    assert k.bootinfo.init_thread_cnode_size_bits == 12


def test_root_thread_and_sc() -> None:
    k = boot()
    t = k.current
    assert k.cap_at(slot(k, abi.seL4_CapInitThreadTCB)) == ThreadCap(t.base + abi.TCB_OFFSET)
    assert k.objects[t.base] is t and t.tcbState == ThreadState_Running
    assert t.tcbPriority == t.tcbMCP == abi.seL4_MaxPrio
    sc_cap = k.cap_at(slot(k, abi.seL4_CapInitThreadSC))
    assert sc_cap == SchedContextCap(t.tcbSchedContext, abi.seL4_MinSchedContextBits)
    sc = k.objects[t.tcbSchedContext]
    assert sc.scTcb == t.base and sc.scRefillMax == abi.MIN_REFILLS
    assert k.is_schedulable(t)


def test_frames_and_vspace() -> None:
    k = boot(user_image_pages=3)
    bi = k.bootinfo
    pml4 = k.cap_at(slot(k, abi.seL4_CapInitThreadVSpace))
    assert pml4 == PML4Cap(pml4.capPML4BasePtr, True, IT_ASID)
    ipc = k.cap_at(slot(k, abi.seL4_CapInitThreadIPCBuffer))
    assert ipc.capFMapType == X86_MappingVSpace and ipc.capFMappedAddress == bi.ipc_buffer
    # The TCB's buffer slot holds a derived (unmapped) copy.
    copy = k.cap_at(k.current.slot(abi.tcbBuffer))
    assert copy == ipc._replace(capFMapType=X86_MappingNone, capFMappedASID=0)
    assert k.current.tcbIPCBuffer == bi.ipc_buffer
    assert bi.user_image_frames.end - bi.user_image_frames.start == 3
    assert bi.extra_bi_pages.end - bi.extra_bi_pages.start == 1
    # One PDPT, one PD and one PT cover a small image at 4 MiB.
    paging = [k.cap_at(slot(k, i)).capType for i in range(bi.user_image_paging.start, bi.user_image_paging.end)]
    assert paging == [abi.cap_pdpt_cap, abi.cap_page_directory_cap, abi.cap_page_table_cap]
    for i in range(bi.user_image_frames.start, bi.user_image_frames.end):
        c = k.cap_at(slot(k, i))
        assert isinstance(c, FrameCap) and c.capFMappedASID == IT_ASID


def test_slot_regions_in_x86_order() -> None:
    k = boot()
    bi = k.bootinfo
    assert bi.schedcontrol.start == abi.seL4_NumInitialCaps
    assert bi.schedcontrol.end == bi.user_image_paging.start
    assert bi.user_image_paging.end == bi.extra_bi_pages.start
    assert bi.extra_bi_pages.end == bi.user_image_frames.start
    assert bi.user_image_frames.end == bi.untyped.start
    assert bi.untyped.end == bi.empty.start and bi.empty.end == 1 << 12
    assert k.cap_at(slot(k, bi.schedcontrol.start)) == SchedControlCap(0)
    assert all(k.cap_at(slot(k, i)).capType == abi.cap_null_cap for i in range(bi.empty.start, bi.empty.end))


def test_untypeds_are_full_and_described() -> None:
    k = boot()
    bi = k.bootinfo
    assert len(bi.untyped_list) == bi.untyped.end - bi.untyped.start
    for i, desc in enumerate(bi.untyped_list):
        cap = k.cap_at(slot(k, bi.untyped.start + i))
        assert cap == UntypedCap(desc.paddr, desc.size_bits, desc.is_device, 1 << (desc.size_bits - 4))
    # Device untypeds come first.
    flags = [d.is_device for d in bi.untyped_list]
    assert flags == sorted(flags, reverse=True) and flags[0]


def test_regions_cut_greedily_into_aligned_chunks() -> None:
    k = boot(untyped_regions=[(0x10_1000, 0x11_3000), (0x20_0000, 0x20_0000 + (1 << 21))], device_regions=[(0x50_0008, 0x50_0400)])
    got = [(d.paddr, d.size_bits, d.is_device) for d in k.bootinfo.untyped_list]
    assert got == [
        # 0x500008 is only 8-aligned: its first 8 bytes are too small for an untyped and dropped.
        (0x50_0010, 4, True),
        (0x50_0020, 5, True),
        (0x50_0040, 6, True),
        (0x50_0080, 7, True),
        (0x50_0100, 8, True),
        (0x50_0200, 9, True),
        (0x10_1000, 12, False),
        (0x10_2000, 13, False),
        (0x10_4000, 14, False),
        (0x10_8000, 15, False),
        (0x11_0000, 13, False),
        (0x11_2000, 12, False),
        (0x20_0000, 21, False),
    ]
    check_kernel(k, full=True)


def test_at_most_230_untypeds() -> None:
    regions = [(0x100_0000 + 0x2000 * i, 0x100_0000 + 0x2000 * i + 0x1000) for i in range(300)]
    k = boot(untyped_regions=regions, device_regions=[])
    assert len(k.bootinfo.untyped_list) == abi.CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS
    assert k.bootinfo.untyped.end - k.bootinfo.untyped.start == abi.CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS


def test_boot_objects_outside_untypeds() -> None:
    k = boot()
    for desc in k.bootinfo.untyped_list:
        lo, hi = desc.paddr, desc.paddr + (1 << desc.size_bits)
        for base, o in k.objects.items():
            assert base + (1 << o.size_bits) <= lo or hi <= base


def test_boot_mdb_shape() -> None:
    k = boot()
    t = k.current
    copies = {t.slot(abi.tcbCTable): 2, t.slot(abi.tcbVTable): 3, t.slot(abi.tcbBuffer): 10}
    for s, cte in k.ctes.items():
        if s in copies:
            assert cte.prev == slot(k, copies[s]) and not cte.revocable and not cte.first_badged
        else:
            assert cte.revocable and cte.first_badged
            assert cte.prev == 0
            assert cte.next in (0, *(a for a, i in copies.items() if slot(k, i) == s))
    assert cdt_parent_map(k) == {a: slot(k, i) for a, i in copies.items()}
    assert is_mdb_parent_of(k.ctes[slot(k, 2)], k.ctes[t.slot(abi.tcbCTable)])
    check_kernel(k, full=True)


@pytest.mark.parametrize("bits", [7, 8, 16, 26])
def test_root_cnode_sizes(bits: int) -> None:
    k = boot(root_cnode_size_bits=bits)
    assert k.bootinfo.empty.end == 1 << bits
    assert k.cap_at(slot(k, 2)) == CNodeCap(k.cap_at(slot(k, 2)).capCNodePtr, bits, 64 - bits, 0)
    check_kernel(k, full=True)


@pytest.mark.parametrize("bits", [3, 4, 6, 27, 40])
def test_bad_root_cnode_sizes(bits: int) -> None:
    with pytest.raises(ValueError):
        boot(root_cnode_size_bits=bits)


def test_overlapping_regions_rejected() -> None:
    with pytest.raises(ValueError):
        boot(untyped_regions=[(0x100_0000, 0x200_0000)], device_regions=[(0x1F0_0000, 0x210_0000)])


def test_too_many_boot_caps_for_the_root_cnode() -> None:
    with pytest.raises(ValueError):
        boot(root_cnode_size_bits=7, user_image_pages=200)
