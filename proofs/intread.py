"""The integer reading of a quantifier-free bit-vector query: each word an integer in [0, 2^w).

A word's arithmetic becomes integer arithmetic with its wrap-around made explicit: a + b is
a + b, less 2^w when that is 2^w or more; a - b is a - b, plus 2^w when that is negative; a
comparison is the integers' comparison; a shift or a mask by a constant, or a product or a
quotient by one, is a product, a quotient or a remainder by a constant. These are exact, so on
them the reading and the query agree, model for model.

An operation the reading cannot state linearly (an `and` with a symbolic mask, a shift by a
symbolic amount, an `or`) becomes an uninterpreted function of its operands, with its result in
range. That generalises the query: unsat in the reading is unsat in the query, but sat or unknown
says nothing (the function may take a value the operation cannot). So solve._proof_check reads an
unsat answer as a proof and, on any other, bit-blasts the query as before, which also gives the
model a counterexample is decoded from.

Why: the Untyped_Retype invariants are orderings of addresses (a range inside another, below a
free index), which Z3's linear arithmetic decides by bounds, where bit-blasting builds a 64-bit
adder and comparator for each of them. Measured on the 12 untyped_retype:<invariant> obligations:
solving (witness check and goal cases) 62 s to 10 s; untyped_inc alone, 120 cases in 2.4 s against
about 23 s on the bit-vector solver (a mean over renamings of its constants).
"""

from __future__ import annotations

from typing import Any

import z3
from z3 import z3core as _C

from proofs import rawz3 as raw


class Untranslatable(Exception):
    """The query has a term the reading does not cover (a quantifier, a sort other than Bool, Int,
    a bit-vector or an array of them, an operation on words it does not know)."""


def _low_mask(v: int) -> bool:
    """Whether v is 2^k - 1 for some k (0 included)."""
    return v & (v + 1) == 0


