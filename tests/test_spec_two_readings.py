"""The two readings of the capability-and-memory spec agree.

Each operation (CNode checks and effects, the CDT operations, Untyped_Retype, the invariants)
is built once on a symbolic state and symbolic arguments, the formula the proofs discharge.
On random concrete states (abstractions of booted kernels after random invocation traces, and
small hand-built states) and random arguments, the symbolic result with its inputs fixed to the
concrete values must equal the concrete result, field by field, reply words included. Z3 decides
each comparison: `simplify` settles most, a solver settles the rest (quantified checks and
invariants); `unknown` counts as a failure.

resolve_address_bits and lookup_slot_for_cnode_op walk a chain of CNodes with Python `if`s: they
have a concrete reading only. Their test checks the weaker fact that a symbolic input is refused
loudly, never answered differently.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import z3
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from spec import abi, cdt, ops
from spec import logic as L
from spec.decode import lookup_slot_for_cnode_op, resolve_address_bits
from spec.invariants import INVARIANTS, cdt_anc, no_mloop, valid_cspace, valid_mdb
from spec.logic import BOOL, WORD, Map
from spec.state import NULL, OBJ_NONE, PAIR, Cap, State, get_cap, pair

# The CI profile (derandomized, no database, no deadline) unless another one is asked for.
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
SOLVER_MS = 10_000  # per Z3 query; an unknown answer fails the test


# ---------------------------------------------------------------------------------------------
# Comparing a symbolic result with a concrete one


@dataclass(frozen=True)
class Checks:
    """An operation's check list as (condition, failure reply) pairs, compared in seL4's order."""

    items: tuple[tuple[Any, Any], ...]


def eval_checks(checks: Sequence[tuple[Callable[[], Any], Callable[[], Any]]]) -> Checks:
    """The check list as values; concretely it stops at the first failing check (later ones may assume it passed)."""
    out = []
    for cond, reply in checks:
        c = cond()
        if L.is_sym(c):
            out.append((c, reply()))
        else:
            out.append((c, reply() if c else None))
            if c:
                break
    return Checks(tuple(out))


def _leaves(x: Any, path: str) -> list[tuple[str, Any]]:
    """The scalar and Map leaves of a result, with their paths."""
    if isinstance(x, Map) or L.is_sym(x) or x is None or isinstance(x, (bool, int)):
        return [(path, x)]
    if isinstance(x, Checks):
        return [(path, x)]
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return [leaf for f in dataclasses.fields(x) for leaf in _leaves(getattr(x, f.name), f"{path}.{f.name}")]
    if isinstance(x, (tuple, list)):
        return [leaf for i, y in enumerate(x) for leaf in _leaves(y, f"{path}[{i}]")]
    raise TypeError(f"{path}: cannot compare a {type(x).__name__}")


def _check(query: z3.BoolRef, ms: int = SOLVER_MS) -> z3.CheckSatResult:
    solver = z3.Solver()
    solver.set("timeout", ms)
    solver.add(query)
    return solver.check()


def truth(t: z3.BoolRef) -> bool | None:
    """The truth value of a closed formula (None when Z3 cannot tell).

    Closed, t is true exactly when it is satisfiable, so either query decides it. Z3 is quick on the
    one whose quantifiers are all existential (skolemized), so `not t` is asked first: an invariant
    (universally quantified) then becomes an existential question, whatever its truth value.
    A conjunction is decided conjunct by conjunct (smaller queries).
    """
    g = z3.simplify(t)
    if z3.is_true(g) or z3.is_false(g):
        return z3.is_true(g)
    if z3.is_and(t):
        parts = [truth(c) for c in t.children()]
        return False if False in parts else (None if None in parts else True)
    r = _check(z3.Not(t))
    if r != z3.unknown:
        return r == z3.unsat
    r = _check(t)
    return None if r == z3.unknown else r == z3.sat


def _show(v: Any) -> str:
    return hex(v) if isinstance(v, int) and not isinstance(v, bool) and v > 9 else repr(v)


def _value(t: z3.ExprRef) -> Any:
    """A closed scalar term's value, for the report ('?' when Z3 cannot say)."""
    v = z3.simplify(t)
    if z3.is_bv_value(v) or z3.is_int_value(v):
        return v.as_long()  # type: ignore[union-attr]
    if z3.is_bool(t):
        b = truth(t)
        return "?" if b is None else b
    x = z3.Const("value!", t.sort())
    solver = z3.Solver()
    solver.set("timeout", SOLVER_MS)
    solver.add(x == t)
    return L.model_value(solver.model(), x) if solver.check() == z3.sat else "?"


def _map_diff(sym_arr: z3.ArrayRef, conc: Map) -> str:
    """A key where a closed array term and a concrete map differ, with both values."""
    k = z3.Const("key!", sym_arr.sort().domain())
    solver = z3.Solver()
    solver.set("timeout", SOLVER_MS)
    solver.add(z3.Select(sym_arr, k) != z3.Select(conc.array(), k))
    if solver.check() != z3.sat:
        return "(no differing key found)"
    m = solver.model()
    key = L.model_value(m, k)
    return f"at {_show(key)}: symbolic {_show(L.model_value(m, z3.Select(sym_arr, k)))}, concrete {_show(conc[key])}"


