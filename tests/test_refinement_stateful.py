"""Refinement under hypothesis: long random CNode and Untyped invocation sequences from a booted
root task, valid and invalid, with impl and spec compared at every step by the Simulation checker.

Bundles hold what the root task has made (root-CNode indices of slots that received a cap, and
of CNode caps), and the rules also pick from the root task's own view of its CSpace (an empty
slot, an endpoint to mint from, a cap with children to revoke), so the sequences reach deep CDT
shapes: badged caps and their copies, untypeds retyped from retyped untypeds, CNodes with guards
addressed through their own caps. A share of every argument is drawn at random (cptrs, depths,
object types, sizes, counts, rights, badges). A mismatch fails with the shortest trace from boot
that still fails (cut down by refinement.checker.shrink) and the first field where
abstract(impl) and the spec differ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, multiple, rule, run_state_machine_as_test

import impl
from refinement.caps import ROOT_CNODE, Invoke, Stopped, failing, simulation
from refinement.checker import Mismatch, Stepper, shrink
from spec import abi

_K = impl.boot()  # boot is deterministic: every run's kernel has this layout
BI = _K.bootinfo
ROOT_BASE = _K.cap_at(_K.current.base + (abi.tcbCTable << abi.seL4_SlotBits)).capCNodePtr
ROOT_END = ROOT_BASE + (1 << (BI.init_thread_cnode_size_bits + abi.seL4_SlotBits))
UNTYPEDS = list(range(BI.untyped.start, BI.untyped.end))
# The two small untypeds: most retypes carve them up (and the untypeds retyped from them), so
# that their CDTs grow deep, rather than eleven untypeds each touched once.
FAVOURITES = [BI.untyped.start + i for i, d in enumerate(BI.untyped_list) if not d.is_device and d.size_bits <= 13]
assert len(FAVOURITES) == 2
# The boot caps the root task may invoke and copy (slot 8, 12, 13 are null on x86).
WELL_KNOWN = [abi.seL4_CapInitThreadVSpace, abi.seL4_CapIRQControl, abi.seL4_CapASIDControl,
              abi.seL4_CapInitThreadASIDPool, abi.seL4_CapIOPortControl, abi.seL4_CapBootInfoFrame,
              abi.seL4_CapInitThreadIPCBuffer, abi.seL4_CapDomain]
# The root thread's TCB and SchedContext caps stay put: deleting either stops the thread, and
# that belongs to the TCB and scheduling issues (as in refinement.caps.TraceGen).
PROTECTED = (abi.seL4_CapInitThreadTCB, abi.seL4_CapInitThreadSC)
# Boot caps whose children are the root thread's CSpace root, VSpace and IPC buffer caps.
THREAD_CAPS = (abi.seL4_CapInitThreadCNode, abi.seL4_CapInitThreadVSpace, abi.seL4_CapInitThreadIPCBuffer)


def mostly(valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Four draws in five from valid, one from invalid, so that runs build deep CDTs.

    (st.one_of(valid, valid, valid, invalid) does not weight: one_of flattens and chooses among
    its distinct branches, and it drew depth 64 from `depths` 8 times in 2000.)
    """
    return st.sampled_from((True, True, True, True, False)).flatmap(lambda ok: valid if ok else invalid)


words = st.one_of(st.integers(0, 15), st.integers(0, (1 << 16) - 1), st.integers(0, (1 << 64) - 1))
depths = mostly(st.just(64), st.one_of(st.sampled_from([0, 1, 12, 63, 65, 255]), words))
FRESH = range(BI.empty.start, BI.empty.start + 64)                # where new caps mostly go
fresh = mostly(st.sampled_from(FRESH), st.integers(0, (1 << 12) - 1))
anywhere = st.one_of(st.integers(0, (1 << 12) - 1), words)       # any index, or junk above the root's 12 bits
rights = mostly(st.just(abi.seL4_AllRights), st.integers(0, 15))
obj_types = mostly(st.sampled_from([abi.seL4_EndpointObject, abi.seL4_NotificationObject, abi.seL4_TCBObject,
                                    abi.seL4_SchedContextObject, abi.seL4_ReplyObject, abi.seL4_X86_4K,
                                    abi.seL4_X86_PageTableObject]),
                   st.one_of(st.integers(0, abi.seL4_ObjectTypeCount + 2), words))
sizes = mostly(st.sampled_from([0, 7, 8]), st.one_of(st.integers(0, 64), words))
counts = mostly(st.integers(1, 3), st.one_of(st.sampled_from([0, 4, 16, 256, 257]), words))
labels = st.one_of(st.integers(abi.CNodeRevoke, abi.CNodeRotate), st.integers(0, 63), words)
badges = mostly(st.integers(0, 3), words)
cnode_data = st.builds(abi.cnode_cap_data_new, st.integers(0, 15), st.integers(0, 8))