class IntReading:
    """Terms of one Z3 context read as integer terms in a fresh context of their own.

    Each word-valued leaf (a constant, an array read, an application of an uninterpreted function
    or of a generalised operation) gets the range fact 0 <= x < 2^w; `ranges` lists them. Arrays
    are read as arrays over the integers: an array of the query is the integer array that agrees
    with it on [0, 2^w) and is 0 elsewhere, so equal arrays stay equal and stores agree.
    """

    def __init__(self) -> None:
        self.ctx = z3.Context()
        self.ranges: list[z3.BoolRef] = []
        self.generalised = False  # whether some operation became an uninterpreted function
        self._memo: dict[int, Any] = {}  # source AST id -> its reading, a raw AST owned by _owned
        self._keep: list[z3.ExprRef] = []  # source terms whose ids key the memo
        self._funs: dict[tuple[Any, ...], z3.FuncDeclRef] = {}
        self._ranged: set[int] = set()
        self._c = self.ctx.ref()
        self._int_sort = z3.IntSort(self.ctx)  # held: the raw sort below lives as long as it
        self._int = self._int_sort.ast
        self._source: z3.Context | None = None  # the context of the terms read: ids are unique only within one
        self._owned = z3.AstVector(ctx=self.ctx)
        self._moduli: dict[int, Any] = {}
        self._zero = self._own(_mk_numeral(self._c, b"0", self._int))

    def read(self, t: z3.ExprRef) -> z3.ExprRef:
        """t read as an integer term (raises Untranslatable)."""
        # A walk on raw ASTs (proofs/rawz3.py), and the common operations made by Z3's C entry
        # points: through the Python wrappers, reading was a quarter of the runner's solving time.
        if self._source is None:
            self._source = t.ctx
        elif t.ctx is not self._source:
            raise Untranslatable("terms of two Z3 contexts")
        c = t.ctx.ref()
        self._keep.append(t)  # so the ids of its nodes stay theirs while the memo holds them
        memo = self._memo
        # Post-order without recursion: the proofs' terms nest deeper than Python's stack allows.
        stack: list[tuple[Any, bool]] = [(t.as_ast(), False)]
        while stack:
            x, ready = stack.pop()
            i = raw.ast_id(c, x)
            if i in memo:
                continue
            kind = raw.ast_kind(c, x)
            if kind == z3.Z3_NUMERAL_AST:
                if raw.sort_kind(c, raw.get_sort(c, x)) not in (z3.Z3_BV_SORT, z3.Z3_INT_SORT):
                    raise Untranslatable("a numeral neither a word nor an integer")
                memo[i] = self._own(_mk_numeral(self._c, _get_numeral_string(c, x), self._int))
                continue
            if kind != z3.Z3_APP_AST:
                raise Untranslatable("a quantifier")
            n = raw.num_args(c, x)
            if ready or not n:
                memo[i] = self._app(t.ctx, x, n)
                continue
            stack.append((x, True))
            stack.extend((raw.app_arg(c, x, k), False) for k in range(n))
        return z3.z3._to_expr_ref(memo[raw.ast_id(c, t.as_ast())], self.ctx)

    def _own(self, a: Any) -> Any:
        """a, a new AST of the reading's context, kept alive while the reading is (Z3 frees an AST
        no one holds at its next call)."""
        _vector_push(self._c, self._owned.vector, a)
        return a

    def _modulus(self, c: Any, x: Any) -> Any:
        """2^w for the word sort of x's first argument."""
        w = _bv_size(c, raw.get_sort(c, raw.app_arg(c, x, 0)))
        m = self._moduli.get(w)
        if m is None:
            m = self._moduli[w] = self._own(_mk_numeral(self._c, str(2**w).encode(), self._int))
        return m

    def _app(self, src: z3.Context, x: Any, n: int) -> Any:
        """The reading of the application x, whose arguments are read."""
        c, t, memo = src.ref(), self._c, self._memo
        k = raw.decl_kind(c, raw.app_decl(c, x))
        a = [memo[raw.ast_id(c, raw.app_arg(c, x, j))] for j in range(n)]
        own = self._own
        if k in _NARY:
            return own(_NARY[k](t, n, (z3.Ast * n)(*a)))
        if k in _BINARY:
            return own(_BINARY[k](t, a[0], a[1]))
        if k == z3.Z3_OP_NOT:
            return own(_mk_not(t, a[0]))
        if k == z3.Z3_OP_ITE:
            return own(_mk_ite(t, a[0], a[1], a[2]))
        if k == z3.Z3_OP_BADD:
            m = self._modulus(c, x)
            out = a[0]
            for y in a[1:]:
                s = own(_mk_add(t, 2, (z3.Ast * 2)(out, y)))
                out = own(_mk_ite(t, own(_mk_ge(t, s, m)), own(_mk_sub(t, 2, (z3.Ast * 2)(s, m))), s))
            return out
        if k == z3.Z3_OP_BSUB and n == 2:
            m = self._modulus(c, x)
            d = own(_mk_sub(t, 2, (z3.Ast * 2)(a[0], a[1])))
            return own(_mk_ite(t, own(_mk_lt(t, d, self._zero)), own(_mk_add(t, 2, (z3.Ast * 2)(d, m))), d))
        if k == z3.Z3_OP_SELECT and n == 2:
            out = own(_mk_select(t, a[0], a[1]))
            if raw.sort_kind(c, raw.get_sort(c, x)) == z3.Z3_BV_SORT:
                out = self._ranged_term(z3.z3._to_expr_ref(x, src), z3.z3._to_expr_ref(out, self.ctx)).as_ast()
            return out
        # The rest, rarer, through the wrappers.
        xw = z3.z3._to_expr_ref(x, src)
        r = self._node(xw, [z3.z3._to_expr_ref(y, self.ctx) for y in a])
        self._keep.append(r)
        return r.as_ast()

    def _sort(self, s: z3.SortRef) -> z3.SortRef:
        k = s.kind()
        if k == z3.Z3_BOOL_SORT:
            return z3.BoolSort(self.ctx)
        if k in (z3.Z3_BV_SORT, z3.Z3_INT_SORT):
            return z3.IntSort(self.ctx)
        if k == z3.Z3_ARRAY_SORT and _array_arity(s.ctx_ref(), s.ast) == 1:
            return z3.ArraySort(self._sort(s.domain()), self._sort(s.range()))
        raise Untranslatable(f"the sort {s}")

    def _ranged_term(self, x: z3.ExprRef, r: z3.ExprRef) -> z3.ExprRef:
        """r, the reading of the word-valued leaf x, with its range fact recorded."""
        if x.sort().kind() == z3.Z3_BV_SORT and r.get_id() not in self._ranged:
            self._ranged.add(r.get_id())
            self._keep.append(r)
            self.ranges.append(z3.And(r >= 0, r < 2 ** x.sort().size()))
        return r

    def _declared(self, x: z3.ExprRef) -> z3.FuncDeclRef:
        """The reading's declaration for the constant or function x applies: one per declaration of
        the query (not per name: two declarations may print alike), in the reading's sorts."""
        d = x.decl()
        key = ("declared", d.get_id())
        f = self._funs.get(key)
        if f is None:
            self._keep.append(d)  # so its id stays its own
            sorts = [self._sort(d.domain(j)) for j in range(d.arity())] + [self._sort(d.range())]
            f = self._funs[key] = z3.Function(f"{d.name()}#{len(self._funs)}", *sorts)
        return f

    def _generalised(self, x: z3.ExprRef, a: list[z3.ExprRef]) -> z3.ExprRef:
        """The operation of x as an uninterpreted function of its read operands: one per operation
        kind, width and number of operands."""
        self.generalised = True
        key = ("generalised", x.decl().kind(), x.sort().size(), len(a))
        f = self._funs.get(key)
        if f is None:
            f = self._funs[key] = z3.Function(f"{x.decl().name()}#{len(self._funs)}",
                                              *[z3.IntSort(self.ctx)] * (len(a) + 1))
        return self._ranged_term(x, f(*a))

    def _node(self, x: z3.ExprRef, a: list[Any]) -> z3.ExprRef:
        """The reading of an application _app leaves to the wrappers: truth values, constants and
        functions, stores, integer arithmetic and the rarer word operations."""
        ctx = self.ctx
        if z3.is_true(x) or z3.is_false(x):
            return z3.BoolVal(z3.is_true(x), ctx)
        d = x.decl()
        k = d.kind()
        if k == z3.Z3_OP_UNINTERPRETED:
            f = self._declared(x)
            return self._ranged_term(x, f(*a) if a else f())
        if k == z3.Z3_OP_STORE and len(a) == 3:
            return z3.Store(a[0], a[1], a[2])
        if k in (z3.Z3_OP_SELECT, z3.Z3_OP_STORE):
            raise Untranslatable("an array with more than one index")
        if x.sort().kind() == z3.Z3_INT_SORT and k in _INT_ARITH:
            return _INT_ARITH[k](a)
        if x.sort().kind() != z3.Z3_BV_SORT:
            raise Untranslatable(f"the operation {d.name()}")
        w = x.sort().size()
        m = 2 ** w
        if k == z3.Z3_OP_BNEG:
            return z3.If(a[0] == 0, a[0], m - a[0])
        if k == z3.Z3_OP_BNOT:
            return (m - 1) - a[0]
        consts = [y.as_long() if z3.is_bv_value(y) else None for y in x.children()]
        if k == z3.Z3_OP_BSHL and consts[1] is not None:
            return (a[0] * 2 ** consts[1]) % m if consts[1] < w else z3.IntVal(0, ctx)
        if k == z3.Z3_OP_BLSHR and consts[1] is not None:
            return a[0] / 2 ** consts[1] if consts[1] < w else z3.IntVal(0, ctx)
        if k == z3.Z3_OP_BMUL and len(a) == 2 and (consts[0] is not None or consts[1] is not None):
            return (a[0] * a[1]) % m
        if k in (z3.Z3_OP_BUDIV, z3.Z3_OP_BUDIV_I) and consts[1]:
            return a[0] / consts[1]
        if k in (z3.Z3_OP_BUREM, z3.Z3_OP_BUREM_I) and consts[1]:
            return a[0] % consts[1]
        if k == z3.Z3_OP_BAND and len(a) == 2:
            for j in (0, 1):
                c = consts[j]
                if c is not None and _low_mask(c):  # x & (2^k - 1) is x mod 2^k
                    return a[1 - j] % (c + 1)
                if c is not None and _low_mask(m - 1 - c):  # x & ~(2^k - 1) is x less x mod 2^k
                    return a[1 - j] - a[1 - j] % (m - c)
        if k in _GENERALISED:
            return self._generalised(x, a)
        raise Untranslatable(f"the operation {d.name()}")


