"""Seeded bugs in the capability spec (issue 3): each replaces one spec function with a wrong copy.

Every replacement is the spec function as written, with one seL4 rule dropped; the comment
marked "The bug" says which. The killers are the obligations that must refute it. A mutant's
target is patched wherever its name is bound (proofs.mutants.apply_mutation), so the
obligation builders, which call the spec through its modules at build time, see the mutation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from proofs.mutants import Mutant, register_mutant
from spec import abi, cdt, ops, state
from spec.decode import Lookup
from spec.logic import And, Bool, Map, Not, Or, Word, align_up, band, cases, eq, ite, mask, shl, shr, ule, wadd
from spec.ops import RetypePlan, get_object_size
from spec.state import (NULL, NULL_CAP, Cap, State, get_cap, is_cap_revocable, is_cnode, is_ep_or_ntfn, pair_fst,
                        pair_snd, set_cap, slot_of)

# ------------------------------------------------------------------------------------------------
# Untyped_Retype (src/object/untyped.c decodeUntypedInvocation, invokeUntyped_Retype)


def _retype_plan_ignoring_free_index(s: State, ut: Word, obj_type: Word, user_bits: Word, node: Word,
                                     offset: Word) -> RetypePlan:
    """retype_plan that allocates from the untyped's base even when its children keep the memory below freeIndex."""
    uc = get_cap(s, ut)
    reset = Not(cdt.has_descendants(s, ut))
    free_index = ite(reset, 0, uc.free)
    obj_bits = get_object_size(obj_type, user_bits)
    # The bug: retypeBase = alignUp(base, objSize) instead of alignUp(base + freeIndex * 16, objSize).
    base = align_up(uc.obj, obj_bits)
    return RetypePlan(reset, free_index, obj_bits, base, slot_of(node, offset))


def _retype_plan_unaligned(s: State, ut: Word, obj_type: Word, user_bits: Word, node: Word,
                           offset: Word) -> RetypePlan:
    """retype_plan that places the first object at the free index without aligning it to the object size."""
    uc = get_cap(s, ut)
    reset = Not(cdt.has_descendants(s, ut))
    free_index = ite(reset, 0, uc.free)
    obj_bits = get_object_size(obj_type, user_bits)
    # The bug: no alignUp(..., objSize).
    base = wadd(uc.obj, shl(free_index, abi.seL4_MinUntypedBits))
    return RetypePlan(reset, free_index, obj_bits, base, slot_of(node, offset))


def _large_page_cap_4m(default_cap: Callable[..., Cap]) -> Callable[..., Cap]:
    """default_cap (passed in: a closure keeps the original when the mutation rebinds the name)
    that gives a new large page a frame cap of 4 MiB (ia32's size; x86_64's is 2 MiB)."""
    def mutant(obj_type: Word, obj: Word, user_bits: Word, device: Bool) -> Cap:
        c = default_cap(obj_type, obj, user_bits, device)
        # The bug: 22 bits, seL4_LargePageBits on ia32, not x86_64's 21.
        return cases(c, (eq(obj_type, abi.seL4_X86_LargePageObject), dataclasses.replace(c, bits=22)))
    return mutant


# ------------------------------------------------------------------------------------------------
# The CDT (src/object/cnode.c cteRevoke, cteInsert, cteMove, emptySlot)

_SLOT_FIELDS = ("cap_type", "cap_obj", "cap_bits", "cap_rights", "cap_badge", "cap_guard_size", "cap_free",
                "cap_device", "cap_mapped", "is_original", "depth", "cdt_parent")


def _revoke_direct_children_only(s: State, slot: Word) -> State:
    """revoke_descendants that empties the children of slot but leaves the grandchildren behind."""
    # The bug: "descendant" read as "child" (cdt_parent instead of the ancestor relation).
    gone = lambda k: eq(s.cdt_parent[k], slot)  # noqa: E731
    t = s
    for name in _SLOT_FIELDS:
        m: Map = getattr(s, name)
        d = State._DEFAULTS.get(name, 0)
        t = t.replace(**{name: m.update_where(lambda k, v: gone(k), lambda k, v, d=d: d)})
    anc = s.anc.update_where(lambda k, v: Or(gone(pair_fst(k)), gone(pair_snd(k))), lambda k, v: False)
    return t.replace(anc=anc)


