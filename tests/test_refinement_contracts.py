"""The CrossHair single-step contract (refinement/contracts.py), run on chosen values.

CrossHair itself is slow on it (a boot and a checked step per path, under its tracer: 3 paths in
30 s), so `sel4spec explore --module refinement.contracts` is an on-demand search; here the same
function is run concretely on a sample, and shown to fail on a seeded impl bug.
"""

from __future__ import annotations

import itertools

import pytest

import proofs.catalogue.impl_caps  # noqa: F401 - registers the impl mutants
from proofs.mutants import all_mutants, apply_mutation, resolve_target
from spec import abi
from refinement.contracts import N_OPS, contract_one_step_refines

SAMPLE = [(which, op, a, b, c, depth, w)
          for which, op in itertools.product(range(3), range(N_OPS))
          for (a, b, c, depth, w) in ((0, 1, 2, 64, 15), (1, 0, 1, 64, 0x3F), (2, 2, 3, 63, 7), (3, 1, 5, 0, 200),
                                  (5, 1, 2, 64, 0), (1, 1, 2, 64, 0))]


def test_one_step_refines_on_a_sample() -> None:
    assert all(contract_one_step_refines(*args) for args in SAMPLE)


@pytest.fixture
def revoke_bug():  # type: ignore[no-untyped-def]
    [m] = [m for m in all_mutants() if m.name == "impl_cte_revoke_stops_early"]
    _, _, original = resolve_target(m.target)
    apply_mutation(m.target, m.replacement)
    yield
    apply_mutation(m.target, original)


def test_one_step_contract_fails_on_a_seeded_revoke_bug(revoke_bug) -> None:  # type: ignore[no-untyped-def]
    revoke = 0  # the contract's op numbering starts at CNodeRevoke
    assert abi.CNodeRevoke + revoke == abi.CNodeRevoke
    failing = [args for args in SAMPLE if args[1] == revoke and not contract_one_step_refines(*args)]
    # Revoking the badged endpoint of prefix 1 (four derived caps) stops after the first child.
    assert (1, 0, 0, 1, 2, 64, 15) in failing
