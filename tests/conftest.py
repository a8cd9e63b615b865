"""Hypothesis profiles: `ci` (the default under CI=true) repeats failures exactly."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
# The crosshair backend finds narrow value bugs at ~25x the cost: opt in with
# HYPOTHESIS_PROFILE=crosshair after `pip install hypothesis-crosshair`.
if os.environ.get("HYPOTHESIS_PROFILE") == "crosshair":
    settings.register_profile("crosshair", backend="crosshair", deadline=None, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
