"""The capabilities refinement check: impl steps are spec steps, and the abstraction is total."""

from __future__ import annotations

import pytest

import impl
from refinement.abstract import CorruptState, abstract
from refinement.caps import refine
from spec.invariants import failing_invariants


def test_random_traces_refine() -> None:
    r = refine(1500, seed=1)
    assert r.steps >= 1500
    assert r.mismatches == []


def test_boot_state_abstracts_to_a_valid_spec_state() -> None:
    s = abstract(impl.boot())
    assert len(list(s.cap_type.keys())) > 16
    assert failing_invariants(s) == []


@pytest.mark.parametrize("corrupt, message", [
    (lambda k, a, b: setattr(k.ctes[a], "next", 0xDEAD0), "dangling"),
    (lambda k, a, b: setattr(k.ctes[b], "prev", 0), "back link"),
    (lambda k, a, b: (setattr(k.ctes[b], "next", a), setattr(k.ctes[a], "prev", b)), "cycle"),
])
def test_abstraction_reports_a_corrupt_mdb(corrupt, message) -> None:  # type: ignore[no-untyped-def]
    k = impl.boot()
    # Two caps linked by the MDB: the root CNode cap and its copy in the TCB's CSpace slot.
    a = next(x for x in k.ctes.keys() if k.ctes[x].next)
    b = k.ctes[a].next
    corrupt(k, a, b)
    with pytest.raises(CorruptState, match=message):
        abstract(k)
