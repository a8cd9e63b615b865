"""Capability-space obligations: every CNode and Untyped operation keeps every invariant.

For each operation `op` of spec.ops / spec.cdt and each invariant `inv` of spec.invariants.INVARIANTS
there is an obligation `op:inv`: the invariants `inv` needs (listed per obligation, as l4v lists the
preconditions of each preservation lemma) and the operation's checks imply `inv` of the state the
operation's effect returns. Two named theorems follow: `untyped_retype:no_aliasing` and
`revoke_descendants:no_descendants`.

How a formula is built, and why each step keeps it sound (a proof of the formula built here is a
proof of "Inv(s) and checks(s) imply inv(effect(s))"):

1. The goal's universal quantifiers are replaced by fresh constants (`_skolemize`): the runner asks
   whether hypotheses and not-goal have a model, and "not forall x. P(x)" has a model exactly when
   "not P(x0)" has one for a fresh x0. The goal is then ground.
2. The ground goal is case-split (`_Splitter`): on each aliasing atom (two slot terms equal or not)
   and each named decision of the operation (the derived cap is null, src becomes the parent, the
   untyped is reset), the goal G becomes (c => G|c) and (not c => G|not c), where G|c is G
   rewritten under c by equivalences only: a read of a stored, lambda or if-then-else array is
   resolved, a known atom becomes true or false, a constant known equal to another term is replaced
   by it, and connectives with constant arguments fold. Then the terms of each case are literally
   the terms of the hypotheses, which spares Z3 proving bit-vector circuits equal.
3. Facts the splitter may assume (e.g. src != dest) are proved as goal conjuncts of their own: the
   goal is `facts and (facts => split goal)`, which is equivalent to `facts and goal`.
4. Hypotheses are instantiated by hand (`_Instantiator`): a universally quantified hypothesis is
   replaced by its instances at the terms the goal talks about (the goal's constants, the
   operation's slots, their CDT parents; objects named by those slots). Every instance follows
   from the quantified hypothesis, so a goal proved from instances is proved from the hypothesis;
   too few instances can only make a true goal unprovable, never a false one provable. A quantified
   subformula elsewhere (has_descendants inside a check, the reset decision of Untyped_Retype) is
   abstracted by a fresh Boolean b with `b => instances` and `not b => not body(k)` for a fresh
   witness k, which every state satisfies for b = the subformula's truth value.
5. The formulas are then quantifier-free, so Z3 decides them without E-matching or MBQI, and the
   runner's witness check (hypotheses satisfiable) is decided quickly. That check covers the
   instances; that the full quantified invariants and the checks have a common model is shown by
   concrete states in tests/test_cspace_proofs.py.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import z3
from z3 import z3core as _C

from proofs import witness
from proofs.obligation import Query, obligation
from proofs.rawz3 import app_arg as _arg, app_decl as _decl, ast_id as _id, ast_kind as _kind, decl_kind as _dkind
from proofs.rawz3 import get_sort as _sort, num_args as _nargs, sort_kind as _skind, var_index as _var_index
from spec import abi, cdt, ops
from spec import logic
from spec.invariants import INVARIANTS, _below_free, valid_cap
from spec.logic import And, Implies, Not, Or, eq, ne, shl, shr, symbolic_record, ule, ult, wadd, word, wsub
from spec.state import (NULL, OBJ_NONE, Cap, State, cap_top, get_cap, is_cap_revocable, is_untyped,
                        mask_cap_rights, object_top, pair, should_be_parent_of, untyped_top,
                        update_cap_data_parts)

# ======================================================================================================
# 1. Skolemizing the goal


_fresh = itertools.count()


def _skolemize(t: z3.BoolRef, consts: list[z3.ExprRef]) -> z3.BoolRef:
    """t with its outermost universal quantifiers (under and/implies-conclusions) replaced by fresh constants."""
    if z3.is_quantifier(t) and t.is_forall():
        xs = [z3.Const(f"{t.var_name(i)}!g{next(_fresh)}", t.var_sort(i)) for i in range(t.num_vars())]
        consts.extend(xs)
        return _skolemize(z3.substitute_vars(t.body(), *reversed(xs)), consts)
    if z3.is_and(t):
        return z3.And([_skolemize(c, consts) for c in t.children()])
    if z3.is_implies(t):
        return z3.Implies(t.arg(0), _skolemize(t.arg(1), consts))
    return t


# ======================================================================================================
# 2. Resolving reads and splitting cases, on raw Z3 ASTs (the Python wrappers cost too much here)

_APP, _NUM = z3.Z3_APP_AST, z3.Z3_NUMERAL_AST
_QUANT, _VAR = z3.Z3_QUANTIFIER_AST, z3.Z3_VAR_AST
_TRUE, _FALSE, _AND, _OR, _NOT, _IMPLIES, _ITE, _EQ = (
    z3.Z3_OP_TRUE, z3.Z3_OP_FALSE, z3.Z3_OP_AND, z3.Z3_OP_OR, z3.Z3_OP_NOT, z3.Z3_OP_IMPLIES, z3.Z3_OP_ITE,
    z3.Z3_OP_EQ)
_SELECT, _STORE, _CONST_ARRAY, _EXTRACT, _CONCAT, _DISTINCT = (
    z3.Z3_OP_SELECT, z3.Z3_OP_STORE, z3.Z3_OP_CONST_ARRAY, z3.Z3_OP_EXTRACT, z3.Z3_OP_CONCAT, z3.Z3_OP_DISTINCT)
_Ast = z3.Ast


class _Terms:
    """Raw-AST access in one context; every AST made here stays alive until release()."""

    def __init__(self) -> None:
        self.zctx = z3.main_ctx()
        self.c = self.zctx.ref()
        self.keep: list[Any] = []
        # id -> (kind, decl kind or -1, child ids, AST, is Boolean) of every node reached through
        # reg(); each registered root is kept alive, and with it its descendants, so an id stays its own.
        self.nodes: dict[int, tuple[int, int, tuple[int, ...], Any, bool]] = {}
        self.T = self.mk(_C.Z3_mk_true(self.c))
        self.F = self.mk(_C.Z3_mk_false(self.c))
        self.Tid, self.Fid = self.id(self.T), self.id(self.F)

    def mk(self, a: Any) -> Any:
        _C.Z3_inc_ref(self.c, a)
        self.keep.append(a)
        return a

    def release(self) -> None:
        for a in self.keep:
            _C.Z3_dec_ref(self.c, a)
        self.keep = []
        self.nodes = {}

    def reg(self, a: Any) -> int:
        """a's id, with a and its descendants in `nodes` (a kept alive)."""
        c, nodes = self.c, self.nodes
        i = _id(c, a)
        if i in nodes:
            return i  # type: ignore[no-any-return]
        self.mk(a)
        st = [(a, i)]
        while st:
            x, xi = st.pop()
            if xi in nodes:
                continue
            k = _kind(c, x)
            if k == _APP:
                kids = [_arg(c, x, j) for j in range(_nargs(c, x))]
                kid_ids = tuple(_id(c, y) for y in kids)
                op = _dkind(c, _decl(c, x))
                st.extend((y, yi) for y, yi in zip(kids, kid_ids) if yi not in nodes)
            else:
                op, kid_ids = -1, ()
            nodes[xi] = (k, op, kid_ids, x, k != _VAR and _skind(c, _sort(c, x)) == z3.Z3_BOOL_SORT)
        return i  # type: ignore[no-any-return]

    def id(self, a: Any) -> int:
        return _id(self.c, a)  # type: ignore[no-any-return]

    def kind(self, a: Any) -> int:
        return _kind(self.c, a)  # type: ignore[no-any-return]

    def op(self, a: Any) -> int:
        return _dkind(self.c, _decl(self.c, a))  # type: ignore[no-any-return]

    def nargs(self, a: Any) -> int:
        return _nargs(self.c, a)  # type: ignore[no-any-return]

    def arg(self, a: Any, i: int) -> Any:
        return _arg(self.c, a, i)

    def args(self, a: Any) -> list[Any]:
        c = self.c
        return [_arg(c, a, i) for i in range(_nargs(c, a))]

    def is_bool(self, a: Any) -> bool:
        return _skind(self.c, _sort(self.c, a)) == z3.Z3_BOOL_SORT  # type: ignore[no-any-return]

    def width(self, a: Any) -> int:
        return _C.Z3_get_bv_sort_size(self.c, _sort(self.c, a))  # type: ignore[no-any-return]

    def eq(self, x: Any, y: Any) -> Any:
        return self.mk(_C.Z3_mk_eq(self.c, x, y))

    def wrap(self, a: Any) -> z3.ExprRef:
        return z3.z3._to_expr_ref(a, self.zctx)


