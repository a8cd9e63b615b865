"""The two-reading vocabulary: every function here takes plain Python values or Z3 terms.

Concrete values in, concrete values out; any Z3 term in, Z3 term out. The spec is written
once with these functions, executed on Python values by tests and the refinement checker,
and called on Z3 terms by the proof runner to build the formula it discharges.

Conventions (the C kernel's, so that the spec reads like seL4):
- a machine word (`Word`) is 64 bits; arithmetic wraps; comparisons are unsigned;
- shifting by 64 or more gives 0 in both readings (Z3's rule; seL4 never relies on C's UB);
- ghost quantities (depths, counters) are mathematical integers (`Int`), so `+` and `<`
  mean the same thing in both readings and never wrap;
- never branch with Python `if` on a value that may be symbolic: use `ite` or `check_then`.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, Union

import z3

WORD_BITS = 64
WORD_MASK = (1 << WORD_BITS) - 1

Word = Union[int, z3.BitVecRef]
Bool = Union[bool, z3.BoolRef]
Int = Union[int, z3.ArithRef]
T = TypeVar("T")


def is_sym(x: object) -> bool:
    """True when x is a Z3 term (the symbolic reading)."""
    return isinstance(x, z3.ExprRef)


# ---------------------------------------------------------------------------------------
# Sorts: light descriptors, so the concrete reading never builds Z3 objects.

@dataclasses.dataclass(frozen=True)
class Sort:
    """A scalar sort: 'word' (64-bit, or `bits` wide), 'bool' or 'int'."""

    kind: str
    bits: int = WORD_BITS

    def z3(self) -> z3.SortRef:
        """The Z3 sort of this descriptor."""
        if self.kind == "word":
            return z3.BitVecSort(self.bits)
        if self.kind == "bool":
            return z3.BoolSort()
        if self.kind == "int":
            return z3.IntSort()
        raise ValueError(f"unknown sort kind {self.kind!r}")

    def const(self, name: str) -> z3.ExprRef:
        """A fresh Z3 constant of this sort."""
        return z3.Const(name, self.z3())

    def lift(self, v: Any) -> z3.ExprRef:
        """A concrete value of this sort as a Z3 term (a Z3 term is returned as is)."""
        if is_sym(v):
            return v
        if self.kind == "word":
            return z3.BitVecVal(int(v) & ((1 << self.bits) - 1), self.bits)
        if self.kind == "bool":
            return z3.BoolVal(bool(v))
        return z3.IntVal(int(v))

    def check(self, v: Any) -> None:
        """Reject a concrete value outside the sort, so bad values fail loudly, not silently."""
        if is_sym(v):
            return
        if self.kind == "bool":
            if not isinstance(v, bool):
                raise TypeError(f"expected bool, got {v!r}")
        elif not isinstance(v, int) or isinstance(v, bool):
            raise TypeError(f"expected int for {self.kind}, got {v!r}")
        elif self.kind == "word" and not 0 <= v < (1 << self.bits):
            raise ValueError(f"{v!r} is not a {self.bits}-bit word")


WORD = Sort("word")
BOOL = Sort("bool")
INT = Sort("int")


def sort_of(x: Any) -> Sort | None:
    """The sort of a Z3 term (None for a concrete value)."""
    if isinstance(x, z3.BitVecRef):
        return Sort("word", x.size())
    if isinstance(x, z3.BoolRef):
        return BOOL
    if isinstance(x, z3.ArithRef):
        return INT
    return None


def word(name: str) -> z3.BitVecRef:
    """A symbolic 64-bit word."""
    return z3.BitVec(name, WORD_BITS)


def boolean(name: str) -> z3.BoolRef:
    """A symbolic boolean."""
    return z3.Bool(name)


def integer(name: str) -> z3.ArithRef:
    """A symbolic mathematical integer (for ghost state)."""
    return z3.Int(name)


# ---------------------------------------------------------------------------------------
# Booleans

def _flat(args: tuple[Any, ...]) -> list[Any]:
    out: list[Any] = []
    for a in args:
        if isinstance(a, (list, tuple)):
            out.extend(a)
        else:
            out.append(a)
    return out


def And(*args: Any) -> Bool:
    """Conjunction; concrete False short-circuits even next to symbolic terms."""
    items = _flat(args)
    sym = []
    for a in items:
        if is_sym(a):
            sym.append(a)
        elif not a:
            return False
    if not sym:
        return True
    return sym[0] if len(sym) == 1 else z3.And(*sym)


def Or(*args: Any) -> Bool:
    """Disjunction; concrete True short-circuits."""
    items = _flat(args)
    sym = []
    for a in items:
        if is_sym(a):
            sym.append(a)
        elif a:
            return True
    if not sym:
        return False
    return sym[0] if len(sym) == 1 else z3.Or(*sym)


def Not(a: Bool) -> Bool:
    """Negation."""
    return z3.Not(a) if is_sym(a) else not a


def Implies(a: Bool, b: Bool) -> Bool:
    """Implication."""
    if not is_sym(a):
        return b if a else True
    if not is_sym(b):
        return True if b else z3.Not(a)
    return z3.Implies(a, b)


def eq(a: Any, b: Any) -> Bool:
    """Structural equality: scalars, tuples, records (dataclasses) and Maps."""
    if isinstance(a, Map) or isinstance(b, Map):
        return Map.equal(a, b)
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        if type(a) is not type(b):
            raise TypeError(f"eq of {type(a).__name__} and {type(b).__name__}")
        return And(*[eq(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)])
    if isinstance(a, tuple):
        if not isinstance(b, tuple) or len(a) != len(b):
            raise TypeError("eq of tuples of different shapes")
        return And(*[eq(x, y) for x, y in zip(a, b)])
    if is_sym(a) or is_sym(b):
        return a == b
    return a == b


def ne(a: Any, b: Any) -> Bool:
    """Structural disequality."""
    return Not(eq(a, b))


def _concrete_sort(a: Any, b: Any) -> Sort:
    if isinstance(a, bool) and isinstance(b, bool):
        return BOOL
    # Two plain ints: words unless one cannot be a word (a negative ghost value, say).
    in_word = all(isinstance(v, bool) or 0 <= v <= WORD_MASK for v in (a, b))
    return WORD if in_word else INT


def _lift_pair(a: Any, b: Any) -> tuple[z3.ExprRef, z3.ExprRef]:
    s = sort_of(a) or sort_of(b) or _concrete_sort(a, b)
    return s.lift(a), s.lift(b)


def ite(c: Bool, a: T, b: T) -> T:
    """If-then-else over scalars, tuples, records and Maps (field-wise when c is symbolic)."""
    if not is_sym(c):
        return a if c else b
    if a is b:
        return a
    if isinstance(a, Map) or isinstance(b, Map):
        return Map.ite(c, a, b)  # type: ignore[return-value]
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        if type(a) is not type(b):
            raise TypeError(f"ite of {type(a).__name__} and {type(b).__name__}")
        return dataclasses.replace(  # type: ignore[return-value]
            a, **{f.name: ite(c, getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)}
        )
    if isinstance(a, tuple):
        if not isinstance(b, tuple) or len(a) != len(b):
            raise TypeError("ite of tuples of different shapes")
        return tuple(ite(c, x, y) for x, y in zip(a, b))  # type: ignore[return-value]
    if not is_sym(a) and not is_sym(b) and a == b and type(a) is type(b):
        return a
    la, lb = _lift_pair(a, b)
    return z3.If(c, la, lb)  # type: ignore[return-value]


def cases(default: T, *arms: tuple[Bool, T]) -> T:
    """The first arm whose condition holds, else default (an if/elif chain in both readings)."""
    out = default
    for c, v in reversed(arms):
        out = ite(c, v, out)
    return out


# ---------------------------------------------------------------------------------------
# Machine words: C's unsigned 64-bit arithmetic.

def _w(x: Any) -> Any:
    return x & WORD_MASK if not is_sym(x) else x


def wadd(a: Word, b: Word) -> Word:
    """a + b modulo 2^64."""
    if is_sym(a) or is_sym(b):
        return a + b  # type: ignore[operator]
    return (a + b) & WORD_MASK


def wsub(a: Word, b: Word) -> Word:
    """a - b modulo 2^64."""
    if is_sym(a) or is_sym(b):
        return a - b  # type: ignore[operator]
    return (a - b) & WORD_MASK


def wmul(a: Word, b: Word) -> Word:
    """a * b modulo 2^64."""
    if is_sym(a) or is_sym(b):
        return a * b  # type: ignore[operator]
    return (a * b) & WORD_MASK


def shl(a: Word, n: Word) -> Word:
    """a << n, 0 when n >= 64."""
    if is_sym(a) or is_sym(n):
        la, ln = _lift_pair(a, n)
        return la << ln  # z3 bvshl: 0 for n >= width
    return (a << n) & WORD_MASK if n < WORD_BITS else 0


def shr(a: Word, n: Word) -> Word:
    """Logical a >> n, 0 when n >= 64."""
    if is_sym(a) or is_sym(n):
        la, ln = _lift_pair(a, n)
        return z3.LShR(la, ln)
    return a >> n if n < WORD_BITS else 0


def band(a: Word, b: Word) -> Word:
    """Bitwise and."""
    return a & b  # type: ignore[operator]


def bor(a: Word, b: Word) -> Word:
    """Bitwise or."""
    return a | b  # type: ignore[operator]


def bxor(a: Word, b: Word) -> Word:
    """Bitwise exclusive or."""
    return a ^ b  # type: ignore[operator]


def bnot(a: Word) -> Word:
    """Bitwise complement within 64 bits."""
    return ~a if is_sym(a) else (~a) & WORD_MASK  # type: ignore[operator]


def ult(a: Word, b: Word) -> Bool:
    """Unsigned a < b."""
    if is_sym(a) or is_sym(b):
        la, lb = _lift_pair(a, b)
        return z3.ULT(la, lb)
    return a < b


def ule(a: Word, b: Word) -> Bool:
    """Unsigned a <= b."""
    if is_sym(a) or is_sym(b):
        la, lb = _lift_pair(a, b)
        return z3.ULE(la, lb)
    return a <= b


def ugt(a: Word, b: Word) -> Bool:
    """Unsigned a > b."""
    return ult(b, a)


def uge(a: Word, b: Word) -> Bool:
    """Unsigned a >= b."""
    return ule(b, a)


def umin(a: Word, b: Word) -> Word:
    """Unsigned minimum."""
    return ite(ule(a, b), a, b)


def umax(a: Word, b: Word) -> Word:
    """Unsigned maximum."""
    return ite(ule(a, b), b, a)


def mask(n: Word) -> Word:
    """MASK(n) of seL4: the n low bits set (all 64 when n >= 64)."""
    return wsub(shl(1, n), 1)


def bit(n: Word) -> Word:
    """BIT(n) of seL4: 1 << n (0 when n >= 64)."""
    return shl(1, n)


def is_aligned(x: Word, n: Word) -> Bool:
    """IS_ALIGNED(x, n) of seL4: the n low bits of x are zero."""
    return eq(band(x, mask(n)), 0)


def align_down(x: Word, n: Word) -> Word:
    """x with its n low bits cleared."""
    return band(x, bnot(mask(n)))


def align_up(x: Word, n: Word) -> Word:
    """ROUND_UP(x, n) of seL4 (src/object/untyped.c alignUp): wraps like the C."""
    return align_down(wadd(x, mask(n)), n)


def no_overflow_add(a: Word, b: Word) -> Bool:
    """a + b does not wrap around 2^64."""
    return ule(a, wadd(a, b))


def to_int(x: Word) -> Int:
    """A word as a mathematical integer (unsigned)."""
    return z3.BV2Int(x) if is_sym(x) else x


# ---------------------------------------------------------------------------------------
# Map: a total map with a default value.

class Map:
    """A total map from keys to values with a default.

    Concretely a persistent dict holding only the keys whose value differs from the default
    (so two equal maps compare equal); symbolically a Z3 array. Values are scalars of
    `val_sort`; records are flattened into one Map per field, as in the design.
    """

    __slots__ = ("key_sort", "val_sort", "default", "_d", "_arr")

    def __init__(self, key_sort: Sort, val_sort: Sort, default: Any,
                 entries: Mapping[Any, Any] | None = None, *, _arr: z3.ArrayRef | None = None) -> None:
        self.key_sort = key_sort
        self.val_sort = val_sort
        self.default = default
        self._arr = _arr
        if _arr is None:
            val_sort.check(default)
            d: dict[Any, Any] = {}
            if entries:
                # The quick type tests first; check() (which raises) only for anything unusual.
                kp, vp = _plain_test(key_sort), _plain_test(val_sort)
                for k, v in entries.items():
                    if not kp(k):
                        key_sort.check(k)
                    if not vp(v):
                        val_sort.check(v)
                    if v != default:
                        d[k] = v
            self._d = d
        else:
            self._d = {}

    # constructors -------------------------------------------------------------------
    @classmethod
    def symbolic(cls, name: str, key_sort: Sort, val_sort: Sort) -> "Map":
        """A map whose every value is unknown: a Z3 array constant."""
        return cls(key_sort, val_sort, None, _arr=z3.Array(name, key_sort.z3(), val_sort.z3()))

    @classmethod
    def _from_dict(cls, key_sort: Sort, val_sort: Sort, default: Any, d: dict[Any, Any]) -> "Map":
        m = cls.__new__(cls)
        m.key_sort, m.val_sort, m.default, m._arr, m._d = key_sort, val_sort, default, None, d
        return m

    @property
    def symbolic_reading(self) -> bool:
        """True when this map is a Z3 array."""
        return self._arr is not None

    def array(self) -> z3.ArrayRef:
        """This map as a Z3 array (a concrete map is lifted to K(default) with stores)."""
        if self._arr is not None:
            return self._arr
        arr = z3.K(self.key_sort.z3(), self.val_sort.lift(self.default))
        for k, v in self._d.items():
            arr = z3.Store(arr, self.key_sort.lift(k), self.val_sort.lift(v))
        return arr

    # access -------------------------------------------------------------------------
    def __getitem__(self, k: Any) -> Any:
        if self._arr is None and type(k) is int:  # the concrete reading's common case
            return self._d.get(k, self.default)
        if self._arr is not None:
            return z3.Select(self._arr, self.key_sort.lift(k))
        if is_sym(k):
            return z3.Select(self.array(), k)
        return self._d.get(k, self.default)

    get = __getitem__

    def set(self, k: Any, v: Any) -> "Map":
        """A new map with k mapped to v."""
        if self._arr is not None or is_sym(k) or is_sym(v):
            return Map(self.key_sort, self.val_sort, None,
                       _arr=z3.Store(self.array(), self.key_sort.lift(k), self.val_sort.lift(v)))
        if not _plain_test(self.key_sort)(k):
            self.key_sort.check(k)
        if not _plain_test(self.val_sort)(v):
            self.val_sort.check(v)
        d = self._d
        if v == self.default:
            if k not in d:
                return self  # unchanged (maps are immutable values, so sharing is safe)
            d = dict(d)
            del d[k]
        else:
            if k in d and d[k] == v and type(d[k]) is type(v):
                return self
            d = dict(d)
            d[k] = v
        return Map._from_dict(self.key_sort, self.val_sort, self.default, d)

    def set_many(self, changes: Mapping[Any, Any]) -> "Map":
        """A new map with every k of changes mapped to changes[k]: `set` applied to each in turn,
        with one copy of the concrete dict instead of one per key."""
        if self._arr is not None or any(is_sym(k) or is_sym(v) for k, v in changes.items()):
            m = self
            for k, v in changes.items():
                m = m.set(k, v)
            return m
        kp, vp = _plain_test(self.key_sort), _plain_test(self.val_sort)
        d = dict(self._d)
        default = self.default
        for k, v in changes.items():
            if not kp(k):
                self.key_sort.check(k)
            if not vp(v):
                self.val_sort.check(v)
            if v == default:
                d.pop(k, None)
            else:
                d[k] = v
        return Map._from_dict(self.key_sort, self.val_sort, default, d)

    def keys(self) -> Iterable[Any]:
        """The keys held explicitly (concrete reading only)."""
        if self._arr is not None:
            raise TypeError("a symbolic Map has no explicit keys")
        return self._d.keys()

    def items(self) -> Iterable[tuple[Any, Any]]:
        """The explicitly held (key, value) pairs (concrete reading only)."""
        if self._arr is not None:
            raise TypeError("a symbolic Map has no explicit items")
        return self._d.items()

    def update_where(self, pred: Callable[[Any, Any], Bool], f: Callable[[Any, Any], Any],
                     extra_keys: Iterable[Any] = ()) -> "Map":
        """Every key k with pred(k, m[k]) maps to f(k, m[k]); others are unchanged.

        Symbolically a Z3 Lambda. Concretely it visits the held keys and `extra_keys` (the
        keys the caller knows may newly change, e.g. the objects a retype creates), and checks
        at a probe key that the rest of the map (still at the default) is left alone.
        """
        if self._arr is not None:
            k = self.key_sort.const("k!upd")
            old = z3.Select(self._arr, k)
            new = self.val_sort.lift(ite(pred(k, old), f(k, old), old))
            return Map(self.key_sort, self.val_sort, None, _arr=z3.Lambda([k], new))
        d = dict(self._d)
        src, default, vsort = self._d, self.default, self.val_sort
        vp = _plain_test(vsort)
        for k in itertools.chain(list(src.keys()), extra_keys):
            old = src.get(k, default)
            if pred(k, old):
                v = f(k, old)
                if not vp(v):
                    vsort.check(v)
                if v == default:
                    d.pop(k, None)
                else:
                    d[k] = v
        probe = _probe_key(self.key_sort, d.keys(), extra_keys)
        if probe is not None and pred(probe, self.default) and f(probe, self.default) != self.default:
            raise ValueError("update_where would change keys not held by the map; pass them as extra_keys")
        return Map._from_dict(self.key_sort, self.val_sort, self.default, d)

    # structure ----------------------------------------------------------------------
    @staticmethod
    def ite(c: Bool, a: "Map", b: "Map") -> "Map":
        """Field-wise if-then-else of two maps of the same sorts."""
        if not is_sym(c):
            return a if c else b
        return Map(a.key_sort, a.val_sort, None, _arr=z3.If(c, a.array(), b.array()))

    @staticmethod
    def equal(a: "Map", b: "Map") -> Bool:
        """Extensional equality."""
        if a._arr is None and b._arr is None:
            return a.default == b.default and a._d == b._d
        return a.array() == b.array()

    def __eq__(self, other: object) -> bool:  # concrete equality only (tests, refinement)
        if not isinstance(other, Map):
            return NotImplemented
        if self._arr is not None or other._arr is not None:
            raise TypeError("use logic.eq for symbolic maps")
        return self.default == other.default and self._d == other._d

    def __hash__(self) -> int:
        return hash((self.default, frozenset(self._d.items()))) if self._arr is None else id(self)

    def __repr__(self) -> str:
        if self._arr is not None:
            return f"Map<{self._arr}>"
        return f"Map(default={self.default!r}, {dict(sorted(self._d.items(), key=lambda kv: str(kv[0])))!r})"


def _probe_key(sort: Sort, held: Iterable[Any], extra: Iterable[Any]) -> Any:
    """A key not held and not in extra: stands for the map's default region."""
    if sort.kind == "bool":
        taken = set(held) | set(extra)
        free = [x for x in (False, True) if x not in taken]
        return free[0] if free else None
    # The candidates are tried against the keys as they are (a dict's keys, say) before any
    # set of them is built: building it cost more than the rest of most updates.
    held_c = held if isinstance(held, (set, frozenset, type({}.keys()))) else set(held)
    extra_c = extra if isinstance(extra, (set, frozenset, type({}.keys()))) else set(extra)
    top = (1 << sort.bits) - 1 if sort.kind == "word" else 1 << 80
    for cand in (top, top - 1, 0x5A5A5A5A5A5A5A5A & top, 1, 0):
        if cand not in held_c and cand not in extra_c:
            return cand
    taken = set(held_c) | set(extra_c)
    return max(taken) + 1 if sort.kind == "int" else None


