"""Seeded bugs in the concrete kernel that the refinement checker must catch.

Each replacement is the seL4 C function it mutates with one plausible mistake. Two checks
can kill them: the fixed scenarios of refinement.caps (CDT shapes, guarded CNodes, rotates)
and random traces alone (no scenarios), so the report says which one each bug needs.
"""

from __future__ import annotations

from typing import Any

from proofs.mutants import Mutant, register_mutant


def _mismatch_line(r: Any, where: str) -> str | None:
    """One line about the first mismatch of a RefineReport, or None."""
    if not r.mismatches:
        return None
    m = r.mismatches[0]
    return f"{where}: {m['what']} after {len(m['trace'])} steps: {m['detail']}"


def _scenarios_catch() -> str | None:
    """Run the fixed refinement scenarios (refinement.caps.scenarios); the first mismatch."""
    from refinement.caps import refine
    return _mismatch_line(refine(0, 0), "scenarios")


def _random_traces_catch(steps: int = 3000, seeds: tuple[int, ...] = (1, 2)) -> str | None:
    """Random refinement traces only (no fixed scenarios), a few seeds; the first mismatch."""
    from refinement.caps import refine
    for seed in seeds:
        line = _mismatch_line(refine(steps, seed, fixed=False), f"random traces, seed {seed}")
        if line:
            return line
    return None


CHECKS = (_scenarios_catch, _random_traces_catch)


# --- isMDBParentOf ignores badges ------------------------------------------------------------------

def _is_mdb_parent_of_ignoring_badges(cte_a: Any, cte_b: Any) -> bool:
    """isMDBParentOf that forgets the badge rule: a badged original adopts every copy."""
    from impl.caps import same_region_as  # noqa: PLC0415 - resolved in the mutated process
    return bool(cte_a.revocable and same_region_as(cte_a.cap, cte_b.cap))


register_mutant(Mutant(
    name="impl_is_mdb_parent_of_ignores_badges",
    description="impl's isMDBParentOf ignores badges, so revoking a badged cap takes its siblings too",
    target="impl.cnode:is_mdb_parent_of", replacement=_is_mdb_parent_of_ignoring_badges,
    killers=(), checks=CHECKS))


# --- cteInsert links the new CTE in at the wrong place ---------------------------------------------

def _cte_insert_after_successor(k: Any, new_cap: Any, src: int, dest: int) -> None:
    """cteInsert that links dest after src's list successor instead of right after src."""
    from impl.caps import is_cap_revocable  # noqa: PLC0415
    from impl.cnode import set_untyped_cap_as_full  # noqa: PLC0415
    from impl.structures import CTE  # noqa: PLC0415
    ctes = k.ctes
    src_cte = ctes[src]
    revocable = is_cap_revocable(new_cap, src_cte.cap)
    set_untyped_cap_as_full(src_cte.cap, new_cap, src_cte)
    after = src_cte.next or src  # the bug: one CTE too far down the list
    after_cte = ctes[after]
    nxt = after_cte.next
    ctes[dest] = CTE(new_cap, after, nxt, revocable, revocable)
    after_cte.next = dest
    if nxt:
        ctes[nxt].prev = dest


register_mutant(Mutant(
    name="impl_cte_insert_wrong_place",
    description="cteInsert links the copy after src's successor, so it can land outside src's subtree",
    target="impl.cnode:cte_insert", replacement=_cte_insert_after_successor,
    killers=(), checks=CHECKS))


# --- cteRevoke stops after the first child ---------------------------------------------------------

def _cte_revoke_first_child_only(k: Any, slot: int) -> None:
    """cteRevoke that deletes the first MDB child and returns, leaving the other descendants."""
    from impl.cnode import cte_delete, is_mdb_parent_of  # noqa: PLC0415
    cte = k.ctes.get(slot)
    if cte is not None and cte.next != 0 and is_mdb_parent_of(cte, k.ctes[cte.next]):
        cte_delete(k, cte.next, True)


register_mutant(Mutant(
    name="impl_cte_revoke_stops_early",
    description="cteRevoke deletes only the first child, so later children and their subtrees survive",
    target="impl.cnode:cte_revoke", replacement=_cte_revoke_first_child_only,
    killers=(), checks=CHECKS))


# --- invokeUntyped_Retype sets freeIndex one unit too high ------------------------------------------

