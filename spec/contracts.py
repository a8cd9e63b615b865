"""CrossHair contracts (PEP316) for the capability and memory operations, concrete reading.

One module-level function per operation: it builds a small valid state, calls the spec
function on the arguments CrossHair chooses, and states in its docstring what must hold:
`pre:` the state's invariants and the argument ranges, `post:` the invariants of the new
state and facts about the result (an seL4 error code, a failing check changes nothing,
what a success leaves where). `crosshair check spec.contracts` explores them, and so does
`sel4spec explore`, which reports per contract.

The states are small on purpose: CrossHair executes every condition under its tracer, and
the pairwise invariants cost the square of the number of slots. Each contract takes `which`,
an index into BASES (valid states of one radix-3 CNode, built by the spec's own operations),
and slot indices 0..7 rather than addresses. CrossHair makes a symbolic integer concrete at
bitwise operators and dictionary keys, so this is a search over the values it picks, never a
proof; the Z3 obligations are the proofs.
"""

from __future__ import annotations

from spec import abi
from spec.cdt import descendants_of, empty_slot, revoke_descendants
from spec.decode import lookup_slot_for_cnode_op
from spec.invariants import valid_cspace
from spec.ops import (N_MRS, Reply, cap_revoke, cnode_cancel_badged_sends, cnode_copy, cnode_mint, cnode_move,
                      cnode_mutate, cnode_rotate, cte_delete, untyped_retype)
from spec.state import ALL_RIGHTS, Cap, State, get_cap, set_cap, slot_of

Outcome = tuple[State, Reply]

CNODE = 0x1_0000  # the root CNode: radix 3, guard 0 of 61 bits, so depth 64 resolves any index
RADIX = 3
SLOTS = 1 << RADIX
ROOT_SLOT, UT_SLOT = 1, 2
UT_BASE, UT_BITS = 0x10_0000, 12  # a 4 KiB untyped
SEL4_ERRORS = frozenset(abi.ERROR_NAMES)


def invariants_hold(s: State) -> bool:
    """valid_cspace(s): every invariant of spec.invariants.

    The one hook of this module: under CrossHair's tracer the pairwise invariants cost seconds per
    call, so proofs/crosshair_plugin.py (loaded by `sel4spec explore`, or `crosshair check
    --extra_plugin`) has CrossHair pick concrete values for the state and evaluate it untraced.
    """
    return bool(valid_cspace(s))


def case(i: int, n: int) -> int:
    """i, for 0 <= i < n, as the one of 0..n-1 it equals.

    A case split: a symbolic i carried into address arithmetic made every dictionary lookup a
    solver query over 64-bit wraparound (seconds each under CrossHair); split, CrossHair branches
    over the n values instead. Concretely it is the identity.
    """
    return next(k for k in range(n) if k == i)


def slot(i: int) -> int:
    """The address of slot i of the root CNode."""
    return slot_of(CNODE, case(i, SLOTS))


def _root_state() -> State:
    """The root CNode (its cap in slot 1, a root of the CDT) and a 4 KiB untyped in slot 2."""
    s = State.empty()
    s = s.replace(obj_type=s.obj_type.set(CNODE, abi.seL4_CapTableObject),
                  obj_bits=s.obj_bits.set(CNODE, RADIX + abi.seL4_SlotBits))
    s = set_cap(s, slot(ROOT_SLOT), Cap(abi.cap_cnode_cap, CNODE, RADIX, guard_size=64 - RADIX))
    s = set_cap(s, slot(UT_SLOT), Cap(abi.cap_untyped_cap, UT_BASE, UT_BITS))
    return s.replace(is_original=s.is_original.set(slot(ROOT_SLOT), True).set(slot(UT_SLOT), True))