_PLAIN_TESTS: dict[Sort, Callable[[Any], bool]] = {}


def _plain_test(sort: Sort) -> Callable[[Any], bool]:
    """The concrete Map's quick test: True for a plain Python value of the sort (one that
    sort.check passes without looking further); the Map calls check for anything else. Cached
    per sort (a frozen dataclass, so it hashes by value)."""
    t = _PLAIN_TESTS.get(sort)
    if t is None:
        if sort.kind == "word":
            top = 1 << sort.bits
            t = lambda v: type(v) is int and 0 <= v < top  # noqa: E731
        elif sort.kind == "bool":
            t = lambda v: type(v) is bool  # noqa: E731
        else:
            t = lambda v: type(v) is int  # noqa: E731
        _PLAIN_TESTS[sort] = t
    return t


# ---------------------------------------------------------------------------------------
# Quantifiers over a domain

@dataclasses.dataclass(frozen=True)
class Domain:
    """A quantification domain: symbolically a sort, concretely the keys the given maps hold."""

    name: str
    sort: Sort = WORD


def _concrete_keys(over: Iterable[Map]) -> tuple[set[Any], bool]:
    keys: set[Any] = set()
    for m in over:
        if m.symbolic_reading:
            return keys, True
        keys.update(m.keys())
    return keys, False