class _Resolver:
    """Rewrites a term under a context of known atoms and constant substitutions (equivalences only).

    `touched`, when given, names the only nodes that can change: the term was already resolved
    under a smaller context, and only nodes containing the new atom or constant are revisited.
    """

    def __init__(self, tm: _Terms, known: dict[int, bool], sub: dict[int, Any], touched: set[int] | None = None):
        self.tm = tm
        self.known_atoms = known
        self.sub = sub
        self.touched = touched
        self.memo: dict[int, Any] = {}

    def known(self, a: Any) -> Any:
        v = self.known_atoms.get(self.tm.id(a))
        return None if v is None else (self.tm.T if v else self.tm.F)

    def mk_eq(self, x: Any, y: Any) -> Any:
        tm = self.tm
        if tm.id(x) == tm.id(y):
            return tm.T
        kx, ky = tm.kind(x), tm.kind(y)
        if kx == _NUM and ky == _NUM:
            return tm.F  # numerals are hash-consed: two of one sort with different ids differ in value
        if kx == _APP and ky == _APP:
            ox, oy = tm.op(x), tm.op(y)
            if ox in (_TRUE, _FALSE) and oy in (_TRUE, _FALSE):
                return tm.T if ox == oy else tm.F
            if (ox == _CONCAT and oy == _CONCAT and tm.nargs(x) == 2 and tm.nargs(y) == 2
                    and tm.width(tm.arg(x, 0)) == tm.width(tm.arg(y, 0))):
                return self.mk_and([self.mk_eq(tm.arg(x, 0), tm.arg(y, 0)), self.mk_eq(tm.arg(x, 1), tm.arg(y, 1))])
        e = tm.eq(x, y)
        v = self.known(e)
        if v is None:
            v = self.known(tm.eq(y, x))
        return e if v is None else v

    def mk_and(self, xs: list[Any]) -> Any:
        tm = self.tm
        out = []
        for x in xs:
            i = tm.id(x)
            if i == tm.Fid:
                return tm.F
            if i != tm.Tid:
                out.append(x)
        if not out:
            return tm.T
        return out[0] if len(out) == 1 else tm.mk(_C.Z3_mk_and(tm.c, len(out), (_Ast * len(out))(*out)))

    def mk_or(self, xs: list[Any]) -> Any:
        tm = self.tm
        out = []
        for x in xs:
            i = tm.id(x)
            if i == tm.Tid:
                return tm.T
            if i != tm.Fid:
                out.append(x)
        if not out:
            return tm.F
        return out[0] if len(out) == 1 else tm.mk(_C.Z3_mk_or(tm.c, len(out), (_Ast * len(out))(*out)))

    def mk_not(self, x: Any) -> Any:
        tm = self.tm
        i = tm.id(x)
        if i == tm.Tid:
            return tm.F
        if i == tm.Fid:
            return tm.T
        if tm.kind(x) == _APP and tm.op(x) == _NOT:
            return tm.arg(x, 0)
        return tm.mk(_C.Z3_mk_not(tm.c, x))

    def mk_ite(self, c: Any, x: Any, y: Any) -> Any:
        tm = self.tm
        i = tm.id(c)
        if i == tm.Tid:
            return x
        if i == tm.Fid:
            return y
        if tm.id(x) == tm.id(y):
            return x
        return tm.mk(_C.Z3_mk_ite(tm.c, c, x, y))

    def read(self, arr: Any, i: Any) -> Any:
        """select(arr, i), arr and i resolved."""
        tm = self.tm
        while True:
            k = tm.kind(arr)
            if k == _QUANT and _C.Z3_is_lambda(tm.c, arr):
                body = _C.Z3_get_quantifier_body(tm.c, arr)
                inst = tm.mk(_C.Z3_substitute_vars(tm.c, body, 1, (_Ast * 1)(i)))
                saved, self.touched = self.touched, None  # a fresh instance is resolved in full
                try:
                    return self.r(inst)
                finally:
                    self.touched = saved
            if k != _APP:
                break
            o = tm.op(arr)
            if o == _STORE:
                c = self.mk_eq(tm.arg(arr, 1), i)
                ci = tm.id(c)
                if ci == tm.Tid:
                    return tm.arg(arr, 2)
                if ci == tm.Fid:
                    arr = tm.arg(arr, 0)
                    continue
                return self.mk_ite(c, tm.arg(arr, 2), self.read(tm.arg(arr, 0), i))
            if o == _ITE:
                c = tm.arg(arr, 0)
                ci = tm.id(c)
                if ci == tm.Tid:
                    arr = tm.arg(arr, 1)
                    continue
                if ci == tm.Fid:
                    arr = tm.arg(arr, 2)
                    continue
                return self.mk_ite(c, self.read(tm.arg(arr, 1), i), self.read(tm.arg(arr, 2), i))
            if o == _CONST_ARRAY:
                return tm.arg(arr, 0)
            break
        return tm.mk(_C.Z3_mk_select(tm.c, arr, i))

    def r(self, a: Any) -> Any:
        tm = self.tm
        key = tm.reg(a)
        if self.touched is not None and key not in self.touched:
            return a
        hit = self.memo.get(key)
        if hit is not None:
            return hit
        out = self._r(a, key)
        self.memo[key] = out
        return out

    def _r(self, a: Any, key: int) -> Any:
        tm = self.tm
        kind, o, kids, _, isb = tm.nodes[key]
        if kind != _APP:
            return a
        if not kids:
            s = self.sub.get(key)
            return a if s is None else s
        if isb and self.known_atoms:
            v = self.known_atoms.get(key)
            if v is not None:
                return tm.T if v else tm.F
        if o == _SELECT:
            out = self.read(self.r(tm.arg(a, 0)), self.r(tm.arg(a, 1)))
        elif o == _ITE:
            c = self.r(tm.arg(a, 0))
            ci = tm.id(c)
            if ci == tm.Tid:
                return self.r(tm.arg(a, 1))
            if ci == tm.Fid:
                return self.r(tm.arg(a, 2))
            out = self.mk_ite(c, self.r(tm.arg(a, 1)), self.r(tm.arg(a, 2)))
        elif o == _AND:
            return self.mk_and([self.r(x) for x in tm.args(a)])
        elif o == _OR:
            return self.mk_or([self.r(x) for x in tm.args(a)])
        elif o == _NOT:
            return self.mk_not(self.r(tm.arg(a, 0)))
        elif o == _IMPLIES:
            x = self.r(tm.arg(a, 0))
            if tm.id(x) == tm.Fid:
                return tm.T
            return self.mk_or([self.mk_not(x), self.r(tm.arg(a, 1))])
        elif o == _EQ:
            out = self.mk_eq(self.r(tm.arg(a, 0)), self.r(tm.arg(a, 1)))
        elif o == _EXTRACT:
            x = self.r(tm.arg(a, 0))
            out = None
            if tm.kind(x) == _APP and tm.op(x) == _CONCAT and tm.nargs(x) == 2:
                d = _decl(tm.c, a)
                hi, lo = _C.Z3_get_decl_int_parameter(tm.c, d, 0), _C.Z3_get_decl_int_parameter(tm.c, d, 1)
                low = tm.arg(x, 1)
                if lo == 0 and hi == tm.width(low) - 1:
                    out = low
                elif lo == tm.width(low) and hi == tm.width(x) - 1:
                    out = tm.arg(x, 0)
            if out is None:
                out = a if tm.id(x) == tm.id(tm.arg(a, 0)) else tm.mk(
                    _C.Z3_mk_app(tm.c, _decl(tm.c, a), 1, (_Ast * 1)(x)))
        else:
            nodes = tm.nodes
            xs = [nodes[k][3] for k in kids]
            ys = [self.r(x) for x in xs]
            if all(k == tm.id(y) for k, y in zip(kids, ys)):
                return a
            out = tm.mk(_C.Z3_mk_app(tm.c, _decl(tm.c, a), len(ys), (_Ast * len(ys))(*ys)))
        if self.known_atoms and tm.is_bool(out):
            v = self.known(out)
            if v is not None:
                return v
        return out


