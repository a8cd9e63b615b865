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


class Stepper(Generic[C, A, E]):
    """The checker one event at a time, for drivers that choose each event as they go
    (hypothesis state machines); check_trace is a loop over it."""

    def __init__(self, sim: Simulation[C, A, E], c: C) -> None:
        """Abstract the initial concrete state; raises if it is corrupt."""
        self.sim = sim
        self.c = c
        self.a: A = sim.abstract(c)
        self.steps = 0
        self.stopped = False
        self.last_obs: Any = None  # what the thread saw at the last step (drivers pick the next event by it)

    def step(self, e: E) -> Mismatch | None:
        """Run e on both sides and compare; the mismatch, if any (the stepper is then stopped)."""
        sim, c, i = self.sim, self.c, self.steps
        if self.stopped:
            raise RuntimeError("the trace cannot go on: the thread stopped or a mismatch was found")
        self.steps += 1
        a_spec, o_spec = sim.spec_step(self.a, e)
        o_impl = self.last_obs = sim.impl_step(c, e)
        self.stopped = True
        bad = sim.rep_inv(c)
        if bad:
            return Mismatch(i, e, "representation invariant", bad[0])
        try:
            a_impl = sim.abstract(c)
        except Exception as err:  # noqa: BLE001 - a corrupt state is a finding, not a crash
            return Mismatch(i, e, "abstraction", f"{type(err).__name__}: {err}")
        d = sim.obs_mismatch(o_impl, o_spec)
        if d:
            return Mismatch(i, e, "observation", d)
        d = sim.diff(a_impl, a_spec)
        if d:
            return Mismatch(i, e, "state", d)
        self.a = a_impl
        self.stopped = sim.stops(o_impl)
        return None


def check_trace(sim: Simulation[C, A, E], c: C, events: Sequence[E]) -> tuple[int, Mismatch | None]:
    """Check every step of a trace; returns the number of steps checked and the first mismatch."""
    try:
        st = Stepper(sim, c)
    except Exception as err:  # noqa: BLE001 - a corrupt initial state is reported, not raised
        return 0, Mismatch(0, None, "abstraction", f"{type(err).__name__}: {err}")
    for e in events:
        m = st.step(e)
        if m is not None or st.stopped:
            return st.steps, m
    return st.steps, None


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
