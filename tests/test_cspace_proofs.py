"""The capability-space obligations: what is registered, and that the proof construction is sound.

The runner proves the obligations (`sel4spec prove`); these tests check the parts of their
construction that a proof cannot check about itself: that splitting a goal into cases keeps its
meaning, and that the hypotheses (the invariants and an operation's checks) have a concrete model,
so a proof from them is not empty.
"""

from __future__ import annotations

import z3

import impl
from proofs.obligation import all_obligations
from proofs.obligations import cspace
from refinement.abstract import abstract
from spec import abi, ops
from spec.invariants import INVARIANTS, failing_invariants
from spec.state import get_cap


def test_every_operation_invariant_pair_is_registered() -> None:
    names = {ob.name for ob in all_obligations()}
    for op in cspace.CASES:
        for inv in INVARIANTS:
            if (op, inv) in cspace.NOT_YET:
                assert f"{op}:{inv}" not in names
            else:
                assert f"{op}:{inv}" in names, f"{op}:{inv}"
    assert "revoke_descendants:no_descendants" in names


def test_goal_cases_are_equivalent_to_the_goal(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The runner proves each case on its own: their conjunction must say what the goal says.
    seen: list[tuple[z3.BoolRef, list[tuple[str, z3.BoolRef]]]] = []
    real = cspace.goal_cases

    def spy(name: str, goal: z3.BoolRef, size: int = cspace.CASE_SIZE) -> list[tuple[str, z3.BoolRef]]:
        seen.append((goal, real(name, goal)))  # in cases of CASE_SIZE, whatever size the caller asks for
        return real(name, goal, size)

    monkeypatch.setattr(cspace, "goal_cases", spy)
    cspace.build_query("cnode_copy", "untyped_inc")
    [(goal, cases)] = seen
    assert len(cases) > 1
    s = z3.Solver()
    s.add(z3.And([g for _, g in cases]) != goal)
    assert s.check() == z3.unsat


def test_goal_cases_split_conjunctions_disjunctions_and_implications() -> None:
    x, y, z, w = z3.Bools("x y z w")
    big = z3.And([z3.Implies(x, z3.Or(y, z3.And([z3.Bool(f"p{i}") for i in range(400)]))), z3.Or(w, z)])
    cases = cspace.goal_cases("g", big)
    assert len(cases) >= 2
    s = z3.Solver()
    s.add(z3.And([g for _, g in cases]) != big)
    assert s.check() == z3.unsat


def test_window_lemmas_are_sound_on_samples() -> None:
    # A concrete retype window: the lemmas' conclusions hold, and a wrapping window is excluded.
    premise, concl = cspace.window_fits(0x100000, 20, 3, 12, 4)
    assert premise is True and all(c is True for _, c in concl)
    premise, _ = cspace.window_fits(0x100000, 20, 0, 12, 1 << 9)  # 512 pages do not fit in 1 MiB
    assert premise is False


def test_invariants_and_copy_checks_have_a_concrete_model() -> None:
    # The hypotheses of cnode_copy:* hold together in a real state: the booted root task's, with
    # a Copy of its CNode cap into a free slot.
    k = impl.boot()
    s = abstract(k)
    assert failing_invariants(s) == []
    root = get_cap(s, k.current.base)  # tcbCTable: the root CNode cap
    src = root.obj + (abi.seL4_CapInitThreadCNode << abi.seL4_SlotBits)
    dest = root.obj + (200 << abi.seL4_SlotBits)
    checks = ops.cnode_copy_checks(s, dest, src, 64, 0xF)
    assert [bool(c()) for c, _ in checks] == [False] * len(checks)
    post = ops.cnode_copy_effect(s, dest, src, 0xF)
    assert failing_invariants(post) == []


def test_no_aliasing_definitions_are_valid() -> None:
    # They are hypotheses of untyped_retype:no_aliasing: each must hold of every value.
    from spec.logic import symbolic_record, word
    from spec.state import State
    uc = get_cap(symbolic_record(State, "s"), word("ut"))
    for name, d in cspace.no_aliasing_definitions(uc, word("free_index")):
        s = z3.Solver()
        s.add(z3.Not(d))
        assert s.check() == z3.unsat, name


def test_no_aliasing_is_refuted_when_objects_start_below_the_free_index(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    from proofs.solve import solve
    from proofs.obligation import get_obligation

    real = ops.retype_plan
    monkeypatch.setattr(ops, "retype_plan", lambda *a: dataclasses.replace(real(*a), base=get_cap(a[0], a[1]).obj))
    r = solve(get_obligation("untyped_retype:no_aliasing"), use_cache=False)
    assert r.status == "refuted"
    assert r.failing and all(f.startswith("no_aliasing: ") for f in r.failing), r.failing