class _Splitter:
    """Case-splits a ground goal on aliasing atoms and named decisions (see the module docstring, step 2)."""

    def __init__(self, decisions: Sequence[z3.BoolRef], constants: Sequence[z3.ExprRef],
                 facts: Sequence[z3.BoolRef], max_depth: int = 30):
        self.tm = _Terms()
        self.decisions = [self.tm.mk(d.as_ast()) for d in decisions]
        self.constants = {self.tm.id(k.as_ast()) for k in constants}
        self.facts = list(facts)
        self.max_depth = max_depth
        self.leaves = 0
        self.sizes: dict[int, int] = {}

    def _conds(self, a: Any) -> dict[int, Any]:
        """Conditions of the non-Boolean if-then-elses in a."""
        nodes = self.tm.nodes
        out: dict[int, Any] = {}
        seen: set[int] = set()
        st = [self.tm.reg(a)]
        while st:
            i = st.pop()
            if i in seen:
                continue
            seen.add(i)
            _, op, kids, _, isb = nodes[i]
            if op == _ITE and not isb:
                out[kids[0]] = nodes[kids[0]][3]
            st.extend(kids)
        return out

    def _splittable(self, a: Any) -> bool:
        tm = self.tm
        if tm.kind(a) != _APP:
            return False
        o = tm.op(a)
        if o == _EQ:
            x, y = tm.arg(a, 0), tm.arg(a, 1)
            return not tm.is_bool(x) and tm.kind(x) != _NUM and tm.kind(y) != _NUM
        return o == _SELECT  # a Boolean read: anc, is_original

    def _size(self, a: Any) -> int:
        nodes = self.tm.nodes
        root = self.tm.reg(a)
        hit = self.sizes.get(root)
        if hit is not None:
            return hit
        seen: set[int] = set()
        st = [root]
        while st:
            i = st.pop()
            if i not in seen:
                seen.add(i)
                st.extend(nodes[i][2])
        self.sizes[root] = len(seen)
        return len(seen)

    def _is_const(self, a: Any) -> bool:
        tm = self.tm
        return (tm.kind(a) == _APP and tm.nargs(a) == 0  # type: ignore[no-any-return]
                and tm.op(a) == z3.Z3_OP_UNINTERPRETED)

    def _contains(self, a: Any, target: int) -> bool:
        tm, c = self.tm, self.tm.c
        seen: set[int] = set()
        st = [a]
        while st:
            x = st.pop()
            i = _id(c, x)
            if i == target:
                return True
            if i not in seen:
                seen.add(i)
                if _kind(c, x) == _APP:
                    st.extend(tm.args(x))
        return False

    def _extend(self, sub: dict[int, Any], k: Any, v: Any) -> dict[int, Any]:
        """sub with k := v, kept idempotent (no value mentions a substituted constant)."""
        tm = self.tm
        one = {tm.id(k): v}
        out = {i: _Resolver(tm, {}, one).r(w) for i, w in sub.items()}
        out[tm.id(k)] = v
        return out

    def _decisions(self, known: dict[int, bool], sub: dict[int, Any]) -> list[Any]:
        """The decisions resolved in full under known and sub."""
        res = _Resolver(self.tm, known, sub)
        return [res.r(d) for d in self.decisions]

    def _pick(self, g: Any, decisions: list[Any]) -> Any:
        conds = self._conds(g)
        for rd in decisions:
            if self.tm.id(rd) in conds:
                return rd
        cands = [c for c in conds.values() if self._splittable(c)]
        if not cands:
            return None
        return min(cands, key=lambda c: (self._size(c), self.tm.id(c)))

    def _touched(self, g: Any, seeds: set[int]) -> set[int]:
        """Ids of the nodes of g that contain a seed."""
        nodes = self.tm.nodes
        state: dict[int, int] = {}
        out: set[int] = set()
        st = [self.tm.reg(g)]
        while st:
            i = st[-1]
            s = state.get(i)
            if s is None:
                state[i] = 0
                st.extend(nodes[i][2])
                continue
            st.pop()
            if s == 0:
                state[i] = 1
                if i in seeds or any(k in out for k in nodes[i][2]):
                    out.add(i)
        return out

    def _split(self, g: Any, known: dict[int, bool], sub: dict[int, Any], depth: int, seeds: set[int] | None,
               decisions: list[Any] | None = None) -> Any:
        tm = self.tm
        res = _Resolver(tm, known, sub, None if seeds is None else self._touched(g, seeds))
        g = res.r(g)
        if tm.id(g) in (tm.Tid, tm.Fid) or depth >= self.max_depth:
            self.leaves += 1
            return g
        if decisions is None:
            decisions = self._decisions(known, sub)
        if tm.kind(g) == _APP and tm.op(g) == _AND:
            # The conjuncts share known and sub, so they share the resolved decisions too.
            return res.mk_and([self._split(x, known, sub, depth, None, decisions) for x in tm.args(g)])
        c = self._pick(g, decisions)
        if c is None:
            self.leaves += 1
            return g
        parts = []
        for val in (True, False):
            known2 = dict(known)
            known2[tm.id(c)] = val
            sub2 = sub
            seeds2 = {tm.id(c)}
            if tm.op(c) == _EQ:
                x, y = tm.arg(c, 0), tm.arg(c, 1)
                flip = tm.eq(y, x)
                known2[tm.id(flip)] = val
                seeds2.add(tm.id(flip))
                if val:
                    # A constant equal to a term is replaced by it, so that the case reads the
                    # very terms the hypotheses read (Z3 is slow to see through equalities of
                    # slots under bit-vector circuits). A goal constant goes first.
                    for k, v in ((x, y), (y, x)) if tm.id(y) not in self.constants else ((y, x), (x, y)):
                        if self._is_const(k) and not self._contains(v, tm.id(k)):
                            sub2 = self._extend(sub, k, v)
                            seeds2.add(tm.id(k))
                            break
            leaf = self._split(g, known2, sub2, depth + 1, seeds2)
            if tm.id(leaf) != tm.Tid:
                cond = c if val else res.mk_not(c)
                parts.append(res.mk_or([res.mk_not(cond), leaf]))
        return res.mk_and(parts)

    def run(self, g: z3.BoolRef) -> z3.BoolRef:
        """The split goal (equivalent to g under the facts)."""
        tm = self.tm
        known: dict[int, bool] = {}
        for f in self.facts:
            fa = tm.mk(f.as_ast())
            if tm.kind(fa) == _APP and tm.op(fa) == _NOT:
                inner = tm.arg(fa, 0)
                known[tm.id(inner)] = False
                if tm.op(inner) == _EQ:
                    known[tm.id(tm.eq(tm.arg(inner, 1), tm.arg(inner, 0)))] = False
            elif tm.kind(fa) == _APP and tm.op(fa) == _DISTINCT and tm.nargs(fa) == 2:
                x, y = tm.arg(fa, 0), tm.arg(fa, 1)
                known[tm.id(tm.eq(x, y))] = False
                known[tm.id(tm.eq(y, x))] = False
            else:
                known[tm.id(fa)] = True
                if tm.kind(fa) == _APP and tm.op(fa) == _EQ:
                    known[tm.id(tm.eq(tm.arg(fa, 1), tm.arg(fa, 0)))] = True
        out = tm.wrap(self._split(g.as_ast(), known, {}, 0, None))
        tm.release()
        return out  # type: ignore[return-value]


def split_goal(goal: z3.BoolRef, decisions: Sequence[z3.BoolRef] = (), constants: Sequence[z3.ExprRef] = (),
               facts: Sequence[z3.BoolRef] = (), max_depth: int = 30) -> z3.BoolRef:
    """goal case-split and resolved; equivalent to goal wherever the facts hold."""
    return _Splitter(decisions, constants, facts, max_depth=max_depth).run(goal)


def _nest_pairs(terms: Sequence[z3.ExprRef], arr: z3.ArrayRef, nested: z3.ArrayRef) -> list[z3.ExprRef]:
    """terms with every read arr[concat(x, y)] replaced by nested[x][y].

    Sound both ways because concat is injective: nested[x][y] = arr[concat(x, y)] turns a model of
    either formula into one of the other. Every use of arr must be such a read (else ValueError).
    Z3 finds the nested form far easier: it compares 64-bit slots, not 128-bit keys.
    """
    tm = _Terms()
    arr_id = tm.id(arr.as_ast())
    nested_a = tm.mk(nested.as_ast())
    memo: dict[int, Any] = {}

    def go(a: Any) -> Any:
        i = tm.id(a)
        hit = memo.get(i)
        if hit is not None:
            return hit
        if i == arr_id:
            raise ValueError(f"{arr} is used other than by a read of a pair")
        out = a
        if tm.kind(a) == _APP and tm.nargs(a) > 0:
            xs = tm.args(a)
            if tm.op(a) == _SELECT and tm.id(xs[0]) == arr_id and tm.kind(xs[1]) == _APP and \
                    tm.op(xs[1]) == _CONCAT and tm.nargs(xs[1]) == 2:
                hi, lo = go(tm.arg(xs[1], 0)), go(tm.arg(xs[1], 1))
                row = tm.mk(_C.Z3_mk_select(tm.c, nested_a, hi))
                out = tm.mk(_C.Z3_mk_select(tm.c, row, lo))
            else:
                ys = [go(x) for x in xs]
                if any(tm.id(x) != tm.id(y) for x, y in zip(xs, ys)):
                    out = tm.mk(_C.Z3_mk_app(tm.c, _decl(tm.c, a), len(ys), (_Ast * len(ys))(*ys)))
        elif tm.kind(a) == _QUANT:
            body = _C.Z3_get_quantifier_body(tm.c, a)
            if tm.id(go(body)) != tm.id(body):
                raise ValueError("a quantifier reads pairs; nest before abstracting it")
        memo[i] = out
        return out

    out = [tm.wrap(go(t.as_ast())) for t in terms]
    tm.release()
    return out


# ======================================================================================================
# 4. Instantiating hypotheses


@dataclass
class Terms:
    """The ground terms hypotheses are instantiated at, by the domain of the bound variable."""

    slots: list[Any]
    objs: list[Any] = field(default_factory=list)
    extra: dict[str, list[Any]] = field(default_factory=dict)  # domain name prefix -> terms

    def for_var(self, name: str) -> list[Any]:
        base = name.split("!")[0]
        if base in self.extra:
            return self.extra[base]
        if base.startswith("obj"):
            return self.objs
        return self.slots


def _dedup(ts: Iterable[Any]) -> list[Any]:
    seen: dict[int, Any] = {}
    for t in ts:
        seen.setdefault(t.get_id(), t)
    return list(seen.values())


# Matching reads: a small E-matching on ground terms, on raw ASTs


