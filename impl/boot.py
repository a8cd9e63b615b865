"""Booting the root task (src/kernel/boot.c, src/arch/x86/kernel/boot.c init_sys_state,
src/arch/x86/64/kernel/vspace.c create_it_address_space)."""

from __future__ import annotations

from typing import Iterable

from spec.abi import (
    CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS,
    CONFIG_MAX_NUM_NODES,
    MIN_REFILLS,
    TCB_OFFSET,
    seL4_ASIDPoolBits,
    seL4_BootInfoFrameBits,
    seL4_CapASIDControl,
    seL4_CapBootInfoFrame,
    seL4_CapDomain,
    seL4_CapInitThreadASIDPool,
    seL4_CapInitThreadCNode,
    seL4_CapInitThreadIPCBuffer,
    seL4_CapInitThreadSC,
    seL4_CapInitThreadTCB,
    seL4_CapInitThreadVSpace,
    seL4_CapIOPortControl,
    seL4_CapIRQControl,
    seL4_MaxPrio,
    seL4_MaxUntypedBits,
    seL4_MinSchedContextBits,
    seL4_MinUntypedBits,
    seL4_NumInitialCaps,
    seL4_PageBits,
    seL4_PageTableBits,
    seL4_SlotBits,
    seL4_TCBBits,
    seL4_VSpaceBits,
    seL4_WordBits,
    seL4_X64_PML4Object,
    seL4_X86_4K,
    seL4_X86_PageDirectoryObject,
    seL4_X86_PageTableObject,
    seL4_X86_PDPTObject,
    tcbBuffer,
    tcbCTable,
    tcbVTable,
)

from impl.caps import (
    IT_ASID,
    X86_MappingVSpace,
    X86_SmallPage,
    VMReadWrite,
    ASIDControlCap,
    ASIDPoolCap,
    Cap,
    CNodeCap,
    DomainCap,
    FrameCap,
    IOPortControlCap,
    IRQControlCap,
    PageDirectoryCap,
    PageTableCap,
    PDPTCap,
    PML4Cap,
    SchedContextCap,
    SchedControlCap,
    ThreadCap,
    UntypedCap,
)
from impl.cnode import cte_insert, derive_cap
from impl.kernel import Kernel
from impl.objects import (
    ASID_POOL_OBJECT,
    CNode,
    Frame,
    KernelObject,
    SchedContext,
    Tcb,
    ThreadState_IdleThreadState,
    ThreadState_Running,
)
from impl.structures import CTE, BootInfo, SlotRegion, UntypedDesc

# A typical PC: free RAM above the kernel in three regions of mixed alignment, and one PCI BAR.
DEFAULT_UNTYPED_REGIONS: tuple[tuple[int, int], ...] = (
    (0x0080_0000, 0x0800_0000),
    (0x0813_5000, 0x0820_0000),
    (0x1_0000_0000, 0x1_4000_0000),
)
DEFAULT_DEVICE_REGIONS: tuple[tuple[int, int], ...] = ((0xFEBF_0000, 0xFEC0_0000),)

USER_IMAGE_VADDR = 0x40_0000  # where an ELF root task is usually linked
IDLE_THREAD_ADDR = 0xFFFF_FFFF_8000_0000  # kernel BSS (ksIdleThreadTCB): not in physical memory
_PD_INDEX_OFFSET = 21
_PDPT_INDEX_OFFSET = 30
_PML4_INDEX_OFFSET = 39


def _round_down(x: int, bits: int) -> int:
    """Models ROUND_DOWN."""
    return x & ~((1 << bits) - 1)


def _round_up(x: int, bits: int) -> int:
    """Models ROUND_UP."""
    return _round_down(x + (1 << bits) - 1, bits)


def get_n_paging(start: int, end: int, bits: int) -> int:
    """Models get_n_paging (include/kernel/boot.h)."""
    return (_round_up(end, bits) - _round_down(start, bits)) >> bits


class _BootState:
    """ndks_boot: the boot-time slot cursor into the root CNode."""

    def __init__(self, k: Kernel, cnode: int, radix: int) -> None:
        """Cursor at seL4_NumInitialCaps, as populate_bi_frame leaves it."""
        self.k = k
        self.cnode = cnode
        self.radix = radix
        self.slot_pos_cur = seL4_NumInitialCaps

    def write_slot(self, index: int, cap: Cap) -> None:
        """Models write_slot: the cap, null MDB links, revocable and firstBadged."""
        self.k.ctes[self.cnode + (index << seL4_SlotBits)] = CTE(cap, 0, 0, True, True)

    def provide_cap(self, cap: Cap) -> None:
        """Models provide_cap: the next free root CNode slot."""
        if self.slot_pos_cur >= (1 << self.radix):
            raise ValueError(f"boot: all {1 << self.radix} root CNode slots used")
        self.write_slot(self.slot_pos_cur, cap)
        self.slot_pos_cur += 1