@dataclass(frozen=True)
class Leaf:
    """One field to compare: the symbolic term with the inputs substituted, and the concrete value."""

    path: str
    sym: Any
    conc: Any

    def differs(self) -> Any:
        """A formula satisfiable exactly when the two readings differ here (a Python bool if nothing is symbolic).

        A map is compared at a fresh key k: a read of an updated (lambda) array at k reduces to its
        body, so Z3 reasons first-order instead of about equality of functions.
        """
        if isinstance(self.conc, Map):
            k = z3.FreshConst(self.sym.sort().domain(), "key")
            return z3.simplify(z3.Select(self.sym, k) != z3.Select(self.conc.array(), k))
        if not L.is_sym(self.sym):
            return not (self.sym == self.conc and type(self.sym) is type(self.conc))
        return self.sym != L.sort_of(self.sym).lift(self.conc)  # type: ignore[union-attr]

    def disagreement(self) -> str | None:
        """None when the two readings agree here; else what differs."""
        if not L.is_sym(self.sym) and not isinstance(self.conc, Map):
            return f"{self.path}: symbolic {self.sym!r}, concrete {self.conc!r}" if self.differs() else None
        # (A lambda array is a Z3 quantifier, and Z3 quantifiers are Boolean terms: test for maps first.)
        if not isinstance(self.conc, Map) and z3.is_bool(self.sym):
            b = truth(self.sym)
            return None if b == self.conc else f"{self.path}: symbolic {'?' if b is None else b}, concrete {self.conc}"
        r = _check(self.differs())
        if r == z3.unsat:
            return None
        verdict = "differs" if r == z3.sat else "unknown"
        if isinstance(self.conc, Map):
            return f"{self.path}: {verdict}, {_map_diff(self.sym, self.conc)}"
        return f"{self.path}: {verdict}: symbolic {_show(_value(self.sym))}, concrete {_show(self.conc)}"


def leaves(sym: Any, conc: Any, sub: list[tuple[z3.ExprRef, z3.ExprRef]], path: str = "result") -> list[Leaf]:
    """The leaves to compare; a check list up to the first check that fails concretely."""
    sl, cl = _leaves(sym, path), _leaves(conc, path)
    assert [p for p, _ in sl] == [p for p, _ in cl], "the two readings return different shapes"
    out: list[Leaf] = []
    for (p, s), (_, c) in zip(sl, cl):
        if isinstance(c, Checks):
            assert isinstance(s, Checks)
            for i, (c_conc, r_conc) in enumerate(c.items):
                c_sym, r_sym = s.items[i]
                out += leaves(c_sym, c_conc, sub, f"{p}[{i}].condition")
                if c_conc:
                    out += leaves(r_sym, r_conc, sub, f"{p}[{i}].reply")
        elif isinstance(c, Map):
            out.append(Leaf(p, z3.substitute(s.array() if isinstance(s, Map) else s, *sub), c))
        else:
            out.append(Leaf(p, z3.substitute(s, *sub) if L.is_sym(s) else s, c))
    return out


def compare(sym: Any, conc: Any, sub: list[tuple[z3.ExprRef, z3.ExprRef]]) -> str | None:
    """The first field where the symbolic result (inputs substituted) and the concrete result differ."""
    todo = []
    for leaf in leaves(sym, conc, sub):
        if not isinstance(leaf.conc, Map) and (z3.is_bool(leaf.sym) or not L.is_sym(leaf.sym)):
            bad = leaf.disagreement()  # Boolean fields one by one: their quantifiers need the right query
            if bad:
                return bad
            continue
        # Most fields are settled by simplification: equal store chains, or a value.
        same = leaf.sym == leaf.conc.array() if isinstance(leaf.conc, Map) else z3.Not(leaf.differs())
        if not z3.is_true(z3.simplify(same)):
            todo.append(leaf)
    return next((bad for leaf in todo if (bad := leaf.disagreement())), None)


# ---------------------------------------------------------------------------------------------
# Operations: each built once on symbolic inputs

CAP = "cap"  # an argument that is a whole Cap
CAP_SORTS = {f.name: (BOOL if f.name in ("device", "mapped") else WORD) for f in dataclasses.fields(Cap)}


def symbolic_cap(name: str) -> Cap:
    """A Cap whose every field is a Z3 constant."""
    return Cap(**{f: s.const(f"{name}.{f}") for f, s in CAP_SORTS.items()})


@dataclass(frozen=True)
class Op:
    """A spec operation: fn(s, *args) and the names and kinds of its arguments."""

    name: str
    fn: Callable[..., Any]
    args: tuple[tuple[str, Any], ...]  # (name, Sort or CAP)

    def symbolic_inputs(self) -> tuple[State, list[Any]]:
        """A symbolic state and arguments."""
        s = L.symbolic_record(State, "s")
        return s, [symbolic_cap(n) if kind == CAP else kind.const(n) for n, kind in self.args]


