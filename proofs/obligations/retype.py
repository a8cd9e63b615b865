"""Untyped_Retype keeps the invariants that depend on where the new objects and caps go.

The generic construction of cspace.py (instances found by matching, a case split on every
if-then-else) leaves Z3 without a verdict on these: the new objects' window is made of shifts by
symbolic amounts, and every instance of every hypothesis carries them. Here each obligation is
built as no_aliasing_query is, from a chosen set of terms, and then generalised:

1. The goal is INVARIANTS[inv] of the state untyped_retype_effect returns, skolemised and
   resolved (cspace.split_goal, split on the aliasing atoms and the reset decision).
2. The hypotheses are the needed invariants instantiated at every tuple of the chosen slot and
   object terms (`_AllTerms`), the operation's checks likewise, and proved lemmas (below and in
   cspace.py) at the same terms. Instances only weaken the hypotheses.
3. Generalisation (`_Generaliser`): each window atom (slot k is a destination slot, o is a new
   object), each new cap's object, and each bound of the window (its first object, its end, the
   first free byte, the untyped's last byte) is replaced, in hypotheses and goal alike, by a fresh
   constant. The goal is then split on the goal's window atoms (`_split_on`), and a second pass
   replaces each mask and power of two with a symbolic exponent by an uninterpreted function of
   that exponent (`mask!f`, `pow2!f`; an if-then-else inside one is taken out first, an
   equivalence). Unlike one constant per term, a function keeps that equal exponents give equal
   masks (Ackermann's congruence), which the cases where two slots are one need: measured, 45 s
   to 31 s on untyped_inc, 45 s to 35 s on valid_untyped. A formula proved for every value of
   those constants and every such function is proved for the values and functions the replaced
   terms have, so this is sound; what the proof needs to know
   about the replaced terms comes from lemma instances (proved below, over all words) and valid
   definitions (tests/test_retype_proofs.py), stated on the terms before they are replaced.
   Replacing only some occurrences of a term is sound too (the formula holds for every value, the
   term's included), so a term the pass misses only makes the query harder, never wrong.

4. Where a window case needs an argument by cases the solver does not find (a new object against
   an old untyped: how untyped_inc nests that untyped and ut), a rule (`CaseRule`) splits that
   case further on the atoms of the argument; each split is again an equivalence (`_split_on`).

The generalised queries are quantifier-free orderings of addresses, so the runner decides them in
its integer reading (proofs/intread.py), and bit-blasts a case that reading does not prove.

A counterexample to a generalised query may give a replaced term a value its definition does not
allow; the decoder lists each replaced term whose model value differs from its definition's
(`generalised terms off their definitions`), so such a report says it may be spurious.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import z3

from proofs import rawz3, witness
from proofs.obligation import Query, obligation
from proofs.obligations import cspace
from proofs.obligations.cspace import (Case, Terms, _dedup, _Instantiator, _lemma, _Matcher, _skolemize, goal_cases,
                                       split_goal)
from spec import abi, logic, ops
from spec.invariants import INVARIANTS, untyped_inside
from spec.logic import And, Implies, eq, ne, shl, shr, symbolic_record, ule, ult, wadd, wsub
from spec.state import NULL, State, get_cap, max_free_index, object_top, untyped_top

# ======================================================================================================
# Instances at every tuple of chosen terms


class _AllTerms(_Instantiator):
    """Instantiates every quantifier at every tuple of the given terms (no matching)."""

    def tuples(self, q: z3.QuantifierRef) -> list[tuple[Any, ...]]:
        return list(itertools.product(*[_dedup(self.terms.for_var(q.var_name(i))) for i in range(q.num_vars())]))


# ======================================================================================================
# The retype being proved


class Retype:
    """One symbolic Untyped_Retype: its state, arguments, plan and the terms its proofs talk about."""

    def __init__(self) -> None:
        self.s = s = symbolic_record(State, "s")
        self.case: Case = cspace._case_retype(s)
        a = self.case.args
        self.a = a
        self.ut, self.n = a["ut"], a["n"]
        self.uc = get_cap(s, self.ut)
        self.p = ops.retype_plan(s, self.ut, a["obj_type"], a["user_bits"], s.cap_obj[a["node_slot"]], a["offset"])
        self.post = self.case.post

    @property
    def last(self) -> Any:
        """The last byte of the last new object."""
        return wsub(wadd(self.p.base, shl(self.n, self.p.obj_bits)), 1)

    @property
    def end(self) -> Any:
        """The byte after the last new object."""
        return wadd(self.p.base, shl(self.n, self.p.obj_bits))

    @property
    def free_before(self) -> Any:
        """The first free byte after the reset decision."""
        return wadd(self.uc.obj, shl(self.p.free_index, abi.seL4_MinUntypedBits))

    def pre(self) -> list[tuple[str, Any]]:
        """The retype's preconditions and checks."""
        return list(self.case.pre)


# ======================================================================================================
# Generalisation


class _Normaliser:
    """Quantified subformulas abstracted (cspace._Instantiator.abstract), then reads and connectives
    resolved (cspace._Resolver with nothing known): the one form in which the generaliser compares
    terms, whether they come from the goal, a hypothesis or a pattern. Equivalences only."""

    def __init__(self, inst: _Instantiator) -> None:
        self.inst = inst
        self.tm = cspace._Terms()
        self.res = cspace._Resolver(self.tm, {}, {})

    def __call__(self, t: Any) -> Any:
        t = self.inst.abstract(logic.WORD.lift(t) if isinstance(t, int) else t)
        return self.tm.wrap(self.res.r(self.tm.mk(t.as_ast())))

    def release(self) -> None:
        self.tm.release()


