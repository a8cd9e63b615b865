"""Random system-call mixes for fuzzing, benchmarks and refinement traces.

``random_syscall(rng, k)`` plays the root task: it picks the next system call (mostly
plausible CNode and Untyped invocations aimed at slots that exist, some pure garbage), sets the
extra caps in the running thread's IPC buffer as seL4_SetCap would, and returns the arguments
for ``Kernel.syscall``. It reads the kernel state only to aim (as a user who keeps track of
its own CSpace would); it never changes it.
"""

from __future__ import annotations

import bisect
import random
from typing import Any, NamedTuple

from spec.abi import (
    CNodeCancelBadgedSends,
    CNodeCopy,
    CNodeDelete,
    CNodeMint,
    CNodeMove,
    CNodeMutate,
    CNodeRevoke,
    CNodeRotate,
    SYSCALL_MIN,
    UntypedRetype,
    X86PageGetAddress,
    cap_cnode_cap,
    cap_untyped_cap,
    message_info_new,
    seL4_CapInitThreadCNode,
    seL4_CapTableObject,
    seL4_SchedContextObject,
    seL4_SlotBits,
    seL4_SysCall,
    seL4_SysNBSend,
    seL4_SysSend,
    seL4_UntypedObject,
)

from impl.caps import MASK64
from impl.kernel import Kernel


class Syscall(NamedTuple):
    """Arguments of Kernel.syscall (extra caps are already in the IPC buffer)."""

    sysno: int
    cptr: int
    msg_info: int
    mrs: tuple[int, ...]


_CNODE_LABELS = (CNodeRevoke, CNodeDelete, CNodeCancelBadgedSends, CNodeCopy, CNodeMint, CNodeMove, CNodeMutate, CNodeRotate)
_CNODE_LENGTH = {
    CNodeRevoke: 2,
    CNodeDelete: 2,
    CNodeCancelBadgedSends: 2,
    CNodeCopy: 5,
    CNodeMint: 6,
    CNodeMove: 4,
    CNodeMutate: 5,
    CNodeRotate: 8,
}
_CNODE_EXTRA = {CNodeCopy: 1, CNodeMint: 1, CNodeMove: 1, CNodeMutate: 1, CNodeRotate: 2}


def _garbage(rng: random.Random) -> int:
    """Any register value: small, huge, negative, or around a power of two."""
    r = rng.random()
    if r < 0.3:
        return rng.randrange(-8, 80)
    if r < 0.6:
        return rng.getrandbits(64)
    if r < 0.8:
        return (1 << rng.randrange(0, 70)) + rng.randrange(-2, 3)
    return rng.randrange(-(1 << 70), 1 << 70)


class Aim:
    """The root task's view of its CSpace: occupied root slots, CNode and untyped caps among them."""

    def __init__(self, k: Kernel) -> None:
        """Scan the root CNode's stored slots."""
        cnode_cte = k.ctes.get(k.current.base)  # tcbCTable
        self.root_ptr = 0
        self.root_radix = 12
        if cnode_cte is not None and cnode_cte.cap.capType == cap_cnode_cap:
            c: Any = cnode_cte.cap
            self.root_ptr = c.capCNodePtr
            self.root_radix = c.capCNodeRadix
        lo = self.root_ptr
        hi = lo + ((1 << self.root_radix) << seL4_SlotBits)
        self.occupied: list[int] = []
        # A cptr to a cap for the root CNode that translates all 64 bits (slot 2 unless moved).
        self.root_cptr: int | None = None
        self.cnodes: list[tuple[int, int, int]] = []  # (root index, radix, guard size)
        self.untypeds: list[tuple[int, int]] = []  # (root index, block size)
        ctes = k.ctes
        slots = ctes.sorted_slots()
        for a in slots[bisect.bisect_left(slots, lo) : bisect.bisect_left(slots, hi)]:
            i = (a - lo) >> seL4_SlotBits
            self.occupied.append(i)
            cap: Any = ctes[a].cap
            if cap.capType == cap_cnode_cap:
                self.cnodes.append((i, cap.capCNodeRadix, cap.capCNodeGuardSize))
                if (
                    cap.capCNodePtr == self.root_ptr
                    and cap.capCNodeRadix + cap.capCNodeGuardSize == 64
                    and cap.capCNodeGuard == 0
                    and (self.root_cptr is None or i == seL4_CapInitThreadCNode)
                ):
                    self.root_cptr = i
            elif cap.capType == cap_untyped_cap:
                self.untypeds.append((i, cap.capBlockSize))
        self.empty_start = k.bootinfo.empty.start if k.bootinfo is not None else 16
        self.occupied_set = set(self.occupied)

    def free_slot(self, rng: random.Random) -> int:
        """A root slot index that was empty when last looked at (best effort)."""
        i = self.slot(rng, 0.0)
        for _ in range(4):
            if i not in self.occupied_set:
                break
            i = self.slot(rng, 0.0)
        return i

    def slot(self, rng: random.Random, p_occupied: float = 0.6) -> int:
        """A root slot index: occupied with probability p_occupied, else near the empty region."""
        r = rng.random()
        if r < p_occupied and self.occupied:
            return rng.choice(self.occupied)
        if r < 0.97:
            i = self.empty_start + rng.randrange(0, 160)
            if i >= 1 << self.root_radix:
                i = rng.randrange(0, 1 << self.root_radix)
            return i
        return rng.randrange(0, 1 << self.root_radix)