@functools.lru_cache(maxsize=None)
def built(op: Op) -> tuple[State, tuple[Any, ...], Any]:
    """The symbolic inputs and result of op (built once per test session)."""
    s, args = op.symbolic_inputs()
    return s, tuple(args), op.fn(s, *args)


def substitution(s_sym: State, args_sym: Sequence[Any], s: State, args: Sequence[Any]) -> list[tuple[Any, Any]]:
    """Pairs (symbolic input, concrete value as a Z3 term)."""
    sub = [(getattr(s_sym, f.name).array(), getattr(s, f.name).array()) for f in dataclasses.fields(State)]
    for a_sym, a in zip(args_sym, args, strict=True):
        if isinstance(a_sym, Cap):
            sub += [(getattr(a_sym, f), CAP_SORTS[f].lift(getattr(a, f))) for f in CAP_SORTS]
        else:
            sub.append((a_sym, L.sort_of(a_sym).lift(a)))  # type: ignore[union-attr]
    return sub


def disagreement(op: Op, s: State, args: Sequence[Any], sym: tuple[State, tuple[Any, ...], Any] | None = None
                 ) -> str | None:
    """None when op's two readings agree on (s, args); else the first differing field."""
    s_sym, args_sym, r_sym = sym or built(op)
    r_conc = op.fn(s, *args)
    return compare(r_sym, r_conc, substitution(s_sym, args_sym, s, args))


def _w(*names: str) -> tuple[tuple[str, Any], ...]:
    return tuple((n, WORD) for n in names)


OPS: list[Op] = [
    # CNode_Copy, _Mint: the checks, the effect, and the whole operation.
    Op("cnode_copy", ops.cnode_copy, _w("dest", "src", "src_depth", "rights")),
    Op("cnode_copy_checks", lambda s, *a: eval_checks(ops.cnode_copy_checks(s, *a)), _w("dest", "src", "src_depth", "rights")),
    Op("cnode_copy_effect", ops.cnode_copy_effect, _w("dest", "src", "rights")),
    Op("cnode_mint", ops.cnode_mint, _w("dest", "src", "src_depth", "rights", "badge")),
    Op("cnode_mint_checks", lambda s, *a: eval_checks(ops.cnode_mint_checks(s, *a)),
       _w("dest", "src", "src_depth", "rights", "badge")),
    Op("cnode_mint_effect", ops.cnode_mint_effect, _w("dest", "src", "rights", "badge")),
    # CNode_Move and _Mutate: the checks (with the cap each moves) and the operation.
    Op("cnode_move", ops.cnode_move, _w("dest", "src", "src_depth")),
    Op("cnode_move_checks", lambda s, d, sr, dp: eval_checks(ops.cnode_move_checks(s, d, sr, dp, lambda: get_cap(s, sr))),
       _w("dest", "src", "src_depth")),
    Op("cnode_mutate", ops.cnode_mutate, _w("dest", "src", "src_depth", "data")),
    Op("cnode_mutate_checks",
       lambda s, d, sr, dp, x: eval_checks(ops.cnode_move_checks(s, d, sr, dp, lambda: ops.mutate_cap(s, sr, x))),
       _w("dest", "src", "src_depth", "data")),
    Op("cnode_rotate", ops.cnode_rotate, _w("dest", "pivot", "src", "dest_badge", "pivot_badge", "pivot_depth", "src_depth")),
    Op("cnode_rotate_checks", lambda s, *a: eval_checks(ops.cnode_rotate_checks(s, *a)),
       _w("dest", "pivot", "src", "dest_badge", "pivot_badge", "pivot_depth", "src_depth")),
    Op("cnode_rotate_effect", ops.cnode_rotate_effect, _w("dest", "pivot", "src", "dest_badge", "pivot_badge")),
    Op("cnode_cancel_badged_sends", ops.cnode_cancel_badged_sends, _w("target")),
    # The CDT operations.
    Op("cte_insert", cdt.cte_insert, (("new_cap", CAP),) + _w("src", "dest")),
    Op("cte_move", cdt.cte_move, (("new_cap", CAP),) + _w("src", "dest")),
    Op("cte_swap", cdt.cte_swap, (("cap1", CAP), ("slot1", WORD), ("cap2", CAP), ("slot2", WORD))),
    Op("empty_slot", cdt.empty_slot, _w("slot")),
    Op("revoke_descendants", cdt.revoke_descendants, _w("slot")),
    # Untyped_Retype.
    Op("untyped_retype", ops.untyped_retype, _w("ut", "obj_type", "user_bits", "node", "radix", "offset", "n")),
    Op("untyped_retype_checks", lambda s, *a: eval_checks(ops.untyped_retype_checks(s, *a)),
       _w("ut", "obj_type", "user_bits", "node", "radix", "offset", "n")),
    Op("untyped_retype_effect", ops.untyped_retype_effect, _w("ut", "obj_type", "user_bits", "node", "offset", "n")),
]
INVARIANT_OPS: list[Op] = [Op(name, inv, ()) for name, inv in
                           [*INVARIANTS.items(), ("valid_mdb", valid_mdb), ("valid_cspace", valid_cspace)]]