class _Generaliser:
    """Replaces window atoms, new caps' objects and the window's bounds by fresh constants (module
    docstring, step 3). A window atom or object of an if-then-else term is taken apart first:
    in_window(ite(c, x, y)) is ite(c, in_window(x), in_window(y)), an equivalence."""

    def __init__(self, r: Retype, bounds: Sequence[tuple[str, Any]], abstract: Callable[[Any], Any],
                 shifts: bool = False) -> None:
        # The terms met have had their quantifiers abstracted (the reset decision inside the
        # window's base, for one): so have the patterns they are compared with.
        self.r = r
        self.abstract = abstract
        self.shifts = shifts  # also replace masks and shifts by symbolic amounts
        self.memo: dict[int, z3.ExprRef] = {}
        self.keep: list[z3.ExprRef] = []
        self.made: dict[tuple[str, int], tuple[z3.ExprRef, z3.ExprRef]] = {}  # (kind, id of arg) -> (term, constant)
        self.fixed: dict[int, z3.ExprRef] = {}
        for name, t in bounds:
            t = abstract(t)
            self.keep.append(t)
            self.fixed[t.get_id()] = z3.BitVec(f"{name}!gen", 64)
            self.made[(name, t.get_id())] = (t, self.fixed[t.get_id()])
        self.base = abstract(r.p.base)
        self.keep.append(self.base)
        self.base_id = self.base.get_id()
        self.c = self.base.ctx.ref()
        self.changes: dict[int, bool] = {}  # _may_change, by node id

    def _atom(self, kind: str, x: z3.ExprRef, original: Callable[[Any], Any], sort: str) -> z3.ExprRef:
        if z3.is_app_of(x, z3.Z3_OP_ITE):
            return z3.If(x.arg(0), self._atom(kind, x.arg(1), original, sort), self._atom(kind, x.arg(2), original, sort))
        a = self._condition_in(x) if kind == "mask" else None
        if a is not None:
            xt, xf = _known(x, a, True), _known(x, a, False)
            if not (xt.eq(x) or xf.eq(x)):  # else the resolver could not take a out: keep the term whole
                return z3.If(a, self._atom(kind, xt, original, sort), self._atom(kind, xf, original, sort))
        if kind in ("mask", "shift") and z3.is_bv_value(z3.simplify(x if kind == "mask" else x.arg(1))):
            return z3.simplify(original(x))  # a constant amount: nothing to generalise
        key = (kind, x.get_id())
        hit = self.made.get(key)
        if hit is None:
            i = len(self.made)
            if kind == "mask":
                c = _MASK_F(x)
            elif kind == "shift":
                c = _POW2_F(x.arg(1))
            else:
                c = z3.Bool(f"{kind}!{i}") if sort == "bool" else z3.BitVec(f"{kind}!{i}", 64)
            hit = (original(x), c)
            self.keep.append(x)
            self.made[key] = hit
        return hit[1]

    def _window_arg(self, t: z3.ExprRef) -> z3.ExprRef | None:
        """X when t has the shape of in_window(X, ...) (the caller checks it is exactly that)."""
        if not (z3.is_and(t) and t.num_args() == 2):
            return None
        c = t.arg(0)
        if not (z3.is_eq(c) and z3.is_app_of(c.arg(0), z3.Z3_OP_BAND) and z3.is_app_of(c.arg(0).arg(0), z3.Z3_OP_BSUB)):
            return None
        return c.arg(0).arg(0).arg(0)

    def _may_change(self, a: Any) -> bool:
        """Whether a rule of _go may apply somewhere in the raw AST a (a node of a kept term, so its id
        stays its own): a fixed bound, or a node of the shape a rule looks for first (a two-part
        conjunction for a window atom, a sum from the window's base for an object, and with
        `shifts` any subtraction or shift). When not, go returns the term as it is."""
        c = self.c
        i = rawz3.ast_id(c, a)
        hit = self.changes.get(i)
        if hit is not None:
            return hit
        out = False
        if i in self.fixed:
            out = True
        elif rawz3.ast_kind(c, a) == z3.Z3_APP_AST:
            n = rawz3.num_args(c, a)
            op = rawz3.decl_kind(c, rawz3.app_decl(c, a))
            out = ((op == z3.Z3_OP_AND and n == 2)
                   or (op == z3.Z3_OP_BADD and n == 2 and rawz3.ast_id(c, rawz3.app_arg(c, a, 0)) == self.base_id)
                   or (self.shifts and op in (z3.Z3_OP_BSUB, z3.Z3_OP_BSHL)))
            if not out:
                out = any(self._may_change(rawz3.app_arg(c, a, k)) for k in range(n))
        self.changes[i] = out
        return out

    def go(self, t: z3.ExprRef) -> z3.ExprRef:
        """t generalised."""
        i = t.get_id()
        hit = self.memo.get(i)
        if hit is not None:
            return hit
        self.keep.append(t)
        out = self._go(t) if self._may_change(t.as_ast()) else t
        self.memo[i] = out
        return out

    def _go(self, t: z3.ExprRef) -> z3.ExprRef:
        p, n, ab = self.r.p, self.r.n, self.abstract
        fixed = self.fixed.get(t.get_id())
        if fixed is not None:
            return fixed
        if z3.is_quantifier(t) or not z3.is_app(t) or t.num_args() == 0:
            return t
        x = self._window_arg(t)
        if x is not None:
            if t.eq(ab(p.is_new_slot(x, n))):
                return self._atom("new_slot", self.go(x), lambda y: ab(p.is_new_slot(y, n)), "bool")
            if t.eq(ab(p.is_new_object(x, n))):
                return self._atom("new_object", self.go(x), lambda y: ab(p.is_new_object(y, n)), "bool")
        if z3.is_app_of(t, z3.Z3_OP_BADD) and t.num_args() == 2 and t.arg(0).eq(self.base) \
                and z3.is_app_of(t.arg(1), z3.Z3_OP_BSHL):
            inner = t.arg(1).arg(0)
            if z3.is_app_of(inner, z3.Z3_OP_BLSHR) and z3.is_app_of(inner.arg(0), z3.Z3_OP_BSUB):
                x = inner.arg(0).arg(0)
                if t.eq(ab(p.object_for(x))):
                    return self._atom("object_for", self.go(x), lambda y: ab(p.object_for(y)), "word")
        kids = t.children()
        args = [self.go(c) for c in kids]
        if self.shifts and z3.is_app_of(t, z3.Z3_OP_BSUB) and _is_one(t.arg(1)) and z3.is_app_of(t.arg(0), z3.Z3_OP_BSHL) \
                and _is_one(t.arg(0).arg(0)) and not z3.is_bv_value(t.arg(0).arg(1)):
            # mask(b) for a symbolic b: mask!f(b) (its relation to 2^b is a definition below).
            return self._atom("mask", self.go(t.arg(0).arg(1)), logic.mask, "word")
        if self.shifts and z3.is_app_of(t, z3.Z3_OP_BSHL) and _is_one(t.arg(0)) and not z3.is_bv_value(t.arg(1)):
            # A power of two with a symbolic exponent (in a mask, a size, a free index):
            # pow2!f(b); what the proofs need of it comes from lemma instances.
            return self._shift(t.decl(), args)
        return t if all(a.eq(c) for a, c in zip(args, kids)) else t.decl()(*args)

    def _condition_in(self, t: z3.ExprRef) -> z3.ExprRef | None:
        """The condition of an if-then-else inside the word t, if any."""
        st, seen = [t], set()
        while st:
            x = st.pop()
            if x.get_id() in seen or not z3.is_app(x) or z3.is_bool(x):
                continue
            seen.add(x.get_id())
            if z3.is_app_of(x, z3.Z3_OP_ITE):
                return x.arg(0)
            st.extend(x.children())
        return None

    def _shift(self, op: z3.FuncDeclRef, args: list[z3.ExprRef]) -> z3.ExprRef:
        t = op(*args)
        a = self._condition_in(t)
        if a is not None:
            # f(t) is ite(a, f(t with a true), f(t with a false)): the parts are then the terms
            # the hypotheses have (which do not mention the window or the object type).
            at, af = [_known(x, a, True) for x in args], [_known(x, a, False) for x in args]
            if not (all(x.eq(y) for x, y in zip(at, args)) or all(x.eq(y) for x, y in zip(af, args))):
                return z3.If(a, self._shift(op, at), self._shift(op, af))
        return self._atom("shift", t, lambda y: y, "word")

    def definitions(self) -> list[tuple[z3.ExprRef, z3.ExprRef]]:
        """(replaced term, its constant) for every replacement made."""
        return list(self.made.values())


