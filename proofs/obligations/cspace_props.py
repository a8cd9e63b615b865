"""Functional properties of CSpace operations that the `op:invariant` obligations do not state.

The invariants of spec.invariants say that the CDT stays well formed; they do not say that a
lookup checks the guard, that a badge is set only once, or that a copy of an original cap
lands under it in the CDT. Those are seL4 facts a spec can get wrong while every invariant
still holds, so they get obligations of their own here:

- `resolve_address_bits:guard`: each CNode level of a lookup consumes exactly the cap's guard
  (src/kernel/cspace.c resolveAddressBits), and a mismatch is reported as seL4 reports it;
- `cnode_mint:badge_once`: Mint never re-badges a badged endpoint or notification cap
  (src/object/objecttype.c updateCapData gives a NullCap, so decodeCNodeInvocation answers
  seL4_IllegalOperation);
- `cnode_copy:records_parent`: Copy makes a copy of an original cap its CDT child, and a copy
  of a derived cap its sibling (src/object/cnode.c cteInsert, l4v cap_insert).

Each is built at call time from the spec functions as they are then, so a seeded bug that
replaces one of them is seen by the obligation (proofs/catalogue/spec_caps.py).

The lookup layer (spec.decode) is written for the concrete reading only: it branches with
Python `if` on the cap's fields, since the walk's length is not known in advance. Its
obligation therefore runs the very function by path exploration (`explore_paths`): every
`bool()` of a Z3 term forks the run, both sides are taken where the hypotheses allow them,
and the goal is the conjunction over all feasible paths of "path condition implies the
property of that path's result". The path conditions of the explored paths cover the
hypotheses exactly (each fork keeps both feasible sides), so this is a proof for every input
the hypotheses admit, not a search; the bound (two CNode levels) is a hypothesis, stated.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import z3

from proofs.obligation import Query, obligation
from spec import abi, decode, invariants, ops
from spec import logic
from spec.logic import (And, Bool, Implies, Not, Word, eq, is_aligned, mask, ne, shl, shr, symbolic_record, ule, ult,
                        wadd, word, wsub)
from spec.state import NULL, Cap, State, cap_size_bits, get_cap, is_cnode, is_ep_or_ntfn, is_physical, pair

# ======================================================================================================
# Path exploration: run a concrete-reading function on Z3 terms, forking at every symbolic branch.


@dataclass
class Path:
    """One feasible run: the branch conditions it took (as taken) and what the function returned."""

    condition: list[z3.BoolRef]
    result: Any


class PathExplosion(RuntimeError):
    """More paths or decisions than the caller allowed: the bound stated in the hypotheses is too weak."""


class _Explorer:
    """Depth-first enumeration of the feasible paths of a function under assumptions."""

    def __init__(self, assumptions: Sequence[z3.BoolRef], max_paths: int, max_decisions: int) -> None:
        self.solver = z3.Solver()
        self.solver.set("timeout", 10_000)
        for a in assumptions:
            self.solver.add(a)
        self.max_paths = max_paths
        self.max_decisions = max_decisions
        self.prefix: list[bool] = []
        self.recorded: list[z3.BoolRef] = []
        self.taken: list[tuple[z3.BoolRef, bool]] = []
        self.pending: list[tuple[list[bool], list[z3.BoolRef]]] = []

    def _feasible(self, extra: z3.BoolRef) -> bool:
        self.solver.push()
        try:
            self.solver.add(*[c if v else z3.Not(c) for c, v in self.taken], extra)
            # unknown counts as feasible: exploring a dead branch costs time, skipping a live one is unsound
            return self.solver.check() != z3.unsat
        finally:
            self.solver.pop()

    def decide(self, e: z3.BoolRef) -> bool:
        """The branch this run takes at condition e (called from bool(e))."""
        simple = z3.simplify(e)
        if z3.is_true(simple):
            return True
        if z3.is_false(simple):
            return False
        i = len(self.taken)
        if i >= self.max_decisions:
            raise PathExplosion(f"a path took more than {self.max_decisions} symbolic branches")
        if i < len(self.prefix):
            if not e.eq(self.recorded[i]):
                raise RuntimeError("path replay diverged: the explored function is not deterministic")
            v = self.prefix[i]
        else:
            can_true, can_false = self._feasible(e), self._feasible(z3.Not(e))
            if not (can_true or can_false):
                raise RuntimeError("an infeasible path was entered")
            v = can_true
            if can_true and can_false:
                self.pending.append(([b for _, b in self.taken] + [False], [c for c, _ in self.taken] + [e]))
        self.taken.append((e, v))
        return v

    def run(self, fn: Callable[[], Any]) -> list[Path]:
        paths: list[Path] = []
        self.pending = [([], [])]
        while self.pending:
            self.prefix, self.recorded = self.pending.pop()
            self.taken = []
            with _forking(self):
                result = fn()
            paths.append(Path([c if v else z3.Not(c) for c, v in self.taken], result))
            if len(paths) > self.max_paths:
                raise PathExplosion(f"more than {self.max_paths} paths")
        return paths


@contextlib.contextmanager
def _forking(ex: _Explorer) -> Iterator[None]:
    """While active, bool() of a Z3 term asks the explorer which way to go."""
    original = z3.AstRef.__bool__

    def hook(self: z3.AstRef) -> bool:
        if isinstance(self, z3.BoolRef):
            return ex.decide(self)
        return original(self)

    z3.AstRef.__bool__ = hook  # type: ignore[method-assign]
    try:
        yield
    finally:
        z3.AstRef.__bool__ = original  # type: ignore[method-assign]


def explore_paths(fn: Callable[[], Any], assumptions: Sequence[z3.BoolRef], max_paths: int = 64,
                  max_decisions: int = 40) -> list[Path]:
    """Every feasible path of fn() under the assumptions (fn may branch with Python `if` on Z3 terms)."""
    return _Explorer(assumptions, max_paths, max_decisions).run(fn)


def over_paths(paths: Sequence[Path], prop: Callable[[Any], Bool]) -> z3.BoolRef:
    """The claim "prop holds of the result" over all paths: each path condition implies prop there."""
    return z3.And([z3.BoolVal(True)] + [_bool(Implies(z3.And(p.condition) if p.condition else True, prop(p.result)))
                                         for p in paths])


def path_value(model: z3.ModelRef, paths: Sequence[Path], view: Callable[[Any], Any]) -> Any:
    """view(result) of the path the model takes, as concrete values."""
    for p in paths:
        if all(z3.is_true(model.eval(c, model_completion=True)) for c in p.condition):
            return logic.concretize(model, view(p.result))
    return None


def _bool(t: Bool) -> z3.BoolRef:
    return z3.BoolVal(t) if isinstance(t, bool) else t


# ======================================================================================================
# resolve_address_bits: every level consumes exactly its CNode cap's guard


def _guard_bits(cptr: Word, n: Word, guard_size: Word) -> Word:
    """The guard_size bits of cptr just below bit n (the C masks the shift to 6 bits)."""
    return logic.band(shr(cptr, logic.band(wsub(n, guard_size), 63)), mask(guard_size))


def _index_slot(c: Cap, cptr: Word, n: Word) -> Word:
    """The slot the radix bits below the guard select in c's CNode."""
    index = logic.band(shr(cptr, wsub(n, wadd(c.bits, c.guard_size))), mask(c.bits))
    return wadd(c.obj, shl(index, abi.seL4_SlotBits))


