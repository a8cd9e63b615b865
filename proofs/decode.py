"""Turn a Z3 model into readable JSON, and that JSON into indented text."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import z3

# Bit-vectors this wide are addresses or masks, which people read in hex.
HEX_MIN_BITS = 16


def collect_symbols(exprs: Iterable[z3.ExprRef]) -> tuple[list[z3.ExprRef], list[z3.FuncDeclRef]]:
    """The uninterpreted constants and functions occurring in exprs, in first-seen order."""
    consts: dict[int, z3.ExprRef] = {}
    funcs: dict[int, z3.FuncDeclRef] = {}
    seen: set[int] = set()
    stack = list(exprs)[::-1]
    while stack:
        e = stack.pop()
        eid = e.get_id()
        if eid in seen:
            continue
        seen.add(eid)
        if z3.is_quantifier(e):
            stack.append(e.body())
        elif z3.is_app(e):
            d = e.decl()
            if d.kind() == z3.Z3_OP_UNINTERPRETED:
                if e.num_args() == 0:
                    consts.setdefault(eid, e)
                else:
                    funcs.setdefault(d.get_id(), d)
            # Reverse so that the walk meets arguments left to right.
            stack.extend(reversed(e.children()))
    return list(consts.values()), list(funcs.values())


def _num(v: z3.ExprRef) -> int | None:
    """The integer of a bit-vector or integer numeral, else None."""
    if z3.is_bv_value(v) or z3.is_int_value(v):
        return int(v.as_long())
    return None


def render_key(v: z3.ExprRef) -> str:
    """A model value as a JSON object key (keys must be strings)."""
    if z3.is_bv_value(v):
        n = int(v.as_long())
        return hex(n) if v.size() >= HEX_MIN_BITS else str(n)
    if z3.is_true(v):
        return "true"
    if z3.is_false(v):
        return "false"
    if z3.is_int_value(v):
        return str(v.as_long())
    return str(v)


def _sort_key(v: z3.ExprRef) -> tuple[int, int, str]:
    """Order entries numerically when they are numbers, else by text."""
    n = _num(v)
    return (0, n, "") if n is not None else (1, 0, str(v))


class _Renderer:
    """Renders model values; carries the indices worth probing in arrays given as lambdas."""

    def __init__(self, model: z3.ModelRef, probes: dict[str, list[z3.ExprRef]]) -> None:
        """Keep the model and, per sort, the values that the query's constants take in it."""
        self.model = model
        self.probes = probes

    def value(self, v: z3.ExprRef) -> Any:
        """A model value as JSON."""
        if z3.is_bv_value(v):
            n = int(v.as_long())
            return {"int": n, "hex": hex(n)} if v.size() >= HEX_MIN_BITS else n
        if z3.is_true(v):
            return True
        if z3.is_false(v):
            return False
        if z3.is_int_value(v):
            return int(v.as_long())
        if z3.is_rational_value(v):
            return str(v.as_fraction())
        if v.sort().kind() == z3.Z3_ARRAY_SORT:
            return self.array(v)
        if z3.is_app(v) and isinstance(v.sort(), z3.DatatypeSortRef):
            if v.num_args() == 0:
                return v.decl().name()
            return {v.decl().name(): [self.value(a) for a in v.children()]}
        return str(v)

    def array(self, v: z3.ExprRef) -> dict[str, Any]:
        """An array value as {"default": d, "entries": {k: v}}, unwinding Store chains, K and lambdas."""
        # A lambda that is no plain table becomes {"rule": text, "entries": values at the query's own indices}.
        keyed: dict[str, tuple[tuple[int, int, str], Any]] = {}

        def put(k: z3.ExprRef, val: z3.ExprRef) -> None:
            # The outermost Store (met first) is the one that holds.
            rk = render_key(k)
            if rk not in keyed:
                keyed[rk] = (_sort_key(k), self.value(val))

        while z3.is_store(v):
            idx = v.children()[1:-1]
            if len(idx) == 1:
                put(idx[0], v.arg(2))
            else:
                rk = "(" + ", ".join(render_key(a) for a in idx) + ")"
                keyed.setdefault(rk, ((1, 0, rk), self.value(v.arg(v.num_args() - 1))))
            v = v.arg(0)
        out: dict[str, Any]
        if z3.is_K(v):
            out = {"default": self.value(v.arg(0))}
        elif z3.is_as_array(v):
            out = self.func_interp(self.model.get_interp(z3.get_as_array_func(v)))
            for rk, val in out.pop("entries").items():
                keyed.setdefault(rk, ((1, 0, rk), val))
        elif z3.is_quantifier(v) and v.is_lambda():
            out = self.lam(v, put)
        else:
            out = {"default": str(v)}
        out["entries"] = {rk: val for rk, (_, val) in sorted(keyed.items(), key=lambda kv: kv[1][0])}
        return out

    def lam(self, v: z3.QuantifierRef, put: Callable[[z3.ExprRef, z3.ExprRef], None]) -> dict[str, Any]:
        """A lambda array: peel If(x == c, val, rest) chains; probe anything else at the interesting indices."""
        if v.num_vars() != 1:
            return {"default": str(v)}
        body = v.body()
        var = z3.Var(0, v.var_sort(0))
        while z3.is_app_of(body, z3.Z3_OP_ITE):
            cond, then, rest = body.children()
            if not z3.is_eq(cond):
                break
            lhs, rhs = cond.children()
            key = rhs if lhs.eq(var) else lhs if rhs.eq(var) else None
            if key is None or not z3.is_const(key) or z3.is_app_of(key, z3.Z3_OP_UNINTERPRETED):
                break
            if not self._closed(then):
                break
            put(key, self.model.eval(then, True))
            body = rest
        if self._closed(body):
            return {"default": self.value(self.model.eval(body, True))}
        # Not a plain table: show the rule, and its values where the counterexample's indices point.
        for k in self.probes.get(v.var_sort(0).sexpr(), []):
            put(k, self.model.eval(z3.Select(v, k), True))
        return {"rule": " ".join(v.sexpr().split())}

    @staticmethod
    def _closed(e: z3.ExprRef) -> bool:
        """Whether e mentions no bound variable."""
        stack = [e]
        while stack:
            x = stack.pop()
            if z3.is_var(x):
                return False
            if z3.is_quantifier(x):
                stack.append(x.body())
            elif z3.is_app(x):
                stack.extend(x.children())
        return True

    def func_interp(self, fi: z3.FuncInterp | None) -> dict[str, Any]:
        """A function interpretation as {"default": else, "entries": {args: value}}."""
        if fi is None:
            return {"default": "unconstrained", "entries": {}}
        rows = fi.as_list()
        default = rows[-1]
        entries: dict[str, Any] = {}
        for row in rows[:-1]:
            args, val = row[:-1], row[-1]
            key = render_key(args[0]) if len(args) == 1 else "(" + ", ".join(render_key(a) for a in args) + ")"
            entries.setdefault(key, self.value(val))
        dflt = self.value(default) if self._closed(default) else str(default)
        return {"default": dflt, "entries": entries}


