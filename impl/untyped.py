"""Untyped_Retype (src/object/untyped.c) and object creation (createObject, createNewObjects)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spec.abi import (
    CONFIG_RETYPE_FAN_OUT_LIMIT,
    TCB_OFFSET,
    UntypedRetype,
    cap_cnode_cap,
    object_size_bits,
    seL4_CapTableObject,
    seL4_EndpointObject,
    seL4_FailedLookup,
    seL4_IllegalOperation,
    seL4_InvalidArgument,
    seL4_MaxUntypedBits,
    seL4_MinSchedContextBits,
    seL4_MinUntypedBits,
    seL4_NotEnoughMemory,
    seL4_NotificationObject,
    seL4_ObjectTypeCount,
    seL4_PageDirBits,
    seL4_PageTableBits,
    seL4_PDPTBits,
    seL4_PML4Bits,
    seL4_RangeError,
    seL4_ReplyObject,
    seL4_SchedContextObject,
    seL4_SlotBits,
    seL4_TCBObject,
    seL4_TruncatedMessage,
    seL4_UntypedObject,
    seL4_WordBits,
    seL4_X64_HugePageObject,
    seL4_X64_PML4Object,
    seL4_X86_4K,
    seL4_X86_LargePageObject,
    seL4_X86_PageDirectoryObject,
    seL4_X86_PageTableObject,
    seL4_X86_PDPTObject,
)

from impl.caps import (
    NULL_CAP,
    X64_HugePage,
    X86_LargePage,
    X86_MappingNone,
    X86_SmallPage,
    VMReadWrite,
    CNodeCap,
    Cap,
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
    asidInvalid,
)
from impl.cnode import ensure_empty_slot, insert_new_cap, is_mdb_parent_of
from impl.cspace import lookup_target_slot
from impl.objects import (
    CNode,
    Endpoint,
    Frame,
    KernelObject,
    Notification,
    Reply,
    SchedContext,
    Tcb,
)
from impl.structures import SyscallError, lookup_fault_missing_capability_new

if TYPE_CHECKING:
    from impl.kernel import Kernel

_FRAME_SIZE = {seL4_X86_4K: X86_SmallPage, seL4_X86_LargePageObject: X86_LargePage, seL4_X64_HugePageObject: X64_HugePage}


def arch_is_frame_type(obj_type: int) -> bool:
    """Models Arch_isFrameType (src/arch/x86/64/object/objecttype.c)."""
    return obj_type in _FRAME_SIZE


def align_up(base_value: int, alignment: int) -> int:
    """Models alignUp (src/object/untyped.c)."""
    return (base_value + ((1 << alignment) - 1)) & ~((1 << alignment) - 1)


def decode_untyped_invocation(
    k: Kernel, label: int, length: int, slot: int, cap: Any, args: list[int], excaps: list[int]
) -> None:
    """Models decodeUntypedInvocation, then invokeUntyped_Retype; raises SyscallError."""
    if label != UntypedRetype:
        raise SyscallError(seL4_IllegalOperation)
    if length < 6 or len(excaps) < 1:
        raise SyscallError(seL4_TruncatedMessage)
    new_type = args[0]
    user_obj_size = args[1]
    node_index = args[2]
    node_depth = args[3]
    node_offset = args[4]
    node_window = args[5]
    root_slot = excaps[0]
    ctes = k.ctes

    if new_type >= seL4_ObjectTypeCount:
        raise SyscallError(seL4_InvalidArgument, (0,))
    object_size = object_size_bits(new_type, user_obj_size)
    # In C getObjectSize can wrap for a huge user size; the first test catches that case.
    if user_obj_size >= seL4_WordBits or object_size > seL4_MaxUntypedBits:
        raise SyscallError(seL4_RangeError, (0, seL4_MaxUntypedBits))
    if new_type == seL4_CapTableObject and user_obj_size == 0:
        raise SyscallError(seL4_InvalidArgument, (1,))
    if new_type == seL4_UntypedObject and user_obj_size < seL4_MinUntypedBits:
        raise SyscallError(seL4_InvalidArgument, (1,))
    if new_type == seL4_SchedContextObject and user_obj_size < seL4_MinSchedContextBits:
        raise SyscallError(seL4_InvalidArgument, (1,))

    root_cte = ctes.get(root_slot)
    root_cap: Any = NULL_CAP if root_cte is None else root_cte.cap
    if node_depth == 0:
        node_cap = root_cap
    else:
        node_slot = lookup_target_slot(k, root_cap, node_index, node_depth)
        node_cte = ctes.get(node_slot)
        node_cap = NULL_CAP if node_cte is None else node_cte.cap
    if node_cap.capType != cap_cnode_cap:
        raise SyscallError(seL4_FailedLookup, (0,) + lookup_fault_missing_capability_new(node_depth).to_mrs())

    node_size = 1 << node_cap.capCNodeRadix
    if node_offset > node_size - 1:
        raise SyscallError(seL4_RangeError, (0, node_size - 1))
    if node_window < 1 or node_window > CONFIG_RETYPE_FAN_OUT_LIMIT:
        raise SyscallError(seL4_RangeError, (1, CONFIG_RETYPE_FAN_OUT_LIMIT))
    if node_window > node_size - node_offset:
        raise SyscallError(seL4_RangeError, (1, node_size - node_offset))

    dest_cnode = node_cap.capCNodePtr
    for i in range(node_offset, node_offset + node_window):
        ensure_empty_slot(k, dest_cnode + (i << seL4_SlotBits))

    # With no children the whole untyped is reused (after a reset); otherwise allocation
    # continues from the watermark. ensureNoChildren, without raising.
    ut_cte = ctes[slot]
    has_children = ut_cte.next != 0 and is_mdb_parent_of(ut_cte, ctes[ut_cte.next])
    if has_children:
        free_index = cap.capFreeIndex
        reset = False
    else:
        free_index = 0
        reset = True
    free_ref = cap.capPtr + (free_index << 4)
    # The capacity test ignores alignment: anything that fits also fits aligned up.
    untyped_free_bytes = (1 << cap.capBlockSize) - (free_index << 4)
    if (untyped_free_bytes >> object_size) < node_window:
        raise SyscallError(seL4_NotEnoughMemory, (untyped_free_bytes,))
    device_memory = bool(cap.capIsDevice)
    if device_memory and not arch_is_frame_type(new_type) and new_type != seL4_UntypedObject:
        raise SyscallError(seL4_InvalidArgument, (1,))
    aligned_free_ref = align_up(free_ref, object_size)

    k.set_restart()
    invoke_untyped_retype(
        k, slot, reset, aligned_free_ref, new_type, user_obj_size, dest_cnode, node_offset, node_window, device_memory
    )


def reset_untyped_cap(k: Kernel, src_slot: int) -> None:
    """Models resetUntypedCap: clear the used part of a childless untyped and set freeIndex to 0.

    Clearing memory destroys whatever objects were there, so they leave Kernel.objects (the C
    annotation retypes the whole region to bytes; l4v's reset_untyped_cap detypes it). The C
    clears 2^CONFIG_RESET_CHUNK_BITS-byte chunks from the top with a preemption point after each;
    without preemption the end state is the same: freeIndex 0.
    """
    cte = k.ctes[src_slot]
    prev_cap: Any = cte.cap
    if prev_cap.capFreeIndex == 0:
        return
    k.delete_objects(prev_cap.capPtr, prev_cap.capBlockSize)
    cte.cap = prev_cap._replace(capFreeIndex=0)


def invoke_untyped_retype(
    k: Kernel,
    src_slot: int,
    reset: bool,
    retype_base: int,
    new_type: int,
    user_size: int,
    dest_cnode: int,
    dest_offset: int,
    dest_length: int,
    device_memory: bool,
) -> None:
    """Models invokeUntyped_Retype: reset if asked, advance the watermark, create the objects."""
    if reset:
        reset_untyped_cap(k, src_slot)
    cte = k.ctes[src_slot]
    region_base = cte.cap.capPtr
    object_size = object_size_bits(new_type, user_size)
    free_ref = retype_base + (dest_length << object_size)
    cte.cap = cte.cap._replace(capFreeIndex=(free_ref - region_base) >> 4)
    create_new_objects(k, new_type, src_slot, dest_cnode, dest_offset, dest_length, retype_base, user_size, device_memory)


def create_object(k: Kernel, obj_type: int, region_base: int, user_size: int, device_memory: bool) -> tuple[Cap, KernelObject | None]:
    """Models createObject (with x86 Arch_createObject/Mode_createObject): the default cap and the object."""
    if obj_type == seL4_TCBObject:
        return ThreadCap(region_base + TCB_OFFSET), Tcb(region_base, k.cur_domain)
    if obj_type == seL4_EndpointObject:
        return EndpointCap(region_base, 0, True, True, True, True), Endpoint(region_base, object_size_bits(obj_type, 0))
    if obj_type == seL4_NotificationObject:
        return NotificationCap(region_base, 0, True, True), Notification(region_base, object_size_bits(obj_type, 0))
    if obj_type == seL4_CapTableObject:
        return CNodeCap(region_base, user_size, 0, 0), CNode(region_base, user_size)
    if obj_type == seL4_UntypedObject:
        # No object: an untyped is just a cap over memory.
        return UntypedCap(region_base, user_size, device_memory, 0), None
    if obj_type == seL4_SchedContextObject:
        return SchedContextCap(region_base, user_size), SchedContext(region_base, user_size)
    if obj_type == seL4_ReplyObject:
        return ReplyCap(region_base, True), Reply(region_base, object_size_bits(obj_type, 0))
    if obj_type in _FRAME_SIZE:
        size = _FRAME_SIZE[obj_type]
        cap = FrameCap(region_base, size, VMReadWrite, device_memory, X86_MappingNone, asidInvalid, 0)
        return cap, Frame(region_base, obj_type, object_size_bits(obj_type, 0), device_memory)
    if obj_type == seL4_X86_PageTableObject:
        return PageTableCap(region_base, False, asidInvalid, 0), KernelObject(region_base, obj_type, seL4_PageTableBits)
    if obj_type == seL4_X86_PageDirectoryObject:
        return PageDirectoryCap(region_base, False, asidInvalid, 0), KernelObject(region_base, obj_type, seL4_PageDirBits)
    if obj_type == seL4_X86_PDPTObject:
        return PDPTCap(region_base, False, asidInvalid, 0), KernelObject(region_base, obj_type, seL4_PDPTBits)
    if obj_type == seL4_X64_PML4Object:
        # copyGlobalMappings: kernel mappings are not modelled.
        return PML4Cap(region_base, False, asidInvalid), KernelObject(region_base, obj_type, seL4_PML4Bits)
    raise AssertionError(f"createObject: invalid object type {obj_type}")  # the C fail()s; decode rules it out


def create_new_objects(
    k: Kernel,
    obj_type: int,
    parent: int,
    dest_cnode: int,
    dest_offset: int,
    dest_length: int,
    region_base: int,
    user_size: int,
    device_memory: bool,
) -> None:
    """Models createNewObjects: object i at region_base + i*2^size, its cap in dest slot offset+i."""
    object_size = object_size_bits(obj_type, user_size)
    new_objects = []
    for i in range(dest_length):
        cap, obj = create_object(k, obj_type, region_base + (i << object_size), user_size, device_memory)
        if obj is not None:
            new_objects.append(obj)
        # Each new cap goes right after the untyped, so the list ends up newest-first.
        insert_new_cap(k, parent, dest_cnode + ((dest_offset + i) << seL4_SlotBits), cap)
    if new_objects:
        k.add_objects(new_objects)