def _guard_mismatch_reply(is_source: Word, bits_left: Word, c: Cap) -> ops.Reply:
    """seL4_FailedLookup with a GuardMismatch description (src/api/faults.c setMRs_lookup_failure):
    MR0 = failedLookupWasSource, MR1 = lufType + 1, MR2 = bitsLeft, MR3 = guardFound (the cap's
    guard), MR4 = bitsFound (the guard size)."""
    return ops.Reply(abi.seL4_FailedLookup, 5, (is_source, abi.seL4_GuardMismatch, bits_left, c.badge, c.guard_size))


def _guard_fits(c: Cap) -> Bool:
    """The guard has no bits above its guard size."""
    return eq(logic.band(c.badge, logic.bnot(mask(c.guard_size))), 0)


@dataclass
class _Level:
    """What one CNode level of a walk is, computed from the inputs (not from the spec's walk)."""

    cap: Cap
    n: Word            # bits left on entering the level
    guard_ok: Bool     # the guard fits and equals the cap's guard
    reached: Bool      # the walk gets to this level (every guard above matched)
    in_shape: Bool     # the CNode graph leads here, guards aside (for the bound)


def _levels(s: State, root: Cap, cptr: Word, depth: Word, count: int) -> list[_Level]:
    out: list[_Level] = []
    c, n, reached, in_shape = root, depth, z3.BoolVal(True), z3.BoolVal(True)
    for _ in range(count):
        guard_ok = And(ule(c.guard_size, n), eq(_guard_bits(cptr, n, c.guard_size), c.badge))
        out.append(_Level(c, n, guard_ok, reached, in_shape))
        level = wadd(c.bits, c.guard_size)
        nxt = get_cap(s, _index_slot(c, cptr, n))
        # Below this level only if bits remain and the selected slot holds a CNode cap.
        deeper = And(ult(level, n), is_cnode(nxt))
        c, n, reached, in_shape = nxt, wsub(n, level), And(reached, guard_ok, deeper), And(in_shape, deeper)
    return out


