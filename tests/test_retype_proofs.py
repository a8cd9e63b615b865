"""The focused Untyped_Retype proofs (proofs/obligations/retype.py): what a proof cannot check about itself.

The definitions they assume are valid, splitting keeps a goal's meaning, the generalisation leaves
no shift by a symbolic amount behind, and seeded retype bugs are refuted by the focused obligations.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import z3

from proofs.obligation import all_obligations, get_obligation
from proofs.obligations import cspace, retype
from proofs.solve import solve
from spec import abi, ops


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEL4SPEC_CACHE_DIR", str(tmp_path / "cache"))


def test_focused_obligations_are_registered_once() -> None:
    names = [ob.name for ob in all_obligations()]
    assert {inv for op, inv in cspace.FOCUSED if op == "untyped_retype"} == set(retype.FOCUSED)  # none left out
    for inv in retype.FOCUSED:
        assert names.count(f"untyped_retype:{inv}") == 1
        assert ("untyped_retype", inv) in cspace.FOCUSED
    assert not cspace.FOCUSED & cspace.NOT_YET
    for lemma in ("untyped_retype:object_for", "untyped_retype:free_index", "untyped_retype:whole_window",
                  "untyped_retype:nested_window", "is_aligned:no_wrap", "max_free_index:bytes", "mask:size"):
        assert lemma in names


def test_definitions_are_valid() -> None:
    # Hypotheses named "definition: ..." must hold of every value (they are not lemmas proved elsewhere).
    r = retype.Retype()
    k, o = z3.BitVec("k", 64), z3.BitVec("o", 64)
    facts = retype._window_facts(r, [k], [o], [], [k, r.ut])
    defs = [(n, d) for n, d in facts if n.startswith("definition:")]
    assert len(defs) >= 4
    for name, d in defs:
        s = z3.Solver()
        s.add(z3.Not(d))
        assert s.check() == z3.unsat, name


def test_split_on_atoms_is_equivalent() -> None:
    a, b, c = z3.Bools("new_slot!a new_object!b c")
    x = z3.BitVec("x", 64)
    goal = z3.And(z3.Implies(a, z3.If(b, x == 1, c)), z3.Or(a, z3.ULT(x, 5)))
    cases = retype._split_on(goal, [a, b])
    assert len(cases) >= 2
    s = z3.Solver()
    s.add(z3.And([g for _, g in cases]) != goal)
    assert s.check() == z3.unsat
    # A further split on the paths where a holds and b does not.
    more = retype._split_on(goal, [a, b], lambda d: [("small", z3.ULT(x, 5))] if d.get(a.get_id()) and not d.get(b.get_id(), True)
                            else [])
    assert len(more) > len(cases)
    s = z3.Solver()
    s.add(z3.And([g for _, g in more]) != goal)
    assert s.check() == z3.unsat


@pytest.mark.parametrize("inv", sorted(retype.FOCUSED))
def test_generalised_goals_have_no_symbolic_shifts(inv: str) -> None:
    q = get_obligation(f"untyped_retype:{inv}").build()
    # (And every lemma a query assumes is an obligation of its own.)
    names = {ob.name for ob in all_obligations()}
    for name, _ in q.hypotheses:
        if name.startswith("lemma "):
            assert name.removeprefix("lemma ") in names, name
    for name, g in q.goal:
        text = g.sexpr()
        assert "bvlshr" not in text.replace("bvlshr (bvsub end!gen", ""), name
        assert "(bvshl #x0000000000000001 " not in text or all(
            part.startswith("#x") for part in text.split("(bvshl #x0000000000000001 ")[1:]), name


def test_default_cap_with_the_wrong_size_breaks_valid_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    real = ops.default_cap

    def wrong(obj_type, obj, user_bits, device):  # type: ignore[no-untyped-def]
        c = real(obj_type, obj, user_bits, device)
        return dataclasses.replace(c, bits=z3.If(c.type == abi.cap_cnode_cap, c.bits + 1, c.bits))

    monkeypatch.setattr(ops, "default_cap", wrong)
    r = solve(get_obligation("untyped_retype:valid_caps"), use_cache=False)
    assert r.status == "refuted"


def _patch_effect(monkeypatch: pytest.MonkeyPatch, change) -> None:  # type: ignore[no-untyped-def]
    """Seed a bug: untyped_retype_effect's post-state passed through change(pre, post, ut, rest)."""
    real = ops.untyped_retype_effect
    monkeypatch.setattr(ops, "untyped_retype_effect", lambda s, ut, *rest: change(s, real(s, ut, *rest), ut, rest))


def test_new_caps_without_a_cdt_parent_break_cdt_anc(monkeypatch: pytest.MonkeyPatch) -> None:
    def orphans(s, post, ut, a):  # type: ignore[no-untyped-def]
        p = ops.retype_plan(s, ut, a[0], a[1], a[2], a[3])
        return post.replace(cdt_parent=post.cdt_parent.update_where(lambda k, v: p.is_new_slot(k, a[4]),
                                                                    lambda k, v: 0))

    _patch_effect(monkeypatch, orphans)
    r = solve(get_obligation("untyped_retype:cdt_anc"), use_cache=False)
    assert r.status == "refuted"


def test_objects_from_the_untyped_base_break_pspace_distinct(monkeypatch: pytest.MonkeyPatch) -> None:
    from spec.state import get_cap
    real = ops.retype_plan
    monkeypatch.setattr(ops, "retype_plan", lambda *a: dataclasses.replace(real(*a), base=get_cap(a[0], a[1]).obj))
    r = solve(get_obligation("untyped_retype:pspace_distinct"), use_cache=False)
    assert r.status == "refuted"


def test_a_free_index_left_behind_breaks_valid_untyped_and_untyped_inc(monkeypatch: pytest.MonkeyPatch) -> None:
    # Retype that does not advance the untyped's free index past the new objects.
    _patch_effect(monkeypatch, lambda s, post, ut, rest: post.replace(cap_free=post.cap_free.set(ut, s.cap_free[ut])))
    for inv in ("valid_untyped", "untyped_inc"):
        r = solve(get_obligation(f"untyped_retype:{inv}"), use_cache=False)
        assert r.status == "refuted", inv
        assert r.counterexample is not None
