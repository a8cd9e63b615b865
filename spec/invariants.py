"""Invariants of the capability and memory state, named and split as l4v splits them.

Each small predicate reads only the part of the state it needs and quantifies over slots or
objects (concretely: over the keys the state holds, with the default probe of spec.logic).
They combine by name: `valid_mdb` as in l4v's Invariants_AI.thy (MCS), and `valid_cspace`
for everything the capability operations must keep.

Transitive statements of l4v (descendants_inc, untyped_mdb, untyped_inc) are stated here over
the ghost ancestor relation `anc`, which `cdt_anc` ties to the parent map: every parent is an
ancestor, every ancestor is the parent or an ancestor of the parent, ancestors are closed
under going down one edge, and an ancestor is strictly shallower. With `depth` this pins
`anc` to exactly the transitive closure of `cdt_parent`, without Z3's TransitiveClosure.
"""

from __future__ import annotations

from collections.abc import Callable

from spec import abi
from spec.logic import (And, Bool, Domain, Implies, Not, Or, Word, eq, forall, is_aligned, mask, ne, shl, ule, ult,
                        wsub)
from spec.state import (NULL, OBJ_NONE, Cap, State, cap_class, cap_object_type, cap_size_bits, cap_top,
                        get_cap, is_cnode, is_null, is_physical, is_untyped, max_free_index,
                        object_top, pair, untyped_top)

SLOT = Domain("slot")
SLOT2 = Domain("slot2")
OBJ = Domain("obj")
OBJ2 = Domain("obj2")


def _slots(s: State, pred: Callable[[Word], Bool]) -> Bool:
    return forall(SLOT, pred, over=s.slot_maps())


def _slot_pairs(s: State, pred: Callable[[Word, Word], Bool]) -> Bool:
    return _slots(s, lambda a: forall(SLOT2, lambda b: pred(a, b), over=s.slot_maps()))


# ---- caps -------------------------------------------------------------------------------

def valid_cap(s: State, c: Cap) -> Bool:
    """l4v valid_cap / cap_aligned: the cap is well formed and names an object of its type and size."""
    names_object = And(eq(s.obj_type[c.obj], cap_object_type(c)), eq(s.obj_bits[c.obj], cap_size_bits(c)))
    untyped_ok = And(ule(abi.seL4_MinUntypedBits, c.bits), ule(c.bits, abi.seL4_MaxUntypedBits),
                     is_aligned(c.obj, c.bits), ne(c.obj, 0), ule(c.free, max_free_index(c.bits)))
    # The guard fits its size: updateCapData stores seL4_CNode_CapData_get_guard(w) & MASK(guardSize).
    cnode_ok = And(ule(1, c.bits), ule(c.bits + 0, 64 - abi.seL4_SlotBits), ule(c.guard_size, 64 - c.bits),
                   ule(c.badge, mask(c.guard_size)))
    # A frame is a 4 KiB, 2 MiB or 1 GiB page (x86_64 pageBitsForSize).
    frame_ok = Or(eq(c.bits, abi.seL4_PageBits), eq(c.bits, abi.seL4_LargePageBits), eq(c.bits, abi.seL4_HugePageBits))
    return Implies(Not(is_null(c)), And(
        Implies(is_untyped(c), untyped_ok),
        Implies(ne(cap_object_type(c), OBJ_NONE), names_object),
        Implies(is_cnode(c), cnode_ok),
        Implies(eq(c.type, abi.cap_frame_cap), frame_ok)))


def valid_caps(s: State) -> Bool:
    """l4v valid_caps: every cap in every slot is valid."""
    return _slots(s, lambda x: valid_cap(s, get_cap(s, x)))


def valid_nullcaps(s: State) -> Bool:
    """C valid_nullcaps: an empty slot has no CDT parent, is not original and has depth 0."""
    return _slots(s, lambda x: Implies(eq(s.cap_type[x], abi.cap_null_cap),
                                       And(eq(s.cdt_parent[x], NULL), Not(s.is_original[x]), s.depth[x] == 0,
                                           eq(s.cap_free[x], 0))))


# ---- the CDT ------------------------------------------------------------------------------

