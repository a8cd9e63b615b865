"""Slot-level operations on caps and the CDT (src/object/cnode.c; l4v CSpace_A.thy).

Each function is total and pure: it returns the new state. Ghost fields are kept in step:
`depth` (parent strictly shallower than child) and `anc` (the CDT's ancestor relation).
Empty slots are canonical: null cap, no parent, not original, depth 0, in no `anc` pair.
"""

from __future__ import annotations

from typing import Any

from spec import abi
from spec.logic import And, Bool, Map, Not, Or, Word, eq, is_sym, ite, ne
from spec.state import (NULL, NULL_CAP, Cap, State, get_cap, is_cap_revocable, is_untyped, max_free_index,
                        pair, pair_fst, pair_snd, set_cap, should_be_parent_of)


def _concrete(*maps: Map) -> bool:
    return not any(m.symbolic_reading for m in maps)


def ancestors_of(s: State, slot: int) -> list[int]:
    """The strict ancestors of a slot (concrete reading: walks the parent map)."""
    out: list[int] = []
    p = s.cdt_parent[slot]
    while p != NULL and p not in out:
        out.append(p)
        p = s.cdt_parent[p]
    return out


def descendants_of(s: State, slot: int) -> list[int]:
    """The strict descendants of a slot (concrete reading)."""
    return [pair_snd(k) for k, v in s.anc.items() if v and pair_fst(k) == slot]


def add_child(s: State, dest: Word, parent: Word) -> State:
    """Record dest (an empty slot) as a CDT child of parent, or as a root when parent is NULL."""
    extra: list[Any] = []
    if not is_sym(dest) and not is_sym(parent) and _concrete(s.anc):
        extra = [pair(a, dest) for a in ([parent] + ancestors_of(s, parent) if parent != NULL else [])]
    anc = s.anc.update_where(
        lambda k, v: eq(pair_snd(k), dest),
        lambda k, v: And(ne(parent, NULL), Or(eq(pair_fst(k), parent), s.anc[pair(pair_fst(k), parent)])),
        extra_keys=extra)
    return s.replace(cdt_parent=s.cdt_parent.set(dest, parent),
                     depth=s.depth.set(dest, ite(eq(parent, NULL), 0, s.depth[parent] + 1)),
                     anc=anc)


def set_untyped_cap_as_full(s: State, src_cap: Cap, new_cap: Cap, src: Word) -> State:
    """setUntypedCapAsFull: a copy covering the whole untyped stops the source allocating."""
    full = And(is_untyped(src_cap), is_untyped(new_cap), eq(src_cap.obj, new_cap.obj), eq(src_cap.bits, new_cap.bits))
    return ite(full, s.replace(cap_free=s.cap_free.set(src, max_free_index(src_cap.bits))), s)


def cte_insert(s: State, new_cap: Cap, src: Word, dest: Word) -> State:
    """cteInsert / l4v cap_insert: dest gets new_cap as a child of src, or as src's sibling."""
    src_cap = get_cap(s, src)
    revocable = is_cap_revocable(new_cap, src_cap)
    parent = ite(should_be_parent_of(src_cap, s.is_original[src], new_cap, revocable), src, s.cdt_parent[src])
    s = set_untyped_cap_as_full(s, src_cap, new_cap, src)
    s = set_cap(s, dest, new_cap)
    s = s.replace(is_original=s.is_original.set(dest, revocable))
    return add_child(s, dest, parent)


def insert_new_cap(s: State, parent: Word, dest: Word, cap: Cap) -> State:
    """insertNewCap / l4v create_cap: a fresh object's cap, an original child of its untyped."""
    s = set_cap(s, dest, cap)
    s = s.replace(is_original=s.is_original.set(dest, True))
    return add_child(s, dest, parent)


def _rename(x: Word, a: Word, b: Word) -> Word:
    """The transposition of slots a and b."""
    return ite(eq(x, a), b, ite(eq(x, b), a, x))