class _Matcher:
    """The reads (select terms) of a growing set of ground terms, and the bindings of quantifiers' reads to them."""

    def __init__(self, seeds: Iterable[z3.ExprRef]) -> None:
        self.c = z3.main_ctx().ref()
        self.keep: list[z3.ExprRef] = []
        self.pool: dict[int, dict[int, Any]] = {}  # array id -> index id -> index
        self.seen: set[int] = set()
        self.patterns: dict[int, tuple[z3.QuantifierRef, tuple[int, list[tuple[int, Any, frozenset[int]]]]]] = {}
        self.hasvar: dict[int, bool] = {}
        for s in seeds:
            self.add(s)

    def add(self, t: z3.ExprRef) -> None:
        """Add the reads of t (outside quantifiers) to the pool."""
        c = self.c
        self.keep.append(t)
        st = [t.as_ast()]
        seen, pool = self.seen, self.pool
        while st:
            x = st.pop()
            i = _id(c, x)
            if i in seen:
                continue
            seen.add(i)
            if _kind(c, x) != _APP:
                continue
            n = _nargs(c, x)
            if n == 2 and _dkind(c, _decl(c, x)) == _SELECT:
                idx = _arg(c, x, 1)
                pool.setdefault(_id(c, _arg(c, x, 0)), {})[_id(c, idx)] = idx
            st.extend(_arg(c, x, k) for k in range(n))

    def _vars(self, a: Any, acc: set[int]) -> bool:
        """Collect the bound-variable indices of a; True when there is one."""
        c = self.c
        i = _id(c, a)
        known = self.hasvar.get(i)
        if known is False:
            return False
        k = _kind(c, a)
        if k == _VAR:
            acc.add(_var_index(c, a))
            found = True
        elif k == _APP:
            found = False
            for j in range(_nargs(c, a)):
                found = self._vars(_arg(c, a, j), acc) or found
        else:
            found = False
        self.hasvar[i] = found
        return found

    def _patterns(self, q: z3.QuantifierRef) -> tuple[int, list[tuple[int, Any, frozenset[int]]]]:
        """(number of variables, [(array id, index with variables, variables)]) of q's reads."""
        c = self.c
        qid = q.get_id()
        hit = self.patterns.get(qid)
        if hit is not None and hit[0].eq(q):
            return hit[1]
        n = q.num_vars()
        pats: list[tuple[int, Any, frozenset[int]]] = []
        seen: set[int] = set()
        st = [_C.Z3_get_quantifier_body(c, q.as_ast())]
        while st:
            x = st.pop()
            i = _id(c, x)
            if i in seen or _kind(c, x) != _APP:
                continue
            seen.add(i)
            m = _nargs(c, x)
            if m == 2 and _dkind(c, _decl(c, x)) == _SELECT:
                arr, idx = _arg(c, x, 0), _arg(c, x, 1)
                vs: set[int] = set()
                if self._vars(idx, vs) and not self._vars(arr, set()):
                    pats.append((_id(c, arr), idx, frozenset(v for v in vs if v < n)))
            st.extend(_arg(c, x, k) for k in range(m))
        self.patterns[qid] = (q, (n, pats))  # q kept alive: its id is the key
        return n, pats

    def _unify(self, p: Any, g: Any, b: dict[int, Any]) -> bool:
        c = self.c
        kp = _kind(c, p)
        if kp == _VAR:
            v = _var_index(c, p)
            prev = b.get(v)
            if prev is None:
                b[v] = g
                return True
            return _id(c, prev) == _id(c, g)  # type: ignore[no-any-return]
        if not self.hasvar.get(_id(c, p), False):
            return _id(c, p) == _id(c, g)  # type: ignore[no-any-return]
        if kp != _APP or _kind(c, g) != _APP or _decl(c, p).value != _decl(c, g).value:
            return False
        n = _nargs(c, p)
        if n != _nargs(c, g):
            return False
        return all(self._unify(_arg(c, p, k), _arg(c, g, k), b) for k in range(n))

    def bindings(self, q: z3.QuantifierRef) -> list[tuple[Any, ...]] | None:
        """The tuples (in q's variable order) where q's reads match reads of the pool; None when a
        variable occurs in no read."""
        n, pats = self._patterns(q)
        covered: set[int] = set()
        for _, _, vs in pats:
            covered |= vs
        if len(covered) < n:
            return None
        everything = frozenset(range(n))
        full = [p for p in pats if p[2] == everything]
        ctx = z3.main_ctx()
        out: dict[tuple[int, ...], tuple[Any, ...]] = {}
        if full:
            for arr, idx, _ in full:
                for g in self.pool.get(arr, {}).values():
                    b: dict[int, Any] = {}
                    if self._unify(idx, g, b):
                        tup = tuple(b[n - 1 - k] for k in range(n))
                        out.setdefault(tuple(_id(self.c, x) for x in tup), tup)
        else:
            per: list[dict[int, Any]] = [{} for _ in range(n)]
            for arr, idx, _ in pats:
                for g in self.pool.get(arr, {}).values():
                    b = {}
                    if self._unify(idx, g, b):
                        for v, x in b.items():
                            if v < n:
                                per[n - 1 - v][_id(self.c, x)] = x
            for tup in itertools.product(*[list(d.values()) for d in per]):
                out.setdefault(tuple(_id(self.c, x) for x in tup), tup)
        return [tuple(z3.z3._to_expr_ref(x, ctx) for x in tup) for tup in out.values()]


def _quantifier_key(q: z3.QuantifierRef) -> tuple[Any, ...]:
    """q up to the names of its bound variables (the caller keeps q alive, so the body id stays valid)."""
    return (q.is_forall(), q.is_exists(), q.body().get_id(),
            tuple(q.var_sort(i).get_id() for i in range(q.num_vars())))


class _Instantiator:
    """Replaces the quantifiers of hypotheses by instances (module docstring, step 4).

    A quantifier is instantiated where its reads (its select terms over the bound variables)
    match reads the goal or earlier instances make, as E-matching would, for a fixed number of
    generations; a variable no read binds takes the obligation's terms of its domain.
    """

    def __init__(self, matcher: _Matcher, terms: Terms) -> None:
        self.matcher = matcher
        self.terms = terms
        # _quantifier_key(q) -> (q, its Boolean)
        self.abstracted: dict[tuple[Any, ...], tuple[z3.QuantifierRef, z3.BoolRef]] = {}
        self.cache: dict[tuple[int, ...], tuple[z3.QuantifierRef, tuple[Any, ...], z3.BoolRef]] = {}
        self.pure: list[z3.BoolRef] = []
        self.hasq: dict[int, bool] = {}

    def tuples(self, q: z3.QuantifierRef) -> list[tuple[Any, ...]]:
        found = self.matcher.bindings(q)
        if found is not None:
            return found
        doms = [_dedup(self.terms.for_var(q.var_name(i))) for i in range(q.num_vars())]
        return list(itertools.product(*doms))

    def instances(self, q: z3.QuantifierRef) -> list[z3.BoolRef]:
        """q's body at every matching tuple (nested quantifiers in the body instantiated too)."""
        out = []
        for tup in self.tuples(q):
            key = (q.get_id(),) + tuple(x.get_id() for x in tup)
            hit = self.cache.get(key)
            if hit is None or not (hit[0].eq(q) and all(a.eq(b) for a, b in zip(hit[1], tup))):
                body = z3.substitute_vars(q.body(), *reversed(tup))
                if not self.has_quantifier(body):
                    self.pure.append(body)  # an instance of the hypothesis itself, nothing abstracted
                hit = (q, tup, self.positive(body))  # keys kept alive
                self.cache[key] = hit
            out.append(hit[2])
        return _dedup(out)

    def has_quantifier(self, t: z3.ExprRef) -> bool:
        c = self.matcher.c
        memo = self.hasq
        self.matcher.keep.append(t)  # the memo is keyed by ids: keep the terms alive

        def go(a: Any) -> bool:
            i = _id(c, a)
            r = memo.get(i)
            if r is None:
                k = _kind(c, a)
                if k == _QUANT:
                    r = not _C.Z3_is_lambda(c, a) or go(_C.Z3_get_quantifier_body(c, a))
                elif k == _APP:
                    r = any(go(_arg(c, a, j)) for j in range(_nargs(c, a)))
                else:
                    r = False
                memo[i] = r
            return r
        return go(t.as_ast())

    def positive(self, t: z3.BoolRef) -> z3.BoolRef:
        """t, true in every model of the original, with quantifiers at positive positions instantiated."""
        if z3.is_quantifier(t) and t.is_forall():
            return z3.And(self.instances(t))
        if z3.is_and(t):
            return z3.And([self.positive(c) for c in t.children()])
        if z3.is_or(t):
            return z3.Or([self.positive(c) for c in t.children()])
        if z3.is_implies(t):
            return z3.Implies(self.abstract(t.arg(0)), self.positive(t.arg(1)))
        if z3.is_not(t) and z3.is_quantifier(t.arg(0)) and t.arg(0).is_exists():
            q = t.arg(0)
            return z3.And([z3.Not(i) for i in self.instances(q)])
        return self.abstract(t)

    def abstract(self, t: z3.ExprRef) -> z3.ExprRef:
        """t with each quantified subformula replaced by its Boolean abstraction."""
        if not self.has_quantifier(t):
            return t
        qs = self._quantifiers(t)
        if not qs:
            return t
        return z3.substitute(t, *[(q, self.boolean(q)) for q in qs])

    def _quantifiers(self, t: z3.ExprRef) -> list[z3.QuantifierRef]:
        """The outermost quantifiers of t that are not lambdas (a walk on raw ASTs)."""
        c = self.matcher.c
        out: dict[int, Any] = {}
        seen: set[int] = set()
        st = [t.as_ast()]
        while st:
            x = st.pop()
            i = _id(c, x)
            if i in seen:
                continue
            seen.add(i)
            k = _kind(c, x)
            if k == _QUANT:
                if not _C.Z3_is_lambda(c, x):
                    out[i] = x
            elif k == _APP:
                st.extend(_arg(c, x, j) for j in range(_nargs(c, x)))
        ctx = t.ctx
        return [z3.z3._to_expr_ref(x, ctx) for x in out.values()]  # type: ignore[misc]

    def boolean(self, q: z3.QuantifierRef) -> z3.BoolRef:
        """The Boolean standing for q (its constraints come from side())."""
        # Keyed by what the quantifier says, not its AST: the spec builds a quantifier afresh (with
        # a fresh bound-variable name) each time it is called, and two Booleans for one formula
        # would lose that they are equal. The body, in de Bruijn form, does not name its variables.
        key = _quantifier_key(q)
        hit = self.abstracted.get(key)
        if hit is not None:
            return hit[1]
        b = z3.Bool(f"quantified!{next(_fresh)}")
        self.abstracted[key] = (q, b)
        return b

    def side(self) -> list[tuple[str, z3.BoolRef]]:
        """For each abstracted q: b => instances of q, and not b => q fails at a fresh witness (for a
        forall; dually for an exists). Every state satisfies them with b = q's truth value."""
        out: list[tuple[str, z3.BoolRef]] = []
        done: set[int] = set()
        while len(done) < len(self.abstracted):
            for qid, (q, b) in list(self.abstracted.items()):
                if qid in done:
                    continue
                done.add(qid)
                n = next(_fresh)
                ws = [z3.Const(f"{q.var_name(i)}!w{n}", q.var_sort(i)) for i in range(q.num_vars())]
                witness = self.abstract(z3.substitute_vars(q.body(), *reversed(ws)))
                insts = [self.abstract(z3.substitute_vars(q.body(), *reversed(tup))) for tup in self.tuples(q)]
                if q.is_forall():
                    out.append((f"{b}: its instances", z3.Implies(b, z3.And(insts))))
                    out.append((f"{b}: its witness", z3.Implies(z3.Not(b), z3.Not(witness))))
                else:
                    out.append((f"{b}: its witness", z3.Implies(b, witness)))
                    out.append((f"{b}: its instances", z3.Implies(z3.Not(b), z3.And([z3.Not(i) for i in insts]))))
        return out