# mask(b) and 2^b for a symbolic b, generalised to arbitrary functions of b (module docstring, step 3).
_MASK_F = z3.Function("mask!f", z3.BitVecSort(64), z3.BitVecSort(64))
_POW2_F = z3.Function("pow2!f", z3.BitVecSort(64), z3.BitVecSort(64))


def _known(t: z3.ExprRef, atom: z3.ExprRef, value: bool) -> z3.ExprRef:
    """t resolved with atom known to have value (cspace._Resolver: equivalences only)."""
    tm = cspace._Terms()
    a = tm.mk(atom.as_ast())
    v = tm.T if value else tm.F
    res = cspace._Resolver(tm, {}, {tm.id(a): v}) if z3.is_const(atom) else cspace._Resolver(tm, {tm.id(a): value}, {})
    out = tm.wrap(res.r(tm.mk(t.as_ast())))
    tm.release()
    return out


def _is_one(t: z3.ExprRef) -> bool:
    return z3.is_bv_value(t) and t.as_long() == 1


# ======================================================================================================
# Lemmas, proved below over all 64-bit words, used at the query's terms


def object_for_lemma(p: ops.RetypePlan, n: Any, k: Any, k2: Any) -> tuple[Any, list[tuple[str, Any]]]:
    """(premise, conclusions): the object a destination slot's cap names is one of the new objects,
    and two destination slots name two objects."""
    premise = And(ule(n, abi.CONFIG_RETYPE_FAN_OUT_LIMIT), ule(p.obj_bits, abi.seL4_MaxUntypedBits))
    return premise, [("a destination slot's object is a new object",
                      Implies(p.is_new_slot(k, n), p.is_new_object(p.object_for(k), n))),
                     ("two destination slots name two objects",
                      Implies(And(p.is_new_slot(k, n), p.is_new_slot(k2, n), ne(k, k2)),
                              ne(p.object_for(k), p.object_for(k2))))]


def no_wrap_lemma(o: Any, bits: Any) -> tuple[Any, list[tuple[str, Any]]]:
    """(premise, conclusions): an aligned region that does not start at 0 does not wrap."""
    return And(logic.is_aligned(o, bits), ne(o, 0)), [("the region does not wrap", ule(o, wadd(o, logic.mask(bits))))]


def max_free_index_lemma(bits: Any) -> tuple[Any, list[tuple[str, Any]]]:
    """(premise, conclusions): an untyped's size in 16-byte units, in bytes, is its size."""
    return (And(ule(abi.seL4_MinUntypedBits, bits), ult(bits, abi.seL4_WordBits)),
            [("MAX_FREE_INDEX(bits) * 16 is 2^bits", eq(shl(max_free_index(bits), abi.seL4_MinUntypedBits), shl(1, bits)))])


def size_lemma(bits: Any) -> tuple[Any, list[tuple[str, Any]]]:
    """(premise, conclusions): a region of at most 2^seL4_MaxUntypedBits bytes has a size that is
    not 0 and a mask below that bound."""
    return ule(bits, abi.seL4_MaxUntypedBits), [
        ("2^bits is not 0", ne(shl(1, bits), 0)),
        ("mask(bits) is below 2^seL4_MaxUntypedBits", ult(logic.mask(bits), shl(1, abi.seL4_MaxUntypedBits)))]


def _window_used(obj: Any, free_index: Any, obj_bits: Any, n: Any) -> tuple[Any, Any, Any]:
    """(first object, bytes used up to the window's end, the free index retype leaves), as retype
    computes them for the untyped at obj."""
    base = logic.align_up(wadd(obj, shl(free_index, abi.seL4_MinUntypedBits)), obj_bits)
    used = wsub(wadd(base, shl(n, obj_bits)), obj)
    return base, used, shr(used, abi.seL4_MinUntypedBits)


