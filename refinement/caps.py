"""The capabilities-and-memory instance of the simulation checker, and its trace generator.

Events are invocations by the root thread (seL4_Call on a cptr, with a label, message words
and extra caps). The impl side runs them through `Kernel.syscall`; the spec side through
`spec.decode.handle_invocation`. Observations agree when the Call's reply (error label,
length, words) is the one the spec computes, or both raise the same cap fault, or both say
the invoked object is outside the model so far.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import impl
from impl import libsel4
from refinement.abstract import CorruptState, Diff, IncrementalAbstraction, abstract
from refinement.checker import Mismatch, Simulation, Stepper, check_trace, shrink
from spec import abi
from spec.decode import CapFault, handle_invocation
from spec.ops import Reply
from spec.state import State

ROOT_CNODE = abi.seL4_CapInitThreadCNode
GHOSTS = ("depth",)  # history-dependent ghost fields, not part of the state relation


@dataclass(frozen=True)
class Invoke:
    """seL4_Call(cptr) with a label, message words and extra-cap cptrs (set with seL4_SetCap)."""

    cptr: int
    label: int
    mrs: tuple[int, ...] = ()
    extra: tuple[int, ...] = ()

    def __str__(self) -> str:
        name = abi.INVOCATION_LABEL_NAMES.get(self.label, str(self.label))
        return f"Call(cptr={self.cptr:#x}, {name}, mrs={[hex(m) for m in self.mrs]}, extra={list(self.extra)})"


@dataclass(frozen=True)
class Stopped:
    """The invocation succeeded but left its caller unable to run (it deleted its own TCB cap,
    say), so no reply reaches it. Thread states belong to the TCB issue: the spec here only
    says the invocation succeeded, and the trace ends."""

    result: Any


def impl_step(k: Any, e: Invoke) -> Any:
    """The concrete kernel runs the event for its running thread."""
    caller = k.current
    for i, x in enumerate(e.extra):
        libsel4.seL4_SetCap(k, i, x)
    info = abi.message_info_new(e.label & ((1 << 52) - 1), 0, len(e.extra), len(e.mrs))
    r = k.syscall(abi.seL4_SysCall, e.cptr, info, e.mrs)
    if r.fault is None and not r.idle and k.current is not caller:
        return Stopped(r)
    return r


def make_spec_step(root_tcb: int) -> Any:
    """The spec's step for the thread whose TCB object is at root_tcb."""
    def spec_step(s: State, e: Invoke) -> tuple[State, Any]:
        return handle_invocation(s, root_tcb, e.cptr, e.label, e.mrs, e.extra)
    return spec_step


def obs_mismatch(o_impl: Any, o_spec: Any) -> str | None:
    """None when the thread sees what the spec says it sees."""
    if isinstance(o_spec, CapFault):
        f = getattr(o_impl, "fault", None)
        if f is None or not hasattr(f, "lookup_failure"):
            return f"spec raises a cap fault on {o_spec.cptr:#x} ({o_spec.lookup}); impl returned {o_impl}"
        got = f.lookup_failure.to_mrs()
        want = o_spec.lookup.words()
        if f.address != o_spec.cptr or got != want:
            return f"cap fault differs: impl cptr {f.address:#x} lookup {got}, spec cptr {o_spec.cptr:#x} lookup {want}"
        return None
    if o_spec is None:
        # The spec does not model this object's invocations yet (IPC and scheduling issues):
        # the reply is not compared, but the caps-and-memory state still must not change.
        return None
    assert isinstance(o_spec, Reply)
    if isinstance(o_impl, Stopped):
        # Only a successful invocation can take the caller's TCB or SchedContext away.
        if o_spec.error != abi.seL4_NoError:
            return f"spec replies {o_spec}; impl stopped the calling thread ({o_impl.result})"
        return None
    if o_impl.fault is not None or o_impl.not_modelled:
        return f"spec replies {o_spec}; impl returned {o_impl}"
    label, _, _, length = abi.message_info_fields(o_impl.msg_info)
    want = tuple(o_spec.mrs[: o_spec.length])
    got = tuple(o_impl.mrs[:length])
    if (label, length, got) != (o_spec.error, o_spec.length, want):
        return (f"reply differs: impl {abi.ERROR_NAMES.get(label, label)} words {[hex(x) for x in got]}, "
                f"spec {abi.ERROR_NAMES.get(o_spec.error, o_spec.error)} words {[hex(x) for x in want]}")
    return None