def swap_positions(s: State, a: Word, b: Word) -> State:
    """Exchange everything two slots hold (caps, CDT position, originality, ghosts)."""
    def per_slot(m: Map) -> Map:
        return m.set(a, m[b]).set(b, m[a])

    parent = s.cdt_parent
    extra_p: list[Any] = []
    if _concrete(parent) and not is_sym(a) and not is_sym(b):
        extra_p = [a, b]
    new_parent = parent.update_where(
        lambda k, v: Or(eq(k, a), eq(k, b), eq(v, a), eq(v, b)),
        lambda k, v: _rename(parent[_rename(k, a, b)], a, b),
        extra_keys=extra_p)
    extra_a: list[Any] = []
    if _concrete(s.anc) and not is_sym(a) and not is_sym(b):
        extra_a = [pair(_rename(pair_fst(k), a, b), _rename(pair_snd(k), a, b))
                   for k, v in s.anc.items() if v and (pair_fst(k) in (a, b) or pair_snd(k) in (a, b))]
    anc = s.anc.update_where(
        lambda k, v: Or(eq(pair_fst(k), a), eq(pair_fst(k), b), eq(pair_snd(k), a), eq(pair_snd(k), b)),
        lambda k, v: s.anc[pair(_rename(pair_fst(k), a, b), _rename(pair_snd(k), a, b))],
        extra_keys=extra_a)
    fields = {name: per_slot(getattr(s, name)) for name in
              ("cap_type", "cap_obj", "cap_bits", "cap_rights", "cap_badge", "cap_guard_size", "cap_free",
               "cap_device", "cap_mapped", "is_original", "depth")}
    return s.replace(cdt_parent=new_parent, anc=anc, **fields)


def cte_move(s: State, new_cap: Cap, src: Word, dest: Word) -> State:
    """cteMove / l4v cap_move: new_cap takes src's CDT position in dest; src becomes empty."""
    s = swap_positions(s, src, dest)
    return set_cap(s, dest, new_cap)


def cte_swap(s: State, cap1: Cap, slot1: Word, cap2: Cap, slot2: Word) -> State:
    """cteSwap / l4v cap_swap: slot1 gets cap2 and slot2 gets cap1, each keeping its CDT position."""
    s = swap_positions(s, slot1, slot2)
    s = set_cap(s, slot1, cap2)
    return set_cap(s, slot2, cap1)


def empty_slot(s: State, slot: Word) -> State:
    """emptySlot / l4v empty_slot: remove the cap; its children move up to its parent."""
    parent = s.cdt_parent[slot]
    new_parent = s.cdt_parent.update_where(lambda k, v: eq(v, slot), lambda k, v: parent).set(slot, NULL)
    anc = s.anc.update_where(lambda k, v: Or(eq(pair_fst(k), slot), eq(pair_snd(k), slot)), lambda k, v: False)
    t = set_cap(s, slot, NULL_CAP)
    t = t.replace(cdt_parent=new_parent, anc=anc, is_original=s.is_original.set(slot, False),
                  depth=s.depth.set(slot, 0))
    # Deleting an empty slot is a silent no-op in seL4.
    return ite(eq(s.cap_type[slot], abi.cap_null_cap), s, t)


def revoke_descendants(s: State, slot: Word) -> State:
    """The effect of cteRevoke / l4v cap_revoke on the CDT: every strict descendant is removed.

    seL4 deletes the descendants one at a time (each an emptySlot); the end state is this
    one, since every removed slot's children are removed too.
    """
    gone = lambda k: s.anc[pair(slot, k)]  # noqa: E731
    t = s
    for name in ("cap_type", "cap_obj", "cap_bits", "cap_rights", "cap_badge", "cap_guard_size", "cap_free",
                 "cap_device", "cap_mapped", "is_original", "depth", "cdt_parent"):
        m: Map = getattr(s, name)
        # The canonical empty-slot value: a symbolic map has no default of its own.
        d = State._DEFAULTS.get(name, 0)
        t = t.replace(**{name: m.update_where(lambda k, v: gone(k), lambda k, v, d=d: d)})
    anc = s.anc.update_where(lambda k, v: Or(gone(pair_fst(k)), gone(pair_snd(k))), lambda k, v: False)
    return t.replace(anc=anc)


def has_descendants(s: State, slot: Word) -> Bool:
    """Some slot descends from `slot` (concretely: a held anc pair)."""
    from spec.logic import Domain, exists
    return exists(Domain("d"), lambda x: s.anc[pair(slot, x)], over=(s.cdt_parent,))


def ensure_no_children(s: State, slot: Word) -> Bool:
    """ensureNoChildren succeeds: no slot has `slot` as its CDT parent."""
    return Not(has_descendants(s, slot))