# ======================================================================================================
# The operations, as the proofs see them


@dataclass
class Case:
    """One operation on a symbolic state: what it assumes, what it returns, and how to split its goal."""

    pre: list[tuple[str, Any]]
    post: State
    decisions: list[Any]
    slots: list[Any]
    args: dict[str, Any]
    facts: list[tuple[str, Any]] = field(default_factory=list)
    empty: list[Any] = field(default_factory=list)  # slots the checks find empty
    objs: list[Any] = field(default_factory=list)
    extra: dict[str, list[Any]] = field(default_factory=dict)


def _checks(named: Sequence[str], checks: Sequence[tuple[Callable[[], Any], Callable[[], Any]]]) -> list[tuple[str, Any]]:
    """The hypotheses that each check passes."""
    return [(f"check passes: {n}", Not(c())) for n, (c, _) in zip(named, checks, strict=True)]


_INSERT_CHECKS = ("dest is empty", "src is not empty", "deriveCap raises no error", "the new cap is not null")


def _insert_decisions(s: State, src: Any, new: Cap) -> list[Any]:
    sc = get_cap(s, src)
    parent = should_be_parent_of(sc, s.is_original[src], new, is_cap_revocable(new, sc))
    full = And(is_untyped(sc), is_untyped(new), eq(sc.obj, new.obj), eq(sc.bits, new.bits))
    return [parent, full]


def _case_copy(s: State) -> Case:
    dest, src, depth, rights = (word(n) for n in ("dest", "src", "src_depth", "rights"))
    nulled, _ = ops.derive_cap_parts(mask_cap_rights(rights, get_cap(s, src)))
    return Case(pre=[("dest != NULL", ne(dest, NULL)), ("src != NULL", ne(src, NULL))]
                + _checks(_INSERT_CHECKS, ops.cnode_copy_checks(s, dest, src, depth, rights)),
                post=ops.cnode_copy_effect(s, dest, src, rights),
                decisions=[nulled] + _insert_decisions(s, src, ops.copy_cap(s, src, rights)),
                slots=[src, dest], args=dict(dest=dest, src=src, rights=rights),
                facts=[("src != dest", ne(src, dest))], empty=[dest])


def _case_mint(s: State) -> Case:
    dest, src, depth, rights, badge = (word(n) for n in ("dest", "src", "src_depth", "rights", "badge"))
    refused, c = update_cap_data_parts(False, badge, mask_cap_rights(rights, get_cap(s, src)))
    nulled, _ = ops.derive_cap_parts(c)
    return Case(pre=[("dest != NULL", ne(dest, NULL)), ("src != NULL", ne(src, NULL))]
                + _checks(_INSERT_CHECKS, ops.cnode_mint_checks(s, dest, src, depth, rights, badge)),
                post=ops.cnode_mint_effect(s, dest, src, rights, badge),
                decisions=[Or(refused, nulled)] + _insert_decisions(s, src, ops.mint_cap(s, src, rights, badge)),
                slots=[src, dest], args=dict(dest=dest, src=src, rights=rights, badge=badge),
                facts=[("src != dest", ne(src, dest))], empty=[dest])


_MOVE_CHECKS = ("dest is empty", "src is not empty", "the new cap is not null")


def _case_move(s: State) -> Case:
    dest, src, depth = (word(n) for n in ("dest", "src", "src_depth"))
    cap = lambda: get_cap(s, src)  # noqa: E731
    return Case(pre=[("dest != NULL", ne(dest, NULL)), ("src != NULL", ne(src, NULL))]
                + _checks(_MOVE_CHECKS, ops.cnode_move_checks(s, dest, src, depth, cap)),
                post=cdt.cte_move(s, cap(), src, dest), decisions=[],
                slots=[src, dest], args=dict(dest=dest, src=src),
                facts=[("src != dest", ne(src, dest))], empty=[dest])


def _case_mutate(s: State) -> Case:
    dest, src, depth, data = (word(n) for n in ("dest", "src", "src_depth", "data"))
    cap = lambda: ops.mutate_cap(s, src, data)  # noqa: E731
    refused, _ = update_cap_data_parts(True, data, get_cap(s, src))
    return Case(pre=[("dest != NULL", ne(dest, NULL)), ("src != NULL", ne(src, NULL))]
                + _checks(_MOVE_CHECKS, ops.cnode_move_checks(s, dest, src, depth, cap)),
                post=cdt.cte_move(s, cap(), src, dest), decisions=[refused],
                slots=[src, dest], args=dict(dest=dest, src=src, data=data),
                facts=[("src != dest", ne(src, dest))], empty=[dest])


_ROTATE_CHECKS = ("pivot is a third slot", "dest is empty or src", "src is not empty", "pivot is not empty",
                  "the new src cap is not null", "the new pivot cap is not null")


def _case_rotate(s: State) -> Case:
    dest, pivot, src, db, pb, pd, sd = (word(n) for n in ("dest", "pivot", "src", "dest_badge", "pivot_badge",
                                                          "pivot_depth", "src_depth"))
    r_src, _ = update_cap_data_parts(True, pb, get_cap(s, src))
    r_pivot, _ = update_cap_data_parts(True, db, get_cap(s, pivot))
    return Case(pre=[("dest != NULL", ne(dest, NULL)), ("src != NULL", ne(src, NULL)), ("pivot != NULL", ne(pivot, NULL))]
                + _checks(_ROTATE_CHECKS, ops.cnode_rotate_checks(s, dest, pivot, src, db, pb, pd, sd)),
                post=ops.cnode_rotate_effect(s, dest, pivot, src, db, pb),
                decisions=[eq(src, dest), r_src, r_pivot], slots=[src, dest, pivot],
                args=dict(dest=dest, pivot=pivot, src=src, dest_badge=db, pivot_badge=pb),
                facts=[("pivot != src", ne(pivot, src)), ("pivot != dest", ne(pivot, dest))])


def _case_empty_slot(s: State) -> Case:
    slot = word("slot")
    return Case(pre=[("slot != NULL", ne(slot, NULL))], post=cdt.empty_slot(s, slot),
                decisions=[eq(s.cap_type[slot], abi.cap_null_cap)], slots=[slot], args=dict(slot=slot))


def _case_revoke(s: State) -> Case:
    slot = word("slot")
    return Case(pre=[("slot != NULL", ne(slot, NULL))], post=cdt.revoke_descendants(s, slot),
                decisions=[], slots=[slot], args=dict(slot=slot))


def retype_args_ok(obj_type: Any, user_bits: Any) -> Any:
    """decodeUntypedInvocation's checks of the type and size arguments (before the node lookup)."""
    obj_bits = ops.get_object_size(obj_type, user_bits)
    return And(ult(obj_type, abi.seL4_ObjectTypeCount), ult(user_bits, abi.seL4_WordBits),
               ule(obj_bits, abi.seL4_MaxUntypedBits),
               Implies(eq(obj_type, abi.seL4_CapTableObject), ne(user_bits, 0)),
               Implies(eq(obj_type, abi.seL4_UntypedObject), ule(abi.seL4_MinUntypedBits, user_bits)),
               Implies(eq(obj_type, abi.seL4_SchedContextObject), ule(abi.seL4_MinSchedContextBits, user_bits)))


_RETYPE_CHECKS = ("offset within the node", "count within the fan-out limit", "count fits the node",
                  "destination slots are empty", "enough free memory", "device untyped makes frames or untypeds")


def retype_case_args(s: State) -> dict[str, Any]:
    """The symbolic arguments of Untyped_Retype: the untyped's slot, the node cap's slot, type, size, offset, count."""
    return dict(ut=word("ut"), node_slot=word("node_slot"), obj_type=word("obj_type"), user_bits=word("user_bits"),
                offset=word("offset"), n=word("n"))


def retype_pre(s: State, a: dict[str, Any]) -> list[tuple[str, Any]]:
    """What holds when invokeUntyped_Retype runs: the invoked cap is an untyped, the node cap a CNode
    cap, the decode checks passed."""
    node, radix = s.cap_obj[a["node_slot"]], s.cap_bits[a["node_slot"]]
    return ([("ut != NULL", ne(a["ut"], NULL)), ("ut holds an untyped cap", is_untyped(get_cap(s, a["ut"]))),
             ("node_slot holds a CNode cap", eq(s.cap_type[a["node_slot"]], abi.cap_cnode_cap)),
             ("type and size arguments pass decode", retype_args_ok(a["obj_type"], a["user_bits"]))]
            + _checks(_RETYPE_CHECKS, ops.untyped_retype_checks(s, a["ut"], a["obj_type"], a["user_bits"], node, radix,
                                                                 a["offset"], a["n"])))


# Two lemmas about where retype puts objects, proved on their own over all 64-bit words (below,
# `untyped_retype:window_fits` and `in_window:bounds`) and used as hypotheses of the retype proofs:
# instances of proved formulas, so they add no assumption. Z3 proves them in seconds alone but
# not inside the larger formulas, where their shifts by symbolic amounts get lost among the rest.


