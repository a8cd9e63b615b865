"""One generic forward-simulation checker, parameterised as Serval's is.

A `Simulation` names the concrete step, the abstract step, the abstraction function, the
representation invariant, how to compare observations and how to diff two abstract states.
`check_trace` runs a trace of events from a concrete state and, at every step, checks
abstract(step_impl(c, e)) == step_spec(abstract(c), e) and that the observations agree.
Every later area (IPC, scheduling) plugs its own Simulation into the same checker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

C = TypeVar("C")  # concrete state
A = TypeVar("A")  # abstract state
E = TypeVar("E")  # event


@dataclass
class Simulation(Generic[C, A, E]):
    """The parameters of a refinement check."""

    name: str
    impl_step: Callable[[C, E], Any]                 # runs e on c (may mutate c); returns what the thread sees
    spec_step: Callable[[A, E], tuple[A, Any]]       # the new abstract state and what the thread sees
    abstract: Callable[[C], A]                       # may raise to say the concrete state is corrupt
    rep_inv: Callable[[C], list[str]]                # violations of the representation invariant
    obs_mismatch: Callable[[Any, Any], str | None]   # None when impl's observation refines spec's
    diff: Callable[[A, A], str | None]               # the first differing field, None when equal
    stops: Callable[[Any], bool] = lambda obs: False  # the trace cannot go on after this observation


@dataclass
class Mismatch:
    """The first step at which impl was not a spec step."""

    step: int
    event: Any
    what: str      # "observation", "state", "representation invariant" or "abstraction"
    detail: str

    def __str__(self) -> str:
        return f"step {self.step}: {self.event}\n  {self.what}: {self.detail}"


def check_trace(sim: Simulation[C, A, E], c: C, events: Sequence[E]) -> tuple[int, Mismatch | None]:
    """Check every step of a trace; returns the number of steps checked and the first mismatch."""
    try:
        a = sim.abstract(c)
    except Exception as err:  # noqa: BLE001 - a corrupt initial state is reported, not raised
        return 0, Mismatch(0, None, "abstraction", f"{type(err).__name__}: {err}")
    for i, e in enumerate(events):
        a_spec, o_spec = sim.spec_step(a, e)
        o_impl = sim.impl_step(c, e)
        bad = sim.rep_inv(c)
        if bad:
            return i + 1, Mismatch(i, e, "representation invariant", bad[0])
        try:
            a_impl = sim.abstract(c)
        except Exception as err:  # noqa: BLE001
            return i + 1, Mismatch(i, e, "abstraction", f"{type(err).__name__}: {err}")
        d = sim.obs_mismatch(o_impl, o_spec)
        if d:
            return i + 1, Mismatch(i, e, "observation", d)
        d = sim.diff(a_impl, a_spec)
        if d:
            return i + 1, Mismatch(i, e, "state", d)
        a = a_impl
        if sim.stops(o_impl):
            return i + 1, None
    return len(events), None


def shrink(fails: Callable[[Sequence[E]], bool], events: Sequence[E], budget: int = 400) -> list[E]:
    """A shortest-first greedy shrink: drop chunks, then single events, while the trace still fails."""
    trace = list(events)
    tries = 0
    chunk = max(1, len(trace) // 2)
    while chunk >= 1 and tries < budget:
        i = 0
        changed = False
        while i < len(trace) and tries < budget:
            candidate = trace[:i] + trace[i + chunk:]
            tries += 1
            if candidate and fails(candidate):
                trace, changed = candidate, True
            else:
                i += chunk
        if not changed:
            chunk //= 2
    return trace