# Integer arithmetic the wrappers read (comparisons are in _BINARY).
_INT_ARITH: dict[int, Any] = {
    z3.Z3_OP_ADD: lambda a: z3.Sum(a),
    z3.Z3_OP_SUB: lambda a: a[0] - a[1] if len(a) == 2 else a[0] - z3.Sum(a[1:]),
    z3.Z3_OP_UMINUS: lambda a: -a[0],
}

# Word operations the reading generalises to an uninterpreted function of their operands.
_GENERALISED = frozenset({z3.Z3_OP_BAND, z3.Z3_OP_BOR, z3.Z3_OP_BXOR, z3.Z3_OP_BSHL, z3.Z3_OP_BLSHR, z3.Z3_OP_BMUL,
                          z3.Z3_OP_BUDIV_I, z3.Z3_OP_BUREM_I, z3.Z3_OP_BUDIV, z3.Z3_OP_BUREM})


# Z3's C entry points for the operations read most often (proofs/rawz3.py).
_mk_numeral, _mk_not, _mk_ite, _mk_select = (raw.raw(_C.Z3_mk_numeral), raw.raw(_C.Z3_mk_not), raw.raw(_C.Z3_mk_ite),
                                             raw.raw(_C.Z3_mk_select))
_mk_add, _mk_sub = raw.raw(_C.Z3_mk_add), raw.raw(_C.Z3_mk_sub)
_mk_ge, _mk_lt = raw.raw(_C.Z3_mk_ge), raw.raw(_C.Z3_mk_lt)
_vector_push, _bv_size = raw.raw(_C.Z3_ast_vector_push), raw.raw(_C.Z3_get_bv_sort_size)
_array_arity = raw.raw(_C.Z3_get_array_arity)
_get_numeral_string = raw.raw(_C.Z3_get_numeral_string)  # bytes: what Z3_mk_numeral takes