def _cnode_address(rng: random.Random, aim: Aim, p_occupied: float = 0.6) -> tuple[int, int]:
    """(index, depth) naming a slot relative to the root CNode cap, usually validly."""
    r = rng.random()
    if r < 0.85:
        return aim.slot(rng, p_occupied), 64
    if r < 0.95:
        return aim.slot(rng), rng.choice((0, 1, 12, 32, 52, 63, 65, rng.randrange(0, 256)))
    return _garbage(rng), _garbage(rng)


def random_syscall(rng: random.Random, k: Kernel, garbage: float = 0.02, aim: Aim | None = None) -> Syscall:
    """The root task's next system call: plausible invocations plus a `garbage` fraction of noise.

    ``aim`` may be a recent (even slightly stale) Aim(k) to save rescanning the CSpace.
    """
    if aim is None:
        aim = Aim(k)
    buf = k.current.ipc_buffer
    root = seL4_CapInitThreadCNode if aim.root_cptr is None else aim.root_cptr

    r = rng.random()
    if r < 0.92:
        sysno = seL4_SysCall
    elif r < 0.96:
        sysno = seL4_SysSend
    elif r < 0.99:
        sysno = seL4_SysNBSend
    elif r < 1 - garbage / 4:
        sysno = rng.randrange(SYSCALL_MIN, 0)
    else:
        sysno = _garbage(rng)

    mrs = [0] * 8
    extra = 0
    r = rng.random()
    if r < 0.55:
        # CNode invocation, on the root CNode or on another CNode cap we hold.
        label = rng.choice(_CNODE_LABELS)
        if aim.cnodes and rng.random() < 0.25:
            idx, radix, guard = rng.choice(aim.cnodes)
            service = idx
            depth = radix + guard if rng.random() < 0.9 else rng.randrange(0, 70)
            mrs[0], mrs[1] = rng.randrange(0, 1 << min(radix, 16)), depth
        else:
            service = root
            # Copy-like operations want an empty destination; the others an occupied target.
            mrs[0], mrs[1] = _cnode_address(rng, aim, 0.15 if label >= CNodeCopy else 0.8)
        length = _CNODE_LENGTH[label]
        extra = _CNODE_EXTRA.get(label, 0)
        buf.caps_or_badges[0] = root if rng.random() < 0.85 else aim.slot(rng)
        buf.caps_or_badges[1] = root if rng.random() < 0.85 else aim.slot(rng)
        if label == CNodeRotate:
            mrs[2] = 0 if rng.random() < 0.7 else rng.getrandbits(64)
            mrs[3], mrs[4] = _cnode_address(rng, aim, 0.85)
            mrs[5] = 0 if rng.random() < 0.7 else rng.getrandbits(64)
            mrs[6], mrs[7] = _cnode_address(rng, aim, 0.85)
            if rng.random() < 0.2:
                mrs[6], mrs[7] = mrs[0], mrs[1]  # src == dest: a swap
        else:
            mrs[2], mrs[3] = _cnode_address(rng, aim, 0.85)
            mrs[4] = rng.randrange(0, 16) if rng.random() < 0.8 else rng.getrandbits(64)
            if label == CNodeMutate and rng.random() < 0.5:
                mrs[4] = (rng.randrange(0, 4) << 6) | rng.randrange(0, 60)  # CNode guard data
            r2 = rng.random()
            mrs[5] = 0 if r2 < 0.3 else (rng.randrange(1, 8) if r2 < 0.9 else rng.getrandbits(64))
            if label == CNodeMint and rng.random() < 0.3:
                mrs[5] = (rng.randrange(0, 4) << 6) | rng.randrange(0, 60)
    elif r < 0.92:
        # Untyped_Retype, usually on an untyped we hold into the root CNode.
        label = UntypedRetype
        if aim.untypeds and rng.random() < 0.9:
            service, block = rng.choice(aim.untypeds)
        else:
            service, block = aim.slot(rng), 20
        obj_type = rng.randrange(0, 14) if rng.random() < 0.95 else _garbage(rng)
        if obj_type == seL4_UntypedObject:
            size = rng.randrange(4, max(5, block + 1))
        elif obj_type == seL4_CapTableObject:
            size = rng.choice((1, 2, 3, 4, 5, 8, rng.randrange(0, 48)))
        elif obj_type == seL4_SchedContextObject:
            size = rng.randrange(6, 12)
        else:
            size = rng.randrange(0, 4)
        if rng.random() < 0.03:
            size = _garbage(rng)
        mrs[0], mrs[1] = obj_type, size
        if rng.random() < 0.85:
            mrs[2], mrs[3] = 0, 0
        elif aim.cnodes and rng.random() < 0.7:
            idx, radix, guard = rng.choice(aim.cnodes)
            mrs[2], mrs[3] = idx, 64
        else:
            mrs[2], mrs[3] = _cnode_address(rng, aim)
        mrs[4] = aim.free_slot(rng) if rng.random() < 0.95 else _garbage(rng)
        mrs[5] = rng.choice((1, 1, 1, 2, 3, 4, 8, 16)) if rng.random() < 0.95 else _garbage(rng)
        buf.caps_or_badges[0] = root if rng.random() < 0.97 else aim.slot(rng)
        length, extra = 6, 1
    else:
        # Anything else: other labels on any cap we hold, arch invocations, nonsense.
        service = aim.slot(rng)
        label = rng.choice((X86PageGetAddress, rng.randrange(0, 60), rng.randrange(0, 60)))
        for i in range(8):
            mrs[i] = _garbage(rng) if rng.random() < 0.3 else rng.randrange(0, 64)
        length = rng.randrange(0, 9)
        extra = rng.randrange(0, 4)
        for i in range(3):
            buf.caps_or_badges[i] = aim.slot(rng)

    if rng.random() < garbage:
        # Noise in one register or buffer word.
        what = rng.randrange(0, 5)
        if what == 0:
            service = _garbage(rng)
        elif what == 1:
            buf.caps_or_badges[rng.randrange(0, 3)] = _garbage(rng) & MASK64
        elif what == 2:
            mrs[rng.randrange(0, 8)] = _garbage(rng)
        elif what == 3:
            length = rng.randrange(0, 128)
            extra = rng.randrange(0, 4)
        else:
            label = _garbage(rng) & ((1 << 52) - 1)
    if rng.random() < 0.05:
        length = rng.randrange(0, 128)
    info = message_info_new(label & ((1 << 52) - 1), 0, extra, length)
    if rng.random() < 0.01:
        info = _garbage(rng)
    return Syscall(sysno, service, info, tuple(mrs))


class RootTask:
    """A random root task: ``next(k)`` is its next system call (the CSpace view is refreshed
    every ``refresh`` calls or when the kernel changes)."""

    def __init__(self, seed: int, garbage: float = 0.02, refresh: int = 8) -> None:
        """Deterministic for a given seed."""
        self.rng = random.Random(seed)
        self.garbage = garbage
        self.refresh = refresh
        self._aim: Aim | None = None
        self._kernel: Kernel | None = None
        self._age = 0

    @property
    def stuck(self) -> bool:
        """No cap to the root CNode is left that names a slot in one 64-bit step: time to reboot."""
        return self._aim is not None and self._aim.root_cptr is None

    def next(self, k: Kernel) -> Syscall:
        """The next system call for the running thread of k."""
        if self._aim is None or self._kernel is not k or self._age >= self.refresh:
            self._aim = Aim(k)
            self._kernel = k
            self._age = 0
        self._age += 1
        return random_syscall(self.rng, k, self.garbage, self._aim)