def _safe(x: int) -> int:
    return ROOT_CNODE if x in PROTECTED else x


class CapsMachine(RuleBasedStateMachine):
    """The root task of a booted system, playing CNode and Untyped invocations.

    Bundles: `slots` holds the root-CNode indices that received a cap (boot caps, retyped
    objects, copies), `cnodes` the indices of CNode caps (the root CNode, retyped CNodes and
    guarded copies) that the root task addresses other CNodes through.
    """

    slots = Bundle("slots")
    cnodes = Bundle("cnodes")

    def __init__(self) -> None:
        """Boot and start the checker."""
        super().__init__()
        self._boot()

    def _boot(self) -> None:
        self.k = impl.boot()
        self.stepper = Stepper(simulation(self.k), self.k)
        self.since_boot: list[Invoke] = []

    # --- the one place impl and spec are compared --------------------------------------------

    def invoke(self, e: Invoke) -> bool:
        """Check one step; True when the invocation succeeded (seL4_NoError)."""
        self.since_boot.append(e)
        m = self.stepper.step(e)
        if m is not None:
            raise AssertionError(report(self.since_boot, m))
        o = self.stepper.last_obs
        if isinstance(o, Stopped):
            ok, outcome = True, "caller stopped"
        else:
            ok = o.fault is None and o.not_modelled is None and o.label == abi.seL4_NoError
            outcome = "fault" if o.fault else "not modelled" if o.not_modelled else abi.ERROR_NAMES.get(o.label, "?")
        event(abi.INVOCATION_LABEL_NAMES.get(e.label, "other label") + ": " + outcome)
        if self.stepper.stopped:
            # A fault stopped the root thread: go on from a fresh boot (the bundles stay).
            self._boot()
        return ok

    def root_cap(self, index: int) -> Any:
        """The cap at an index of the root CNode (what the root task's own records would say)."""
        root = self.k.cap_at(self.k.current.base + (abi.tcbCTable << abi.seL4_SlotBits))
        if root.capType != abi.cap_cnode_cap:
            return root
        return self.k.cap_at(root.capCNodePtr + ((index & 0xFFF) << abi.seL4_SlotBits))

    def held(self, types: tuple[int, ...] = ()) -> list[int]:
        """Root-CNode indices of the slots holding a cap (of one of `types`, if given): what the
        root task's own bookkeeping knows. The root CNode's own cap is left out: every
        invocation here goes through it (moving it away is left to the garbage rule)."""
        out = []
        for a, cte in self.k.ctes.items():
            if ROOT_BASE <= a < ROOT_END and (not types or cte.cap.capType in types):
                i = (a - ROOT_BASE) >> abi.seL4_SlotBits
                if i not in PROTECTED and i != ROOT_CNODE:
                    out.append(i)
        return sorted(out)

    def slot(self, data: st.DataObject, kind: str) -> int:
        """A root-CNode index of the given kind, drawn from the current state: "empty" (one of the
        FRESH slots not in use), "held" (any cap), "ipc" (an endpoint or notification cap),
        "cnode", "untyped" (one the root task made, or a favourite), or "parent" (a cap with CDT
        children). Any index when there is none of the kind."""
        if kind == "empty":
            cands = [i for i in FRESH if ROOT_BASE + (i << abi.seL4_SlotBits) not in self.k.ctes]
        elif kind == "parent":
            cands = self.parents()
        elif kind == "untyped":
            # The two small untypeds first, so that the same memory is carved up again and again.
            cands = [u for u in self.held((abi.cap_untyped_cap,)) if u not in UNTYPEDS or u in FAVOURITES]
        else:
            cands = self.held({"ipc": (abi.cap_endpoint_cap, abi.cap_notification_cap),
                               "cnode": (abi.cap_cnode_cap,), "held": ()}[kind])
        return data.draw(st.sampled_from(cands) if cands else st.integers(0, (1 << 12) - 1), label=kind)

    def parents(self) -> list[int]:
        """Root-CNode indices of the slots with CDT children (in the spec's view), except the boot
        caps whose children are the root thread's own CSpace root, VSpace and IPC buffer caps:
        revoking those leaves the thread unable to look up anything (run by garbage instead)."""
        ps = {p for _, p in self.stepper.a.cdt_parent.items()}
        return sorted(i for i in ((p - ROOT_BASE) >> abi.seL4_SlotBits for p in ps if ROOT_BASE <= p < ROOT_END)
                      if i not in THREAD_CAPS)

    @initialize(target=slots)
    def boot_slots(self) -> Any:
        return multiple(*WELL_KNOWN, *UNTYPEDS)

    @initialize(target=cnodes)
    def boot_cnode(self) -> Any:
        return ROOT_CNODE

    # A few rules, each choosing its invocation inside: hypothesis runs each example with a
    # random subset of the rules enabled (swarm testing), and with many small rules most
    # examples had one or two, too few to build a CDT and then revoke it.

    def _retype(self, ut: int, obj_type: int, size: int, offset: int, n: int, node_depth: int = 0) -> list[int]:
        e = Invoke(ut, abi.UntypedRetype, (obj_type, size, ROOT_CNODE, node_depth, offset, n), (ROOT_CNODE,))
        ok = self.invoke(e)
        return list(range(offset, offset + n)) if ok and node_depth == 0 else []

    @rule(target=slots, data=st.data(), ut=mostly(st.one_of(st.just(-1), st.sampled_from(FAVOURITES)),
                                                  st.one_of(slots, anywhere)),
          obj_type=mostly(st.sampled_from([abi.seL4_EndpointObject, abi.seL4_NotificationObject,
                                           abi.seL4_UntypedObject]), obj_types),
          size=sizes, offset=mostly(st.just(-1), fresh), n=counts, node_depth=mostly(st.just(0), depths))
    def retype(self, data: st.DataObject, ut: int, obj_type: int, size: int, offset: int, n: int,
               node_depth: int) -> Any:
        """Untyped_Retype, mostly of an untyped the root task holds into its empty slots."""
        ut = self.slot(data, "untyped") if ut < 0 else ut
        offset = self.slot(data, "empty") if offset < 0 else offset
        if obj_type == abi.seL4_UntypedObject and size < abi.seL4_MinUntypedBits:
            size = data.draw(mostly(st.integers(4, 12), st.just(size)), label="untyped size")
        return multiple(*self._retype(ut, obj_type, size, offset, n, node_depth))

    @rule(targets=(slots, cnodes), data=st.data(), radix=mostly(st.integers(1, 4), st.integers(0, 64)),
          guard=st.one_of(st.none(), cnode_data))
    def make_cnode(self, data: st.DataObject, radix: int, guard: int | None) -> Any:
        """Retype a CNode, or Mutate a CNode cap the root task holds into one with a guard."""
        if guard is None:
            made = self._retype(self.slot(data, "untyped"), abi.seL4_CapTableObject, radix, self.slot(data, "empty"), 1)
            return multiple(*made)
        dest = self.slot(data, "empty")
        ok = self._root_op(abi.CNodeMutate, (dest, 64, self.slot(data, "cnode"), 64, guard))
        return multiple(dest) if ok else multiple()

    def _root_op(self, label: int, mrs: tuple[int, ...], extra: tuple[int, ...] = (ROOT_CNODE,)) -> bool:
        return self.invoke(Invoke(ROOT_CNODE, label, mrs, extra))

    @rule(target=slots, data=st.data(),
          op=st.sampled_from(["copy", "mint", "mint", "move", "mutate", "rotate", "swap", "revoke", "revoke",
                              "delete", "cancel"]),
          src=mostly(st.just("auto"), st.one_of(slots, anywhere)),
          dest=mostly(st.just(-1), fresh), pivot=st.one_of(st.just(-1), slots), r=rights, badge=badges,
          cap_data=st.one_of(st.just(0), cnode_data, words), dest_depth=depths, src_depth=depths)
    def cnode_op(self, data: st.DataObject, op: str, src: int | str, dest: int, pivot: int, r: int, badge: int,
                 cap_data: int, dest_depth: int, src_depth: int) -> Any:
        """A CNode invocation on the root CNode, mostly on caps the root task holds: a cap with
        children or a (badged) endpoint to revoke, an endpoint or notification to copy and mint,
        any cap otherwise."""
        if isinstance(src, str):
            kinds = {"revoke": ["parent", "parent", "ipc"], "copy": ["ipc"], "mint": ["ipc"]}.get(op, ["held"])
            src = self.slot(data, data.draw(st.sampled_from(kinds), label="kind"))
        src = _safe(src)
        dest = self.slot(data, "empty") if dest < 0 else dest
        if op in ("revoke", "delete", "cancel"):
            label = {"revoke": abi.CNodeRevoke, "delete": abi.CNodeDelete, "cancel": abi.CNodeCancelBadgedSends}[op]
            self._root_op(label, (src, src_depth), ())
            return multiple()
        if op in ("rotate", "swap"):
            pivot = _safe(self.slot(data, "held") if pivot < 0 else pivot)
            dest = src if op == "swap" else dest
            ok = self._root_op(abi.CNodeRotate, (dest, dest_depth, cap_data, pivot, 64, badge, src, src_depth),
                               (ROOT_CNODE, ROOT_CNODE))
            return multiple(dest, pivot) if ok else multiple()
        label = {"copy": abi.CNodeCopy, "mint": abi.CNodeMint, "move": abi.CNodeMove, "mutate": abi.CNodeMutate}[op]
        word4 = {"copy": r, "mint": r, "move": 0, "mutate": cap_data}[op]
        ok = self._root_op(label, (dest, dest_depth, src, src_depth, word4, badge)[: 4 if op == "move" else 6])
        return multiple(dest) if ok and dest_depth == 64 else multiple()

    # --- through the CNodes the root task made --------------------------------------------------

    @rule(cnode=cnodes, index=words, op=st.sampled_from(["copy in", "mint in", "move in", "delete", "revoke",
                                                         "copy out"]),
          other=mostly(slots, anywhere), exact=mostly(st.just(True), st.just(False)), depth=depths,
          high=st.integers(0, 3))
    def through_cnode(self, cnode: int, index: int, op: str, other: int, exact: bool, depth: int, high: int) -> None:
        """Address the slots of a CNode the root task made through its own cap: invoke it, or
        use it as the source root of a copy into the root CNode."""
        cap = self.root_cap(cnode)
        if exact and cap.capType == abi.cap_cnode_cap:
            # A well-formed index: the guard above the slot number, and `high` junk bits above the depth.
            depth = cap.capCNodeGuardSize + cap.capCNodeRadix
            index = ((high << depth) | (cap.capCNodeGuard << cap.capCNodeRadix)
                     | (index & ((1 << cap.capCNodeRadix) - 1)))
        other = _safe(other)
        if op == "copy out":
            self._root_op(abi.CNodeCopy, (other, 64, index, depth, 15), (cnode,))
        elif op in ("delete", "revoke"):
            self.invoke(Invoke(cnode, abi.CNodeDelete if op == "delete" else abi.CNodeRevoke, (index, depth)))
        else:
            label = {"copy in": abi.CNodeCopy, "mint in": abi.CNodeMint, "move in": abi.CNodeMove}[op]
            self.invoke(Invoke(cnode, label, (index, depth, other, 64, 15, 1), (ROOT_CNODE,)))

    # --- anything at all -------------------------------------------------------------------------

    @rule(cptr=st.one_of(slots, anywhere), label=labels, mrs=st.lists(words, max_size=9),
          extra=st.lists(st.one_of(slots, anywhere), max_size=3))
    def garbage(self, cptr: int, label: int, mrs: list[int], extra: list[int]) -> None:
        """Random cptrs, labels, message words and extra caps (many fault the thread)."""
        self.invoke(Invoke(_safe(cptr), label, tuple(mrs), tuple(_safe(x) for x in extra)))


