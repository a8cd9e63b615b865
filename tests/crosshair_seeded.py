"""Seeded bugs for CrossHair: spec.contracts' contracts, word for word, over deliberately wrong variants.

`sel4spec explore --module tests.crosshair_seeded` reports a counterexample against each: the
copy in about two seconds (tests/test_explore.py checks it), the mint only with a longer budget
(about 15 s of its 20 s with --per-condition-timeout 20). The same contracts over the real
operations (spec.contracts) report none.
"""

from __future__ import annotations

from spec import abi
from spec.contracts import (N_MRS, SEL4_ERRORS, Outcome, base, get_cap, invariants_hold, never_rebadged,
                            rights_within, slot)
from spec.cdt import cte_insert
from spec.ops import cnode_copy_checks, cnode_mint_checks, copy_cap, derive_cap, fail, run
from spec.state import Cap, State, is_null, mask_cap_rights, set_cap, update_cap_data_parts


def cnode_copy_forgetting_the_cdt(s: State, dest: int, src: int, rights: int) -> Outcome:
    """Seeded bug "copy not recording the CDT parent": the copy is written, the CDT is not."""
    return run(s, cnode_copy_checks(s, dest, src, 64, rights), lambda: set_cap(s, dest, copy_cap(s, src, rights)))


def contract_cnode_copy_forgetting_the_cdt(which: int, dest: int, src: int, rights: int) -> Outcome:
    """As spec.contracts.contract_cnode_copy.

    pre: 0 <= which < 3
    pre: 0 <= dest < 8 and 0 <= src < 8
    pre: 0 <= rights < 16
    pre: invariants_hold(base(which))
    post: invariants_hold(__return__[0])
    post: __return__[1].error in SEL4_ERRORS and __return__[1].length <= N_MRS
    """
    return cnode_copy_forgetting_the_cdt(base(which), slot(dest), slot(src), rights)


def rebadged_cap(s: State, src: int, rights: int, badge: int) -> Cap:
    """mint_cap without updateCapData's refusal to re-badge."""
    _refused, c = update_cap_data_parts(False, badge, mask_cap_rights(rights, get_cap(s, src)))
    return derive_cap(c)


def cnode_mint_rebadging(s: State, dest: int, src: int, rights: int, badge: int) -> Outcome:
    """Seeded bug "mint re-badging a badged endpoint cap": the last check and the effect use rebadged_cap."""
    checks = cnode_mint_checks(s, dest, src, 64, rights, badge)
    checks[-1] = (lambda: is_null(rebadged_cap(s, src, rights, badge)), lambda: fail(abi.seL4_IllegalOperation))
    return run(s, checks, lambda: cte_insert(s, rebadged_cap(s, src, rights, badge), src, dest))


def contract_cnode_mint_rebadging(which: int, dest: int, src: int, rights: int, badge: int) -> Outcome:
    """As spec.contracts.contract_cnode_mint.

    pre: 0 <= which < 3
    pre: 0 <= dest < 8 and 0 <= src < 8
    pre: 0 <= rights < 16 and 0 <= badge < 8
    pre: invariants_hold(base(which))
    post: __return__[1].error != 0 or rights_within(__return__[0], slot(dest), base(which), slot(src))
    post: __return__[1].error != 0 or never_rebadged(__return__[0], slot(dest), base(which), slot(src))
    """
    return cnode_mint_rebadging(base(which), slot(dest), slot(src), rights, badge)


_uses = (N_MRS, SEL4_ERRORS, invariants_hold, rights_within, never_rebadged)  # the conditions' names