def _copy_effect_without_parent(s: State, dest: Word, src: Word, rights: Word) -> State:
    """invokeCNodeInsert for Copy that places the copy as a CDT root, whatever src is."""
    from spec.ops import copy_cap  # noqa: PLC0415 - the unmutated helper, looked up when called

    new_cap = copy_cap(s, src, rights)
    src_cap = get_cap(s, src)
    t = cdt.set_untyped_cap_as_full(s, src_cap, new_cap, src)
    t = set_cap(t, dest, new_cap)
    t = t.replace(is_original=t.is_original.set(dest, is_cap_revocable(new_cap, src_cap)))
    # The bug: the CDT parent of dest is never recorded (should be src, or src's parent).
    return cdt.add_child(t, dest, NULL)


def _cte_move_leaving_children(s: State, new_cap: Cap, src: Word, dest: Word) -> State:
    """cte_move that moves the cap and its own CDT entry, but leaves src's children naming src as parent."""
    moved = cdt.swap_positions(s, src, dest)
    # The bug: only the entries at src and dest are exchanged; children still point at the old slot.
    parent = s.cdt_parent.set(dest, s.cdt_parent[src]).set(src, s.cdt_parent[dest])
    return set_cap(moved.replace(cdt_parent=parent), dest, new_cap)


def _empty_slot_orphaning(s: State, slot: Word) -> State:
    """empty_slot that turns the deleted cap's children into CDT roots instead of handing them to its parent."""
    # The bug: children get NULL, not slot's parent (emptySlot / l4v empty_slot re-parent them).
    new_parent = s.cdt_parent.update_where(lambda k, v: eq(v, slot), lambda k, v: NULL).set(slot, NULL)
    anc = s.anc.update_where(lambda k, v: Or(eq(pair_fst(k), slot), eq(pair_snd(k), slot)), lambda k, v: False)
    t = set_cap(s, slot, NULL_CAP)
    t = t.replace(cdt_parent=new_parent, anc=anc, is_original=s.is_original.set(slot, False),
                  depth=s.depth.set(slot, 0))
    return ite(eq(s.cap_type[slot], abi.cap_null_cap), s, t)


# ------------------------------------------------------------------------------------------------
# updateCapData (src/object/objecttype.c) and resolveAddressBits (src/kernel/cspace.c)


def _update_cap_data_rebadging(preserve: Bool, data: Word, c: Cap) -> tuple[Bool, Cap]:
    """update_cap_data_parts that lets Mint replace the badge of an already badged endpoint or notification."""
    guard_size = band(data, 0x3F)
    guard = band(shr(data, 6), mask(58))
    ep = is_ep_or_ntfn(c)
    cnode = is_cnode(c)
    # The bug: no "badge is still 0" condition, so a badged cap is minted again with a new badge.
    refused = Or(And(ep, preserve), And(cnode, Not(ule(wadd(guard_size, c.bits), 64))))
    updated = dataclasses.replace(c, badge=cases(c.badge, (ep, data), (cnode, band(guard, mask(guard_size)))),
                                  guard_size=ite(cnode, guard_size, c.guard_size))
    return refused, updated


def _unmasked_guard(update_cap_data_parts: Callable[..., tuple[Bool, Cap]]) -> Callable[..., tuple[Bool, Cap]]:
    """update_cap_data_parts (passed in, as above) that stores a CNode's new guard without cutting
    it to the new guard size."""
    def mutant(preserve: Bool, data: Word, c: Cap) -> tuple[Bool, Cap]:
        refused, updated = update_cap_data_parts(preserve, data, c)
        # The bug: the guard is not masked to guardSize bits (seL4: guard & MASK(guardSize)).
        guard = band(shr(data, 6), mask(58))
        return refused, dataclasses.replace(updated, badge=ite(is_cnode(c), guard, updated.badge))
    return mutant