def _cut_region(start: int, end: int) -> list[tuple[int, int]]:
    """Models the loop of create_untypeds_for_region: greedy size-aligned chunks, at most 2^47."""
    chunks = []
    while start < end:
        size_bits = (end - start).bit_length() - 1
        size_bits = min(size_bits, seL4_MaxUntypedBits)
        if start != 0:
            size_bits = min(size_bits, (start & -start).bit_length() - 1)
        if size_bits >= seL4_MinUntypedBits:
            chunks.append((start, size_bits))
        start += 1 << size_bits
    return chunks


def _place(size: int, align_bits: int, avoid: list[tuple[int, int]]) -> int:
    """Lowest 2^align_bits-aligned base at or above 2 MiB whose [base, base+size) misses every region."""
    base = _round_up(0x20_0000, align_bits)
    moved = True
    while moved:
        moved = False
        for s, e in avoid:
            if base < e and s < base + size:
                base = _round_up(e, align_bits)
                moved = True
    return base


def boot(
    untyped_regions: Iterable[tuple[int, int]] | None = None,
    device_regions: Iterable[tuple[int, int]] | None = None,
    root_cnode_size_bits: int = 12,
    user_image_pages: int = 4,
) -> Kernel:
    """Models init_sys_state + create_initial_thread + create_untypeds: boot a root task.

    ``untyped_regions``/``device_regions`` are half-open physical ranges ``(start, end)``; each is
    cut into size-aligned untypeds as create_untypeds_for_region does (device ones first, as seL4
    lists them). Root-server objects (root CNode, TCB, SC, PML4, paging structures, ASID pool,
    IPC buffer, bootinfo and extra bootinfo frames, user image frames) are placed in memory
    outside every given region. Addresses are physical; the model's kernel window maps them 1:1.
    """
    ram = list(DEFAULT_UNTYPED_REGIONS if untyped_regions is None else untyped_regions)
    dev = list(DEFAULT_DEVICE_REGIONS if device_regions is None else device_regions)
    for s, e in ram + dev:
        if not 0 <= s <= e < (1 << seL4_WordBits):
            raise ValueError(f"boot: bad region [{s:#x}, {e:#x})")
    spans = sorted((s, e) for s, e in ram + dev if s < e)
    for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
        if s2 < e1:
            raise ValueError(f"boot: regions [{s1:#x}, {e1:#x}) and [{s2:#x}, {e2:#x}) overlap")
    radix = root_cnode_size_bits
    # compile_assert root_cnode_size_valid (src/kernel/boot.c) and the documented 7..26 range.
    if not (radix < 32 - seL4_SlotBits and (1 << radix) >= seL4_NumInitialCaps and radix >= seL4_PageBits - seL4_SlotBits):
        raise ValueError(f"boot: root CNode size bits {radix} outside 7..26")
    if user_image_pages < 1:
        raise ValueError("boot: the user image needs at least one page")

    k = Kernel()

    # --- virtual layout of the initial thread (init_sys_state) -----------------------------------
    ui_v_start = USER_IMAGE_VADDR
    ui_v_end = ui_v_start + (user_image_pages << seL4_PageBits)
    ipcbuf_vptr = ui_v_end
    bi_frame_vptr = ipcbuf_vptr + (1 << seL4_PageBits)
    extra_bi_frame_vptr = bi_frame_vptr + (1 << seL4_BootInfoFrameBits)
    extra_bi_size_bits = seL4_PageBits  # x86 always passes the multiboot mmap and TSC frequency
    it_v_end = _round_up(extra_bi_frame_vptr + (1 << extra_bi_size_bits), seL4_PageBits)
    n_pdpt = get_n_paging(ui_v_start, it_v_end, _PML4_INDEX_OFFSET)
    n_pd = get_n_paging(ui_v_start, it_v_end, _PDPT_INDEX_OFFSET)
    n_pt = get_n_paging(ui_v_start, it_v_end, _PD_INDEX_OFFSET)
    n_paging = n_pdpt + n_pd + n_pt

    # --- create_rootserver_objects: allocation order and alignment as in the C ------------------
    cnode_size_bits = radix + seL4_SlotBits
    max_bits = max(cnode_size_bits, seL4_VSpaceBits, extra_bi_size_bits)
    size = (
        (1 << cnode_size_bits)
        + (1 << seL4_TCBBits)
        + (1 << seL4_PageBits)
        + (1 << seL4_BootInfoFrameBits)
        + (1 << seL4_ASIDPoolBits)
        + (1 << extra_bi_size_bits)
        + (1 << seL4_VSpaceBits)
        + (1 << seL4_MinSchedContextBits)
        + n_paging * (1 << seL4_PageTableBits)
    )
    image_size = user_image_pages << seL4_PageBits
    base = _place(_round_up(size, seL4_PageBits) + image_size, max(max_bits, 20), ram + dev)
    cursor = base
    extra_bi = 0

    def alloc(bits: int, n: int = 1) -> int:
        """Models alloc_rootserver_obj: n aligned objects of 2^bits bytes."""
        nonlocal cursor
        p = cursor
        assert p % (1 << bits) == 0
        cursor += n << bits
        return p

    def maybe_alloc_extra_bi(cmp_bits: int) -> None:
        """Models maybe_alloc_extra_bi: place the extra bootinfo once objects this small come next."""
        nonlocal extra_bi
        if extra_bi_size_bits >= cmp_bits and extra_bi == 0:
            extra_bi = alloc(extra_bi_size_bits)

    maybe_alloc_extra_bi(max_bits)
    if cnode_size_bits > seL4_VSpaceBits:
        cnode = alloc(cnode_size_bits)
        maybe_alloc_extra_bi(seL4_VSpaceBits)
        vspace = alloc(seL4_VSpaceBits)
    else:
        vspace = alloc(seL4_VSpaceBits)
        maybe_alloc_extra_bi(cnode_size_bits)
        cnode = alloc(cnode_size_bits)
    maybe_alloc_extra_bi(seL4_PageBits)
    asid_pool = alloc(seL4_ASIDPoolBits)
    ipc_buf = alloc(seL4_PageBits)
    boot_info = alloc(seL4_BootInfoFrameBits)
    paging = alloc(seL4_PageTableBits, n_paging)  # seL4_TCBBits < seL4_PageTableBits on x86_64
    tcb_base = alloc(seL4_TCBBits)
    sc_base = alloc(seL4_MinSchedContextBits)
    assert cursor == base + size
    cursor = _round_up(cursor, seL4_PageBits)
    image = alloc(seL4_PageBits, user_image_pages)  # the loaded ELF image (reserved memory)

    root_tcb = Tcb(tcb_base, 0)
    root_sc = SchedContext(sc_base, seL4_MinSchedContextBits)
    objs: list[KernelObject] = [
        CNode(cnode, radix),
        KernelObject(vspace, seL4_X64_PML4Object, seL4_VSpaceBits),
        Frame(extra_bi, seL4_X86_4K, seL4_PageBits, False),
        KernelObject(asid_pool, ASID_POOL_OBJECT, seL4_ASIDPoolBits),
        Frame(ipc_buf, seL4_X86_4K, seL4_PageBits, False),
        Frame(boot_info, seL4_X86_4K, seL4_PageBits, False),
        root_tcb,
        root_sc,
    ]
    paging_types = [seL4_X86_PDPTObject] * n_pdpt + [seL4_X86_PageDirectoryObject] * n_pd + [seL4_X86_PageTableObject] * n_pt
    for i, t in enumerate(paging_types):
        objs.append(KernelObject(paging + (i << seL4_PageTableBits), t, seL4_PageTableBits))
    for i in range(user_image_pages):
        objs.append(Frame(image + (i << seL4_PageBits), seL4_X86_4K, seL4_PageBits, False))
    k.add_objects(sorted(objs, key=lambda o: o.base))

    bs = _BootState(k, cnode, radix)

    # create_root_cnode: one level translating all 64 bits.
    root_cnode_cap = CNodeCap(cnode, radix, seL4_WordBits - radix, 0)
    bs.write_slot(seL4_CapInitThreadCNode, root_cnode_cap)
    bs.write_slot(seL4_CapIOPortControl, IOPortControlCap())
    bs.write_slot(seL4_CapDomain, DomainCap())
    bs.write_slot(seL4_CapIRQControl, IRQControlCap())  # init_irqs

    # init_sched_control: one SchedControl cap per node.
    sc_start = bs.slot_pos_cur
    for core in range(CONFIG_MAX_NUM_NODES):
        bs.provide_cap(SchedControlCap(core))
    schedcontrol = SlotRegion(sc_start, bs.slot_pos_cur)

    # create_it_address_space: PML4, then PDPTs, PDs, PTs covering the initial thread's region.
    vspace_cap = PML4Cap(vspace, True, IT_ASID)
    bs.write_slot(seL4_CapInitThreadVSpace, vspace_cap)
    paging_start = bs.slot_pos_cur
    p = paging
    for bits, make in (
        (_PML4_INDEX_OFFSET, PDPTCap),
        (_PDPT_INDEX_OFFSET, PageDirectoryCap),
        (_PD_INDEX_OFFSET, PageTableCap),
    ):
        vptr = _round_down(ui_v_start, bits)
        while vptr < it_v_end:
            bs.provide_cap(make(p, True, IT_ASID, vptr))
            p += 1 << seL4_PageTableBits
            vptr += 1 << bits
    user_image_paging = SlotRegion(paging_start, bs.slot_pos_cur)

    def mapped_frame(pptr: int, vptr: int) -> FrameCap:
        """Models create_mapped_it_frame_cap (small page, read-write, not device)."""
        return FrameCap(pptr, X86_SmallPage, VMReadWrite, False, X86_MappingVSpace, IT_ASID, vptr)

    bs.write_slot(seL4_CapBootInfoFrame, mapped_frame(boot_info, bi_frame_vptr))
    extra_start = bs.slot_pos_cur
    bs.provide_cap(mapped_frame(extra_bi, extra_bi_frame_vptr))
    extra_bi_pages = SlotRegion(extra_start, bs.slot_pos_cur)
    ipcbuf_cap = mapped_frame(ipc_buf, ipcbuf_vptr)
    bs.write_slot(seL4_CapInitThreadIPCBuffer, ipcbuf_cap)
    image_start = bs.slot_pos_cur
    for i in range(user_image_pages):
        bs.provide_cap(mapped_frame(image + (i << seL4_PageBits), ui_v_start + (i << seL4_PageBits)))
    user_image_frames = SlotRegion(image_start, bs.slot_pos_cur)

    # create_it_asid_pool
    bs.write_slot(seL4_CapInitThreadASIDPool, ASIDPoolCap(asid_pool, 0))
    bs.write_slot(seL4_CapASIDControl, ASIDControlCap())

    # create_idle_thread: kernel-global, outside physical memory and Kernel.objects.
    k.idle_thread = Tcb(IDLE_THREAD_ADDR, 0)
    k.idle_thread.tcbState = ThreadState_IdleThreadState

    # create_initial_thread
    slot = lambda i: cnode + (i << seL4_SlotBits)  # noqa: E731
    ipcbuf_copy = derive_cap(k, slot(seL4_CapInitThreadIPCBuffer), ipcbuf_cap)
    cte_insert(k, root_cnode_cap, slot(seL4_CapInitThreadCNode), root_tcb.slot(tcbCTable))
    cte_insert(k, vspace_cap, slot(seL4_CapInitThreadVSpace), root_tcb.slot(tcbVTable))
    cte_insert(k, ipcbuf_copy, slot(seL4_CapInitThreadIPCBuffer), root_tcb.slot(tcbBuffer))
    root_tcb.tcbIPCBuffer = ipcbuf_vptr
    root_tcb.cap_register = bi_frame_vptr
    # configure_sched_context: refill_new(sc, MIN_REFILLS, boot time slice, 0); times not modelled.
    root_tcb.tcbSchedContext = sc_base
    root_sc.scTcb = tcb_base
    root_sc.scRefillMax = MIN_REFILLS
    root_tcb.tcbPriority = seL4_MaxPrio
    root_tcb.tcbMCP = seL4_MaxPrio
    root_tcb.tcbDomain = 0
    root_tcb.tcbState = ThreadState_Running
    bs.write_slot(seL4_CapInitThreadTCB, ThreadCap(tcb_base + TCB_OFFSET))
    bs.write_slot(seL4_CapInitThreadSC, SchedContextCap(sc_base, seL4_MinSchedContextBits))

    # create_untypeds: device memory first, then free RAM; boot untypeds start full.
    first_untyped_slot = bs.slot_pos_cur
    untyped_list: list[UntypedDesc] = []
    for regions, is_device in ((dev, True), (ram, False)):
        for s, e in regions:
            for paddr, bits in _cut_region(s, e):
                if bs.slot_pos_cur - first_untyped_slot < CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS:
                    untyped_list.append(UntypedDesc(paddr, bits, is_device))
                    bs.provide_cap(UntypedCap(paddr, bits, is_device, 1 << (bits - seL4_MinUntypedBits)))
    untyped = SlotRegion(first_untyped_slot, bs.slot_pos_cur)

    k.bootinfo = BootInfo(
        node_id=0,
        num_nodes=CONFIG_MAX_NUM_NODES,
        ipc_buffer=ipcbuf_vptr,
        init_thread_cnode_size_bits=radix,
        init_thread_domain=0,
        empty=SlotRegion(bs.slot_pos_cur, 1 << radix),  # bi_finalise
        user_image_frames=user_image_frames,
        user_image_paging=user_image_paging,
        extra_bi_pages=extra_bi_pages,
        schedcontrol=schedcontrol,
        untyped=untyped,
        untyped_list=untyped_list,
    )
    k.current = root_tcb
    return k