def _bases() -> tuple[State, ...]:
    """The start states, each built from the previous one by spec operations:
    0: root CNode and untyped; 1: an endpoint retyped into slot 3 and minted with badge 5 into slot 4;
    2: a 256-byte untyped retyped into slot 5 and a notification from it into slot 6."""
    s0 = _root_state()
    s1, r1 = untyped_retype(s0, slot(UT_SLOT), abi.seL4_EndpointObject, 0, CNODE, RADIX, 3, 1)
    s1, r2 = cnode_mint(s1, slot(4), slot(3), 64, ALL_RIGHTS, 5)
    s2, r3 = untyped_retype(s1, slot(UT_SLOT), abi.seL4_UntypedObject, 8, CNODE, RADIX, 5, 1)
    s2, r4 = untyped_retype(s2, slot(5), abi.seL4_NotificationObject, 0, CNODE, RADIX, 6, 1)
    if any(r.error != abi.seL4_NoError for r in (r1, r2, r3, r4)):
        raise AssertionError("spec.contracts: building the start states failed")
    return s0, s1, s2


# Built at import, outside CrossHair's tracer (under it, building them takes longer than a condition's budget).
BASES = _bases()


def base(which: int) -> State:
    """Start state number `which`."""
    return BASES[case(which, len(BASES))]


# ---- CNode invocations ------------------------------------------------------------------------

def contract_cnode_copy(which: int, dest: int, src: int, rights: int) -> Outcome:
    """seL4_CNode_Copy between two root-CNode slots.

    pre: 0 <= which < 3
    pre: 0 <= dest < 8 and 0 <= src < 8
    pre: 0 <= rights < 16
    pre: invariants_hold(base(which))
    post: invariants_hold(__return__[0])
    post: __return__[1].error in SEL4_ERRORS and __return__[1].length <= N_MRS
    post: __return__[1].error == 0 or __return__[0] == base(which)
    post: __return__[1].error != 0 or get_cap(__return__[0], slot(dest)).obj == get_cap(base(which), slot(src)).obj
    """
    return cnode_copy(base(which), slot(dest), slot(src), 64, rights)


def contract_cnode_mint(which: int, dest: int, src: int, rights: int, badge: int) -> Outcome:
    """seL4_CNode_Mint: a badge is set once, rights only shrink.

    pre: 0 <= which < 3
    pre: 0 <= dest < 8 and 0 <= src < 8
    pre: 0 <= rights < 16 and 0 <= badge < 8
    pre: invariants_hold(base(which))
    post: invariants_hold(__return__[0])
    post: __return__[1].error in SEL4_ERRORS and __return__[1].length <= N_MRS
    post: __return__[1].error == 0 or __return__[0] == base(which)
    post: __return__[1].error != 0 or rights_within(__return__[0], slot(dest), base(which), slot(src))
    post: __return__[1].error != 0 or never_rebadged(__return__[0], slot(dest), base(which), slot(src))
    """
    return cnode_mint(base(which), slot(dest), slot(src), 64, rights, badge)


def rights_within(s: State, dest: int, s0: State, src: int) -> bool:
    """The cap in dest names src's object with no right src lacks (endpoint and notification caps)."""
    d, c = get_cap(s, dest), get_cap(s0, src)
    if d.obj != c.obj or d.type != c.type:
        return False
    return d.type not in (abi.cap_endpoint_cap, abi.cap_notification_cap) or d.rights & ~c.rights == 0


def never_rebadged(s: State, dest: int, s0: State, src: int) -> bool:
    """A badged endpoint or notification cap keeps its badge in every copy (updateCapData refuses)."""
    c = get_cap(s0, src)
    return c.type not in (abi.cap_endpoint_cap, abi.cap_notification_cap) or c.badge == 0 or \
        get_cap(s, dest).badge == c.badge


