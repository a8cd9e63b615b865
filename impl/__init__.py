"""impl: the concrete seL4 kernel (x86_64, CONFIG_KERNEL_MCS), written from seL4's C at 1326364bc.

Entry points: ``impl.boot(...) -> Kernel`` boots a root task; ``Kernel.syscall(...)`` is the trap
for the running thread; ``impl.libsel4`` has the libsel4 stubs. ``impl`` imports only
``spec.abi`` from ``spec``.

Data layout (what an abstraction function reads)
-------------------------------------------------
Addresses are physical and the kernel window maps them 1:1, so a kernel pointer, a cap's
pointer field and an ``untyped_list`` paddr are the same number.

* **Objects**: ``k.objects: dict[int, KernelObject]``, keyed by base address. Each has
  ``obj_type`` (a ``spec.abi`` seL4_ObjectType value; the one boot ASID pool uses
  ``impl.objects.ASID_POOL_OBJECT`` = -1) and ``size_bits``. Subclasses (``impl.objects``):
  ``CNode`` (``radix``), ``Tcb``, ``Endpoint``, ``Notification``, ``SchedContext``, ``Reply``,
  ``Frame`` (``is_device``); paging structures and the PML4 are plain ``KernelObject``.
  Untyped memory is not an object (Retype to seL4_UntypedObject only makes a cap). Objects
  appear only at boot and in Untyped_Retype; they disappear only when a reset of a childless
  untyped clears its memory (``resetUntypedCap``). Deleting the last cap to an object does not
  remove it. Boot objects lie outside every untyped. References between objects
  (``tcb.tcbSchedContext``, ``sc.scTcb``) are object base addresses, 0 for none.

* **Slots**: ``k.ctes`` maps a slot address to a ``CTE`` for every slot that holds a non-null
  cap (a slot absent from it is null with the null MDB node). A CNode's slot i is at
  ``cnode.base + 32*i``; a TCB's slot i (``tcbCTable``=0 .. ``tcbTimeoutHandler``=4) at
  ``tcb.base + 32*i``. ``k.ctes.sorted_slots()`` lists them in address order;
  ``k.cap_at(slot)`` gives the cap or the null cap.

* **MDB / CDT**: ``CTE.prev``, ``CTE.next`` (slot addresses, 0 = none), ``CTE.revocable``
  (l4v ``is_original_cap``) and ``CTE.first_badged``. The lists are pre-order walks of the CDT;
  parenthood is not stored: ``impl.cnode.is_mdb_parent_of(cte_a, cte_b)`` as in the C, and the
  descendants of slot p are the maximal run of ``next`` successors x with
  ``is_mdb_parent_of(ctes[p], ctes[x])`` (``impl.invariants.mdb_descendants``;
  ``impl.invariants.cdt_parent_map`` gives child -> nearest ancestor).

* **Caps**: immutable ``NamedTuple`` records in ``impl.caps`` with the C field names and
  ``capType`` = the C tag (``spec.abi.cap_*``), e.g. ``UntypedCap(capPtr, capBlockSize,
  capIsDevice, capFreeIndex)`` with capFreeIndex in 16-byte units (boot untypeds are full:
  ``2^(capBlockSize-4)``); ``EndpointCap(capEPPtr, capEPBadge, capCanSend, capCanReceive,
  capCanGrant, capCanGrantReply)``; ``CNodeCap(capCNodePtr, capCNodeRadix, capCNodeGuardSize,
  capCNodeGuard)``; ``ThreadCap(capTCBPtr)`` pointing at the tcb_t = object base + TCB_OFFSET;
  ``SchedContextCap(capSCPtr, capSCSizeBits)`` with full size bits; ``ZombieCap(capZombieID,
  capZombieType)`` with properties ``capZombiePtr``/``capZombieNumber``; x86 ``FrameCap``,
  ``PageTableCap``, ``PageDirectoryCap``, ``PDPTCap``, ``PML4Cap``, ``ASIDPoolCap``...
  ``impl.caps.cap_get_cap_ptr`` / ``cap_get_cap_size_bits`` give a cap's memory region.

* **Threads**: ``k.current`` is the running ``Tcb`` (``k.idle_thread``, not in ``k.objects``,
  when no user thread can run). A Tcb has ``tcbState`` (``impl.objects.ThreadState_*``),
  ``tcbSchedContext``, ``tcbPriority``, ``tcbMCP``, ``tcbDomain``, ``tcbIPCBuffer``, registers
  (``cap_register`` = badge register, ``msg_info_register``, ``reply_register``, ``mr_regs``)
  and ``ipc_buffer`` (``msg`` 120 words, ``caps_or_badges``, receive path).

* **Bootinfo**: ``k.bootinfo`` (``impl.structures.BootInfo``): ``empty``, ``untyped``,
  ``schedcontrol``, ``user_image_frames``, ``user_image_paging``, ``extra_bi_pages``
  (``SlotRegion(start, end)``, half-open), ``untyped_list`` (``UntypedDesc(paddr, size_bits,
  is_device)``), ``init_thread_cnode_size_bits``.

``impl.invariants.check_kernel(k, full=True)`` checks l4v's concrete MDB invariants and
object-layout properties on a state.

Not modelled yet (reported, never raised)
-----------------------------------------
``SyscallResult.not_modelled`` names the seL4 function that would have run, and the state is
unchanged: IPC (sendIPC on endpoints, sendSignal, doReplyTransfer, every receive-side syscall),
Yield and budgets, TCB / SchedContext / SchedControl / Domain / IRQ invocations beyond their
label checks, x86 Map/Unmap and ASID/IO-port invocations (X86PageGetAddress is modelled).
Preemption is not modelled: Revoke, Delete (Zombie reduction) and untyped reset run to the end.
A cap fault (and an unknown syscall) makes the thread Inactive, as seL4 does for a thread with
no fault handler; ``SyscallResult.fault`` describes it.
"""

from impl.boot import boot
from impl.kernel import Kernel
from impl.structures import CTE, BootInfo, CapFault, SlotRegion, SyscallResult, UnknownSyscallFault, UntypedDesc

__all__ = [
    "boot",
    "Kernel",
    "CTE",
    "BootInfo",
    "CapFault",
    "SlotRegion",
    "SyscallResult",
    "UnknownSyscallFault",
    "UntypedDesc",
]
