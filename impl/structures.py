"""Plain kernel data: CTEs, lookup faults, faults, errors, bootinfo, and what a syscall returns."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from spec.abi import (
    lookup_fault_depth_mismatch,
    lookup_fault_guard_mismatch,
    lookup_fault_invalid_root,
    lookup_fault_missing_capability,
    message_info_fields,
)

from impl.caps import Cap


class CTE:
    """cte_t: a capability and its mdb_node (include/object/structures.h, structures_64.bf).

    ``prev``/``next`` are slot addresses, 0 meaning none. Only slots holding a non-null cap
    are stored (a null slot always has the null MDB node, l4v ``valid_nullcaps``).
    """

    __slots__ = ("cap", "prev", "next", "revocable", "first_badged")

    def __init__(self, cap: Cap, prev: int, next: int, revocable: bool, first_badged: bool) -> None:
        """A slot's contents, as the C writes cte->cap and cte->cteMDBNode."""
        self.cap = cap
        self.prev = prev
        self.next = next
        self.revocable = revocable
        self.first_badged = first_badged

    def __repr__(self) -> str:
        """Readable form for counterexamples."""
        return (
            f"CTE({self.cap!r}, prev={self.prev:#x}, next={self.next:#x}, "
            f"revocable={self.revocable}, first_badged={self.first_badged})"
        )


class SlotTable(dict[int, CTE]):
    """Kernel.ctes: slot address -> CTE for every non-null slot, plus a sorted index of the
    addresses so that "highest occupied slot in a range" (Zombie reduction) is a bisection."""

    __slots__ = ("_sorted",)

    def __init__(self) -> None:
        """An empty table."""
        super().__init__()
        self._sorted: list[int] = []

    def __setitem__(self, slot: int, cte: CTE) -> None:
        """Store a slot, indexing its address if new."""
        if slot not in self:
            bisect.insort(self._sorted, slot)
        super().__setitem__(slot, cte)

    def __delitem__(self, slot: int) -> None:
        """Forget a slot (it became null)."""
        super().__delitem__(slot)
        del self._sorted[bisect.bisect_left(self._sorted, slot)]

    def pop(self, slot: int, *default: Any) -> Any:  # type: ignore[override]
        """dict.pop, keeping the index."""
        if slot in self:
            cte = super().pop(slot)
            del self._sorted[bisect.bisect_left(self._sorted, slot)]
            return cte
        return super().pop(slot, *default)

    def highest_in(self, lo: int, hi: int) -> int:
        """The highest stored slot address in [lo, hi), or -1."""
        i = bisect.bisect_left(self._sorted, hi)
        if i and self._sorted[i - 1] >= lo:
            return self._sorted[i - 1]
        return -1

    def sorted_slots(self) -> list[int]:
        """All stored slot addresses, ascending (a copy)."""
        return list(self._sorted)


class LookupFault(NamedTuple):
    """lookup_fault_t (structures_64.bf); lufType is the kernel's (user type = lufType + 1)."""

    lufType: int
    bitsLeft: int = 0
    bitsFound: int = 0
    guardFound: int = 0

    def to_mrs(self) -> tuple[int, ...]:
        """Models setMRs_lookup_failure (src/api/faults.c): the words from offset on."""
        t = self.lufType
        if t == lookup_fault_invalid_root:
            return (t + 1,)
        if t == lookup_fault_missing_capability:
            return (t + 1, self.bitsLeft)
        if t == lookup_fault_depth_mismatch:
            return (t + 1, self.bitsLeft, self.bitsFound)
        return (t + 1, self.bitsLeft, self.guardFound, self.bitsFound)


def lookup_fault_invalid_root_new() -> LookupFault:
    """Models lookup_fault_invalid_root_new."""
    return LookupFault(lookup_fault_invalid_root)


def lookup_fault_missing_capability_new(bits_left: int) -> LookupFault:
    """Models lookup_fault_missing_capability_new (bitsLeft is a 7-bit field)."""
    return LookupFault(lookup_fault_missing_capability, bits_left & 0x7F)


def lookup_fault_depth_mismatch_new(bits_found: int, bits_left: int) -> LookupFault:
    """Models lookup_fault_depth_mismatch_new(bitsFound, bitsLeft)."""
    return LookupFault(lookup_fault_depth_mismatch, bits_left & 0x7F, bits_found & 0x7F)


