"""Shared test configuration: a deterministic hypothesis profile for CI."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

# tests import the zoo as a plain module
sys.path.insert(0, str(Path(__file__).parent))

# Fixed examples and no per-example deadline: CI machines are shared and noisy,
# and a test must fail the same way every time it fails.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=50)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