def window_fits(obj: Any, bits: Any, free_index: Any, obj_bits: Any, n: Any) -> tuple[Any, list[tuple[str, Any]]]:
    """(premise, conclusions): n objects of 2^obj_bits bytes placed by retype from free_index in the
    untyped at obj of 2^bits bytes start aligned above the free index and end inside the untyped."""
    premise = And(ule(abi.seL4_MinUntypedBits, bits), ule(bits, abi.seL4_MaxUntypedBits),
                  logic.is_aligned(obj, bits), ne(obj, 0),
                  ule(free_index, shl(1, wsub(bits, abi.seL4_MinUntypedBits))), ule(obj_bits, abi.seL4_MaxUntypedBits),
                  ule(1, n), ule(n, abi.CONFIG_RETYPE_FAN_OUT_LIMIT),
                  Not(ult(shr(wsub(shl(1, bits), shl(free_index, abi.seL4_MinUntypedBits)), obj_bits), n)))
    base = logic.align_up(wadd(obj, shl(free_index, abi.seL4_MinUntypedBits)), obj_bits)
    last = wsub(wadd(base, shl(n, obj_bits)), 1)
    free_ref = wadd(obj, shl(free_index, abi.seL4_MinUntypedBits))
    return premise, [("objects are no larger than the untyped", ule(obj_bits, bits)),
                     ("the free index does not wrap", ule(obj, free_ref)),
                     ("the first object is aligned", logic.is_aligned(base, obj_bits)),
                     ("the first object is not at 0", ne(base, 0)),
                     ("the first object is above the free index",
                      ule(wadd(obj, shl(free_index, abi.seL4_MinUntypedBits)), base)),
                     ("the window does not wrap", ule(base, last)),
                     ("the window ends inside the untyped", ule(last, wadd(obj, logic.mask(bits))))]


def window_bounds(base: Any, obj_bits: Any, n: Any, o: Any, o2: Any) -> tuple[Any, list[tuple[str, Any]]]:
    """(premise, conclusions): the members of a window of n aligned objects that does not wrap are
    aligned, inside the window, not at 0, and pairwise disjoint."""
    last = wsub(wadd(base, shl(n, obj_bits)), 1)
    premise = And(logic.is_aligned(base, obj_bits), ne(base, 0), ule(obj_bits, abi.seL4_MaxUntypedBits),
                  ule(1, n), ule(n, abi.CONFIG_RETYPE_FAN_OUT_LIMIT), ule(base, last))
    top = lambda x: wadd(x, logic.mask(obj_bits))  # noqa: E731
    inside = ops.in_window(o, base, n, obj_bits)
    return premise, [("a member lies inside the window, aligned and not at 0",
                      Implies(inside, And(ule(base, o), ule(o, top(o)), ule(top(o), last), logic.is_aligned(o, obj_bits),
                                          ne(o, 0)))),
                     ("two members are disjoint",
                      Implies(And(inside, ops.in_window(o2, base, n, obj_bits), ne(o, o2)),
                              Or(ult(top(o), o2), ult(top(o2), o))))]


def below_window_lemma(ub: Any, free_bytes: Any, x: Any, fb: Any, base: Any) -> tuple[Any, list[tuple[str, Any]]]:
    """(premise, conclusions): a byte x of the untyped at ub that lies below its free index (free_bytes
    from ub; first free byte fb) lies below every object of a window that starts above fb."""
    premise = And(ule(ub, x), ult(wsub(x, ub), free_bytes), eq(fb, wadd(ub, free_bytes)), ule(ub, fb), ule(fb, base))
    return premise, [("the byte lies below the window", ult(x, base))]


def _lemma(premise: Any, conclusions: list[tuple[str, Any]]) -> Any:
    return Implies(premise, And(*[c for _, c in conclusions]))


def _case_retype(s: State) -> Case:
    a = retype_case_args(s)
    node = s.cap_obj[a["node_slot"]]
    p = ops.retype_plan(s, a["ut"], a["obj_type"], a["user_bits"], node, a["offset"])
    # Only the focused queries (retype.py and no_aliasing_query) prove Untyped_Retype; they add the
    # window lemmas they need themselves.
    return Case(pre=retype_pre(s, a),
                post=ops.untyped_retype_effect(s, a["ut"], a["obj_type"], a["user_bits"], node, a["offset"], a["n"]),
                decisions=[p.reset, eq(a["obj_type"], abi.seL4_UntypedObject)],
                slots=[a["ut"], a["node_slot"]], args=a, objs=[s.cap_obj[a["ut"]]])


CASES: dict[str, tuple[str, Callable[[State], Case]]] = {
    "cnode_copy": ("spec.ops.cnode_copy", _case_copy),
    "cnode_mint": ("spec.ops.cnode_mint", _case_mint),
    "cnode_move": ("spec.ops.cnode_move", _case_move),
    "cnode_mutate": ("spec.ops.cnode_mutate", _case_mutate),
    "cnode_rotate": ("spec.ops.cnode_rotate", _case_rotate),
    "empty_slot": ("spec.cdt.empty_slot", _case_empty_slot),
    "revoke_descendants": ("spec.cdt.revoke_descendants", _case_revoke),
    "untyped_retype": ("spec.ops.untyped_retype", _case_retype),
}

# The invariants each preservation proof assumes (besides the invariant itself).
NEEDS: dict[str, tuple[str, ...]] = {
    "mdb_cte_at": ("mdb_cte_at",),
    "no_mloop": ("no_mloop", "mdb_cte_at"),
    "cdt_anc": ("cdt_anc", "mdb_cte_at", "no_mloop", "valid_nullcaps"),
    "descendants_inc": ("descendants_inc", "mdb_cte_at"),
    "untyped_mdb": ("untyped_mdb", "cdt_anc", "mdb_cte_at", "valid_nullcaps"),
    "untyped_inc": ("untyped_inc", "cdt_anc", "mdb_cte_at", "valid_nullcaps", "ut_revocable", "valid_caps"),
    "ut_revocable": ("ut_revocable",),
    "valid_caps": ("valid_caps",),
    "valid_nullcaps": ("valid_nullcaps", "mdb_cte_at"),
    "valid_untyped": ("valid_untyped", "valid_caps"),
    "pspace_aligned": ("pspace_aligned",),
    "pspace_distinct": ("pspace_distinct",),
}
# Rounds of matching (2: instances of instances too). One is enough for every obligation now, and
# measured over the CNode, empty_slot and revoke obligations: building 26 s to 18 s, solving 18 s to 13 s.
GENERATIONS = 1

OVERRIDES: dict[tuple[str, str], tuple[str, ...]] = {
    # Emptying a slot hands its children to its parent, which is another slot (no self loop).
    ("empty_slot", "mdb_cte_at"): ("mdb_cte_at", "no_mloop"),
    ("empty_slot", "descendants_inc"): ("descendants_inc", "mdb_cte_at", "no_mloop"),
    # Revoking removes whole subtrees: a slot whose parent goes is itself a descendant.
    ("revoke_descendants", "mdb_cte_at"): ("mdb_cte_at", "cdt_anc"),
    ("revoke_descendants", "no_mloop"): ("no_mloop", "cdt_anc", "mdb_cte_at"),
    ("revoke_descendants", "descendants_inc"): ("descendants_inc", "cdt_anc", "mdb_cte_at"),
}


def terms_for(s: State, case: Case, goal_consts: Sequence[z3.ExprRef]) -> Terms:
    """The instance terms of one obligation: the goal's slots and the operation's, their parents, their objects."""
    gslots = [k for k in goal_consts if not str(k).startswith("obj")]
    gobjs = [k for k in goal_consts if str(k).startswith("obj")]
    base = _dedup(gslots + list(case.slots))
    slots = _dedup(base + [s.cdt_parent[x] for x in base])
    objs = _dedup(gobjs + list(case.objs) + [s.cap_obj[x] for x in base])
    return Terms(slots=slots, objs=objs, extra=case.extra)


def _empty_facts(s: State, case: Case, consts: Sequence[z3.ExprRef], names: Sequence[str]) -> list[tuple[str, Any]]:
    """What an empty slot e is not, at the goal's and the operation's slots t: nobody's parent
    (mdb_cte_at), nobody's ancestor or descendant (cdt_anc), and a root (valid_nullcaps)."""
    out: list[tuple[str, Any]] = []
    base = _dedup([k for k in consts if not str(k).startswith("obj")] + list(case.slots))
    for e in case.empty:
        others = [t for t in base if not t.eq(e)]
        if "mdb_cte_at" in names:
            out += [(f"{e} is nobody's parent", ne(s.cdt_parent[t], e)) for t in others]
        if "cdt_anc" in names:
            out += [(f"{e} is in no ancestor pair", Not(s.anc[pair(e, t)])) for t in base]
            out += [(f"{e} is in no ancestor pair", Not(s.anc[pair(t, e)])) for t in others]
        if "valid_nullcaps" in names:
            out.append((f"{e} has no parent", eq(s.cdt_parent[e], NULL)))
    return out


