"""Proof obligations: what the runner proves, and the registry that lists them."""

from __future__ import annotations

import builtins
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import z3

KINDS: frozenset[str] = frozenset({"invariant", "equivalence", "refinement"})

# The package whose modules hold the real obligations; discovery imports all of them.
OBLIGATIONS_PACKAGE = "proofs.obligations"


@dataclass
class Query:
    """The formula of one obligation: named hypotheses imply the conjunction of the named goal conjuncts."""

    hypotheses: list[tuple[str, z3.BoolRef]]
    goal: list[tuple[str, z3.BoolRef]]
    decode: Callable[[z3.ModelRef], dict[str, Any]] | None = field(default=None)
    # Given the hypotheses' constants, (constant, value) pairs from a known model to start the
    # witness check from (proofs/witness.py); None: the solver searches from nothing.
    known_model: Callable[[list[z3.ExprRef]], list[tuple[z3.ExprRef, z3.ExprRef]]] | None = field(default=None)


@dataclass(frozen=True)
class Obligation:
    """One named claim about a spec or impl function, built into a Query only when it is solved."""

    name: str
    about: tuple[str, ...]
    property: str
    kind: str
    build: Callable[[], Query]
    bound: int | None = None
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        """Reject malformed obligations early, where they are declared."""
        if not self.name:
            raise ValueError("an obligation needs a name")
        if isinstance(self.about, str):
            # A bare string would otherwise be read as a tuple of characters.
            object.__setattr__(self, "about", (self.about,))
        else:
            object.__setattr__(self, "about", tuple(self.about))
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind {self.kind!r} is not one of {sorted(KINDS)}")
        if self.bound is not None and (isinstance(self.bound, bool) or not isinstance(self.bound, int) or self.bound < 0):
            raise ValueError(f"{self.name}: bound must be None or a non-negative int, not {self.bound!r}")
        if not self.timeout_s > 0:
            raise ValueError(f"{self.name}: timeout_s must be positive")

    @builtins.property  # the field named property shadows the builtin in this class body
    def domain(self) -> str | dict[str, int]:
        """The domain as the JSON report states it."""
        return "unbounded" if self.bound is None else {"bound": self.bound}


_REGISTRY: dict[str, Obligation] = {}
_discovered = False


def register(ob: Obligation) -> Obligation:
    """Add an obligation to the registry; a second one with the same name is an error."""
    if ob.name in _REGISTRY:
        raise ValueError(f"duplicate obligation name {ob.name!r}")
    _REGISTRY[ob.name] = ob
    return ob


def obligation(
    *,
    name: str,
    about: tuple[str, ...] | list[str] | str,
    property: str,
    kind: str,
    bound: int | None = None,
    timeout_s: float = 60.0,
) -> Callable[[Callable[[], Query]], Callable[[], Query]]:
    """Decorator: register a zero-argument function returning a Query as an obligation."""

    def wrap(build: Callable[[], Query]) -> Callable[[], Query]:
        register(
            Obligation(
                name=name,
                about=tuple([about] if isinstance(about, str) else about),
                property=property,
                kind=kind,
                build=build,
                bound=bound,
                timeout_s=timeout_s,
            )
        )
        return build

    return wrap


def discover(package: str = OBLIGATIONS_PACKAGE) -> None:
    """Import every module of the obligations package, so that their decorators register."""
    pkg = importlib.import_module(package)
    for info in pkgutil.walk_packages(pkg.__path__, prefix=package + "."):
        importlib.import_module(info.name)


def all_obligations() -> list[Obligation]:
    """Every registered obligation, in registration order, after discovering the obligations package."""
    global _discovered
    if not _discovered:
        discover()
        _discovered = True
    return list(_REGISTRY.values())


def get_obligation(name: str) -> Obligation:
    """The registered obligation of that name (KeyError if there is none)."""
    if name not in _REGISTRY:
        all_obligations()
    return _REGISTRY[name]