def free_index_lemma(obj: Any, bits: Any, free_index: Any, obj_bits: Any, n: Any) -> tuple[Any, list[tuple[str, Any]]]:
    """(premise, conclusions): the free index retype leaves (the window's end, in 16-byte units
    from the untyped's base) fits the untyped and counts exactly the bytes up to the window's end."""
    premise, _ = cspace.window_fits(obj, bits, free_index, obj_bits, n)
    premise = And(premise, ule(abi.seL4_MinUntypedBits, obj_bits))
    _, used, new_free = _window_used(obj, free_index, obj_bits, n)
    return premise, [("the new free index fits the untyped", ule(new_free, max_free_index(bits))),
                     ("the new free index counts the bytes used", eq(shl(new_free, abi.seL4_MinUntypedBits), used))]


def nested_window_lemma(ub: Any, utb: Any, fb: Any, base: Any, lo: Any, hi: Any, last: Any, ut_end: Any, ut_top: Any,
                        u_top: Any, fu: Any) -> tuple[Any, list[tuple[str, Any]]]:
    """(premise, conclusions): an object [lo, hi] in the window [base, last] of the untyped at utb
    (first free byte fb, last byte ut_top), which lies strictly inside the untyped at ub (last byte
    u_top, fu free bytes), lies inside the outer untyped and below its free index."""
    premise = And(ule(ub, utb), ule(utb, fb), ule(fb, base), ule(base, lo), ule(lo, hi), ule(hi, last),
                  ule(last, ut_end), eq(ut_top, ut_end), ule(ut_top, u_top), ult(wsub(ut_top, ub), fu))
    return premise, [("the object lies inside the outer untyped", And(ule(ub, lo), ule(hi, u_top))),
                     ("the object lies below the outer untyped's free index", ult(wsub(hi, ub), fu))]


def whole_window_lemma(obj: Any, bits: Any, free_index: Any, obj_bits: Any, n: Any, o: Any) -> tuple[Any, list[tuple[str, Any]]]:
    """(premise, conclusions): a new object with the untyped's whole range leaves the untyped full."""
    premise, _ = cspace.window_fits(obj, bits, free_index, obj_bits, n)
    base, _, new_free = _window_used(obj, free_index, obj_bits, n)
    premise = And(premise, ule(abi.seL4_MinUntypedBits, obj_bits), ops.in_window(o, base, n, obj_bits), eq(o, obj),
                  eq(wadd(o, logic.mask(obj_bits)), wadd(obj, logic.mask(bits))))
    return premise, [("the untyped is left full", eq(new_free, max_free_index(bits)))]


def _bounds(r: Retype) -> list[tuple[str, Any]]:
    """The window's bounds, each generalised to one constant."""
    return [("end", r.end), ("base", r.p.base), ("free_before", r.free_before), ("untyped_top", untyped_top(r.uc))]


def _window_facts(r: Retype, slots: Sequence[Any], objs: Sequence[Any], pairs: Sequence[tuple[Any, Any]],
                  untyped_slots: Sequence[Any]) -> list[tuple[str, Any]]:
    """Instances of the window lemmas (cspace.window_fits, cspace.window_bounds, object_for_lemma,
    free_index_lemma) and of valid definitions, at the given terms."""
    p, n, uc = r.p, r.n, r.uc
    out = [("lemma untyped_retype:window_fits", _lemma(*cspace.window_fits(uc.obj, uc.bits, p.free_index, p.obj_bits, n))),
           ("lemma untyped_retype:free_index", _lemma(*free_index_lemma(uc.obj, uc.bits, p.free_index, p.obj_bits, n))),
           ("lemma mask:size", _lemma(*size_lemma(p.obj_bits)))]
    out += [("lemma untyped_retype:object_for", _lemma(*object_for_lemma(p, n, k, k2))) for k in slots for k2 in slots]
    out += [("lemma in_window:bounds", _lemma(*cspace.window_bounds(p.base, p.obj_bits, n, o, o))) for o in objs]
    out += [("lemma in_window:bounds", _lemma(*cspace.window_bounds(p.base, p.obj_bits, n, o, o2))) for o, o2 in pairs]
    out += [("lemma is_aligned:no_wrap", _lemma(*no_wrap_lemma(o, r.s.obj_bits[o]))) for o in objs]
    out += [("lemma untyped_retype:whole_window",
             _lemma(*whole_window_lemma(uc.obj, uc.bits, p.free_index, p.obj_bits, n, o))) for o in objs]
    for k in untyped_slots:
        c = get_cap(r.s, k)
        out += [("lemma max_free_index:bytes", _lemma(*max_free_index_lemma(c.bits))),
                ("lemma mask:size", _lemma(*size_lemma(c.bits))),
                ("lemma is_aligned:no_wrap", _lemma(*no_wrap_lemma(c.obj, c.bits))),
                (f"definition: {cspace.UNTYPED_TOP}", cspace.untyped_top_definition(c)),
                ("definition: mask(bits) + 1 is 2^bits", eq(wadd(logic.mask(c.bits), 1), shl(1, c.bits)))]
    out += [(f"definition: {m}", d) for m, d in cspace.no_aliasing_definitions(uc, p.free_index)]
    return out


# ======================================================================================================
# The query


def _split_on(goal: z3.BoolRef, atoms: Sequence[z3.BoolRef],
              then: Callable[[dict[int, bool]], Sequence[tuple[str, z3.BoolRef]]] | None = None
              ) -> list[tuple[str, z3.BoolRef]]:
    """goal as the cases (atom => goal with atom true) and (not atom => goal with it false), for
    each atom in turn; their conjunction is equivalent to goal. `then`, given the values decided
    on a path (by atom id), gives further (name, atom)s to split that path on."""
    tm = cspace._Terms()
    out: list[tuple[str, z3.BoolRef]] = []

    def go(g: Any, known: dict[int, bool], path: list[z3.BoolRef], label: list[str],
           todo: list[tuple[str, z3.BoolRef]], more: bool) -> None:
        g = cspace._Resolver(tm, {}, {i: tm.T if v else tm.F for i, v in known.items()}).r(g)
        if tm.id(g) == tm.Tid:
            return
        rest = [(n, a) for n, a in todo if tm.id(a.as_ast()) not in known]
        if not rest and more and then is not None:
            decided = {a.get_id(): known[tm.id(a.as_ast())] for a in atoms if tm.id(a.as_ast()) in known}
            go(g, known, path, label, list(then(decided)), False)
            return
        if not rest:
            body = tm.wrap(g)
            out.append((", ".join(label), z3.Implies(z3.And(path), body) if path else body))
            return
        name, a = rest[0]
        for val in (True, False):
            go(g, {**known, tm.id(a.as_ast()): val}, path + [a if val else z3.Not(a)],
               label + [name if val else f"not {name}"], todo, more)

    go(tm.mk(goal.as_ast()), {}, [], [], [(str(a), a) for a in atoms], True)
    tm.release()
    return out

