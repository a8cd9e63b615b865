"""Capabilities as C-shaped immutable records, and the pure relations seL4 defines on them.

Every cap is a ``NamedTuple`` whose fields are the C bitfield fields of its block in
``include/object/structures_64.bf`` and ``include/arch/x86/arch/64/mode/object/structures.bf``,
under their C names, followed by ``capType`` (the C tag, ``spec.abi.cap_*``) with a default,
so a cap is built from its fields alone and two caps of different types never compare equal.
Updating a field is ``cap._replace(field=value)`` (C: ``cap_*_set_*``).

The functions below model ``src/object/objecttype.c`` and its x86 counterparts
(``src/arch/x86/object/objecttype.c``, ``src/arch/x86/64/object/objecttype.c``).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Union

from spec.abi import (
    TCB_CNODE_RADIX,
    ZombieType_ZombieTCB,
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
    seL4_ASIDPoolBits,
    seL4_EndpointBits,
    seL4_HugePageBits,
    seL4_LargePageBits,
    seL4_NotificationBits,
    seL4_PageBits,
    seL4_PageDirBits,
    seL4_PageTableBits,
    seL4_PDPTBits,
    seL4_PML4Bits,
    seL4_ReplyBits,
    seL4_SlotBits,
    seL4_TCBBits,
    seL4_WordBits,
    wordRadix,
)

MASK64 = (1 << seL4_WordBits) - 1

# include/arch/x86/arch/machine/hardware.h
X86_SmallPage = 0
X86_LargePage = 1
X64_HugePage = 2
X86_MappingNone = 0
X86_MappingVSpace = 1
# include/arch/x86/arch/object/structures.h enum vm_rights
VMKernelOnly = 1
VMReadOnly = 2
VMReadWrite = 3
# include/arch/x86/arch/kernel/vspace.h, include/arch/x86/arch/64/mode/object/structures.h
asidInvalid = 0
IT_ASID = 1

_PAGE_BITS_FOR_SIZE = (seL4_PageBits, seL4_LargePageBits, seL4_HugePageBits)


def page_bits_for_size(page_size: int) -> int:
    """Models x86 pageBitsForSize (include/arch/x86/arch/machine.h)."""
    return _PAGE_BITS_FOR_SIZE[page_size]


def mask(bits: int) -> int:
    """Models the C MASK(n) macro: the low n bits set."""
    return (1 << bits) - 1


# --- cap records ----------------------------------------------------------------------------------


class NullCap(NamedTuple):
    """C block null_cap (structures_64.bf)."""

    capType: int = cap_null_cap


class UntypedCap(NamedTuple):
    """C block untyped_cap (structures_64.bf)."""

    capPtr: int
    capBlockSize: int
    capIsDevice: bool
    capFreeIndex: int  # in 2^4-byte units (FREE_INDEX_TO_OFFSET)
    capType: int = cap_untyped_cap


class EndpointCap(NamedTuple):
    """C block endpoint_cap (structures_64.bf)."""

    capEPPtr: int
    capEPBadge: int
    capCanSend: bool
    capCanReceive: bool
    capCanGrant: bool
    capCanGrantReply: bool
    capType: int = cap_endpoint_cap


class NotificationCap(NamedTuple):
    """C block notification_cap (structures_64.bf)."""

    capNtfnPtr: int
    capNtfnBadge: int
    capNtfnCanSend: bool
    capNtfnCanReceive: bool
    capType: int = cap_notification_cap


class ReplyCap(NamedTuple):
    """C block reply_cap (MCS) (structures_64.bf)."""

    capReplyPtr: int
    capReplyCanGrant: bool
    capType: int = cap_reply_cap


class CNodeCap(NamedTuple):
    """C block cnode_cap (structures_64.bf)."""

    capCNodePtr: int
    capCNodeRadix: int
    capCNodeGuardSize: int
    capCNodeGuard: int
    capType: int = cap_cnode_cap


class ThreadCap(NamedTuple):
    """C block thread_cap (structures_64.bf)."""

    capTCBPtr: int  # the tcb_t, i.e. TCB object base + TCB_OFFSET
    capType: int = cap_thread_cap


class IRQControlCap(NamedTuple):
    """C block irq_control_cap (structures_64.bf)."""

    capType: int = cap_irq_control_cap


class IRQHandlerCap(NamedTuple):
    """C block irq_handler_cap (structures_64.bf)."""

    capIRQ: int
    capType: int = cap_irq_handler_cap


class ZombieCap(NamedTuple):
    """capZombieID packs the container pointer with the remaining slot count (Zombie_new)."""

    capZombieID: int
    capZombieType: int  # CNode radix, or ZombieType_ZombieTCB
    capType: int = cap_zombie_cap

    @property
    def capZombieBits(self) -> int:
        """Models cap_zombie_cap_get_capZombieBits (include/object/structures.h)."""
        if self.capZombieType == ZombieType_ZombieTCB:
            return TCB_CNODE_RADIX
        return self.capZombieType & mask(wordRadix)

    @property
    def capZombieNumber(self) -> int:
        """Models cap_zombie_cap_get_capZombieNumber: slots still to be cleared."""
        return self.capZombieID & mask(self.capZombieBits + 1)

    @property
    def capZombiePtr(self) -> int:
        """Models cap_zombie_cap_get_capZombiePtr: address of the container's first slot."""
        return self.capZombieID & ~mask(self.capZombieBits + 1) & MASK64