def contract_cnode_move(which: int, dest: int, src: int) -> Outcome:
    """seL4_CNode_Move: the cap leaves src and arrives unchanged in dest.

    pre: 0 <= which < 3
    pre: 0 <= dest < 8 and 0 <= src < 8
    pre: invariants_hold(base(which))
    post: invariants_hold(__return__[0])
    post: __return__[1].error in SEL4_ERRORS
    post: __return__[1].error == 0 or __return__[0] == base(which)
    post: __return__[1].error != 0 or (get_cap(__return__[0], slot(dest)) == get_cap(base(which), slot(src)) and __return__[0].cap_type[slot(src)] == abi.cap_null_cap)
    """
    return cnode_move(base(which), slot(dest), slot(src), 64)


def contract_cnode_mutate(which: int, dest: int, src: int, data: int) -> Outcome:
    """seL4_CNode_Mutate: a move that may set a CNode's guard, never an endpoint's badge.

    pre: 0 <= which < 3
    pre: 0 <= dest < 8 and 0 <= src < 8
    pre: 0 <= data < 256
    pre: invariants_hold(base(which))
    post: invariants_hold(__return__[0])
    post: __return__[1].error in SEL4_ERRORS
    post: __return__[1].error == 0 or __return__[0] == base(which)
    post: __return__[1].error != 0 or get_cap(__return__[0], slot(dest)).badge == get_cap(base(which), slot(src)).badge or get_cap(base(which), slot(src)).type == abi.cap_cnode_cap
    """
    return cnode_mutate(base(which), slot(dest), slot(src), 64, data)


def contract_cnode_rotate(which: int, dest: int, pivot: int, src: int, dest_badge: int, pivot_badge: int) -> Outcome:
    """seL4_CNode_Rotate: src's cap goes to pivot and pivot's to dest (a swap when dest = src).

    pre: 0 <= which < 3
    pre: 0 <= dest < 8 and 0 <= pivot < 8 and 0 <= src < 8
    pre: 0 <= dest_badge < 4 and 0 <= pivot_badge < 4
    pre: invariants_hold(base(which))
    post: invariants_hold(__return__[0])
    post: __return__[1].error in SEL4_ERRORS
    post: __return__[1].error == 0 or __return__[0] == base(which)
    post: __return__[1].error != 0 or (get_cap(__return__[0], slot(pivot)).obj == get_cap(base(which), slot(src)).obj and get_cap(__return__[0], slot(dest)).obj == get_cap(base(which), slot(pivot)).obj)
    """
    return cnode_rotate(base(which), slot(dest), slot(pivot), slot(src), dest_badge, pivot_badge, 64, 64)


def contract_cnode_delete(which: int, target: int) -> State:
    """seL4_CNode_Delete (cteDelete): the slot is empty afterwards.

    pre: 0 <= which < 3
    pre: 0 <= target < 8
    pre: invariants_hold(base(which))
    post: invariants_hold(__return__)
    post: __return__.cap_type[slot(target)] == abi.cap_null_cap
    """
    return cte_delete(base(which), slot(target))


def contract_cnode_revoke(which: int, target: int) -> State:
    """seL4_CNode_Revoke (cteRevoke): no descendant is left, and the target itself stays.

    pre: 0 <= which < 3
    pre: 0 <= target < 8
    pre: invariants_hold(base(which))
    post: invariants_hold(__return__)
    post: descendants_of(__return__, slot(target)) == []
    post: get_cap(__return__, slot(target)) == get_cap(base(which), slot(target))
    """
    return cap_revoke(base(which), slot(target))


def contract_cnode_cancel_badged_sends(which: int, target: int) -> Outcome:
    """seL4_CNode_CancelBadgedSends: only an endpoint cap with all rights is accepted; caps are unchanged.

    pre: 0 <= which < 3
    pre: 0 <= target < 8
    pre: invariants_hold(base(which))
    post: __return__[0] == base(which)
    post: __return__[1].error in (abi.seL4_NoError, abi.seL4_IllegalOperation)
    """
    return cnode_cancel_badged_sends(base(which), slot(target))


# ---- the CDT operations the invocations are built from -----------------------------------------