def diff(a_impl: State, a_spec: State) -> str | None:
    """The first field (and key) where abstract(impl) and the spec state differ."""
    for f in dataclasses.fields(State):
        if f.name in GHOSTS:
            continue
        mi, ms = getattr(a_impl, f.name), getattr(a_spec, f.name)
        if mi is ms or mi == ms:
            continue
        di, ds = dict(mi.items()), dict(ms.items())
        for key in sorted(set(di) | set(ds)):
            vi, vs = di.get(key, mi.default), ds.get(key, ms.default)
            if vi != vs:
                k = f"{key >> 64:#x}->{key & ((1 << 64) - 1):#x}" if f.name == "anc" else f"{key:#x}"
                return f"{f.name}[{k}]: impl {_show(vi)}, spec {_show(vs)}"
    return None


def _show(v: Any) -> str:
    return hex(v) if isinstance(v, int) and not isinstance(v, bool) else repr(v)


def rep_inv(k: Any) -> list[str]:
    """impl's concrete MDB invariants (l4v valid_mdb_ctes), as impl checks them."""
    from impl.invariants import check_kernel
    try:
        check_kernel(k, full=False)
    except AssertionError as err:
        return [f"{type(err).__name__}: {err}"]
    return []


class IncrementalRepInv:
    """rep_inv after each step, looking only at what the step changed (the abstraction's Diff).

    Before the step the whole representation invariant held, so it can only have broken where
    slots changed: their links and their neighbours' back links, links into them from their old
    neighbours, the old neighbours of emptied slots, an MDB cycle through a changed slot, their
    caps (valid_cap, ut_revocable', the badge rule with either neighbour) and the objects
    holding them. A step that adds or removes objects, or writes an IRQControl cap, gets impl's
    whole check_kernel, and so does every `full_every`-th step, as a cross-check.
    """

    def __init__(self, view: IncrementalAbstraction, full_every: int = 32) -> None:
        """Check against the changes that `view` sees."""
        self.view = view
        self.full_every = full_every
        self.steps = 0

    def __call__(self, k: Any) -> list[str]:
        """The violated invariants (empty when all hold)."""
        self.steps += 1
        d = self.view.diff(k)
        if (d is None or d.objects_added or d.objects_removed
                or (self.full_every and self.steps % self.full_every == 0)):
            return rep_inv(k)
        try:
            _check_changed(k, d)
        except AssertionError as err:
            return [f"{type(err).__name__}: {err}"]
        return []


def _check_changed(k: Any, d: Diff) -> None:
    """impl.invariants' linear checks, for the slots d says changed (raises AssertionError)."""
    from impl.invariants import check_caps, check_slots_in_objects
    ctes = k.ctes
    assert 0 not in ctes, "no_0: a slot at address 0"
    for x, (prev, nxt) in d.removed.items():
        for y, field in ((prev, "next"), (nxt, "prev")):
            assert not (y in ctes and getattr(ctes[y], field) == x), f"valid_dlist: {y:#x}.{field} = {x:#x} is an empty slot"
    # A link into a changed slot from one that did not change was one of its old links.
    for x, (prev, nxt) in d.before.items():
        cte = ctes[x]
        if prev and prev in ctes and ctes[prev].next == x:
            assert cte.prev == prev, f"valid_dlist: {prev:#x}.next = {x:#x} but {x:#x}.prev = {cte.prev:#x}"
        if nxt and nxt in ctes and ctes[nxt].prev == x:
            assert cte.next == nxt, f"valid_dlist: {nxt:#x}.prev = {x:#x} but {x:#x}.next = {cte.next:#x}"
    whole = False
    n = len(ctes)
    for x in d.changed:
        cte = ctes[x]
        c: Any = cte.cap
        t = c.capType
        assert t != 0, f"valid_nullcaps: null cap stored at {x:#x}"
        nx, pv = cte.next, cte.prev
        if nx:
            assert nx in ctes, f"valid_dlist: {x:#x}.next = {nx:#x} is an empty slot"
            assert ctes[nx].prev == x, f"valid_dlist: {x:#x}.next = {nx:#x} but {nx:#x}.prev = {ctes[nx].prev:#x}"
        if pv:
            assert pv in ctes, f"valid_dlist: {x:#x}.prev = {pv:#x} is an empty slot"
            assert ctes[pv].next == x, f"valid_dlist: {x:#x}.prev = {pv:#x} but {pv:#x}.next = {ctes[pv].next:#x}"
        # mdb_chain_0: any new cycle runs through a changed slot; its head must be reachable.
        y, steps = x, 0
        while ctes[y].prev:
            y = ctes[y].prev
            steps += 1
            assert steps <= n, f"mdb_chain_0: {x:#x} lies on a cycle"
        if t == abi.cap_irq_control_cap:
            whole = True  # there may be only one: a question about every slot
    if d.changed:
        check_slots_in_objects(_Restricted(k, d.changed))
        if whole:
            check_caps(k)
        else:
            # The badge rule looks at each slot and its successor: pairs with a changed slot.
            pairs = set(d.changed) | {ctes[x].prev for x in d.changed if ctes[x].prev}
            check_caps(_Restricted(k, sorted(pairs)))