_NARY: dict[int, Any] = {z3.Z3_OP_AND: raw.raw(_C.Z3_mk_and), z3.Z3_OP_OR: raw.raw(_C.Z3_mk_or),
                         z3.Z3_OP_DISTINCT: raw.raw(_C.Z3_mk_distinct)}
_BINARY: dict[int, Any] = {z3.Z3_OP_EQ: raw.raw(_C.Z3_mk_eq), z3.Z3_OP_IMPLIES: raw.raw(_C.Z3_mk_implies),
                           z3.Z3_OP_XOR: raw.raw(_C.Z3_mk_xor), z3.Z3_OP_ULEQ: raw.raw(_C.Z3_mk_le),
                           z3.Z3_OP_ULT: raw.raw(_C.Z3_mk_lt), z3.Z3_OP_UGEQ: raw.raw(_C.Z3_mk_ge),
                           z3.Z3_OP_UGT: raw.raw(_C.Z3_mk_gt), z3.Z3_OP_LE: raw.raw(_C.Z3_mk_le),
                           z3.Z3_OP_LT: raw.raw(_C.Z3_mk_lt), z3.Z3_OP_GE: raw.raw(_C.Z3_mk_ge),
                           z3.Z3_OP_GT: raw.raw(_C.Z3_mk_gt)}
