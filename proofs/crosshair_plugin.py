"""A CrossHair plugin for spec.contracts: evaluate the invariants on a realized state, untraced.

Load it with `crosshair check spec.contracts --extra_plugin proofs/crosshair_plugin.py`
(`sel4spec explore` loads it itself). CrossHair executes conditions under its tracer, where
valid_cspace costs seconds on even a six-cap state; with this patch CrossHair first picks
concrete values for whatever is still symbolic in the state (so it still explores the
operation's branches, one realization per path) and then runs the invariants as plain Python.
"""

from __future__ import annotations


def register() -> None:
    """Patch spec.contracts.invariants_hold for CrossHair (idempotent)."""
    import importlib

    importlib.import_module("crosshair.core_and_libs")  # its import resets every registration, so it comes first
    from crosshair import NoTracing, register_patch
    from crosshair.core import _PATCH_REGISTRATIONS, deep_realize

    from spec import contracts

    original = contracts.invariants_hold
    if original in _PATCH_REGISTRATIONS:
        return

    # Every path checks its start state in a precondition: those few answers are computed once.
    start = {id(b): original(b) for b in contracts.BASES}

    def invariants_hold_untraced(s: contracts.State) -> bool:
        with NoTracing():
            if id(s) in start and any(s is b for b in contracts.BASES):
                return start[id(s)]
        concrete = deep_realize(s)
        with NoTracing():
            return original(concrete)

    register_patch(original, invariants_hold_untraced)


register()