class _Restricted:
    """A kernel seen through a subset of its slots, for impl's per-slot checks."""

    def __init__(self, k: Any, slots: list[int]) -> None:
        self.objects = k.objects
        self.ctes = _SlotsView(k.ctes, slots)


class _SlotsView(dict):  # type: ignore[type-arg]
    """The chosen slots for iteration; every slot for lookups (a neighbour may be outside)."""

    def __init__(self, ctes: Any, slots: list[int]) -> None:
        super().__init__((x, ctes[x]) for x in slots)
        self.all = ctes

    def __getitem__(self, x: int) -> Any:
        return self.all[x]

    def get(self, x: int, default: Any = None) -> Any:  # type: ignore[override]
        return self.all.get(x, default)

    def __contains__(self, x: object) -> bool:
        return x in self.all


def simulation(k: Any, incremental: bool = True) -> Simulation[Any, State, Invoke]:
    """The capabilities-and-memory Simulation for a booted kernel.

    incremental: abstract and check the representation invariant from what each step changed,
    with the full versions as a periodic cross-check (IncrementalAbstraction); False runs the
    full ones at every step.
    """
    view = IncrementalAbstraction() if incremental else None
    return Simulation(name="caps", impl_step=impl_step, spec_step=make_spec_step(k.current.base),
                      abstract=view or abstract, rep_inv=IncrementalRepInv(view) if view else rep_inv,
                      obs_mismatch=obs_mismatch, diff=diff,
                      stops=lambda o: isinstance(o, Stopped) or o.fault is not None or o.idle)


class RefinementError(AssertionError):
    """A system call made through a checked kernel was not a spec step."""

    def __init__(self, trace: list[Invoke], m: Mismatch) -> None:
        """Keep the calls so far and the first difference."""
        lines = [f"  {i}: {e}" for i, e in enumerate(trace)]
        super().__init__(f"impl is not a spec step ({m.what}) at call {m.step}:\n" + "\n".join(lines)
                         + f"\nfirst difference: {m.detail}")
        self.mismatch = m