def build_query(op: str, inv: str, needs: Sequence[str] | None = None,
                goal: Callable[[State, Case], Any] | None = None) -> Query:
    """The Query of `op:inv`, built from the spec functions as they are now.

    `goal`, when given, is a theorem about the operation (the pre-state and the case) proved in
    place of the invariant `inv` of the post-state; `inv` then only names it.
    """
    s = symbolic_record(State, "s")
    case = CASES[op][1](s)
    # Each conjunct of the invariant gets its own constants and its own instance terms.
    inv_term = INVARIANTS[inv](case.post) if goal is None else goal(s, case)
    conjuncts = list(inv_term.children()) if z3.is_and(inv_term) else [inv_term]
    parts, term_sets, all_consts = [], [], []
    for conj in conjuncts:
        consts: list[z3.ExprRef] = []
        parts.append(_skolemize(conj, consts))
        term_sets.append(terms_for(s, case, consts))
        all_consts.extend(consts)
    names = needs if needs is not None else OVERRIDES.get((op, inv), NEEDS[inv])
    case_facts = list(case.facts) + _empty_facts(s, case, all_consts, names)
    facts = [f for _, f in case_facts]
    split = split_goal(z3.And(parts) if len(parts) > 1 else parts[0], case.decisions, all_consts, facts)
    terms = Terms(slots=_dedup(x for ts in term_sets for x in ts.slots),
                  objs=_dedup(x for ts in term_sets for x in ts.objs), extra=case.extra)

    matcher = _Matcher([split] + facts + [h for _, h in case.pre])
    inst = _Instantiator(matcher, terms)
    for _gen in range(GENERATIONS):
        hyps: list[tuple[str, Any]] = []
        for name in names:
            hyps.append((f"{name} (instances)", inst.positive(INVARIANTS[name](s))))
        for name, h in case.pre:
            hyps.append((name, inst.positive(h)))
        for _, h in hyps:
            matcher.add(h)  # the next round, and the instances of abstracted quantifiers (side()), match these too
    if PRUNE:
        # Cases whose goal is literally an instance of a hypothesis are proved already. The
        # instances found for the whole goal stay: instantiating again for the pruned goal
        # cost more in building than it saved in solving (measured over the CNode, empty_slot
        # and revoke obligations: building 41 s to 31 s, solving 16.3 s to 17.4 s).
        truths = inst.pure + [h for _, h in case.pre if not inst.has_quantifier(h)]
        split = _prune(split, truths)
    goal_parts: list[tuple[str, Any]] = [(f"fact: {n}", And(*[f for m, f in case_facts if m == n]))
                                         for n in dict.fromkeys(m for m, _ in case_facts)]
    body = inst.abstract(split)
    goal_parts.extend(goal_cases(inv, Implies(And(*facts), body) if facts else body, size=GENERIC_CASE_SIZE))
    hyps.extend(inst.side())
    return _nested_query(s, hyps, goal_parts, _decoder(s, case, terms), witness.binding(op))


PRUNE = True
CASE_SIZE = 3000  # a goal part longer than this (in SMT-LIB characters) is split into its cases
# The generic construction's goals are checked whole: measured over the CNode obligations, 17 s in
# cases of CASE_SIZE against 9 s whole (cnode_rotate:cdt_anc: 76 cases in 4.6 s, whole in 0.6 s).
# Untyped_Retype's focused goals are the other way round (valid_untyped: 21 s in cases, 205 s whole).
GENERIC_CASE_SIZE = 10**9


def goal_cases(name: str, goal: z3.BoolRef, size: int = CASE_SIZE) -> list[tuple[str, z3.BoolRef]]:
    """goal as named conjuncts (path => case) whose conjunction is equivalent to it.

    The runner checks each conjunct on its own (proofs/solve.py): Z3 decides the split cases of
    the larger goals in milliseconds each but gets lost in their conjunction.
    """
    out: list[tuple[str, z3.BoolRef]] = []
    lengths: dict[int, int] = {}  # printing is most of the cost: each term once

    def length(g: z3.BoolRef) -> int:
        n = lengths.get(g.get_id())
        if n is None:
            n = lengths[g.get_id()] = len(g.sexpr())
        return n

    def go(g: z3.BoolRef, path: tuple[z3.BoolRef, ...]) -> None:
        if z3.is_implies(g):
            go(g.arg(1), path + (g.arg(0),))
        elif z3.is_and(g) and length(g) > size:
            for c in g.children():
                go(c, path)
        elif z3.is_or(g) and length(g) > size:
            # (c1 or ... or cn) is (not c1 and ... => cn), cn the largest disjunct.
            cs = sorted(g.children(), key=length)
            go(cs[-1], path + tuple(z3.Not(c) for c in cs[:-1]))
        else:
            out.append((name, z3.Implies(z3.And(*path), g) if path else g))

    go(goal, ())
    if len(out) == 1:
        return out
    return [(f"{n} [case {i + 1} of {len(out)}]", g) for i, (n, g) in enumerate(out)]


def _prune(goal: z3.BoolRef, truths: Sequence[z3.BoolRef]) -> z3.BoolRef:
    """goal with every subformula that is (in the resolver's normal form) one of truths, or a
    conjunct of one, replaced by true: equivalent to goal wherever the truths hold."""
    tm = _Terms()
    norm = _Resolver(tm, {}, {})
    known: dict[int, bool] = {}
    st = [norm.r(tm.mk(t.as_ast())) for t in truths]
    while st:
        a = st.pop()
        known[tm.id(a)] = True
        if tm.kind(a) == _APP and tm.op(a) == _AND:
            st.extend(tm.args(a))
    out = tm.wrap(_Resolver(tm, known, {}).r(goal.as_ast()))
    tm.release()
    return out  # type: ignore[return-value]


def _nested_query(s: State, hyps: list[tuple[str, Any]], goal: list[tuple[str, Any]],
                  decode: Callable[[z3.ModelRef, Callable[[Any], Any]], dict[str, Any]],
                  known_model: Callable[[list[z3.ExprRef]], list[tuple[z3.ExprRef, z3.ExprRef]]] | None = None
                  ) -> Query:
    """The Query with the ghost `anc` read as a nested array (see _nest_pairs)."""
    nested = z3.Array("s.anc[slot][slot]", z3.BitVecSort(64), z3.ArraySort(z3.BitVecSort(64), z3.BoolSort()))
    arr = s.anc.array()
    terms = _nest_pairs([t for _, t in hyps] + [t for _, t in goal], arr, nested)
    hyps2 = [(n, t) for (n, _), t in zip(hyps, terms[:len(hyps)])]
    goal2 = [(n, t) for (n, _), t in zip(goal, terms[len(hyps):])]

    def evaluate(model: z3.ModelRef) -> Callable[[Any], Any]:
        def value(term: Any) -> Any:
            try:
                nested_term = _nest_pairs([term], arr, nested)[0]
            except ValueError:
                # A quantifier over pairs (Untyped_Retype's reset decision) is in the term, and the
                # model interprets only the nested reading: the value is left out of the report.
                return None
            return logic.model_value(model, nested_term)
        return value

    return Query(hypotheses=hyps2, goal=goal2, decode=lambda m: decode(m, evaluate(m)), known_model=known_model)


# ======================================================================================================
# Counterexamples


def _decoder(s: State, case: Case, terms: Terms) -> Callable[[z3.ModelRef, Callable[[Any], Any]], dict[str, Any]]:
    """A readable counterexample: the arguments, and the state before and after at the slots and objects involved."""
    def decode(model: z3.ModelRef, value: Callable[[Any], Any]) -> dict[str, Any]:
        slots = sorted({value(t) for t in terms.slots})
        objs = sorted({value(t) for t in terms.objs})
        out: dict[str, Any] = {"args": {k: logic.to_json(value(v)) for k, v in case.args.items()}}
        for label, st in (("before", s), ("after", case.post)):
            rows: dict[str, Any] = {}
            for k in slots:
                row = {f.name: logic.to_json(value(getattr(st, f.name)[k]))
                       for f in dataclasses.fields(State) if f.name not in ("obj_type", "obj_bits", "anc")}
                row["ancestors"] = [logic.to_json(a) for a in slots
                                    if value(_resolved(st.anc[pair(logic.WORD.lift(a), logic.WORD.lift(k))]))]
                rows[str(logic.to_json(k))] = row
            orows = {str(logic.to_json(o)): {"type": value(st.obj_type[o]), "bits": value(st.obj_bits[o])}
                     for o in objs}
            out[label] = {"slots": rows, "objects": orows}
        return out
    return decode


def _resolved(t: Any) -> Any:
    """t with its reads of updated arrays resolved (so that pairs are read from the pre-state only)."""
    return split_goal(t) if z3.is_bool(t) else t


# ======================================================================================================
# Registration


_PROPERTY = {
    "mdb_cte_at": "both ends of every CDT edge hold caps",
    "no_mloop": "the CDT has no cycles",
    "cdt_anc": "the ghost ancestor relation is the transitive closure of the CDT parent map",
    "descendants_inc": "a CDT child has its parent's cap class and lies within its parent's range",
    "untyped_mdb": "a cap to an object inside an untyped's range descends from that untyped",
    "untyped_inc": "untyped ranges nest or are disjoint, nested ones descend and lie below the free index",
    "ut_revocable": "every untyped cap is original",
    "valid_caps": "every cap is well formed and names an object of its type and size",
    "valid_nullcaps": "an empty slot has no CDT parent, is not original and has no ghost depth",
    "valid_untyped": "an object overlapping an untyped lies inside it, below its free index",
    "pspace_aligned": "every object is aligned to its size",
    "pspace_distinct": "object footprints are pairwise disjoint",
}


def _register(op: str, inv: str) -> None:
    about, _ = CASES[op]

    @obligation(name=f"{op}:{inv}", about=(about,), property=f"{op} keeps {inv}: {_PROPERTY[inv]}",
                kind="invariant", timeout_s=60)
    def build() -> Query:
        return build_query(op, inv)


# Proved in proofs/obligations/retype.py, by focused and generalised queries: the generic
# construction here gets no verdict on most of them (the window's shifts by symbolic amounts), and
# takes 10 to 40 times longer on the others (pspace_aligned, mdb_cte_at, no_mloop, valid_nullcaps,
# ut_revocable: 0.8 to 4.5 s each against 0.05 to 0.4 s).
FOCUSED: frozenset[tuple[str, str]] = frozenset(("untyped_retype", inv) for inv in INVARIANTS)
# Pairs not proved (left out rather than registered to fail): none now.
NOT_YET: frozenset[tuple[str, str]] = frozenset()