def generic_decode(model: z3.ModelRef, exprs: Iterable[z3.ExprRef]) -> dict[str, Any]:
    """Every uninterpreted constant and function of exprs, with its value in the model, as JSON."""
    consts, funcs = collect_symbols(exprs)
    values = [(c, model.eval(c, model_completion=True)) for c in consts]
    probes: dict[str, list[z3.ExprRef]] = {}
    for _, val in values:
        if z3.is_bv_value(val) or z3.is_int_value(val):
            bucket = probes.setdefault(val.sort().sexpr(), [])
            if not any(val.eq(p) for p in bucket):
                bucket.append(val)
    r = _Renderer(model, probes)
    out: dict[str, Any] = {}
    for c, val in values:
        out[str(c)] = r.value(val)
    interpreted = {d.get_id() for d in model.decls()}
    for f in funcs:
        # get_interp hands back a null interpretation for a function the model does not mention.
        out[f.name()] = r.func_interp(model.get_interp(f) if f.get_id() in interpreted else None)
    return out


def _scalar(v: Any) -> str:
    """One JSON leaf as text; hex-and-int pairs read as 0x10 (16)."""
    if isinstance(v, dict) and set(v) == {"int", "hex"}:
        return f"{v['hex']} ({v['int']})"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _is_leaf(v: Any) -> bool:
    """Whether v prints on one line."""
    return not isinstance(v, (dict, list)) or (isinstance(v, dict) and set(v) == {"int", "hex"})


def render_counterexample(cex: dict[str, Any], indent: int = 2) -> str:
    """A decoded counterexample as indented, readable text."""
    lines: list[str] = []

    def walk(obj: Any, depth: int) -> None:
        pad = " " * (indent * depth)
        if isinstance(obj, dict) and "entries" in obj and set(obj) <= {"default", "entries", "rule"}:
            # An array or function: its exceptions first, then what every other index holds.
            for k, v in obj["entries"].items():
                emit(f"[{k}]", v, depth)
            if "default" in obj:
                emit("otherwise", obj["default"], depth)
            if "rule" in obj:
                emit("rule", obj["rule"], depth)
            return
        if isinstance(obj, dict):
            for k, v in obj.items():
                emit(str(k), v, depth)
            return
        if isinstance(obj, list):
            for i, v in enumerate(obj):
                emit(f"- {i}", v, depth)
            return
        lines.append(pad + _scalar(obj))

    def emit(label: str, v: Any, depth: int) -> None:
        pad = " " * (indent * depth)
        if _is_leaf(v):
            lines.append(f"{pad}{label} = {_scalar(v)}")
        else:
            lines.append(f"{pad}{label}:")
            walk(v, depth + 1)

    walk(cex, 0)
    return "\n".join(lines)