def _invoke_untyped_retype_free_index_plus_one(k: Any, src_slot: int, reset: bool, retype_base: int, new_type: int,
                                               user_size: int, dest_cnode: int, dest_offset: int,
                                               dest_length: int, device_memory: bool) -> None:
    """invokeUntyped_Retype whose new freeIndex is one 16-byte unit past the last object."""
    from impl.untyped import create_new_objects, reset_untyped_cap  # noqa: PLC0415
    from spec.abi import object_size_bits  # noqa: PLC0415
    if reset:
        reset_untyped_cap(k, src_slot)
    cte = k.ctes[src_slot]
    free_ref = retype_base + (dest_length << object_size_bits(new_type, user_size))
    cte.cap = cte.cap._replace(capFreeIndex=((free_ref - cte.cap.capPtr) >> 4) + 1)  # the bug: + 1
    create_new_objects(k, new_type, src_slot, dest_cnode, dest_offset, dest_length, retype_base, user_size,
                       device_memory)


register_mutant(Mutant(
    name="impl_retype_free_index_off_by_one",
    description="Untyped_Retype leaves freeIndex one unit (16 bytes) past the objects it made",
    target="impl.untyped:invoke_untyped_retype", replacement=_invoke_untyped_retype_free_index_plus_one,
    killers=(), checks=CHECKS))


# --- resolveAddressBits compares the guard with unmasked bits ---------------------------------------

def _resolve_address_bits_unmasked_guard(k: Any, node_cap: Any, capptr: int, n_bits: int) -> tuple[int, int]:
    """resolveAddressBits that forgets MASK(guardBits): bits above n_bits take part in the guard."""
    from impl.structures import (LookupFailed, lookup_fault_depth_mismatch_new,  # noqa: PLC0415
                                 lookup_fault_guard_mismatch_new, lookup_fault_invalid_root_new)
    from spec.abi import cap_cnode_cap, seL4_SlotBits  # noqa: PLC0415
    if node_cap.capType != cap_cnode_cap:
        raise LookupFailed(lookup_fault_invalid_root_new())
    while True:
        radix_bits = node_cap.capCNodeRadix
        guard_bits = node_cap.capCNodeGuardSize
        level_bits = radix_bits + guard_bits
        cap_guard = node_cap.capCNodeGuard
        if guard_bits > n_bits or (capptr >> (n_bits - guard_bits)) != cap_guard:  # the bug: no mask
            raise LookupFailed(lookup_fault_guard_mismatch_new(cap_guard, n_bits, guard_bits))
        if level_bits > n_bits:
            raise LookupFailed(lookup_fault_depth_mismatch_new(level_bits, n_bits))
        offset = (capptr >> (n_bits - level_bits)) & ((1 << radix_bits) - 1)
        slot = node_cap.capCNodePtr + (offset << seL4_SlotBits)
        if n_bits == level_bits:
            return slot, 0
        n_bits -= level_bits
        cte = k.ctes.get(slot)
        if cte is None or cte.cap.capType != cap_cnode_cap:
            return slot, n_bits
        node_cap = cte.cap


register_mutant(Mutant(
    name="impl_resolve_guard_wrong_bits",
    description="resolveAddressBits compares the guard with every bit above the level, not just guardBits of them",
    target="impl.cspace:resolve_address_bits", replacement=_resolve_address_bits_unmasked_guard,
    killers=(), checks=CHECKS))


# --- invokeCNodeRotate mishandles the pivot --------------------------------------------------------

def _invoke_cnode_rotate_src_first(k: Any, cap1: Any, cap2: Any, slot1: int, slot2: int, slot3: int) -> None:
    """invokeCNodeRotate that moves the source into the pivot before the pivot's cap has left it."""
    from impl.cnode import cte_move, cte_swap  # noqa: PLC0415
    if slot1 == slot3:
        # The swap also loses the pivot's new cap: both slots get the source's.
        cte_swap(k, cap1, slot1, cap1, slot2)
    else:
        cte_move(k, cap1, slot1, slot2)
        cte_move(k, cap2, slot2, slot3)


register_mutant(Mutant(
    name="impl_rotate_mishandles_pivot",
    description="CNode_Rotate overwrites the pivot before moving its cap out (and duplicates the source in a swap)",
    target="impl.cnode:invoke_cnode_rotate", replacement=_invoke_cnode_rotate_src_first,
    killers=(), checks=CHECKS))