LOOKUP_LEVELS = 2


@obligation(
    name="resolve_address_bits:guard",
    about=("spec.decode.resolve_address_bits", "spec.decode.lookup_slot_for_cnode_op"),
    property="a CNode-op lookup succeeds only if every CNode level it passes consumed exactly that cap's guard; "
             "a guard mismatch is seL4_FailedLookup/seL4_GuardMismatch with seL4's words (walks of up to 2 levels)",
    kind="invariant",
    bound=LOOKUP_LEVELS,
    timeout_s=60,
)
def resolve_address_bits_guard() -> Query:
    """lookupSlotForCNodeOp (src/kernel/cspace.c) over every walk that ends within two CNode levels."""
    s = symbolic_record(State, "s")
    root = Cap(abi.cap_cnode_cap, word("root.obj"), word("root.radix"), 0, word("root.guard"),
               word("root.guard_size"))
    cptr, depth, is_source = word("cptr"), word("depth"), word("is_source")
    lv = _levels(s, root, cptr, depth, LOOKUP_LEVELS + 1)
    hyps: list[tuple[str, Any]] = [
        ("depth in 1..64 (else seL4_RangeError before any walk)", And(ule(1, depth), ule(depth, 64))),
        ("is_source is 0 or 1", ule(is_source, 1)),
        ("the root is a valid CNode cap (valid_cap)", invariants.valid_cap(s, root)),
        ("the CNode cap at level 2 is valid (valid_cap)", Implies(lv[1].in_shape, invariants.valid_cap(s, lv[1].cap))),
        # l4v keeps a guard as a bit list of the guard's length; C's updateCapData masks it likewise.
        ("every CNode cap's guard fits in its guard size",
         And(_guard_fits(root), Implies(lv[1].in_shape, _guard_fits(lv[1].cap)))),
        # A bound on the CNode graph under cptr, not on the guards: a walk that ignores a guard stays inside it.
        (f"bound: the CNodes under cptr are at most {LOOKUP_LEVELS} levels deep", Not(lv[LOOKUP_LEVELS].in_shape)),
    ]
    paths = explore_paths(lambda: decode.lookup_slot_for_cnode_op(s, is_source, root, cptr, depth),
                          [h for _, h in hyps])

    def succeeded(r: tuple[ops.Reply, Word]) -> Bool:
        return eq(r[0].error, abi.seL4_NoError)

    goal: list[tuple[str, Any]] = []
    for i, l in enumerate(lv[:LOOKUP_LEVELS], start=1):
        goal.append((f"a success consumed the level-{i} guard",
                     over_paths(paths, lambda r, l=l: Implies(And(l.reached, succeeded(r)), l.guard_ok))))
        goal.append((f"a level-{i} guard mismatch is FailedLookup(GuardMismatch, bitsLeft, guard, guard size)",
                     over_paths(paths, lambda r, l=l: Implies(And(l.reached, Not(l.guard_ok)),
                                                              eq(r[0], _guard_mismatch_reply(is_source, l.n, l.cap))))))

    def decode_cex(model: z3.ModelRef) -> dict[str, Any]:
        def caps(c: Cap) -> dict[str, Any]:
            v = logic.concretize(model, c)
            return {"obj": hex(v.obj), "radix": v.bits, "guard_size": v.guard_size, "guard": hex(v.badge)}
        out: dict[str, Any] = {"cptr": hex(logic.model_value(model, cptr)), "depth": logic.model_value(model, depth),
                               "is_source": logic.model_value(model, is_source), "root": caps(root)}
        for i, l in enumerate(lv[:LOOKUP_LEVELS], start=1):
            if logic.model_value(model, l.reached):
                found = logic.model_value(model, _guard_bits(cptr, l.n, l.cap.guard_size))
                out[f"level {i}"] = {"cap": caps(l.cap), "bits left": logic.model_value(model, l.n),
                                     "guard bits of cptr": hex(found),
                                     "guard matches": logic.model_value(model, l.guard_ok)}
        got = path_value(model, paths, lambda r: r)
        if got is not None:
            reply, slot = got
            out["spec says"] = {"error": abi.ERROR_NAMES.get(reply.error, reply.error),
                                "mrs": [hex(m) if m > 9 else m for m in reply.mrs[:reply.length]],
                                "slot": hex(slot)}
        return out

    return Query(hypotheses=hyps, goal=goal, decode=decode_cex)


# ======================================================================================================
# Mint: a badge is set once


def _cap_json(model: z3.ModelRef, c: Cap) -> dict[str, Any]:
    return logic.to_json(logic.concretize(model, c))  # type: ignore[no-any-return]