def _any_sym_map(over: Iterable[Map]) -> bool:
    return any(m.symbolic_reading for m in over)


def forall(dom: Domain, pred: Callable[[Any], Bool], over: Iterable[Map] = ()) -> Bool:
    """For every x of dom, pred(x).

    Symbolically a Z3 ForAll. Concretely a loop over the keys the maps in `over` hold, plus
    one probe key that none holds: the probe stands for all the keys at the maps' defaults,
    so an invariant false at the default is reported false rather than skipped.
    """
    over = tuple(over)
    if _any_sym_map(over):
        x = dom.sort.const(f"{dom.name}!{next(_fresh)}")
        body = pred(x)
        return z3.ForAll([x], body) if is_sym(body) else bool(body)
    keys, _ = _concrete_keys(over)
    for k in keys:
        r = pred(k)
        if is_sym(r):
            raise TypeError("forall over concrete maps gave a symbolic predicate")
        if not r:
            return False
    probe = _probe_key(dom.sort, keys, ())
    if probe is not None and not pred(probe):
        return False
    return True


def exists(dom: Domain, pred: Callable[[Any], Bool], over: Iterable[Map] = ()) -> Bool:
    """For some x of dom, pred(x) (the dual of forall, with the same probe rule)."""
    return Not(forall(dom, lambda x: Not(pred(x)), over))