for _op in CASES:
    for _inv in INVARIANTS:
        if (_op, _inv) not in NOT_YET | FOCUSED:
            _register(_op, _inv)


# ======================================================================================================
# Named theorems


def no_aliasing(s: State, case: Case) -> Any:
    """The objects a successful Untyped_Retype creates are pairwise disjoint, lie inside the untyped
    above its free index (after the reset decision: 0 when the untyped had no children), and
    overlap no object that survives the operation (every object when there is no reset)."""
    a = case.args
    uc = get_cap(s, a["ut"])
    p = ops.retype_plan(s, a["ut"], a["obj_type"], a["user_bits"], s.cap_obj[a["node_slot"]], a["offset"])
    is_new = lambda o: ops.in_window(o, p.base, a["n"], p.obj_bits)  # noqa: E731
    top = lambda o: wadd(o, logic.mask(p.obj_bits))  # noqa: E731
    disjoint = lambda x, tx, y, ty: Or(ult(tx, y), ult(ty, x))  # noqa: E731
    free_before = wadd(uc.obj, shl(p.free_index, abi.seL4_MinUntypedBits))
    detyped = lambda x: And(p.reset, ule(uc.obj, x), ule(x, untyped_top(uc)))  # noqa: E731
    objs = (s.obj_type,)
    return And(
        logic.forall(logic.Domain("obj"), lambda o: logic.forall(logic.Domain("obj2"), lambda o2: Implies(
            And(is_new(o), is_new(o2), ne(o, o2)), disjoint(o, top(o), o2, top(o2))), over=objs), over=objs),
        logic.forall(logic.Domain("obj"), lambda o: Implies(
            is_new(o), And(ule(uc.obj, o), ule(top(o), untyped_top(uc)), ule(free_before, o))), over=objs),
        logic.forall(logic.Domain("obj"), lambda o: logic.forall(logic.Domain("obj2"), lambda x: Implies(
            And(is_new(o), ne(s.obj_type[x], OBJ_NONE), Not(detyped(x))),
            disjoint(o, top(o), x, object_top(s, x))), over=objs), over=objs))


def no_descendants(s: State, case: Case) -> Any:
    """After revoke_descendants(slot), slot has no descendant and no child."""
    slot = case.args["slot"]
    return logic.forall(logic.Domain("slot"), lambda x: And(Not(case.post.anc[pair(slot, x)]),
                                                            ne(case.post.cdt_parent[x], slot)),
                        over=(case.post.cdt_parent,))


THEOREMS: dict[str, tuple[str, Callable[[State, Case], Any], tuple[str, ...], str]] = {
    "revoke_descendants:no_descendants": (
        "revoke_descendants", no_descendants, ("cdt_anc", "mdb_cte_at", "no_mloop"),
        "after revoking, the slot has no descendants and no children"),
}


def _register_theorem(name: str) -> None:
    op, goal, needs, prop = THEOREMS[name]

    @obligation(name=name, about=(CASES[op][0],), property=prop, kind="invariant", timeout_s=60)
    def build() -> Query:
        return build_query(op, name.split(":")[1], needs=needs, goal=goal)


for _name in THEOREMS:
    _register_theorem(_name)


def no_aliasing_query() -> Query:
    """untyped_retype:no_aliasing, from the few facts it needs (a focused query, not the generic one).

    Hypotheses: the retype preconditions without their quantifiers (the destination slots play no
    part), the untyped's valid_cap, valid_untyped at the untyped and an object x, and the window
    lemmas at the goal's objects. Each is an instance of an invariant, a check, or a proved lemma,
    so dropping the rest only weakens the hypotheses. The reset decision (a quantified formula)
    becomes one Boolean everywhere it occurs: the theorem is proved for both of its values.
    """
    s = symbolic_record(State, "s")
    case = _case_retype(s)
    a = case.args
    uc = get_cap(s, a["ut"])
    goal = no_aliasing(s, case)
    consts: list[z3.ExprRef] = []
    ground = _skolemize(goal, consts)
    o, o2, o3, o4, x = consts  # the objects of the three conjuncts, in order
    inst = _Instantiator(_Matcher([]), Terms(slots=[a["ut"]], objs=list(consts)))
    p = ops.retype_plan(s, a["ut"], a["obj_type"], a["user_bits"], s.cap_obj[a["node_slot"]], a["offset"])
    hyps: list[tuple[str, Any]] = [(n, inst.abstract(h)) for n, h in case.pre
                                   if n != "check passes: destination slots are empty"]
    hyps.append(("valid_cap of the untyped", valid_cap(s, uc)))
    hyps.append(("valid_untyped at the untyped and x", Implies(
        And(ne(s.obj_type[x], OBJ_NONE), ule(x, untyped_top(uc)), ule(uc.obj, object_top(s, x))),
        And(ule(uc.obj, x), ule(object_top(s, x), untyped_top(uc)), _below_free(uc, object_top(s, x))))))
    hyps.append(("lemma untyped_retype:window_fits",
                 inst.abstract(_lemma(*window_fits(uc.obj, uc.bits, p.free_index, p.obj_bits, a["n"])))))
    for m, m2 in ((o, o2), (o3, o3), (o4, o4)):
        hyps.append(("lemma in_window:bounds", inst.abstract(_lemma(*window_bounds(p.base, p.obj_bits, a["n"], m, m2)))))
    names = ("the new objects are pairwise disjoint", "they lie inside the untyped above its free index",
             "they overlap no surviving object")
    goals = [(f"no_aliasing: {n}", inst.abstract(g)) for n, g in zip(names, ground.children(), strict=True)]
    hyps.append(("pspace_aligned at x", Implies(ne(s.obj_type[x], OBJ_NONE), And(
        ne(x, 0), ule(s.obj_bits[x], abi.seL4_MaxUntypedBits), logic.is_aligned(x, s.obj_bits[x])))))
    for n, d in no_aliasing_definitions(uc, p.free_index):
        hyps.append((f"definition: {n}", inst.abstract(d)))
    # x below the untyped's free index lies below the window (measured: 4 s to 1.3 s on the third goal).
    hyps.append(("lemma untyped_retype:below_window", inst.abstract(_lemma(*below_window_lemma(
        uc.obj, shl(uc.free, abi.seL4_MinUntypedBits), object_top(s, x),
        wadd(uc.obj, shl(p.free_index, abi.seL4_MinUntypedBits)), p.base)))))
    if ABSTRACT_TERMS:
        # Generalise: the window's bounds become fresh constants in hypotheses and goal alike, so
        # Z3 chains comparisons between them instead of bit-blasting their definitions. A proof
        # for every value of the constants is a proof for the values the terms have.
        last = wsub(wadd(p.base, shl(a["n"], p.obj_bits)), 1)
        free_before = wadd(uc.obj, shl(p.free_index, abi.seL4_MinUntypedBits))
        subst = [(inst.abstract(t), z3.BitVec(f"{n}!abs", 64)) for n, t in
                 (("last", last), ("base", p.base), ("free_before", free_before))]
        subst += [(wadd(m, logic.mask(p.obj_bits)), z3.BitVec(f"top({m})!abs", 64)) for m in consts]
        subst.append((untyped_top(uc), z3.BitVec("untyped_top!abs", 64)))
        hyps = [(n, z3.substitute(h, *subst)) for n, h in hyps]
        goals = [(n, z3.substitute(g, *subst)) for n, g in goals]
    return Query(hypotheses=hyps, goal=goals, known_model=witness.binding("untyped_retype"))


ABSTRACT_TERMS = True


UNTYPED_TOP = "an untyped cap's last byte"


def untyped_top_definition(c: Cap) -> Any:
    """Valid: an untyped cap's last byte is its base plus its size less one."""
    return Implies(is_untyped(c), eq(cap_top(c), wadd(c.obj, logic.mask(c.bits))))


def no_aliasing_definitions(uc: Cap, free_index: Any) -> list[tuple[str, Any]]:
    """Valid formulas (true of every value; tests/test_cspace_proofs.py checks it) that keep, once
    terms are generalised to constants, what those terms were."""
    free_before = wadd(uc.obj, shl(free_index, abi.seL4_MinUntypedBits))
    return [(UNTYPED_TOP, untyped_top_definition(uc)),
            ("the first free byte", eq(wsub(free_before, uc.obj), shl(free_index, abi.seL4_MinUntypedBits)))]


@obligation(name="untyped_retype:no_aliasing", about=("spec.ops.untyped_retype",),
            property="the new objects are pairwise disjoint, lie inside the untyped above its free index, and "
                     "overlap no object that survives the retype", kind="invariant", timeout_s=60)
def _no_aliasing() -> Query:
    return no_aliasing_query()


def _lemma_query(premise: Any, conclusions: list[tuple[str, Any]]) -> Query:
    return Query(hypotheses=[("premise", premise)], goal=conclusions)


@obligation(name="untyped_retype:window_fits", about=("spec.ops.retype_plan",),
            property="retype's objects start aligned above the free index and end inside the untyped",
            kind="invariant", timeout_s=60)
def _window_fits() -> Query:
    w = logic.word
    return _lemma_query(*window_fits(w("obj"), w("bits"), w("free_index"), w("obj_bits"), w("n")))


@obligation(name="in_window:bounds", about=("spec.ops.in_window",),
            property="the members of a retype window are aligned, inside it, not at 0 and pairwise disjoint",
            kind="invariant", timeout_s=60)
def _window_bounds() -> Query:
    w = logic.word
    return _lemma_query(*window_bounds(w("base"), w("obj_bits"), w("n"), w("o"), w("o2")))