def lookup_fault_guard_mismatch_new(guard_found: int, bits_left: int, bits_found: int) -> LookupFault:
    """Models lookup_fault_guard_mismatch_new(guardFound, bitsLeft, bitsFound)."""
    return LookupFault(lookup_fault_guard_mismatch, bits_left & 0x7F, bits_found & 0x7F, guard_found)


class LookupFailed(Exception):
    """A failed CSpace walk (C: EXCEPTION_LOOKUP_FAULT with current_lookup_fault set)."""

    def __init__(self, fault: LookupFault) -> None:
        """Carry the lookup fault the walk produced."""
        super().__init__(fault)
        self.fault = fault


class SyscallError(Exception):
    """C: EXCEPTION_SYSCALL_ERROR with current_syscall_error; ``mrs`` are setMRs_syscall_error's words."""

    def __init__(self, error: int, mrs: tuple[int, ...] = ()) -> None:
        """An seL4_Error and its reply payload."""
        super().__init__(error, mrs)
        self.error = error
        self.mrs = mrs


class NotModelled(Exception):
    """Raised by decode before any state change when the operation is outside the model."""

    def __init__(self, what: str) -> None:
        """Name of the seL4 function that would have run."""
        super().__init__(what)
        self.what = what


class CapFault(NamedTuple):
    """seL4_Fault_CapFault: the cptr whose lookup failed, the phase, and the lookup fault."""

    address: int
    in_receive_phase: bool
    lookup_failure: LookupFault

    def to_mrs(self) -> tuple[int, ...]:
        """The fault message a handler would receive (seL4_CapFault_IP=0 .. lookup failure at 3)."""
        return (0, self.address, int(self.in_receive_phase)) + self.lookup_failure.to_mrs()


class UnknownSyscallFault(NamedTuple):
    """seL4_Fault_UnknownSyscall: a syscall number outside [SYSCALL_MIN, SYSCALL_MAX]."""

    syscall_number: int


Fault = CapFault | UnknownSyscallFault


class SyscallResult(NamedTuple):
    """What the calling thread's registers hold after the syscall returns to it.

    ``msg_info`` is the msgInfo register (for a Call that got a kernel reply: label = seL4_Error,
    length = number of reply words); ``badge`` the badge register; ``mrs`` the first ``length``
    reply words (registers, then IPC buffer); ``mr_regs`` the 4 message registers.
    ``fault`` is set when the kernel raised a fault for the thread (with no fault handler the
    thread is then Inactive and ``Kernel.current`` is the idle thread). ``not_modelled`` names the
    seL4 function that would have run when the operation is outside the model (state unchanged).
    ``idle`` is True when no user thread was running, so nothing happened.
    """

    msg_info: int
    badge: int
    mrs: tuple[int, ...] = ()
    mr_regs: tuple[int, ...] = (0, 0, 0, 0)
    fault: Fault | None = None
    not_modelled: str | None = None
    idle: bool = False

    @property
    def label(self) -> int:
        """seL4_MessageInfo_get_label of msg_info (the seL4_Error of a Call reply)."""
        return message_info_fields(self.msg_info)[0]

    @property
    def length(self) -> int:
        """seL4_MessageInfo_get_length of msg_info."""
        return message_info_fields(self.msg_info)[3]


@dataclass(frozen=True, slots=True)
class SlotRegion:
    """seL4_SlotRegion: root CNode slots [start, end)."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class UntypedDesc:
    """seL4_UntypedDesc: one boot untyped, describing slot bootinfo.untyped.start + its index."""

    paddr: int
    size_bits: int
    is_device: bool


@dataclass(slots=True)
class BootInfo:
    """seL4_BootInfo, the fields the model fills (libsel4/include/sel4/bootinfo_types.h)."""

    node_id: int
    num_nodes: int
    ipc_buffer: int
    init_thread_cnode_size_bits: int
    init_thread_domain: int
    empty: SlotRegion
    user_image_frames: SlotRegion
    user_image_paging: SlotRegion
    extra_bi_pages: SlotRegion
    schedcontrol: SlotRegion
    untyped: SlotRegion
    untyped_list: list[UntypedDesc] = field(default_factory=list)