class Checked:
    """A kernel whose every seL4_Call is refinement-checked, for code written against impl.libsel4.

    It replaces the instance's `syscall` with one that reads the call as libsel4 made it (the
    registers, the message words past them from the IPC buffer, the extra caps set with
    seL4_SetCap), runs it on the kernel and on the spec through the caps Simulation, and raises
    RefinementError on the first difference. Other system calls run unchecked, and the abstract
    state is taken afresh after them. `calls` lists the checked events.
    """

    def __init__(self, k: Any) -> None:
        """Start checking k."""
        self.k = k
        self._syscall = k.syscall
        self._args: tuple[Any, ...] = ()
        sim = dataclasses.replace(simulation(k), impl_step=self._impl_step)
        self.stepper = Stepper(sim, k)
        self.calls: list[Invoke] = []
        k.syscall = self.syscall

    def _impl_step(self, k: Any, e: Invoke) -> Any:
        caller = k.current
        r = self._syscall(*self._args)
        return Stopped(r) if r.fault is None and not r.idle and k.current is not caller else r

    def syscall(self, sysno: int, cptr: int, msg_info: int, mrs: Sequence[int] = (), reply: int = 0) -> Any:
        """Kernel.syscall, checked against the spec when it is a Call."""
        t = self.k.current
        if sysno != abi.seL4_SysCall or t is self.k.idle_thread:
            r = self._syscall(sysno, cptr, msg_info, mrs, reply)
            self.stepper.a = self.stepper.sim.abstract(self.k)
            return r
        label, _, extra, length = abi.message_info_fields(msg_info & ((1 << 64) - 1))
        length = min(length, abi.seL4_MsgMaxLength)
        # As Kernel.syscall reads them: mrs[0:4] are the registers (a missing one is the buffer's
        # word), mrs[4:] are stored to the buffer first.
        buf = t.ipc_buffer.msg
        words = tuple((mrs[i] if i < len(mrs) else buf[i]) & ((1 << 64) - 1) for i in range(length))
        caps = tuple(t.ipc_buffer.caps_or_badges[i] for i in range(extra))
        e = Invoke(cptr & ((1 << 64) - 1), label, words, caps)
        self.calls.append(e)
        self._args = (sysno, cptr, msg_info, mrs, reply)
        m = self.stepper.step(e)
        if m is not None:
            raise RefinementError(self.calls, m)
        o = self.stepper.last_obs
        if self.stepper.stopped:
            # The thread cannot go on; whatever runs next is checked from a fresh abstraction.
            self.stepper = Stepper(self.stepper.sim, self.k)
        return o.result if isinstance(o, Stopped) else o

    def close(self) -> None:
        """Stop checking: the kernel's own syscall again."""
        self.k.__dict__.pop("syscall", None)

    def __enter__(self) -> "Checked":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def checked(k: Any) -> Checked:
    """Refinement-check every seL4_Call made on k (see Checked); use as a context manager."""
    return Checked(k)


# --------------------------------------------------------------------------------------------
# Trace generation: mostly well-formed invocations on the root CNode, its untypeds and the
# CNodes retyped from them, with a share of garbage (random labels, depths, cptrs, sizes).

CNODE_LABELS = list(range(abi.CNodeRevoke, abi.CNodeRotate + 1))