class DomainCap(NamedTuple):
    """C block domain_cap (structures_64.bf)."""

    capType: int = cap_domain_cap


class SchedContextCap(NamedTuple):
    """C block sched_context_cap (MCS) (structures_64.bf)."""

    capSCPtr: int
    capSCSizeBits: int  # full size bits (not size - seL4_MinSchedContextBits)
    capType: int = cap_sched_context_cap


class SchedControlCap(NamedTuple):
    """C block sched_control_cap (MCS) (structures_64.bf)."""

    core: int
    capType: int = cap_sched_control_cap


class FrameCap(NamedTuple):
    """C block frame_cap (x86 64/mode/object/structures.bf)."""

    capFBasePtr: int
    capFSize: int  # X86_SmallPage / X86_LargePage / X64_HugePage
    capFVMRights: int  # VMKernelOnly / VMReadOnly / VMReadWrite
    capFIsDevice: bool
    capFMapType: int
    capFMappedASID: int
    capFMappedAddress: int
    capType: int = cap_frame_cap


class PageTableCap(NamedTuple):
    """C block page_table_cap (x86 64/mode/object/structures.bf)."""

    capPTBasePtr: int
    capPTIsMapped: bool
    capPTMappedASID: int
    capPTMappedAddress: int
    capType: int = cap_page_table_cap


class PageDirectoryCap(NamedTuple):
    """C block page_directory_cap (x86 64/mode/object/structures.bf)."""

    capPDBasePtr: int
    capPDIsMapped: bool
    capPDMappedASID: int
    capPDMappedAddress: int
    capType: int = cap_page_directory_cap


class PDPTCap(NamedTuple):
    """C block pdpt_cap (x86 64/mode/object/structures.bf)."""

    capPDPTBasePtr: int
    capPDPTIsMapped: bool
    capPDPTMappedASID: int
    capPDPTMappedAddress: int
    capType: int = cap_pdpt_cap


class PML4Cap(NamedTuple):
    """C block pml4_cap (x86 64/mode/object/structures.bf)."""

    capPML4BasePtr: int
    capPML4IsMapped: bool
    capPML4MappedASID: int
    capType: int = cap_pml4_cap


class ASIDControlCap(NamedTuple):
    """C block asid_control_cap (x86 64/mode/object/structures.bf)."""

    capType: int = cap_asid_control_cap


class ASIDPoolCap(NamedTuple):
    """C block asid_pool_cap (x86 64/mode/object/structures.bf)."""

    capASIDPool: int
    capASIDBase: int
    capType: int = cap_asid_pool_cap


class IOPortControlCap(NamedTuple):
    """C block io_port_control_cap (x86 64/mode/object/structures.bf)."""

    capType: int = cap_io_port_control_cap


class IOPortCap(NamedTuple):
    """C block io_port_cap (x86 64/mode/object/structures.bf)."""

    capIOPortFirstPort: int
    capIOPortLastPort: int
    capType: int = cap_io_port_cap


Cap = Union[
    NullCap,
    UntypedCap,
    EndpointCap,
    NotificationCap,
    ReplyCap,
    CNodeCap,
    ThreadCap,
    IRQControlCap,
    IRQHandlerCap,
    ZombieCap,
    DomainCap,
    SchedContextCap,
    SchedControlCap,
    FrameCap,
    PageTableCap,
    PageDirectoryCap,
    PDPTCap,
    PML4Cap,
    ASIDControlCap,
    ASIDPoolCap,
    IOPortControlCap,
    IOPortCap,
]