_fresh = itertools.count()


def fresh(prefix: str, sort: Sort = WORD) -> z3.ExprRef:
    """A Z3 constant with a unique name."""
    return sort.const(f"{prefix}!{next(_fresh)}")


# ---------------------------------------------------------------------------------------
# Check-then-effect, in the style of seL4's decode functions and l4v's whenE/throwError.

def check_then(checks: Iterable[tuple[Callable[[], Bool], Callable[[], T]]], effect: Callable[[], T]) -> T:
    """Run the checks in order; the first whose condition holds gives the result, else effect().

    Each check is (condition thunk, failure thunk). Concretely it short-circuits, so a later
    condition may assume the earlier ones passed; symbolically every thunk is evaluated and
    the result is a chain of ites, exactly as seL4's spec chains its whenE guards.
    """
    pending: list[tuple[Bool, Callable[[], T]]] = []
    for cond_f, fail_f in checks:
        c = cond_f()
        if not is_sym(c):
            if c:
                if not pending:
                    return fail_f()
                pending.append((True, fail_f))
                break
            continue
        pending.append((c, fail_f))
    else:
        pending.append((True, effect))  # sentinel: falls through to the effect
    out = pending[-1][1]()
    for c, f in reversed(pending[:-1]):
        out = ite(c, f(), out)
    return out