class TraceGen:
    """A seeded generator of invocation events for a booted root task."""

    def __init__(self, k: Any, rnd: random.Random) -> None:
        bi = k.bootinfo
        self.rnd = rnd
        self.untypeds = list(range(bi.untyped.start, bi.untyped.end))
        self.small_uts = [bi.untyped.start + i for i, d in enumerate(bi.untyped_list) if d.size_bits <= 22] or self.untypeds
        self.empty = list(range(bi.empty.start, min(bi.empty.end, bi.empty.start + 48)))
        self.used = [2, 3, 4, 5, 6, 7, 9, 10, 11] + self.untypeds[:4]

    def slot(self) -> int:
        r = self.rnd.random()
        if r < 0.5:
            x = self.rnd.choice(self.empty)
        elif r < 0.9:
            x = self.rnd.choice(self.used)
        else:
            x = self.rnd.randrange(0, 1 << 12)
        # The root thread's own TCB and SchedContext caps stay put: deleting either stops the
        # thread (it is suspended, or left without budget), and that belongs to the TCB and
        # MCS scheduling issues.
        return ROOT_CNODE if x in (abi.seL4_CapInitThreadTCB, abi.seL4_CapInitThreadSC) else x

    def word(self) -> int:
        r = self.rnd.random()
        if r < 0.6:
            return self.rnd.randrange(0, 16)
        if r < 0.9:
            return self.rnd.randrange(0, 1 << 16)
        return self.rnd.randrange(0, 1 << 64)

    def depth(self) -> int:
        return 64 if self.rnd.random() < 0.9 else self.rnd.choice([0, 1, 12, 63, 65, self.word()])

    def event(self) -> Invoke:
        r = self.rnd.random()
        if r < 0.3:
            return self.retype()
        if r < 0.95:
            return self.cnode_op()
        return self.garbage()

    def retype(self) -> Invoke:
        rnd = self.rnd
        t = rnd.choice([abi.seL4_EndpointObject] * 3 + [abi.seL4_CapTableObject, abi.seL4_UntypedObject,
                                                        abi.seL4_NotificationObject] * 2 + list(range(14)) + [14, 99])
        size = {abi.seL4_CapTableObject: rnd.choice([1, 2, 4, 0]), abi.seL4_UntypedObject: rnd.choice([4, 8, 12, 3]),
                abi.seL4_SchedContextObject: rnd.choice([7, 8, 6])}.get(t, rnd.choice([0, 0, 5]))
        n = rnd.choice([1, 1, 2, 3, 0, 300])
        offset = rnd.choice(self.empty)
        node_depth = 0 if rnd.random() < 0.8 else self.depth()
        ut = rnd.choice(self.small_uts if rnd.random() < 0.7 else self.untypeds + self.used)
        mrs = (t, size, ROOT_CNODE, node_depth, offset, n)
        if rnd.random() < 0.05:
            mrs = mrs[: rnd.randrange(0, 6)]
        for i in range(n if n < 10 else 0):
            if offset + i not in self.used:
                self.used.append(offset + i)
        return Invoke(ut, abi.UntypedRetype, mrs, (ROOT_CNODE,))

    def cnode_op(self) -> Invoke:
        rnd = self.rnd
        label = rnd.choice(CNODE_LABELS + [abi.CNodeCopy, abi.CNodeMint, abi.CNodeMint, abi.CNodeRevoke,
                                           abi.CNodeDelete, abi.CNodeMove, abi.CNodeRotate])
        dest, src = self.slot(), self.slot()
        rights = rnd.choice([15, 15, 0, 1, 2, 3, 7, rnd.randrange(16)])
        badge = rnd.choice([0, 1, 2, 5, self.word()])
        if label in (abi.CNodeRevoke, abi.CNodeDelete, abi.CNodeCancelBadgedSends):
            mrs: tuple[int, ...] = (self.slot(), self.depth())
            extra: tuple[int, ...] = ()
        elif label == abi.CNodeRotate:
            pivot = self.slot()
            mrs = (dest, self.depth(), badge, pivot, self.depth(), self.word(), src, self.depth())
            extra = (ROOT_CNODE, ROOT_CNODE)
        else:
            mrs = (dest, self.depth(), src, self.depth(), rights, badge)
            extra = (ROOT_CNODE,) if rnd.random() < 0.95 else (self.slot(),)
        if rnd.random() < 0.05:
            mrs = mrs[: rnd.randrange(0, len(mrs) + 1)]
        if dest not in self.used and rnd.random() < 0.5:
            self.used.append(dest)
        return Invoke(ROOT_CNODE, label, mrs, extra)

    def garbage(self) -> Invoke:
        rnd = self.rnd
        return Invoke(rnd.choice([self.slot(), self.word()]), rnd.randrange(0, 64),
                      tuple(self.word() for _ in range(rnd.randrange(0, 9))),
                      tuple(rnd.choice([self.slot(), self.word()]) for _ in range(rnd.randrange(0, 4))))


def scenarios(k: Any) -> list[list[Invoke]]:
    """Fixed traces for the CDT shapes random traces reach rarely (seL4 manual, cspace.tex §CDT)."""
    bi = k.bootinfo
    e = bi.empty.start
    ut = _small_untyped(k)
    retype_ep = Invoke(ut, abi.UntypedRetype, (abi.seL4_EndpointObject, 0, ROOT_CNODE, 0, e, 1), (ROOT_CNODE,))

    def mint(dest: int, src: int, badge: int) -> Invoke:
        return Invoke(ROOT_CNODE, abi.CNodeMint, (dest, 64, src, 64, 15, badge), (ROOT_CNODE,))

    def copy(dest: int, src: int) -> Invoke:
        return Invoke(ROOT_CNODE, abi.CNodeCopy, (dest, 64, src, 64, 15), (ROOT_CNODE,))

    def op(label: int, slot: int) -> Invoke:
        return Invoke(ROOT_CNODE, label, (slot, 64))

    badged = [retype_ep, mint(e + 1, e, 1), mint(e + 2, e, 2), copy(e + 3, e + 1), copy(e + 4, e + 2),
              op(abi.CNodeRevoke, e + 2), op(abi.CNodeDelete, e + 1), op(abi.CNodeRevoke, e), op(abi.CNodeDelete, e)]
    retype_cnode = Invoke(ut, abi.UntypedRetype, (abi.seL4_CapTableObject, 2, ROOT_CNODE, 0, e + 8, 1), (ROOT_CNODE,))
    # Copy caps into the new CNode (addressed through its own cap, depth = radix), then free it.
    into = Invoke(e + 8, abi.CNodeCopy, (1, 2, ROOT_CNODE, 64, 15), (ROOT_CNODE,))
    reuse = [retype_cnode, retype_ep, into, op(abi.CNodeRevoke, ut),
             Invoke(ut, abi.UntypedRetype, (abi.seL4_NotificationObject, 0, ROOT_CNODE, 0, e + 8, 2), (ROOT_CNODE,))]
    return [badged, reuse, guarded_scenario(k), rotate_scenario(k)]