def _resolve_address_bits_ignoring_guard(s: State, node_cap: Cap, cptr: int, n_bits: int) -> Lookup:
    """resolve_address_bits that skips the guard bits without comparing them to the cap's guard."""
    if node_cap.type != abi.cap_cnode_cap:
        return Lookup(abi.seL4_InvalidRoot)
    for _ in range(abi.seL4_WordBits):
        radix, guard_bits = node_cap.bits, node_cap.guard_size
        level = radix + guard_bits
        # The bug: only the guard's length is checked, never its value.
        if guard_bits > n_bits:
            return Lookup(abi.seL4_GuardMismatch, bits_left=n_bits, guard_found=node_cap.badge, bits_found=guard_bits)
        if level > n_bits:
            return Lookup(abi.seL4_DepthMismatch, bits_left=n_bits, bits_found=level)
        index = shr(cptr, n_bits - level) & mask(radix)
        slot = slot_of(node_cap.obj, index)
        if n_bits == level:
            return Lookup(abi.seL4_NoFailure, slot, 0)
        n_bits -= level
        node_cap = get_cap(s, slot)
        if node_cap.type != abi.cap_cnode_cap:
            return Lookup(abi.seL4_NoFailure, slot, n_bits)
    raise AssertionError("resolve_address_bits: a level consumed no bits (a CNode cap with radix 0)")


# ------------------------------------------------------------------------------------------------
# The catalogue

SPEC_MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        name="spec_retype_ignores_free_index",
        description="Untyped_Retype allocates from the untyped's base although its children still use the memory "
                    "below the free index, so new objects alias live ones",
        target="spec.ops:retype_plan", replacement=_retype_plan_ignoring_free_index,
        killers=("untyped_retype:no_aliasing",)),
    Mutant(
        name="spec_retype_skips_alignment",
        description="Untyped_Retype places objects at the free index without aligning them to their size",
        target="spec.ops:retype_plan", replacement=_retype_plan_unaligned,
        killers=("untyped_retype:pspace_aligned",)),
    Mutant(
        name="spec_retype_large_page_cap_4m",
        description="Untyped_Retype gives a new large page a 4 MiB frame cap (ia32's size), a page size x86_64 "
                    "does not have",
        target="spec.ops:default_cap", replacement=_large_page_cap_4m(ops.default_cap),
        killers=("untyped_retype:valid_caps",)),
    Mutant(
        name="spec_revoke_direct_children_only",
        description="Revoke deletes the children of the slot but leaves grandchildren whose parent is now empty",
        target="spec.cdt:revoke_descendants", replacement=_revoke_direct_children_only,
        killers=("revoke_descendants:no_descendants", "revoke_descendants:mdb_cte_at")),
    Mutant(
        name="spec_copy_forgets_cdt_parent",
        description="Copy places the new cap as a CDT root, so revoking the source no longer reaches it",
        target="spec.ops:cnode_copy_effect", replacement=_copy_effect_without_parent,
        killers=("cnode_copy:records_parent",)),
    Mutant(
        name="spec_mint_rebadges_badged_cap",
        description="Mint gives an already badged endpoint or notification cap a new badge",
        target="spec.state:update_cap_data_parts", replacement=_update_cap_data_rebadging,
        killers=("cnode_mint:badge_once",)),
    Mutant(
        name="spec_mint_keeps_unmasked_guard",
        description="Mint gives a CNode cap a guard wider than its guard size (seL4 masks it to guardSize bits)",
        target="spec.state:update_cap_data_parts", replacement=_unmasked_guard(state.update_cap_data_parts),
        killers=("cnode_mint:valid_caps",)),
    Mutant(
        name="spec_move_leaves_cdt_on_old_slot",
        description="Move carries the cap to dest but the moved cap's children still name the emptied source slot",
        target="spec.cdt:cte_move", replacement=_cte_move_leaving_children,
        killers=("cnode_move:mdb_cte_at",)),
    Mutant(
        name="spec_delete_orphans_children",
        description="Deleting a cap makes its children CDT roots instead of children of its parent",
        target="spec.cdt:empty_slot", replacement=_empty_slot_orphaning,
        killers=("empty_slot:cdt_anc",)),
    Mutant(
        name="spec_lookup_ignores_guard",
        description="resolveAddressBits skips a CNode's guard bits without comparing them with the guard",
        target="spec.decode:resolve_address_bits", replacement=_resolve_address_bits_ignoring_guard,
        killers=("resolve_address_bits:guard",)),
)

for _m in SPEC_MUTANTS:
    register_mutant(_m)