OP_BY_NAME = {op.name: op for op in OPS + INVARIANT_OPS}


# ---------------------------------------------------------------------------------------------
# Concrete states

SMALL_BOOT: dict[str, Any] = dict(untyped_regions=[(0x80_0000, 0x88_0000)],
                                  device_regions=[(0xFE00_0000, 0xFE01_0000)], user_image_pages=1)


@functools.lru_cache(maxsize=None)
def booted_states() -> tuple[State, ...]:
    """Abstractions of small booted kernels: at boot, after each CDT scenario of refinement.caps
    (and halfway through the first, where the CDT is deepest), and along a random invocation trace."""
    import impl
    from refinement.abstract import abstract
    from refinement.caps import TraceGen, impl_step, scenarios

    out = [abstract(impl.boot(**SMALL_BOOT))]
    for i in range(len(scenarios(impl.boot(**SMALL_BOOT)))):
        k = impl.boot(**SMALL_BOOT)
        events = scenarios(k)[i]
        for j, e in enumerate(events):
            if impl_step(k, e).fault is not None:
                break
            if j == len(events) - 1 or (i == 0 and j == len(events) // 2):
                out.append(abstract(k))
    for seed in range(1):
        k = impl.boot(**SMALL_BOOT)
        gen = TraceGen(k, random.Random(seed))
        for j in range(90):
            # Well-formed invocations only: a cap fault would stop the root thread.
            if impl_step(k, gen.retype() if gen.rnd.random() < 0.35 else gen.cnode_op()).fault is not None:
                break
            if j % 45 == 44:
                out.append(abstract(k))
    return tuple(out)


HAND_CNODE, HAND_RADIX = 0x1_0000, 3  # the hand-built states' slots: a radix-3 CNode at 0x10000
HAND_SLOTS = [HAND_CNODE + (i << abi.seL4_SlotBits) for i in range(1 << HAND_RADIX)]
HAND_OBJS = [0x2_0000, 0x2_0010, 0x2_0400, 0x3_0000, 0x4_0000, HAND_CNODE]
CAP_TYPES = [abi.cap_untyped_cap, abi.cap_endpoint_cap, abi.cap_notification_cap, abi.cap_cnode_cap,
             abi.cap_thread_cap, abi.cap_frame_cap, abi.cap_page_table_cap, abi.cap_reply_cap,
             abi.cap_sched_context_cap, abi.cap_irq_control_cap, abi.cap_zombie_cap, abi.cap_domain_cap]

caps = st.builds(
    Cap,
    type=st.sampled_from(CAP_TYPES),
    obj=st.sampled_from(HAND_OBJS),
    bits=st.sampled_from([0, 3, 4, 5, 12, 16, 21]),
    rights=st.integers(0, 15),
    badge=st.sampled_from([0, 1, 2, 0xFFFF_FFFF_FFFF_FFFF]),
    guard_size=st.sampled_from([0, 1, 61]),
    free=st.sampled_from([0, 1, 4, 0x1000]),
    device=st.booleans(),
    mapped=st.booleans(),
)


def make_state(caps_at: dict[int, Cap], parent: dict[int, int], original: dict[int, bool],
               objects: dict[int, tuple[int, int]]) -> State:
    """A state with these caps, this CDT (ghosts computed from it) and these objects."""
    s = State.empty()
    fields = {f.name: {x: getattr(c, f.name) for x, c in caps_at.items()} for f in dataclasses.fields(Cap)}
    depth: dict[int, int] = {}
    anc: dict[int, bool] = {}
    for x in caps_at:
        p, d = parent.get(x, NULL), 0
        while p != NULL:
            anc[pair(p, x)] = True
            d += 1
            p = parent.get(p, NULL)
        depth[x] = d
    maps = {**{"cap_" + f: v for f, v in fields.items()}, "cdt_parent": parent, "is_original": original,
            "depth": depth, "anc": anc, "obj_type": {o: t for o, (t, _) in objects.items()},
            "obj_bits": {o: b for o, (_, b) in objects.items()}}
    return s.replace(**{n: Map(*State.__sorts__[n], getattr(s, n).default, v) for n, v in maps.items()})


@st.composite
def hand_states(draw: st.DrawFn) -> State:
    """A small state: up to 6 non-null caps in a radix-3 CNode, a random CDT forest over them (with
    its ghost depth and ancestors), and a few objects. Caps need not be valid; the CDT is well formed."""
    slots = draw(st.lists(st.sampled_from(HAND_SLOTS), max_size=6, unique=True))
    caps_at = {x: draw(caps) for x in slots}
    parent = {x: p for i, x in enumerate(slots) if (p := draw(st.sampled_from([NULL, *slots[:i]]))) != NULL}
    original = {x: draw(st.booleans()) for x in slots}
    objects = draw(st.dictionaries(st.sampled_from(HAND_OBJS),
                                   st.tuples(st.sampled_from([1, 2, 3, 4, 6, 10]), st.sampled_from([4, 5, 6, 8, 12])),
                                   max_size=3))
    return make_state(caps_at, parent, original, objects)


states = st.one_of(st.integers(0, 10**6).map(lambda i: booted_states()[i % len(booted_states())]), hand_states())


@st.composite
def junk_states(draw: st.DrawFn) -> State:
    """Random values in every map over a few keys, ghosts included: invariants must agree on any state."""
    keys = st.sampled_from(HAND_SLOTS[:4] + HAND_OBJS[:3] + [NULL])
    words = st.sampled_from([0, 1, 2, 4, 5, 12, 0x2_0000, HAND_SLOTS[0], HAND_SLOTS[1], OBJ_NONE])

    def field(name: str) -> dict[Any, Any]:
        key_sort, val_sort = State.__sorts__[name]
        if key_sort == PAIR:
            return {pair(a, c): True for a, c in draw(st.lists(st.tuples(keys, keys), max_size=4))}
        val = st.booleans() if val_sort == BOOL else (st.integers(0, 3) if val_sort.kind == "int" else words)
        if name == "cap_type":
            val = st.sampled_from(CAP_TYPES + [abi.cap_null_cap])
        return draw(st.dictionaries(keys, val, max_size=4))

    s = State.empty()
    s = s.replace(**{n: Map(*State.__sorts__[n], getattr(s, n).default, field(n)) for n in State.__sorts__})
    # The concrete forall visits only the keys held by the maps it quantifies over (State.slot_maps()):
    # give a cap to every key that only another map holds, so that it is visited (the gap this
    # closes is shown by test_a_key_held_only_outside_slot_maps_is_skipped).
    visited = set().union(*(m.keys() for m in s.slot_maps()))
    held = {k for n, (ks, _) in State.__sorts__.items() if ks == WORD and not n.startswith("obj_")
            for k in getattr(s, n).keys()}
    held |= {h for k in s.anc.keys() for h in (k >> 64, k & L.WORD_MASK)}
    cap_type = s.cap_type
    for k in sorted(held - visited):
        cap_type = cap_type.set(k, draw(st.sampled_from(CAP_TYPES)))
    return s.replace(cap_type=cap_type)


CORRUPTIONS = ("is_original", "cdt_parent", "anc", "depth", "cap_obj", "cap_free", "cap_bits", "cap_type", "obj_bits",
               "obj_type", "copy")
# The corruptions that can break an invariant only a few of them reach (the rest: any corruption).
AIMED = {"ut_revocable": ("is_original",), "untyped_mdb": ("anc", "cap_obj", "copy"),
         "untyped_inc": ("cap_free", "anc", "cap_obj", "copy"),
         "valid_untyped": ("cap_free", "obj_type"), "pspace_distinct": ("obj_bits", "obj_type"),
         "pspace_aligned": ("obj_type", "obj_bits"), "descendants_inc": ("cap_obj", "cap_type", "cap_bits")}


@st.composite
def corrupted_states(draw: st.DrawFn, kinds: tuple[str, ...] = CORRUPTIONS) -> State:
    """A state from `states` with one entry changed the way a buggy operation would change it:
    near-valid states, each breaking one or a few invariants."""
    s = draw(states.filter(lambda s: any(True for _ in s.cap_type.keys())))
    slots = sorted(s.cap_type.keys())
    uts = [x for x in slots if s.cap_type[x] == abi.cap_untyped_cap] or slots
    objs = sorted(s.obj_type.keys()) or HAND_OBJS[:1]
    what = draw(st.sampled_from(kinds))
    x = draw(st.sampled_from(uts if what in ("cap_free", "obj_type") or draw(st.booleans()) else slots))
    c = get_cap(s, x)
    if what == "is_original":
        return s.replace(is_original=s.is_original.set(x, not s.is_original[x]))
    if what == "cdt_parent":
        return s.replace(cdt_parent=s.cdt_parent.set(x, draw(st.sampled_from([NULL, *slots]))))
    if what == "anc":
        held = sorted(s.anc.keys())
        key = draw(st.sampled_from(held)) if held and draw(st.booleans()) else pair(draw(st.sampled_from(slots)), x)
        return s.replace(anc=s.anc.set(key, not s.anc[key]))
    if what == "depth":
        return s.replace(depth=s.depth.set(x, draw(st.integers(0, 3))))
    if what == "cap_obj":
        # Another object, or into (or across) an untyped's range.
        inside = [(get_cap(s, u).obj + d) & L.WORD_MASK for u in uts for d in (0, 16)]
        return s.replace(cap_obj=s.cap_obj.set(x, draw(st.sampled_from([*objs, *inside, (c.obj + 16) & L.WORD_MASK]))))
    if what == "copy":
        # A copy of x's cap in an empty slot as a CDT root (a cap insert that forgot the CDT).
        node, radix = cnode_of(s)
        dest = next((y for y in (node + (i << abi.seL4_SlotBits) for i in range(1 << radix)) if y not in slots), None)
        if dest is None:
            return s
        t = s
        for f in dataclasses.fields(Cap):
            t = t.replace(**{"cap_" + f.name: getattr(t, "cap_" + f.name).set(dest, getattr(c, f.name))})
        return t.replace(is_original=t.is_original.set(dest, True))
    if what == "cap_free":
        return s.replace(cap_free=s.cap_free.set(x, draw(st.sampled_from([0, 1, c.free + 1]))))
    if what == "cap_bits":
        return s.replace(cap_bits=s.cap_bits.set(x, draw(st.sampled_from([max(c.bits - 1, 0), c.bits + 1, 4]))))
    if what == "cap_type":
        return s.replace(cap_type=s.cap_type.set(x, draw(st.sampled_from(CAP_TYPES + [abi.cap_null_cap]))))
    o = draw(st.sampled_from(objs))
    if what == "obj_bits":
        return s.replace(obj_bits=s.obj_bits.set(o, draw(st.sampled_from([0, 20, s.obj_bits[o] + 1]))))
    # A new object inside an existing one, or inside an untyped (below or above its free index).
    at = draw(st.sampled_from([o + 16, c.obj, (c.obj + (c.free << abi.seL4_MinUntypedBits)) & L.WORD_MASK]))
    return s.replace(obj_type=s.obj_type.set(at, abi.seL4_EndpointObject), obj_bits=s.obj_bits.set(at, 4))


# ---------------------------------------------------------------------------------------------
# Arguments, drawn with the state in view

def cnode_of(s: State) -> tuple[int, int]:
    """The largest CNode a cap names (the root CNode of a booted state), or the hand-built one."""
    best = max(((c.bits, c.obj) for x in s.cap_type.keys() if (c := get_cap(s, x)).type == abi.cap_cnode_cap
                and c.bits <= 12 and c.obj in (HAND_CNODE,) + tuple(k for k in s.obj_type.keys())),
               default=(HAND_RADIX, HAND_CNODE))
    return best[1], best[0]


def slot_arg(draw: st.DrawFn, s: State) -> int:
    """A slot: mostly one holding a cap, else an empty slot of the CNode, rarely an odd word."""
    held = sorted(s.cap_type.keys())
    node, radix = cnode_of(s)
    r = draw(st.integers(0, 9))
    if held and r < 6:
        return draw(st.sampled_from(held))
    if r < 9:
        return node + (draw(st.integers(0, min((1 << radix) - 1, 63))) << abi.seL4_SlotBits)
    # Never NULL: slot 0 is no CTE, and the CDT operations use it as "no parent".
    return draw(st.sampled_from([0xFFFF_FFFF_FFFF_FFE0, 12345]))


def cap_arg(draw: st.DrawFn, s: State) -> Cap:
    """A cap: one the state holds, or a random one."""
    held = sorted(s.cap_type.keys())
    if held and draw(st.booleans()):
        return get_cap(s, draw(st.sampled_from(held)))
    return draw(caps)


rights = st.one_of(st.just(15), st.integers(0, 15), st.integers(0, 2**64 - 1))
badges = st.one_of(st.sampled_from([0, 1, 2, 5]), st.integers(0, 2**64 - 1))
depths = st.one_of(st.just(64), st.integers(0, 70))


def args_for(op: Op, draw: st.DrawFn, s: State) -> list[Any]:
    """Random arguments for op on s."""
    if op.name.startswith("untyped_retype"):
        return retype_args(op, draw, s)
    out: list[Any] = []
    for name, kind in op.args:
        if kind == CAP:
            out.append(cap_arg(draw, s))
        elif name == "target" and draw(st.booleans()):
            eps = [x for x in s.cap_type.keys() if s.cap_type[x] == abi.cap_endpoint_cap]
            out.append(draw(st.sampled_from(sorted(eps))) if eps else slot_arg(draw, s))
        elif name in ("dest", "src", "pivot", "target", "slot", "slot1", "slot2"):
            out.append(slot_arg(draw, s))
        elif name in ("rights",):
            out.append(draw(rights))
        elif "depth" in name:
            out.append(draw(depths))
        else:
            out.append(draw(badges))
    # Rotate's pivot cases: src = dest (a swap) and the pivot equal to either.
    if op.name.startswith("cnode_rotate") and draw(st.integers(0, 3)) == 0:
        out[0] = out[2]
    return out


def retype_args(op: Op, draw: st.DrawFn, s: State) -> list[Any]:
    """ut, obj_type, user_bits, node, [radix,] offset, n for Untyped_Retype: mostly in range, so the
    effect runs often, with out-of-range values for every check."""
    def mostly(likely: st.SearchStrategy[int], rare: st.SearchStrategy[int]) -> int:
        return draw(likely if draw(st.integers(0, 4)) else rare)

    uts = sorted(x for x in s.cap_type.keys() if s.cap_type[x] == abi.cap_untyped_cap)
    ut = draw(st.sampled_from(uts)) if uts and draw(st.integers(0, 7)) else slot_arg(draw, s)
    # Mostly the small objects that fit the small booted untypeds.
    obj_type = mostly(st.sampled_from([abi.seL4_EndpointObject, abi.seL4_NotificationObject, abi.seL4_CapTableObject,
                                       abi.seL4_UntypedObject, abi.seL4_ReplyObject, abi.seL4_TCBObject,
                                       abi.seL4_X86_4K]),
                      st.one_of(st.integers(0, abi.seL4_ObjectTypeCount - 1), st.integers(0, 2**64 - 1)))
    user_bits = mostly(st.sampled_from([1, 4, 5, 7, 8]), st.integers(0, 70))
    node, radix = cnode_of(s)
    offset = mostly(st.integers(0, (1 << radix) - 1), st.integers(0, 2**64 - 1))
    if op.name.endswith("effect"):
        # Run on its own, the effect has no checks before it: keep its arguments where they would pass
        # (the concrete reading loops n times).
        return [ut, obj_type % abi.seL4_ObjectTypeCount, user_bits % 20, node, offset % (1 << radix),
                draw(st.integers(1, 4))]
    n = mostly(st.integers(1, 3), st.one_of(st.just(0), st.integers(0, 2**64 - 1)))
    return [ut, obj_type, user_bits, node, radix, offset, n]


def outcome(r: Any) -> Any:
    """What a concrete result says about the path taken: the error code, or the check that failed (-1: none)."""
    if isinstance(r, Checks):
        return next((i for i, (c, _) in enumerate(r.items) if c), -1)
    if isinstance(r, tuple) and len(r) == 2 and isinstance(r[1], ops.Reply):
        return r[1].error
    return None


# ---------------------------------------------------------------------------------------------
# The agreement tests

# Sized so that the file runs in about a minute on two cores.
EXAMPLES = {"untyped_retype": 10, "untyped_retype_checks": 12}  # the rest: 10
INVARIANT_EXAMPLES = {"valid_cspace": 4, "valid_mdb": 6, "untyped_inc": 10}  # the rest: 16
# The search for a path's first example does not shrink it: any example will do, and shrinking reruns the op.
FIND = settings(PROFILE, max_examples=400, phases=[Phase.generate])


@st.composite
def op_cases(draw: st.DrawFn, op: Op) -> tuple[State, list[Any]]:
    """A state and arguments for op."""
    s = draw(states, label="state")
    return s, args_for(op, draw, s)


def succeeds(r: Any) -> bool | None:
    """Whether a concrete result took the success path (None: the operation has no failure path)."""
    o = outcome(r)
    return None if o is None else o in (0, -1)


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_operation_readings_agree(op: Op) -> None:
    """Concrete result == Z3's value of the symbolic result, on random states and arguments, and on the
    first success and the first failure a deterministic search finds (so that both paths are compared)."""
    built(op)

    @settings(PROFILE, max_examples=EXAMPLES.get(op.name, 10))
    @given(case=op_cases(op))
    def agree(case: tuple[State, list[Any]]) -> None:
        s, args = case
        bad = disagreement(op, s, args)
        assert bad is None, f"{op.name}{tuple(args)}: {bad}"

    agree()
    if succeeds(op.fn(*_first(op))) is None:
        return
    for path in (True, False):
        s, args = find(op_cases(op), lambda c, path=path: succeeds(op.fn(c[0], *c[1])) == path, settings=FIND)
        bad = disagreement(op, s, args)
        assert bad is None, f"{op.name}{tuple(args)} ({'success' if path else 'failure'}): {bad}"


def _first(op: Op) -> tuple[Any, ...]:
    """Some concrete input of op (to learn the kind of result it returns)."""
    s, args = find(op_cases(op), lambda c: True, settings=FIND)
    return (s, *args)


@pytest.mark.parametrize("op", INVARIANT_OPS, ids=lambda op: op.name)
def test_invariant_readings_agree(op: Op) -> None:
    """Each invariant has the same truth value in both readings, on valid and on arbitrary states, and on
    the first state a deterministic search finds where it holds and where it fails."""
    built(op)
    some_states = st.one_of(states, junk_states(), corrupted_states(AIMED.get(op.name, CORRUPTIONS)))

    @settings(PROFILE, max_examples=INVARIANT_EXAMPLES.get(op.name, 16))
    @given(s=some_states)
    def agree(s: State) -> None:
        bad = disagreement(op, s, [])
        assert bad is None, f"{op.name}: {bad}"

    agree()
    for holds in (True, False):
        s = find(some_states, lambda s, holds=holds: bool(op.fn(s)) == holds, settings=FIND)
        bad = disagreement(op, s, [])
        assert bad is None, f"{op.name} ({'holding' if holds else 'failing'}): {bad}"


def test_booted_states_are_valid_and_varied() -> None:
    """The booted states are valid (a check of the pool itself) and include a CDT deeper than one edge."""
    pool = booted_states()
    assert len(pool) >= 8
    assert all(valid_cspace(s) for s in pool)
    assert max(s.depth[x] for s in pool for x in s.cap_type.keys()) >= 2


@settings(PROFILE, max_examples=30)
@given(s=hand_states())
def test_hand_states_have_well_formed_cdts(s: State) -> None:
    """The hand-built states satisfy the ghost links the concrete reading of the CDT ops relies on."""
    assert cdt_anc(s) and no_mloop(s)


@settings(PROFILE, max_examples=20)
@given(i=st.integers(0, 10**6), cptr=st.integers(0, 2**64 - 1), depth=st.sampled_from([1, 12, 52, 63, 64, 65]),
       small=st.integers(0, 4095))
def test_lookup_has_one_reading_and_refuses_symbols(i: int, cptr: int, depth: int, small: int) -> None:
    """resolve_address_bits / lookup_slot_for_cnode_op: a symbolic state is refused or answered as concretely."""
    s = booted_states()[i % len(booted_states())]
    root = get_cap(s, min(x for x in s.cap_type.keys() if s.cap_type[x] == abi.cap_cnode_cap))
    for c in (cptr, small):
        conc = lookup_slot_for_cnode_op(s, 0, root, c, depth)
        try:
            sym = lookup_slot_for_cnode_op(L.symbolic_record(State, "s"), 0, root, c, depth)
        except z3.Z3Exception as err:
            assert "cannot be cast to concrete Boolean" in str(err)
        else:
            # The walk ended before it read the state: it must then say what the concrete walk says.
            assert sym == conc
    with pytest.raises(z3.Z3Exception):
        resolve_address_bits(s, root, L.word("cptr"), 64)


# ---------------------------------------------------------------------------------------------
# The check itself can fail: a vocabulary function that misbehaves in one reading is reported.

def test_a_concrete_only_bug_in_map_set_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """Map.set that drops concrete writes of True: cte_insert's is_original then disagrees."""
    op = OP_BY_NAME["cte_insert"]
    s = booted_states()[0]
    ut = min(x for x in s.cap_type.keys() if s.cap_type[x] == abi.cap_untyped_cap and not s.cap_device[x])
    args = [get_cap(s, ut), ut, _empty_slot(s)]
    assert disagreement(op, s, args) is None
    real_set = Map.set

    def bad_set(self: Map, k: Any, v: Any) -> Map:
        if not self.symbolic_reading and not L.is_sym(k) and v is True:
            return self
        return real_set(self, k, v)

    monkeypatch.setattr(Map, "set", bad_set)
    bad = disagreement(op, s, args)
    assert bad is not None and "is_original" in bad and "symbolic True, concrete False" in bad


def test_a_symbolic_only_bug_in_ite_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """An ite that swaps its branches on symbolic conditions: caught on a fresh symbolic build."""
    op = OP_BY_NAME["empty_slot"]
    s = booted_states()[-1]
    slot = max(s.cap_type.keys())
    real_ite = cdt.ite
    monkeypatch.setattr(cdt, "ite", lambda c, a, b: real_ite(c, b, a) if L.is_sym(c) else real_ite(c, a, b))
    s_sym, args_sym = op.symbolic_inputs()
    bad = disagreement(op, s, [slot], (s_sym, tuple(args_sym), op.fn(s_sym, *args_sym)))
    # Symbolically the slot keeps its cap (the branches swapped); concretely it is emptied.
    assert bad is not None and bad.startswith("result.cap_type:")


def test_a_forall_that_skips_the_default_probe_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A concrete forall without its probe key passes an invariant false at a map's default; Z3 does not."""
    op = OP_BY_NAME["valid_nullcaps"]
    # Every slot not held explicitly is "empty" with depth 1: valid_nullcaps fails at the default.
    s = State.empty()
    s = s.replace(depth=Map(*State.__sorts__["depth"], 1))
    assert disagreement(op, s, []) is None
    monkeypatch.setattr(L, "_probe_key", lambda sort, held, extra: None)
    bad = disagreement(op, s, [])
    assert bad is not None and "symbolic False, concrete True" in bad


def _empty_slot(s: State) -> int:
    node, radix = cnode_of(s)
    return next(node + (i << abi.seL4_SlotBits) for i in range(1 << radix)
                if s.cap_type[node + (i << abi.seL4_SlotBits)] == abi.cap_null_cap)


# ---------------------------------------------------------------------------------------------
# Keys held only outside cap_type (a stale field of an emptied slot, a stray ancestor pair): the
# concrete forall must visit them too (State.slot_maps), or the readings would disagree.

def test_a_key_held_only_outside_cap_type_is_checked() -> None:
    """An empty slot with a stale free index breaks valid_nullcaps in both readings."""
    from spec.invariants import valid_nullcaps
    s = State.empty()
    s = s.replace(cap_free=s.cap_free.set(HAND_SLOTS[0], 1))
    assert valid_nullcaps(s) is False
    assert disagreement(OP_BY_NAME["valid_nullcaps"], s, []) is None


def test_an_anc_pair_between_unheld_slots_is_checked() -> None:
    """A stray ancestor pair breaks cdt_anc in both readings."""
    s = State.empty()
    s = s.replace(anc=s.anc.set(pair(HAND_SLOTS[0], HAND_SLOTS[1]), True))
    assert cdt_anc(s) is False
    assert disagreement(OP_BY_NAME["cdt_anc"], s, []) is None