def _retype(ut: int, obj_type: int, size: int, slot: int, n: int = 1) -> Invoke:
    return Invoke(ut, abi.UntypedRetype, (obj_type, size, ROOT_CNODE, 0, slot, n), (ROOT_CNODE,))


def _small_untyped(k: Any) -> int:
    bi = k.bootinfo
    return bi.untyped.start + next((i for i, d in enumerate(bi.untyped_list) if not d.is_device and d.size_bits >= 12), 0)


def guarded_scenario(k: Any) -> list[Invoke]:
    """Lookups through a CNode with a non-zero guard, one and two levels deep (resolveAddressBits).

    A radix-2 CNode with the 4-bit guard 0b0101 takes 6 bits per level. Indices carry bits
    above the depth (which seL4 ignores), a wrong guard, too few bits, and a second level
    through a copy of the CNode's own cap.
    """
    e = k.bootinfo.empty.start + 16
    ut = _small_untyped(k)
    guard = abi.cnode_cap_data_new(0b0101, 4)
    g = 0b0101 << 2  # the guard, above a 2-bit index

    def copy_into(index: int, depth: int, src: int = ROOT_CNODE) -> Invoke:
        return Invoke(e + 1, abi.CNodeCopy, (index, depth, src, 64, 15), (ROOT_CNODE,))

    return [
        _retype(ut, abi.seL4_CapTableObject, 2, e),
        # Mutate: the moved cap gets the guard (updateCapData with preserve = true).
        Invoke(ROOT_CNODE, abi.CNodeMutate, (e + 1, 64, e, 64, guard), (ROOT_CNODE,)),
        copy_into(g | 1, 6),
        copy_into((0xAB << 6) | g | 2, 6),        # bits above the depth are not the guard's
        copy_into((1 << 63) | g | 0, 6),
        copy_into((0b0100 << 2) | 3, 6),          # wrong guard: GuardMismatch
        copy_into(g | 3, 5),                      # the guard fits, the radix does not: DepthMismatch
        copy_into(g | 3, 4),                      # fewer bits than the guard
        copy_into(g | 3, 6, src=e + 1),           # the CNode's own cap, into its slot 3
        # Two levels: slot 3 holds the guarded CNode again.
        Invoke(e + 1, abi.CNodeDelete, (((g | 3) << 6) | g | 1, 12)),
        Invoke(e + 1, abi.CNodeCopy, (((g | 3) << 6) | g | 1, 12, ROOT_CNODE, 64, 15), (ROOT_CNODE,)),
        Invoke(e + 1, abi.CNodeCopy, ((0x3F << 12) | ((g | 3) << 6) | g | 1, 12, ROOT_CNODE, 64, 15), (ROOT_CNODE,)),
        Invoke(e + 1, abi.CNodeDelete, (((g | 3) << 6) | (0b0111 << 2) | 1, 12)),   # guard mismatch, level 2
        Invoke(e + 1, abi.CNodeDelete, (((g | 3) << 6) | g | 1, 11)),
        Invoke(e + 1, abi.CNodeRevoke, ((1 << 62) | ((g | 3) << 6) | g | 2, 12)),
        # The guarded CNode as the source root of a copy into the root CNode.
        Invoke(ROOT_CNODE, abi.CNodeCopy, (e + 2, 64, g | 1, 6, 15), (e + 1,)),
        Invoke(ROOT_CNODE, abi.CNodeCopy, (e + 3, 64, (0x5 << 60) | g | 1, 6, 15), (e + 1,)),
        Invoke(ROOT_CNODE, abi.CNodeCopy, (e + 4, 64, (g ^ 4) | 1, 6, 15), (e + 1,)),
    ]