# ---------------------------------------------------------------------------------------
# Records: symbolic instances and decoding of models.

def symbolic_record(cls: type[T], prefix: str) -> T:
    """An instance of a record class whose every field is a fresh Z3 constant or array.

    The class lists its fields' sorts in `__sorts__`: a Sort for a scalar, a (key, value)
    pair of Sorts for a Map.
    """
    sorts: dict[str, Any] = getattr(cls, "__sorts__")
    vals: dict[str, Any] = {}
    for name, s in sorts.items():
        if isinstance(s, tuple):
            vals[name] = Map.symbolic(f"{prefix}.{name}", s[0], s[1])
        else:
            vals[name] = s.const(f"{prefix}.{name}")
    return cls(**vals)


def model_value(model: z3.ModelRef, term: z3.ExprRef) -> Any:
    """A scalar Z3 term's value in a model, as a Python int or bool."""
    v = model.eval(term, model_completion=True)
    if z3.is_true(v):
        return True
    if z3.is_false(v):
        return False
    if z3.is_bv_value(v):
        return v.as_long()
    if z3.is_int_value(v):
        return v.as_long()
    raise ValueError(f"cannot decode {v}")


def _array_entries(model: z3.ModelRef, arr: z3.ExprRef) -> tuple[Any, dict[Any, Any]]:
    """(default, {key: value}) of an array value in a model."""
    v = model.eval(arr, model_completion=True)
    entries: dict[Any, Any] = {}
    while True:
        if z3.is_store(v):
            k, val = model_value(model, v.arg(1)), model_value(model, v.arg(2))
            entries.setdefault(k, val)
            v = v.arg(0)
        elif z3.is_K(v):
            return model_value(model, v.arg(0)), entries
        elif z3.is_as_array(v):
            fi = model[z3.get_as_array_func(v)]
            for row in fi.as_list()[:-1]:
                entries.setdefault(model_value(model, row[0]), model_value(model, row[1]))
            return model_value(model, fi.as_list()[-1]), entries
        else:
            # A lambda or if-term: read it at the keys the model mentions, via select.
            return _lambda_entries(model, arr)