NULL_CAP = NullCap()


def zombie_new(number: int, zombie_type: int, ptr: int) -> ZombieCap:
    """Models Zombie_new (include/object/structures.h)."""
    if zombie_type == ZombieType_ZombieTCB:
        m = mask(TCB_CNODE_RADIX + 1)
    else:
        m = mask(zombie_type + 1)
    return ZombieCap((ptr & ~m & MASK64) | (number & m), zombie_type)


def is_arch_cap(cap: Cap) -> bool:
    """Models isArchCap (include/object/structures.h): odd tags are arch caps."""
    return bool(cap.capType & 1)


# --- physical extent of a cap (src/object/objecttype.c, include/arch/x86/arch/object/structures.h)


def cap_get_cap_size_bits(cap: Any) -> int:
    """Models cap_get_capSizeBits (with cap_get_archCapSizeBits, cap_get_modeCapSizeBits)."""
    t = cap.capType
    if t == cap_untyped_cap:
        return int(cap.capBlockSize)
    if t == cap_endpoint_cap:
        return seL4_EndpointBits
    if t == cap_notification_cap:
        return seL4_NotificationBits
    if t == cap_cnode_cap:
        return int(cap.capCNodeRadix) + seL4_SlotBits
    if t == cap_thread_cap:
        return seL4_TCBBits
    if t == cap_zombie_cap:
        if cap.capZombieType == ZombieType_ZombieTCB:
            return seL4_TCBBits
        return (cap.capZombieType & mask(wordRadix)) + seL4_SlotBits
    if t == cap_reply_cap:
        return seL4_ReplyBits
    if t == cap_sched_context_cap:
        return int(cap.capSCSizeBits)
    if t == cap_frame_cap:
        return page_bits_for_size(cap.capFSize)
    if t == cap_page_table_cap:
        return seL4_PageTableBits
    if t == cap_page_directory_cap:
        return seL4_PageDirBits
    if t == cap_asid_pool_cap:
        return seL4_ASIDPoolBits
    if t == cap_pml4_cap:
        return seL4_PML4Bits
    if t == cap_pdpt_cap:
        return seL4_PDPTBits
    return 0


_PHYSICAL_TAGS = frozenset(
    {
        cap_untyped_cap,
        cap_endpoint_cap,
        cap_notification_cap,
        cap_cnode_cap,
        cap_thread_cap,
        cap_sched_context_cap,
        cap_zombie_cap,
        cap_reply_cap,
        cap_frame_cap,
        cap_page_table_cap,
        cap_page_directory_cap,
        cap_asid_pool_cap,
        cap_pml4_cap,
        cap_pdpt_cap,
    }
)


def cap_get_cap_is_physical(cap: Cap) -> bool:
    """Models cap_get_capIsPhysical: does the cap name memory?"""
    return cap.capType in _PHYSICAL_TAGS


def cap_get_cap_ptr(cap: Any) -> int:
    """Models cap_get_capPtr: base address of the named memory (0 for non-physical caps)."""
    t = cap.capType
    if t == cap_untyped_cap:
        return int(cap.capPtr)
    if t == cap_endpoint_cap:
        return int(cap.capEPPtr)
    if t == cap_notification_cap:
        return int(cap.capNtfnPtr)
    if t == cap_cnode_cap:
        return int(cap.capCNodePtr)
    if t == cap_thread_cap:
        # TCB_PTR_CTE_PTR(p, 0): the object base, where the TCB's CNode lives.
        return int(cap.capTCBPtr) & ~mask(seL4_TCBBits)
    if t == cap_zombie_cap:
        return int(cap.capZombiePtr)
    if t == cap_reply_cap:
        return int(cap.capReplyPtr)
    if t == cap_sched_context_cap:
        return int(cap.capSCPtr)
    if t == cap_frame_cap:
        return int(cap.capFBasePtr)
    if t == cap_page_table_cap:
        return int(cap.capPTBasePtr)
    if t == cap_page_directory_cap:
        return int(cap.capPDBasePtr)
    if t == cap_asid_pool_cap:
        return int(cap.capASIDPool)
    if t == cap_pml4_cap:
        return int(cap.capPML4BasePtr)
    if t == cap_pdpt_cap:
        return int(cap.capPDPTBasePtr)
    return 0


