"""The known models of the witness check (proofs/witness.py): a valid state in which every
operation succeeds, that extends to a model of each operation's hypotheses, and a runner that
falls back to the plain check when it does not."""

from __future__ import annotations

import time
from typing import Any

import pytest
import z3

from proofs import solve, witness
from proofs.obligation import Query, discover, get_obligation
from proofs.obligations import cspace
from spec import ops
from spec.invariants import failing_invariants
from spec.logic import symbolic_record
from spec.state import State

discover()


def test_scenario_state_keeps_every_invariant() -> None:
    assert failing_invariants(witness.scenario_state()) == []


def _run(op: str, s: State, a: dict[str, int]) -> Any:
    """The spec operation (concrete reading) with the scenario's arguments."""
    if op == "untyped_retype":
        node = s.cap_obj[a["node_slot"]]
        return ops.untyped_retype(s, a["ut"], a["obj_type"], a["user_bits"], node, s.cap_bits[a["node_slot"]],
                                  a["offset"], a["n"])
    return getattr(ops, op)(s, **a)


@pytest.mark.parametrize("op", [op for op in witness.SCENARIOS if op.startswith(("cnode_", "untyped_"))])
def test_each_scenario_succeeds_and_keeps_the_invariants(op: str) -> None:
    post, reply = _run(op, witness.scenario_state(), witness.SCENARIOS[op])
    assert reply.error == 0
    assert failing_invariants(post) == []


@pytest.mark.parametrize("op", sorted(witness.SCENARIOS))
def test_the_scenario_passes_the_checks_the_proofs_assume(op: str) -> None:
    s = symbolic_record(State, "s")
    case = cspace.CASES[op][1](s)
    bind = witness.binding(op)
    for name, h in case.pre:
        h = z3.BoolVal(h) if isinstance(h, bool) else h
        bound = z3.substitute(h, *bind(solve._constants([h])))
        check = z3.Solver()
        check.add(z3.Not(bound))
        assert check.check() == z3.unsat, f"{op}: {name}"


@pytest.mark.parametrize("name", ["cnode_copy:untyped_inc", "cnode_rotate:descendants_inc", "empty_slot:cdt_anc",
                                  "revoke_descendants:mdb_cte_at", "untyped_retype:valid_untyped",
                                  "untyped_retype:mdb_cte_at", "untyped_retype:no_aliasing"])
def test_the_known_model_extends_to_the_hypotheses(name: str) -> None:
    q = get_obligation(name).build()
    assert q.known_model is not None
    assert solve._extends_known_model(q, time.perf_counter() + 60)


def test_a_known_model_that_breaks_a_hypothesis_falls_back_to_the_plain_check() -> None:
    q = get_obligation("cnode_copy:mdb_cte_at").build()
    good = q.known_model
    assert good is not None

    def src_empty(constants: list[z3.ExprRef]) -> list[tuple[z3.ExprRef, z3.ExprRef]]:
        return [(c, z3.BitVecVal(witness.SLOTS[4], 64, c.ctx)) if str(c) == "src" else (c, v)
                for c, v in good(constants)]

    broken = Query(hypotheses=q.hypotheses, goal=q.goal, known_model=src_empty)
    assert not solve._extends_known_model(broken, time.perf_counter() + 60)
    r, _ = solve._witness(broken, time.perf_counter() + 60)
    assert r == z3.sat


def test_a_known_model_that_raises_falls_back_to_the_plain_check() -> None:
    x = z3.BitVec("src", 64)

    def wrong_context(constants: list[z3.ExprRef]) -> list[tuple[z3.ExprRef, z3.ExprRef]]:
        return [(c, z3.BitVecVal(1, 64)) for c in constants]  # made in the main context, not the constants'

    q = Query(hypotheses=[("a", z3.ULT(x, 5))], goal=[("g", z3.ULT(x, 6))], known_model=wrong_context)
    assert not solve._extends_known_model(q, time.perf_counter() + 10)
    assert solve._witness(q, time.perf_counter() + 10)[0] == z3.sat


def test_unsatisfiable_hypotheses_stay_vacuous_with_a_known_model() -> None:
    x = z3.BitVec("src", 64)
    q = Query(hypotheses=[("a", x == 1), ("b", x == 2)], goal=[("g", x == 3)],
              known_model=witness.binding("cnode_copy"))
    assert not solve._extends_known_model(q, time.perf_counter() + 10)
    r, _ = solve._witness(q, time.perf_counter() + 10)
    assert r == z3.unsat