def _lambda_entries(model: z3.ModelRef, arr: z3.ExprRef) -> tuple[Any, dict[Any, Any]]:
    keys: set[Any] = set()
    for d in model.decls():
        if d.arity() == 0:
            try:
                val = model_value(model, d())
            except (ValueError, z3.Z3Exception):
                continue
            if isinstance(val, int) and not isinstance(val, bool):
                keys.add(val)
    dom = arr.sort().domain()
    probe = z3.BitVecVal(0x5A5A5A5A5A5A5A5A, dom.size()) if z3.is_bv_sort(dom) else z3.IntVal(-7)
    default = model_value(model, z3.Select(arr, probe))
    entries: dict[Any, Any] = {}
    for k in keys:
        kk = z3.BitVecVal(k, dom.size()) if z3.is_bv_sort(dom) else z3.IntVal(k)
        val = model_value(model, z3.Select(arr, kk))
        if val != default:
            entries[k] = val
    return default, entries


def concretize(model: z3.ModelRef, x: T) -> T:
    """The concrete value of a symbolic record, tuple, Map or scalar in a model."""
    if isinstance(x, Map):
        if not x.symbolic_reading:
            return x
        default, entries = _array_entries(model, x.array())
        return Map(x.key_sort, x.val_sort, default, entries)  # type: ignore[return-value]
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return dataclasses.replace(x, **{f.name: concretize(model, getattr(x, f.name))  # type: ignore[misc]
                                         for f in dataclasses.fields(x)})
    if isinstance(x, tuple):
        return tuple(concretize(model, y) for y in x)  # type: ignore[return-value]
    if is_sym(x):
        return model_value(model, x)  # type: ignore[arg-type]
    return x


def to_json(x: Any) -> Any:
    """A concrete record, Map, tuple or scalar as JSON-ready data (large words in hex)."""
    if isinstance(x, Map):
        return {"default": to_json(x.default),
                "entries": {_key_str(k): to_json(v) for k, v in sorted(x.items(), key=lambda kv: str(kv[0]))}}
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: to_json(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, (tuple, list)):
        return [to_json(y) for y in x]
    if isinstance(x, bool) or x is None:
        return x
    if isinstance(x, int):
        return x if -(1 << 16) < x < (1 << 16) else hex(x)
    return str(x)


def _key_str(k: Any) -> str:
    return hex(k) if isinstance(k, int) and not isinstance(k, bool) and k >= (1 << 16) else str(k)