# --- relations between caps ----------------------------------------------------------------------


def arch_same_region_as(a: Any, b: Any) -> bool:
    """Models Arch_sameRegionAs with Mode_sameRegionAs (x86_64)."""
    ta = a.capType
    tb = b.capType
    if ta == cap_frame_cap:
        if tb == cap_frame_cap:
            bot_a = a.capFBasePtr
            bot_b = b.capFBasePtr
            top_a = bot_a + mask(page_bits_for_size(a.capFSize))
            top_b = bot_b + mask(page_bits_for_size(b.capFSize))
            return bool(bot_a <= bot_b and top_a >= top_b and bot_b <= top_b)
        return False
    if ta == cap_page_table_cap:
        return bool(tb == cap_page_table_cap and a.capPTBasePtr == b.capPTBasePtr)
    if ta == cap_page_directory_cap:
        return bool(tb == cap_page_directory_cap and a.capPDBasePtr == b.capPDBasePtr)
    if ta == cap_asid_control_cap:
        return bool(tb == cap_asid_control_cap)
    if ta == cap_asid_pool_cap:
        return bool(tb == cap_asid_pool_cap and a.capASIDPool == b.capASIDPool)
    if ta == cap_io_port_control_cap:
        return bool(tb == cap_io_port_control_cap or tb == cap_io_port_cap)
    if ta == cap_io_port_cap:
        return bool(
            tb == cap_io_port_cap
            and a.capIOPortFirstPort == b.capIOPortFirstPort
            and a.capIOPortLastPort == b.capIOPortLastPort
        )
    if ta == cap_pdpt_cap:
        return bool(tb == cap_pdpt_cap and a.capPDPTBasePtr == b.capPDPTBasePtr)
    if ta == cap_pml4_cap:
        return bool(tb == cap_pml4_cap and a.capPML4BasePtr == b.capPML4BasePtr)
    return False


def same_region_as(a: Any, b: Any) -> bool:
    """Models sameRegionAs (src/object/objecttype.c): is b's region inside a's? Asymmetric."""
    ta = a.capType
    tb = b.capType
    if ta == cap_untyped_cap:
        if tb in _PHYSICAL_TAGS:
            a_base = a.capPtr
            b_base = cap_get_cap_ptr(b)
            a_top = a_base + mask(a.capBlockSize)
            b_top = b_base + mask(cap_get_cap_size_bits(b))
            return bool(a_base <= b_base and b_top <= a_top and b_base <= b_top)
        return False
    if ta == cap_endpoint_cap:
        return bool(tb == cap_endpoint_cap and a.capEPPtr == b.capEPPtr)
    if ta == cap_notification_cap:
        return bool(tb == cap_notification_cap and a.capNtfnPtr == b.capNtfnPtr)
    if ta == cap_cnode_cap:
        return bool(
            tb == cap_cnode_cap
            and a.capCNodePtr == b.capCNodePtr
            and a.capCNodeRadix == b.capCNodeRadix
        )
    if ta == cap_thread_cap:
        return bool(tb == cap_thread_cap and a.capTCBPtr == b.capTCBPtr)
    if ta == cap_reply_cap:
        return bool(tb == cap_reply_cap and a.capReplyPtr == b.capReplyPtr)
    if ta == cap_domain_cap:
        return bool(tb == cap_domain_cap)
    if ta == cap_irq_control_cap:
        # x86 Arch_isIRQControlDescendant is always false.
        return bool(tb == cap_irq_control_cap or tb == cap_irq_handler_cap)
    if ta == cap_irq_handler_cap:
        return bool(tb == cap_irq_handler_cap and a.capIRQ == b.capIRQ)
    if ta == cap_sched_context_cap:
        return bool(
            tb == cap_sched_context_cap
            and a.capSCPtr == b.capSCPtr
            and a.capSCSizeBits == b.capSCSizeBits
        )
    if ta == cap_sched_control_cap:
        return bool(tb == cap_sched_control_cap)
    if ta & 1 and tb & 1:
        return arch_same_region_as(a, b)
    return False