# What a proof instantiates: (invariant or "pre", slot terms, object terms); the quantifiers of
# that invariant (or of the retype's checks) are instantiated at every tuple of those terms.
Instances = list[tuple[str, list[Any], list[Any]]]
# A further split of some window cases: when every (window kind, goal term, value) holds, split on
# each (name, atom) too.
CaseRule = tuple[list[tuple[str, Any, bool]], list[tuple[str, Any]]]


def retype_query(inv: str, instances: Callable[[Retype, list[Any], list[Any]], Instances],
                 lemma_terms: Callable[[Retype, list[Any], list[Any]], tuple[list[Any], list[Any], list[Any]]] | None,
                 shifts: bool = True,
                 cases: Callable[[Retype, list[Any], list[Any]], list[CaseRule]] | None = None,
                 lemmas: Callable[[Retype, list[Any], list[Any]], list[tuple[str, Any]]] | None = None) -> Query:
    """untyped_retype:inv from the given instances, generalised (module docstring).

    `instances` and `lemma_terms` get the Retype and the goal's skolem slots and objects;
    lemma_terms gives (slots, objects, object pairs) for the window lemmas; None when the proof
    needs none of them. `cases` (same arguments) gives rules for splitting some window cases
    further (CaseRule); `lemmas` (same arguments) gives further proved lemmas' instances.
    """
    r = Retype()
    s = r.s
    term = INVARIANTS[inv](r.post)
    conjuncts = list(term.children()) if z3.is_and(term) else [term]
    consts: list[z3.ExprRef] = []
    parts = [_skolemize(c, consts) for c in conjuncts]
    goal = z3.And(parts) if len(parts) > 1 else parts[0]
    facts = [ne(r.ut, NULL)]
    split = split_goal(goal, [r.p.reset], consts, facts)
    gslots = [k for k in consts if not str(k).startswith("obj")]
    gobjs = [k for k in consts if str(k).startswith("obj")]
    hyps: list[tuple[str, Any]] = []
    all_slots, all_objs = list(gslots), list(gobjs)
    inst = _AllTerms(_Matcher([]), Terms(slots=[], objs=[]))
    for name, slots, objs in instances(r, gslots, gobjs):
        inst.terms = Terms(slots=_dedup(slots), objs=_dedup(objs))
        all_slots += slots
        all_objs += objs
        if name == "pre":
            hyps += [(h_name, inst.positive(h)) for h_name, h in r.pre()]
        else:
            hyps.append((f"{name} (instances)", inst.positive(INVARIANTS[name](s))))
    if lemma_terms is not None:
        lslots, lobjs, lpairs = lemma_terms(r, gslots, gobjs)
        hyps += [(name, inst.abstract(h)) for name, h in _window_facts(r, lslots, lobjs, lpairs, _dedup(all_slots))]
    if lemmas is not None:
        hyps += [(name, inst.abstract(h)) for name, h in lemmas(r, gslots, gobjs)]
    body = inst.abstract(Implies(And(*facts), split))
    inst.terms = Terms(slots=_dedup(all_slots), objs=_dedup(all_objs))
    hyps += inst.side()
    norm = _Normaliser(inst)
    gen = _Generaliser(r, _bounds(r), norm)
    hyps = [(name, gen.go(norm(h))) for name, h in hyps]
    body = gen.go(norm(body))
    # Split again, on whether the goal's slots are destination slots and its objects new ones
    # (and on the object type): equivalences only.
    atoms = [gen.made[(kind, k.get_id())][1] for kind, ks in (("new_slot", gslots), ("new_object", gobjs))
             for k in ks if (kind, k.get_id()) in gen.made]
    rules = [([(gen.made[(kind, t.get_id())][1].get_id(), v) for kind, t, v in when],
              [(name, gen.go(norm(a))) for name, a in split])
             for when, split in (cases(r, gslots, gobjs) if cases is not None else [])]

    def then(decided: dict[int, bool]) -> list[tuple[str, z3.BoolRef]]:
        return [x for when, split in rules if all(decided.get(i) == v for i, v in when) for x in split]

    goals = [(f"{inv} [{label}]" if label else inv, g) for label, g in _split_on(body, atoms, then)]
    # Masks and shifts by symbolic amounts last: the split has taken the window's if-then-elses
    # out of their arguments, so they are the terms the hypotheses have.
    gen2 = _Generaliser(r, [], norm, shifts=shifts)
    hyps = [(name, gen2.go(h)) for name, h in hyps]
    goals = [(n2, gen2.go(g2)) for n, g in goals for n2, g2 in goal_cases(n, g)]
    norm.release()
    decode = cspace._decoder(s, r.case, Terms(slots=_dedup(all_slots), objs=_dedup(all_objs)))
    return cspace._nested_query(s, hyps, goals, _flag_off_definition(decode, gen.definitions() + gen2.definitions()),
                                witness.binding("untyped_retype"))


def _flag_off_definition(decode: Callable[[z3.ModelRef, Callable[[Any], Any]], dict[str, Any]],
                         defs: list[tuple[z3.ExprRef, z3.ExprRef]]) -> Callable[[z3.ModelRef, Callable[[Any], Any]],
                                                                                dict[str, Any]]:
    """decode, plus the replaced terms whose model value is not their definition's (module docstring)."""
    def go(model: z3.ModelRef, value: Callable[[Any], Any]) -> dict[str, Any]:
        out = decode(model, value)
        off = []
        for term, const in defs:
            v = value(term)
            if v is not None and v != value(const):
                off.append(str(const))
        out["generalised terms off their definitions"] = off
        return out
    return go


