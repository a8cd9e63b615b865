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
from dataclasses import dataclass
from typing import Any

import impl
from impl import libsel4
from refinement.abstract import CorruptState, abstract
from refinement.checker import Mismatch, Simulation, check_trace, shrink
from spec import abi
from spec.decode import CapFault, handle_invocation
from spec.ops import Reply
from spec.state import State, get_cap

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


def impl_step(k: Any, e: Invoke) -> Any:
    """The concrete kernel runs the event for its running thread."""
    for i, x in enumerate(e.extra):
        libsel4.seL4_SetCap(k, i, x)
    info = abi.message_info_new(e.label & ((1 << 52) - 1), 0, len(e.extra), len(e.mrs))
    return k.syscall(abi.seL4_SysCall, e.cptr, info, e.mrs)


def make_spec_step(root_tcb: int) -> Any:
    """The spec's step for the thread whose TCB object is at root_tcb."""
    def spec_step(s: State, e: Invoke) -> tuple[State, Any]:
        return handle_invocation(s, root_tcb, e.cptr, e.label, e.mrs, e.extra)
    return spec_step


def obs_mismatch(o_impl: Any, o_spec: Any) -> str | None:
    """None when the thread sees what the spec says it sees."""
    if isinstance(o_spec, CapFault):
        f = o_impl.fault
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
        if mi == ms:
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


def simulation(k: Any) -> Simulation[Any, State, Invoke]:
    """The capabilities-and-memory Simulation for a booted kernel."""
    return Simulation(name="caps", impl_step=impl_step, spec_step=make_spec_step(k.current.base),
                      abstract=abstract, rep_inv=rep_inv, obs_mismatch=obs_mismatch, diff=diff,
                      stops=lambda o: o.fault is not None or getattr(o, "idle", False))


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
    ut = bi.untyped.start + next((i for i, d in enumerate(bi.untyped_list) if not d.is_device and d.size_bits >= 12), 0)
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
    return [badged, reuse]


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
           max_mismatches: int = 1) -> RefineReport:
    """Check `steps` random steps in traces of up to trace_len events from fresh boots."""
    import time
    boot_kw = boot_kw or {}
    rnd = random.Random(seed)
    t0 = time.perf_counter()
    done = traces = 0
    mismatches: list[dict[str, Any]] = []
    for i in range(len(scenarios(impl.boot(**boot_kw)))):
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