def same_object_as(a: Any, b: Any) -> bool:
    """Models sameObjectAs (with x86 Arch_sameObjectAs)."""
    ta = a.capType
    if ta == cap_untyped_cap or ta == cap_irq_control_cap:
        return False
    tb = b.capType
    if ta & 1 and tb & 1:
        if ta == cap_io_port_control_cap and tb == cap_io_port_cap:
            return False
        if ta == cap_frame_cap and tb == cap_frame_cap:
            return bool(
                a.capFBasePtr == b.capFBasePtr
                and a.capFSize == b.capFSize
                and (not a.capFIsDevice) == (not b.capFIsDevice)
            )
        return arch_same_region_as(a, b)
    return same_region_as(a, b)


def is_cap_revocable(derived: Any, src: Any) -> bool:
    """Models isCapRevocable (with x86 Arch_isCapRevocable): is the derived copy original?"""
    t = derived.capType
    if t & 1:
        return bool(t == cap_io_port_cap and src.capType == cap_io_port_control_cap)
    if t == cap_endpoint_cap:
        return bool(derived.capEPBadge != src.capEPBadge)
    if t == cap_notification_cap:
        return bool(derived.capNtfnBadge != src.capNtfnBadge)
    if t == cap_irq_handler_cap:
        return bool(src.capType == cap_irq_control_cap)
    return t == cap_untyped_cap


def has_cancel_send_rights(cap: Any) -> bool:
    """Models hasCancelSendRights: an endpoint cap with all four rights."""
    return bool(
        cap.capType == cap_endpoint_cap
        and cap.capCanSend
        and cap.capCanReceive
        and cap.capCanGrantReply
        and cap.capCanGrant
    )


def mask_vm_rights(vm_rights: int, rights_word: int) -> int:
    """Models x86 maskVMRights (src/arch/x86/kernel/vspace.c)."""
    can_read = rights_word & 2
    if vm_rights == VMReadOnly and can_read:
        return VMReadOnly
    if vm_rights == VMReadWrite and can_read:
        return VMReadWrite if rights_word & 1 else VMReadOnly
    return VMKernelOnly


def mask_cap_rights(rights_word: int, cap: Any) -> Cap:
    """Models maskCapRights: AND the cap's rights with a seL4_CapRights word (bits W,R,G,GR)."""
    t = cap.capType
    if t == cap_endpoint_cap:
        return cap._replace(
            capCanSend=bool(cap.capCanSend and rights_word & 1),
            capCanReceive=bool(cap.capCanReceive and rights_word & 2),
            capCanGrant=bool(cap.capCanGrant and rights_word & 4),
            capCanGrantReply=bool(cap.capCanGrantReply and rights_word & 8),
        )
    if t == cap_notification_cap:
        return cap._replace(
            capNtfnCanSend=bool(cap.capNtfnCanSend and rights_word & 1),
            capNtfnCanReceive=bool(cap.capNtfnCanReceive and rights_word & 2),
        )
    if t == cap_reply_cap:
        return cap._replace(
            capReplyCanGrant=bool(cap.capReplyCanGrant and rights_word & 4)
        )
    if t == cap_frame_cap:
        return cap._replace(
            capFVMRights=mask_vm_rights(cap.capFVMRights, rights_word)
        )
    return cap


def update_cap_data(preserve: bool, new_data: int, cap: Any) -> Cap:
    """Models updateCapData: badge an unbadged EP/NTFN (Mint only) or set a CNode's guard."""
    t = cap.capType
    if t == cap_endpoint_cap:
        if not preserve and cap.capEPBadge == 0:
            return cap._replace(capEPBadge=new_data)
        return NULL_CAP
    if t == cap_notification_cap:
        if not preserve and cap.capNtfnBadge == 0:
            return cap._replace(capNtfnBadge=new_data)
        return NULL_CAP
    if t == cap_cnode_cap:
        # seL4_CNode_CapData: guard [63:6], guardSize [5:0]
        guard_size = new_data & 0x3F
        if guard_size + cap.capCNodeRadix > seL4_WordBits:
            return NULL_CAP
        guard = (new_data >> 6) & mask(guard_size)
        return cap._replace(
            capCNodeGuard=guard, capCNodeGuardSize=guard_size
        )
    # x86 Arch_updateCapData changes only IOSpace caps, which need CONFIG_IOMMU.
    return cap


def cap_is_null(cap: Cap) -> bool:
    """True for the null cap (C: cap_get_capType(cap) == cap_null_cap)."""
    return cap.capType == cap_null_cap