# ======================================================================================================
# The obligations: for each invariant, the instances its proof uses (argued in the comments)


def _cdt_anc(r: Retype, gs: list[Any], go: list[Any]) -> Instances:
    # New slots were empty: no CDT edges, no ancestors (cdt_anc, mdb_cte_at, valid_nullcaps there);
    # they hang below ut with ut's ancestors.
    ps = [r.s.cdt_parent[k] for k in gs + [r.ut]]
    return [(name, gs + [r.ut] + ps, []) for name in ("cdt_anc", "mdb_cte_at", "valid_nullcaps", "pre")]


def _pspace_aligned(r: Retype, gs: list[Any], go: list[Any]) -> Instances:
    # A new object is a window member: aligned and not at 0 (window lemma), of a size decode
    # allows; an old one is as it was, or detyped by the reset.
    o, = go
    return [("pspace_aligned", [], [o]), ("valid_caps", [r.ut], []), ("pre", [r.ut], [])]


def _mdb_cte_at(r: Retype, gs: list[Any], go: list[Any]) -> Instances:
    # A new cap is not null and its parent is ut, which holds an untyped cap; an old edge is
    # unchanged, and its parent was not a destination slot (those were empty).
    c, = gs
    return [("mdb_cte_at", [c], []), ("pre", [c, r.ut, r.s.cdt_parent[c]], [])]


def _no_mloop(r: Retype, gs: list[Any], go: list[Any]) -> Instances:
    # A new cap is one deeper than ut; an old edge and its depths are unchanged (its parent
    # holds a cap, so it is not a destination slot).
    c, = gs
    return [("no_mloop", [c], []), ("mdb_cte_at", [c], []), ("pre", [c, r.ut, r.s.cdt_parent[c]], [])]


def _valid_nullcaps(r: Retype, gs: list[Any], go: list[Any]) -> Instances:
    # A destination slot gets a cap; every other slot is as it was, but for ut's free index.
    x, = gs
    return [("valid_nullcaps", [x], []), ("pre", [x, r.ut], [])]


def _ut_revocable(r: Retype, gs: list[Any], go: list[Any]) -> Instances:
    # A new cap is original; every other slot is as it was, but for ut's free index.
    x, = gs
    return [("ut_revocable", [x], []), ("pre", [x, r.ut], [])]


def _valid_caps(r: Retype, gs: list[Any], go: list[Any]) -> Instances:
    # A new cap names a new object; an old cap's object is not in the window (valid_untyped at
    # ut: it lies below the free index) nor detyped (untyped_mdb: it would descend from ut).
    x, = gs
    ox = r.s.cap_obj[x]
    return [("valid_caps", [x, r.ut], []), ("valid_untyped", [r.ut], [ox]), ("untyped_mdb", [r.ut, x], []),
            ("pspace_aligned", [], [ox]), ("pre", [x, r.ut], [])]


def _valid_caps_lemmas(r: Retype, gs: list[Any], go: list[Any]) -> list[tuple[str, Any]]:
    # An old cap's object below ut's free index lies below the window.
    x, = gs
    return [_below_window_at(r, object_top(r.s, r.s.cap_obj[x]))]


def _pspace_distinct(r: Retype, gs: list[Any], go: list[Any]) -> Instances:
    # New objects are disjoint (window lemma) and above every old object that overlaps ut.
    a, b = go
    return [("pspace_distinct", [], [a, b]), ("valid_untyped", [r.ut], [a, b]), ("pspace_aligned", [], [a, b]),
            ("valid_caps", [r.ut], []), ("pre", [r.ut], [])]


def _descendants_inc(r: Retype, gs: list[Any], go: list[Any]) -> Instances:
    # A new cap is a physical cap inside ut's range (window lemmas); an old edge is unchanged
    # (its parent holds a cap, so it is not a destination slot).
    c, = gs
    return [("descendants_inc", [c], []), ("mdb_cte_at", [c], []), ("valid_caps", [r.ut], []),
            ("pre", [c, r.ut, r.s.cdt_parent[c]], [])]


def _untyped_mdb_cases(r: Retype, gs: list[Any], go: list[Any]) -> list[CaseRule]:
    # An old untyped against a new cap: whether it is ut, and how untyped_inc nests it and ut.
    # A new untyped against an old cap: whether that cap's object is in ut's range (below ut's
    # free index by valid_untyped, or detyped by the reset) or not (then not in the window).
    u, c = gs
    uc, oc = r.uc, r.s.cap_obj[c]
    return [([("new_slot", u, False), ("new_slot", c, True)], [_is_ut(r, u), *_nesting(r, u)]),
            ([("new_slot", u, True), ("new_slot", c, False)],
             [("c's object is in ut's range", And(ule(uc.obj, oc), ule(oc, untyped_top(uc))))])]


def _pspace_distinct_cases(r: Retype, gs: list[Any], go: list[Any]) -> list[CaseRule]:
    # An old object against a new one: whether the old one overlaps ut (then it lies below ut's
    # free index by valid_untyped, or was detyped by the reset) or not (then it misses the window).
    # A new object: whether the retype makes untypeds (then the window holds no object at all);
    # measured, 6.3 s to 2.9 s.
    a, b = go
    uc = r.uc

    def overlaps_ut(o: Any) -> tuple[str, Any]:
        return ("old object overlaps ut", And(ule(o, untyped_top(uc)), ule(uc.obj, object_top(r.s, o))))
    makes = _makes_untypeds(r)
    return [([("new_object", a, False), ("new_object", b, True)], [makes, overlaps_ut(a)]),
            ([("new_object", a, True), ("new_object", b, False)], [makes, overlaps_ut(b)]),
            ([("new_object", a, True), ("new_object", b, True)], [makes])]


def _pspace_distinct_lemmas(r: Retype, gs: list[Any], go: list[Any]) -> list[tuple[str, Any]]:
    # An old object below ut's free index lies below the window.
    return [_below_window_at(r, object_top(r.s, o)) for o in go]