def mdb_cte_at(s: State) -> Bool:
    """l4v mdb_cte_at: both ends of every CDT edge hold non-null caps."""
    return _slots(s, lambda c: Implies(ne(s.cdt_parent[c], NULL),
                                       And(ne(s.cap_type[c], abi.cap_null_cap),
                                           ne(s.cap_type[s.cdt_parent[c]], abi.cap_null_cap))))


def no_mloop(s: State) -> Bool:
    """l4v no_mloop, edge-local: a parent is strictly shallower than its child (so no cycles)."""
    return _slots(s, lambda c: Implies(ne(s.cdt_parent[c], NULL), s.depth[s.cdt_parent[c]] < s.depth[c]))


def anc_parent(s: State) -> Bool:
    """Ghost: every CDT parent is an ancestor."""
    return _slots(s, lambda c: Implies(ne(s.cdt_parent[c], NULL), s.anc[pair(s.cdt_parent[c], c)]))


def anc_step(s: State) -> Bool:
    """Ghost: an ancestor is the parent or an ancestor of the parent, shallower, between live caps."""
    return _slot_pairs(s, lambda a, c: Implies(
        s.anc[pair(a, c)],
        And(ne(s.cdt_parent[c], NULL), Or(eq(s.cdt_parent[c], a), s.anc[pair(a, s.cdt_parent[c])]),
            s.depth[a] < s.depth[c], ne(s.cap_type[a], abi.cap_null_cap))))


def anc_closed(s: State) -> Bool:
    """Ghost: ancestors of a parent are ancestors of its child."""
    return _slot_pairs(s, lambda a, c: Implies(And(ne(s.cdt_parent[c], NULL), s.anc[pair(a, s.cdt_parent[c])]),
                                                s.anc[pair(a, c)]))


def cdt_anc(s: State) -> Bool:
    """Ghost: `anc` is the ancestor relation of `cdt_parent`."""
    return And(anc_parent(s), anc_step(s), anc_closed(s))


def cap_inside(inner: Cap, outer: Cap) -> Bool:
    """The range of the cap inner lies within the range of the cap outer."""
    return And(ule(outer.obj, inner.obj), ule(cap_top(inner), cap_top(outer)))


def untyped_inside(inner: Cap, outer: Cap) -> Bool:
    """cap_inside for two untyped caps, through untyped_top."""
    return And(ule(outer.obj, inner.obj), ule(untyped_top(inner), untyped_top(outer)))


def descendants_inc(s: State) -> Bool:
    """l4v descendants_inc, edge-local: a child has its parent's cap class and lies in its range."""
    def edge(c: Word) -> Bool:
        p = s.cdt_parent[c]
        cc, pc = get_cap(s, c), get_cap(s, p)
        return Implies(ne(p, NULL), And(eq(cap_class(cc), cap_class(pc)), Implies(is_physical(cc), cap_inside(cc, pc))))
    return _slots(s, edge)


def untyped_mdb(s: State) -> Bool:
    """l4v untyped_mdb: a cap to an object inside an untyped's range descends from that untyped."""
    def ok(u: Word, c: Word) -> Bool:
        uc, cc = get_cap(s, u), get_cap(s, c)
        names_inside = And(ne(cap_object_type(cc), OBJ_NONE), ule(uc.obj, cc.obj), ule(cc.obj, untyped_top(uc)))
        return Implies(And(is_untyped(uc), names_inside), s.anc[pair(u, c)])
    return _slot_pairs(s, ok)


def _usable_empty(c: Cap) -> Bool:
    return eq(c.free, max_free_index(c.bits))


def _below_free(uc: Cap, last: Word) -> Bool:
    """The byte `last`, inside the untyped's range, lies below its free index.

    Measured as an offset from the untyped's base, so that an untyped at the top of the address
    space (base + 2^bits wraps to 0) is handled as l4v's set [base + free, base + 2^bits - 1] is.
    """
    return ult(wsub(last, uc.obj), shl(uc.free, abi.seL4_MinUntypedBits))