def report(events: list[Invoke], m: Mismatch) -> str:
    """The shortest failing trace from a fresh boot, numbered, and its first difference.

    The trace since the last boot is cut down here (refinement.checker.shrink, replaying from a
    fresh boot each time) so the report is short even before hypothesis shrinks the rules.
    """
    short = shrink(lambda ev: failing(list(ev), {}) is not None, events)
    first = failing(short, {}) or m
    lines = [f"impl is not a spec step ({first.what}) at step {first.step} of this trace from boot "
             f"(cut down from {len(events)} events):"]
    lines += [f"  {i}: {e}" for i, e in enumerate(short)]
    lines.append(f"first difference: {first.detail}")
    return "\n".join(lines)


# Sized for CI (about half a minute on the 2-core machine); the ci profile makes it repeatable.
MACHINE_SETTINGS = settings(max_examples=150, stateful_step_count=40,
                            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

TestCapsRefinement = CapsMachine.TestCase
TestCapsRefinement.settings = MACHINE_SETTINGS


def _with_mutant(target: str, replacement: Callable[..., Any], body: Callable[[], None]) -> None:
    """Run body with impl's target function replaced everywhere it is bound, then restore it."""
    from proofs.mutants import apply_mutation, resolve_target
    original = resolve_target(target)[2]
    apply_mutation(target, replacement)
    try:
        body()
    finally:
        apply_mutation(target, original)


def test_the_machine_catches_a_seeded_bug() -> None:
    """With Rotate mishandling the pivot (a seeded bug of the catalogue), the machine fails
    with a short trace.

    Hypothesis's own shrinking of the rules is skipped here (it replays whole machines and takes
    minutes); the report's trace is already cut down by the machine.
    """
    from proofs.mutants import all_mutants
    m = next(x for x in all_mutants() if x.name == "impl_rotate_mishandles_pivot")

    def run() -> None:
        run_state_machine_as_test(CapsMachine, settings=settings(
            MACHINE_SETTINGS, phases=(Phase.explicit, Phase.reuse, Phase.generate), print_blob=False))

    with pytest.raises(AssertionError) as info:
        _with_mutant(m.target, m.replacement, run)
    msg = str(info.value)
    assert "is not a spec step (" in msg and "first difference: " in msg, msg
    trace = [line for line in msg.splitlines() if line.startswith("  ")]
    assert 1 <= len(trace) <= 5 and "CNodeRotate" in trace[-1], msg