def _untyped_mdb(r: Retype, gs: list[Any], go: list[Any]) -> Instances:
    # A new cap descends from ut and from ut's ancestors; no old cap names an object inside a new
    # untyped (such an object would lie above ut's free index, or was detyped with ut childless).
    u, c = gs
    sl = [u, c, r.ut]
    oc = r.s.cap_obj[c]
    return [("untyped_mdb", sl, []), ("untyped_inc", [u, r.ut], []), ("valid_untyped", [u, r.ut], [oc]),
            ("valid_caps", sl, []), ("cdt_anc", sl, []), ("pre", sl, []), ("pspace_aligned", [], [oc])]


def _untyped_mdb_lemmas(r: Retype, gs: list[Any], go: list[Any]) -> list[tuple[str, Any]]:
    # An old cap's object, or an old untyped, below ut's free index lies below the window.
    u, c = gs
    return [_below_window_at(r, object_top(r.s, r.s.cap_obj[c])), _below_window_at(r, untyped_top(get_cap(r.s, u)))]


def _nesting(r: Retype, x: Any) -> list[tuple[str, Any]]:
    """The atoms of untyped_inc at (ut, x) that say which range holds the other."""
    cu, cx = r.uc, get_cap(r.s, x)
    return [("old untyped inside ut", untyped_inside(cx, cu)), ("ut inside old untyped", untyped_inside(cu, cx))]


def _makes_untypeds(r: Retype) -> tuple[str, Any]:
    """The atom that the retype makes untypeds (then its new caps are untyped caps and it makes no objects)."""
    return ("retype makes untypeds", eq(r.a["obj_type"], abi.seL4_UntypedObject))


def _is_ut(r: Retype, x: Any) -> tuple[str, Any]:
    """The atom that the old untyped in the slot x is ut (whose free index retype moves)."""
    return ("u is ut", eq(x, r.ut))


def _valid_untyped(r: Retype, gs: list[Any], go: list[Any]) -> Instances:
    # An old object overlapping an old untyped is as before (valid_untyped); a new one lies in
    # ut's window, above ut's free index, so by untyped_inc at (ut, u) it lies inside u and below
    # u's free index, or u is ut; a new untyped's only overlapping object is its own.
    u, = gs
    o, = go
    return [("valid_untyped", [u, r.ut], [o]), ("untyped_inc", [r.ut, u], []), ("valid_caps", [u, r.ut], []),
            ("pspace_aligned", [], [o]), ("pre", [u, r.ut], [])]


def _valid_untyped_cases(r: Retype, gs: list[Any], go: list[Any]) -> list[CaseRule]:
    # An old untyped: whether it is ut (whose free index moves) or another (unchanged); against
    # a new object, also one case per way untyped_inc nests u and ut, and whether the retype makes
    # untypeds (measured: 37 s to 24 s alone; the same split slows untyped_inc and untyped_mdb).
    u, = gs
    o, = go
    return [([("new_slot", u, False), ("new_object", o, True)], [_makes_untypeds(r), _is_ut(r, u), *_nesting(r, u)]),
            ([("new_slot", u, False), ("new_object", o, False)], [_is_ut(r, u)])]


def _nested_window_at(r: Retype, outer: Any, lo: Any) -> tuple[str, Any]:
    """nested_window_lemma for the new object at lo against the untyped in the slot outer."""
    co, cu = get_cap(r.s, outer), r.uc
    hi = wadd(lo, logic.mask(r.p.obj_bits))
    return ("lemma untyped_retype:nested_window", _lemma(*nested_window_lemma(
        co.obj, cu.obj, r.free_before, r.p.base, lo, hi, r.last, wadd(cu.obj, logic.mask(cu.bits)), untyped_top(cu),
        untyped_top(co), shl(co.free, abi.seL4_MinUntypedBits))))


def _valid_untyped_lemmas(r: Retype, gs: list[Any], go: list[Any]) -> list[tuple[str, Any]]:
    u, = gs
    o, = go
    return [_nested_window_at(r, u, o)]


def _untyped_inc(r: Retype, gs: list[Any], go: list[Any]) -> Instances:
    # Two old untypeds: as before (ut's free index only grows, or ut has no children to nest).
    # A new one against ut: strictly inside it and below its new free index, or its whole range
    # with ut left full (whole_window). A new one against an old one: untyped_inc at (ut, old)
    # says how they nest, and the new one is a descendant of ut and of ut's ancestors (cdt_anc).
    # Two new ones: disjoint (window lemma).
    a, b = gs
    sl = [a, b, r.ut]
    return [("untyped_inc", sl, []), ("cdt_anc", sl, []), ("valid_caps", sl, []), ("pre", sl, [])]


def _untyped_inc_cases(r: Retype, gs: list[Any], go: list[Any]) -> list[CaseRule]:
    # A new untyped against an old one: one case per way untyped_inc nests the old one and ut.
    a, b = gs
    return [([("new_slot", a, True), ("new_slot", b, False)], _nesting(r, b)),
            ([("new_slot", a, False), ("new_slot", b, True)], _nesting(r, a))]


def _below_window_at(r: Retype, x: Any) -> tuple[str, Any]:
    """below_window_lemma for the byte x against ut's window."""
    cu = r.uc
    return ("lemma untyped_retype:below_window", _lemma(*cspace.below_window_lemma(
        cu.obj, shl(cu.free, abi.seL4_MinUntypedBits), x, r.free_before, r.p.base)))


def _untyped_inc_lemmas(r: Retype, gs: list[Any], go: list[Any]) -> list[tuple[str, Any]]:
    # An old untyped strictly inside ut lies below ut's free index, so below the window.
    a, b = gs
    return [_nested_window_at(r, b, r.p.object_for(a)), _nested_window_at(r, a, r.p.object_for(b)),
            *[_below_window_at(r, untyped_top(get_cap(r.s, x))) for x in (a, b)]]


def _lemmas_slots(r: Retype, gs: list[Any], go: list[Any]) -> tuple[list[Any], list[Any], list[Any]]:
    return gs, [r.p.object_for(k) for k in gs] + [r.s.cap_obj[k] for k in gs] + go, []


def _lemmas_objs(r: Retype, gs: list[Any], go: list[Any]) -> tuple[list[Any], list[Any], list[Any]]:
    return [], go, []