def rotate_scenario(k: Any) -> list[Invoke]:
    """CNode_Rotate: a swap (src == dest), a three-slot rotate, and the pivot rules (invokeCNodeRotate).

    CNode caps take new guards from the badge words, so each rotate is visible in the caps;
    endpoint caps cannot be rotated (updateCapData with preserve = true refuses any badge).
    """
    e = k.bootinfo.empty.start + 24
    ut = _small_untyped(k)

    def rotate(dest: int, pivot: int, src: int, dest_badge: int = 0, pivot_badge: int = 0) -> Invoke:
        return Invoke(ROOT_CNODE, abi.CNodeRotate, (dest, 64, dest_badge, pivot, 64, pivot_badge, src, 64),
                      (ROOT_CNODE, ROOT_CNODE))

    return [
        _retype(ut, abi.seL4_CapTableObject, 1, e, 2),
        _retype(ut, abi.seL4_EndpointObject, 0, e + 2),
        Invoke(ROOT_CNODE, abi.CNodeCopy, (e + 3, 64, e, 64, 15), (ROOT_CNODE,)),
        rotate(e, e + 1, e, abi.cnode_cap_data_new(1, 2), abi.cnode_cap_data_new(3, 3)),  # swap
        rotate(e + 4, e, e + 1, abi.cnode_cap_data_new(2, 5)),                            # three slots
        rotate(e + 1, e + 4, e + 3),                                                     # src has a parent
        rotate(e + 5, e + 1, e + 1),                                                     # pivot == src
        rotate(e + 4, e + 4, e + 1),                                                     # pivot == dest
        rotate(e, e + 4, e + 1),                                                         # dest is full
        rotate(e + 6, e + 2, e + 4),                                                     # an endpoint pivot
        rotate(e + 6, e + 4, e + 7),                                                     # an empty source
        rotate(e + 6, e + 7, e + 4),                                                     # an empty pivot
        rotate(ut, e + 4, ut),                                                           # an untyped with children
        rotate(e + 6, ut, e + 1),
        Invoke(ROOT_CNODE, abi.CNodeRevoke, (e + 6, 64)),
        Invoke(ROOT_CNODE, abi.CNodeRevoke, (e + 4, 64)),
    ]


@dataclass
class RefineReport:
    """What `sel4spec refine` reports."""

    steps: int
    traces: int
    mismatches: list[dict[str, Any]]
    seconds: float


def failing(events: list[Invoke], boot_kw: dict[str, Any]) -> Mismatch | None:
    """Replay a trace from a fresh boot; the mismatch, if any."""
    k = impl.boot(**boot_kw)
    return check_trace(simulation(k), k, events)[1]


def refine(steps: int, seed: int, trace_len: int = 200, boot_kw: dict[str, Any] | None = None,
           max_mismatches: int = 1, fixed: bool = True) -> RefineReport:
    """Check the fixed scenarios (unless fixed is False), then `steps` random steps in traces of
    up to trace_len events from fresh boots."""
    import time
    boot_kw = boot_kw or {}
    rnd = random.Random(seed)
    t0 = time.perf_counter()
    done = traces = 0
    mismatches: list[dict[str, Any]] = []
    for i in range(len(scenarios(impl.boot(**boot_kw))) if fixed else 0):
        k = impl.boot(**boot_kw)
        events = scenarios(k)[i]
        n, m = check_trace(simulation(k), k, events)
        done += n
        traces += 1
        if m is not None:
            mismatches.append({"trace": [str(e) for e in events[: m.step + 1]], "step": m.step, "what": m.what,
                               "detail": m.detail})
    while done < steps and len(mismatches) < max_mismatches:
        k = impl.boot(**boot_kw)
        gen = TraceGen(k, rnd)
        events = [gen.event() for _ in range(min(trace_len, steps - done))]
        n, m = check_trace(simulation(k), k, events)
        done += n
        traces += 1
        if m is not None:
            trace = events[: m.step + 1]
            short = shrink(lambda ev: failing(list(ev), boot_kw) is not None, trace)
            first = failing(short, boot_kw) or m
            mismatches.append({"trace": [str(e) for e in short], "step": first.step, "what": first.what,
                               "detail": first.detail})
    return RefineReport(done, traces, mismatches, time.perf_counter() - t0)


_unused = CorruptState