def contract_empty_slot(which: int, target: int) -> State:
    """emptySlot: the slot is empty and its children move up to its parent.

    pre: 0 <= which < 3
    pre: 0 <= target < 8
    pre: invariants_hold(base(which))
    post: invariants_hold(__return__)
    post: __return__.cap_type[slot(target)] == abi.cap_null_cap and not descendants_of(__return__, slot(target))
    """
    return empty_slot(base(which), slot(target))


def contract_revoke_descendants(which: int, target: int) -> State:
    """The CDT effect of cteRevoke: every strict descendant is gone, nothing else.

    pre: 0 <= which < 3
    pre: 0 <= target < 8
    pre: invariants_hold(base(which))
    post: invariants_hold(__return__)
    post: all(__return__.cap_type[x] == abi.cap_null_cap for x in descendants_of(base(which), slot(target)))
    post: all(get_cap(__return__, x) == get_cap(base(which), x) for x in base(which).cap_type.keys() if x not in descendants_of(base(which), slot(target)))
    """
    return revoke_descendants(base(which), slot(target))


# ---- Untyped_Retype -----------------------------------------------------------------------------

def contract_untyped_retype(which: int, ut: int, obj_type: int, user_bits: int, offset: int, n: int) -> Outcome:
    """seL4_Untyped_Retype into the root CNode: new objects lie in the untyped, above its old free index.

    pre: 0 <= which < 3
    pre: 0 <= ut < 8
    pre: 0 <= obj_type < abi.seL4_ObjectTypeCount
    pre: 0 <= user_bits < 16
    pre: 0 <= offset < 8 and 0 <= n < 4
    pre: invariants_hold(base(which))
    post: invariants_hold(__return__[0])
    post: __return__[1].error in SEL4_ERRORS and __return__[1].length <= N_MRS
    post: __return__[1].error == 0 or __return__[0] == base(which)
    post: __return__[1].error != 0 or new_objects_inside(base(which), __return__[0], slot(ut), offset, n)
    """
    return untyped_retype(base(which), slot(ut), obj_type, user_bits, CNODE, RADIX, offset, n)


def new_objects_inside(s0: State, s: State, ut: int, offset: int, n: int) -> bool:
    """No aliasing, concretely: each new cap names memory inside the untyped, at or above the first free byte
    (its old free index, or its base when it had no children and was reset)."""
    uc = get_cap(s0, ut)
    lowest = uc.obj + ((uc.free << abi.seL4_MinUntypedBits) if descendants_of(s0, ut) else 0)
    top = uc.obj + (1 << uc.bits)
    for i in range(offset, offset + n):
        c = get_cap(s, slot(i))
        if c.type == abi.cap_null_cap or not lowest <= c.obj < top:
            return False
    return True


# ---- lookup -------------------------------------------------------------------------------------

def contract_lookup_slot_for_cnode_op(which: int, cptr: int, depth: int) -> tuple[Reply, int]:
    """lookupSlotForCNodeOp in the root CNode: a slot inside a CNode, or a lookup error and slot 0.

    pre: 0 <= which < 3
    pre: 0 <= cptr < 2**64
    pre: 0 <= depth < 70
    post: __return__[0].error in (abi.seL4_NoError, abi.seL4_FailedLookup, abi.seL4_RangeError)
    post: (__return__[0].error == 0) == (__return__[1] != 0)
    post: __return__[0].error != 0 or CNODE <= __return__[1] < CNODE + (SLOTS << abi.seL4_SlotBits)
    post: __return__[0].error != 0 or (depth == 64 and __return__[1] == slot(cptr & (SLOTS - 1)) and cptr >> RADIX == 0)
    """
    return lookup_slot_for_cnode_op(base(which), 0, get_cap(base(which), slot(ROOT_SLOT)), cptr, depth)


_uses = (N_MRS, SEL4_ERRORS)  # names the contracts' conditions use
