"""Known models for the witness check: a small valid state in which each operation succeeds.

The witness check asks whether an obligation's hypotheses are satisfiable (DESIGN.md, Proofs).
Handing the solver a model to start from makes the check cheap: the state and the operation's
arguments below are bound to their symbols, and the solver only has to find values for what is
left (the goal's constants, generalised terms, the Booleans standing for quantified formulas).
A model of the bound hypotheses, with the bindings, is a model of the hypotheses, so a `sat`
here is a witness; anything else falls back to the plain check (proofs/solve.py), which alone
may call an obligation vacuous.

The state: a radix-3 CNode whose cap sits in its own slot 0; an untyped of 1 MiB with no
children (slot 1); an endpoint with an original cap (slot 2) and a copy below it (slot 3); a TCB
with an original cap (slot 5) and a copy below it (slot 6); slots 4 and 7 empty. Every invariant
holds in it (tests/test_witness.py), and every operation's checks pass with the arguments in
SCENARIOS (same test).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import z3

from spec import abi
from spec.logic import Map
from spec.state import ALL_RIGHTS, Cap, State, pair

CNODE, CNODE_RADIX = 0x1_0000, 3
UNTYPED, UNTYPED_BITS = 0x10_0000, 20
ENDPOINT, TCB = 0x2_0000, 0x3_0000
SLOTS = [CNODE + (i << abi.seL4_SlotBits) for i in range(1 << CNODE_RADIX)]


def scenario_state() -> State:
    """The state every scenario starts from (module docstring)."""
    caps = {
        SLOTS[0]: Cap(type=abi.cap_cnode_cap, obj=CNODE, bits=CNODE_RADIX, rights=ALL_RIGHTS,
                      guard_size=abi.seL4_WordBits - CNODE_RADIX),
        SLOTS[1]: Cap(type=abi.cap_untyped_cap, obj=UNTYPED, bits=UNTYPED_BITS),
        SLOTS[2]: Cap(type=abi.cap_endpoint_cap, obj=ENDPOINT, rights=ALL_RIGHTS),
        SLOTS[3]: Cap(type=abi.cap_endpoint_cap, obj=ENDPOINT, rights=ALL_RIGHTS),
        SLOTS[5]: Cap(type=abi.cap_thread_cap, obj=TCB, rights=ALL_RIGHTS),
        SLOTS[6]: Cap(type=abi.cap_thread_cap, obj=TCB, rights=ALL_RIGHTS),
    }
    parent = {SLOTS[3]: SLOTS[2], SLOTS[6]: SLOTS[5]}
    objects = {CNODE: (abi.seL4_CapTableObject, CNODE_RADIX + abi.seL4_SlotBits),
               ENDPOINT: (abi.seL4_EndpointObject, abi.seL4_EndpointBits), TCB: (abi.seL4_TCBObject, abi.seL4_TCBBits)}
    s = State.empty()
    maps: dict[str, dict[Any, Any]] = {f"cap_{f}": {x: getattr(c, f) for x, c in caps.items()}
                                       for f in Cap.__dataclass_fields__}
    maps["cdt_parent"] = parent
    maps["is_original"] = {x: x not in parent for x in caps}
    maps["depth"] = {x: 1 if x in parent else 0 for x in caps}
    maps["anc"] = {pair(p, c): True for c, p in parent.items()}
    maps["obj_type"] = {o: t for o, (t, _) in objects.items()}
    maps["obj_bits"] = {o: b for o, (_, b) in objects.items()}
    return s.replace(**{n: Map(*State.__sorts__[n], getattr(s, n).default, v) for n, v in maps.items()})


# Each operation's arguments (by the names proofs/obligations/cspace.py gives them) for which
# its checks pass in scenario_state.
SCENARIOS: dict[str, dict[str, int]] = {
    "cnode_copy": dict(dest=SLOTS[4], src=SLOTS[2], src_depth=abi.seL4_WordBits, rights=ALL_RIGHTS),
    "cnode_mint": dict(dest=SLOTS[4], src=SLOTS[2], src_depth=abi.seL4_WordBits, rights=ALL_RIGHTS, badge=5),
    "cnode_move": dict(dest=SLOTS[4], src=SLOTS[2], src_depth=abi.seL4_WordBits),
    "cnode_mutate": dict(dest=SLOTS[4], src=SLOTS[5], src_depth=abi.seL4_WordBits, data=0),
    "cnode_rotate": dict(dest=SLOTS[4], pivot=SLOTS[6], src=SLOTS[5], dest_badge=0, pivot_badge=0,
                         pivot_depth=abi.seL4_WordBits, src_depth=abi.seL4_WordBits),
    "empty_slot": dict(slot=SLOTS[3]),
    "revoke_descendants": dict(slot=SLOTS[2]),
    "untyped_retype": dict(ut=SLOTS[1], node_slot=SLOTS[0], obj_type=abi.seL4_EndpointObject, user_bits=0,
                           offset=4, n=1),
}


def _value(v: Any, sort: z3.SortRef) -> z3.ExprRef:
    """The scalar v as a Z3 value of the given sort (in that sort's context)."""
    if sort.kind() == z3.Z3_BOOL_SORT:
        return z3.BoolVal(bool(v), sort.ctx)
    if sort.kind() == z3.Z3_INT_SORT:
        return z3.IntVal(v, sort.ctx)
    return z3.BitVecVal(v, sort.size(), sort.ctx)


def _array(m: Map, sort: z3.ArraySortRef) -> z3.ExprRef:
    """The concrete map m as a Z3 array of the given sort: K(default) with a store per entry."""
    arr = z3.K(sort.domain(), _value(m.default, sort.range()))
    for k, v in m.items():
        arr = z3.Store(arr, _value(k, sort.domain()), _value(v, sort.range()))
    return arr


def _nested_anc(anc: Map, sort: z3.ArraySortRef) -> z3.ExprRef:
    """The ghost `anc` as the nested array the queries read (cspace._nested_query)."""
    inner = sort.range()
    rows: dict[int, z3.ExprRef] = {}
    for k, v in anc.items():
        if v:
            a, c = k >> 64, k & ((1 << 64) - 1)
            rows[a] = z3.Store(rows.get(a, z3.K(inner.domain(), _value(False, inner.range()))),
                               _value(c, inner.domain()), _value(True, inner.range()))
    out = z3.K(sort.domain(), z3.K(inner.domain(), _value(False, inner.range())))
    for a, row in rows.items():
        out = z3.Store(out, _value(a, sort.domain()), row)
    return out


# The goal's constants (cspace._skolemize names them NAME!gN) may take any value: the hypotheses
# hold of them as instances of invariants, which hold at every slot and object of a valid state.
_GOAL_CONSTANT = re.compile(r"!g\d+$")


def _value_of(op: str, s: State, c: z3.ExprRef) -> z3.ExprRef | None:
    """The scenario's value for the constant c, made in c's context; None when it has none."""
    name = c.decl().name()
    if name == "s.anc[slot][slot]":
        return _nested_anc(s.anc, c.sort())
    if name.startswith("s.") and name[2:] in State.__sorts__ and z3.is_array(c):
        return _array(getattr(s, name[2:]), c.sort())
    if name in SCENARIOS[op] and z3.is_bv(c):
        return _value(SCENARIOS[op][name], c.sort())
    if _GOAL_CONSTANT.search(name) and z3.is_bv(c):
        return _value(SLOTS[2], c.sort())
    return None


def binding(op: str) -> Callable[[list[z3.ExprRef]], list[tuple[z3.ExprRef, z3.ExprRef]]]:
    """The Query.known_model of op's obligations: each constant the scenario gives a value, with it."""
    def bind(constants: list[z3.ExprRef]) -> list[tuple[z3.ExprRef, z3.ExprRef]]:
        s = scenario_state()
        out = []
        for c in constants:
            v = _value_of(op, s, c)
            if v is not None and v.sort().eq(c.sort()):
                out.append((c, v))
        return out
    return bind