@obligation(
    name="cnode_mint:badge_once",
    about=("spec.ops.cnode_mint", "spec.state.update_cap_data"),
    property="Mint from a badged endpoint or notification cap into an empty slot is refused with "
             "seL4_IllegalOperation and changes nothing, so no cap with a different badge appears",
    kind="invariant",
    timeout_s=60,
)
def cnode_mint_badge_once() -> Query:
    """seL4_CNode_Mint (decodeCNodeInvocation, updateCapData with preserve = false)."""
    s = symbolic_record(State, "s")
    dest, src, depth, rights, badge = (word(n) for n in ("dest", "src", "src_depth", "rights", "badge"))
    src_cap = get_cap(s, src)
    t, reply = ops.cnode_mint(s, dest, src, depth, rights, badge)
    k = word("k")
    hyps = [
        ("src != NULL and dest != NULL", And(ne(src, NULL), ne(dest, NULL))),
        ("src holds a badged endpoint or notification cap", And(is_ep_or_ntfn(src_cap), ne(src_cap.badge, 0))),
        # An occupied dest is seL4_DeleteFirst, which comes first; it is not the badge's refusal.
        ("dest is empty", eq(s.cap_type[dest], abi.cap_null_cap)),
    ]
    goal = [
        ("refused with seL4_IllegalOperation and no message words", eq(reply, ops.fail(abi.seL4_IllegalOperation))),
        ("no cap changes its badge or appears",
         And(eq(t.cap_badge[k], s.cap_badge[k]), eq(t.cap_type[k], s.cap_type[k]))),
        ("the state is unchanged", eq(t, s)),
    ]

    def decode_cex(model: z3.ModelRef) -> dict[str, Any]:
        v = lambda x: logic.to_json(logic.model_value(model, x))  # noqa: E731
        return {"args": {"dest": v(dest), "src": v(src), "rights": v(rights), "badge": v(badge)},
                "src cap": _cap_json(model, src_cap),
                "reply": {"error": abi.ERROR_NAMES.get(v(reply.error), v(reply.error)), "length": v(reply.length)},
                "dest cap after": _cap_json(model, get_cap(t, dest))}

    return Query(hypotheses=hyps, goal=goal, decode=decode_cex)


# ======================================================================================================
# Copy: the copy of an original is its child, the copy of a derived cap its sibling


@obligation(
    name="cnode_copy:records_parent",
    about=("spec.ops.cnode_copy", "spec.cdt.cte_insert"),
    property="a successful Copy of a physical cap makes dest a CDT child (and descendant) of src when src is "
             "original, and a sibling of src (same parent) when it is not",
    kind="invariant",
    timeout_s=60,
)
def cnode_copy_records_parent() -> Query:
    """seL4_CNode_Copy: cteInsert's isMDBParentOf placement (manual, Capability Derivation Tree)."""
    s = symbolic_record(State, "s")
    dest, src, depth, rights = (word(n) for n in ("dest", "src", "src_depth", "rights"))
    src_cap = get_cap(s, src)
    t, reply = ops.cnode_copy(s, dest, src, depth, rights)
    bits = cap_size_bits(src_cap)
    hyps = [
        # No slot lives at address 0: NULL is the CDT's "no parent".
        ("src != NULL and dest != NULL", And(ne(src, NULL), ne(dest, NULL))),
        ("src holds a physical cap (one that names memory)", is_physical(src_cap)),
        ("the source cap is valid (valid_cap)", invariants.valid_cap(s, src_cap)),
        # valid_cap says this only for caps whose object type the state records (not every frame size).
        ("the source cap is aligned to its size (l4v cap_aligned)",
         And(is_aligned(src_cap.obj, bits), ult(bits, abi.seL4_WordBits))),
        ("the copy succeeds", eq(reply.error, abi.seL4_NoError)),
    ]
    goal = [
        ("a copy of an original cap is its CDT child",
         Implies(s.is_original[src], And(eq(t.cdt_parent[dest], src), t.anc[pair(src, dest)]))),
        ("a copy of a derived cap is its sibling",
         Implies(Not(s.is_original[src]), eq(t.cdt_parent[dest], s.cdt_parent[src]))),
    ]

    def decode_cex(model: z3.ModelRef) -> dict[str, Any]:
        v = lambda x: logic.to_json(logic.model_value(model, x))  # noqa: E731
        return {"args": {"dest": v(dest), "src": v(src), "rights": v(rights)},
                "src cap": _cap_json(model, src_cap), "src is original": v(s.is_original[src]),
                "src's parent": v(s.cdt_parent[src]),
                "after": {"dest cap": _cap_json(model, get_cap(t, dest)), "dest's parent": v(t.cdt_parent[dest]),
                          "src is an ancestor of dest": v(t.anc[pair(src, dest)])}}

    return Query(hypotheses=hyps, goal=goal, decode=decode_cex)