def untyped_inc(s: State) -> Bool:
    """l4v untyped_inc: untyped ranges nest or are disjoint; a nested one descends from the outer
    one and lies below its free index; equal ranges are one slot or an ancestor with no free memory."""
    def ok(a: Word, b: Word) -> Bool:
        ca, cb = get_cap(s, a), get_cap(s, b)
        ta, tb = untyped_top(ca), untyped_top(cb)
        a_in_b, b_in_a = untyped_inside(ca, cb), untyped_inside(cb, ca)
        disjoint = Or(ult(ta, cb.obj), ult(tb, ca.obj))
        strictly_in = And(a_in_b, Not(b_in_a))
        return Implies(And(is_untyped(ca), is_untyped(cb)), And(
            Or(a_in_b, b_in_a, disjoint),
            Implies(strictly_in, And(s.anc[pair(b, a)], _below_free(cb, ta))),
            Implies(And(a_in_b, b_in_a), Or(eq(a, b), And(s.anc[pair(b, a)], _usable_empty(cb)),
                                            And(s.anc[pair(a, b)], _usable_empty(ca))))))
    return _slot_pairs(s, ok)


def ut_revocable(s: State) -> Bool:
    """l4v ut_revocable: every untyped cap is original."""
    return _slots(s, lambda x: Implies(eq(s.cap_type[x], abi.cap_untyped_cap), s.is_original[x]))


def valid_mdb(s: State) -> Bool:
    """l4v valid_mdb (MCS, the parts with caps we model), with the ghost links."""
    return And(mdb_cte_at(s), no_mloop(s), cdt_anc(s), descendants_inc(s), untyped_mdb(s), untyped_inc(s),
               ut_revocable(s))


# ---- memory -------------------------------------------------------------------------------

def _objs(s: State, pred: Callable[[Word], Bool]) -> Bool:
    return forall(OBJ, pred, over=s.obj_maps())


def pspace_aligned(s: State) -> Bool:
    """l4v pspace_aligned: every object is aligned to its size, and its size is one seL4 allows."""
    return _objs(s, lambda o: Implies(ne(s.obj_type[o], OBJ_NONE),
                                      And(ne(o, 0), ule(s.obj_bits[o], abi.seL4_MaxUntypedBits),
                                          is_aligned(o, s.obj_bits[o]))))


def pspace_distinct(s: State) -> Bool:
    """l4v pspace_distinct: the footprints of two different objects are disjoint."""
    return _objs(s, lambda a: forall(OBJ2, lambda b: Implies(
        And(ne(s.obj_type[a], OBJ_NONE), ne(s.obj_type[b], OBJ_NONE), ne(a, b)),
        Or(ult(object_top(s, a), b), ult(object_top(s, b), a))), over=s.obj_maps()))


def valid_untyped(s: State) -> Bool:
    """l4v valid_untyped: an object overlapping an untyped lies inside it and below its free index."""
    def ok(u: Word) -> Bool:
        uc = get_cap(s, u)
        return Implies(is_untyped(uc), _objs(s, lambda o: Implies(
            And(ne(s.obj_type[o], OBJ_NONE), ule(o, untyped_top(uc)), ule(uc.obj, object_top(s, o))),
            And(ule(uc.obj, o), ule(object_top(s, o), untyped_top(uc)), _below_free(uc, object_top(s, o))))))
    return _slots(s, ok)


INVARIANTS: dict[str, Callable[[State], Bool]] = {
    "mdb_cte_at": mdb_cte_at,
    "no_mloop": no_mloop,
    "cdt_anc": cdt_anc,
    "descendants_inc": descendants_inc,
    "untyped_mdb": untyped_mdb,
    "untyped_inc": untyped_inc,
    "ut_revocable": ut_revocable,
    "valid_caps": valid_caps,
    "valid_nullcaps": valid_nullcaps,
    "valid_untyped": valid_untyped,
    "pspace_aligned": pspace_aligned,
    "pspace_distinct": pspace_distinct,
}


def valid_cspace(s: State) -> Bool:
    """Everything the capability and memory operations keep: valid_mdb and the memory invariants."""
    return And(valid_mdb(s), valid_caps(s), valid_nullcaps(s), valid_untyped(s), pspace_aligned(s),
               pspace_distinct(s))


def failing_invariants(s: State) -> list[str]:
    """The names of the invariants a concrete state breaks (for tests and counterexamples)."""
    return [name for name, inv in INVARIANTS.items() if not inv(s)]