def _lemmas_pairs(r: Retype, gs: list[Any], go: list[Any]) -> tuple[list[Any], list[Any], list[Any]]:
    return [], go, [tuple(go)]


def _lemmas_new_untyped(r: Retype, gs: list[Any], go: list[Any]) -> tuple[list[Any], list[Any], list[Any]]:
    u, = gs
    return [u], go + [r.p.object_for(u)], []


def _lemmas_untyped_pair(r: Retype, gs: list[Any], go: list[Any]) -> tuple[list[Any], list[Any], list[Any]]:
    a, b = gs
    return [a, b], [r.p.object_for(a), r.p.object_for(b)], [(r.p.object_for(a), r.p.object_for(b))]


_LemmaTerms = Callable[..., tuple[list[Any], list[Any], list[Any]]]
# invariant -> (instances, window lemma terms, further lemma instances, further case splits, time budget in s)
FOCUSED: dict[str, tuple[Callable[..., Instances], _LemmaTerms | None, Callable[..., list[tuple[str, Any]]] | None,
                         Callable[..., list[CaseRule]] | None, int]] = {
    "cdt_anc": (_cdt_anc, None, None, None, 120),
    "valid_caps": (_valid_caps, _lemmas_slots, _valid_caps_lemmas, None, 120),
    "pspace_aligned": (_pspace_aligned, _lemmas_objs, None, None, 120),
    "mdb_cte_at": (_mdb_cte_at, None, None, None, 120),
    "no_mloop": (_no_mloop, None, None, None, 120),
    "valid_nullcaps": (_valid_nullcaps, None, None, None, 120),
    "ut_revocable": (_ut_revocable, None, None, None, 120),
    "pspace_distinct": (_pspace_distinct, _lemmas_pairs, _pspace_distinct_lemmas, _pspace_distinct_cases, 120),
    "descendants_inc": (_descendants_inc, _lemmas_slots, None, None, 120),
    "untyped_mdb": (_untyped_mdb, _lemmas_slots, _untyped_mdb_lemmas, _untyped_mdb_cases, 120),
    "valid_untyped": (_valid_untyped, _lemmas_new_untyped, _valid_untyped_lemmas, _valid_untyped_cases, 240),
    "untyped_inc": (_untyped_inc, _lemmas_untyped_pair, _untyped_inc_lemmas, _untyped_inc_cases, 300),
}


def _register(inv: str) -> None:
    instances, lemma_terms, lemmas, cases, budget = FOCUSED[inv]

    @obligation(name=f"untyped_retype:{inv}", about=("spec.ops.untyped_retype",),
                property=f"untyped_retype keeps {inv}: {cspace._PROPERTY[inv]}", kind="invariant", timeout_s=budget)
    def build() -> Query:
        return retype_query(inv, instances, lemma_terms, cases=cases, lemmas=lemmas)


for _inv in FOCUSED:
    _register(_inv)


# The lemmas, each proved on its own over all 64-bit words.


@obligation(name="untyped_retype:object_for", about=("spec.ops.RetypePlan.object_for",),
            property="the object a destination slot's new cap names is one of the new objects, one per slot",
            kind="invariant",
            timeout_s=60)
def _object_for() -> Query:
    w = logic.word
    p = ops.RetypePlan(reset=z3.Bool("reset"), free_index=w("free_index"), obj_bits=w("obj_bits"), base=w("base"),
                       first_slot=w("first_slot"))
    return cspace._lemma_query(*object_for_lemma(p, w("n"), w("k"), w("k2")))


@obligation(name="untyped_retype:free_index", about=("spec.ops.untyped_retype_effect",),
            property="the free index retype leaves fits the untyped and counts the bytes used", kind="invariant",
            timeout_s=60)
def _free_index() -> Query:
    w = logic.word
    return cspace._lemma_query(*free_index_lemma(w("obj"), w("bits"), w("free_index"), w("obj_bits"), w("n")))


@obligation(name="untyped_retype:nested_window", about=("spec.ops.untyped_retype_effect",),
            property="an object in the window of an untyped strictly inside another lies inside that one, below its "
                     "free index", kind="invariant", timeout_s=60)
def _nested_window() -> Query:
    w = logic.word
    return cspace._lemma_query(*nested_window_lemma(*[w(x) for x in ("ub", "utb", "fb", "base", "lo", "hi", "last",
                                                                     "ut_end", "ut_top", "u_top", "fu")]))


@obligation(name="untyped_retype:below_window", about=("spec.ops.untyped_retype_effect",),
            property="a byte below an untyped's free index lies below a window that starts above it", kind="invariant",
            timeout_s=60)
def _below_window() -> Query:
    w = logic.word
    return cspace._lemma_query(*cspace.below_window_lemma(*[w(x) for x in ("ub", "free_bytes", "x", "fb", "base")]))


@obligation(name="untyped_retype:whole_window", about=("spec.ops.untyped_retype_effect",),
            property="a new object with its untyped's whole range leaves the untyped full", kind="invariant",
            timeout_s=60)
def _whole_window() -> Query:
    w = logic.word
    return cspace._lemma_query(*whole_window_lemma(w("obj"), w("bits"), w("free_index"), w("obj_bits"), w("n"), w("o")))


@obligation(name="mask:size", about=("spec.logic.mask",),
            property="a region of at most 2^seL4_MaxUntypedBits bytes has a size not 0 and a mask below that bound",
            kind="invariant", timeout_s=60)
def _size() -> Query:
    return cspace._lemma_query(*size_lemma(logic.word("bits")))


@obligation(name="is_aligned:no_wrap", about=("spec.logic.is_aligned",),
            property="an aligned region that does not start at 0 does not wrap", kind="invariant", timeout_s=60)
def _no_wrap() -> Query:
    return cspace._lemma_query(*no_wrap_lemma(logic.word("o"), logic.word("bits")))


@obligation(name="max_free_index:bytes", about=("spec.state.max_free_index",),
            property="MAX_FREE_INDEX(bits) units of 16 bytes are 2^bits bytes", kind="invariant", timeout_s=60)
def _max_free_index() -> Query:
    return cspace._lemma_query(*max_free_index_lemma(logic.word("bits")))
