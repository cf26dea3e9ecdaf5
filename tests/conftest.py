"""Shared pytest configuration: hypothesis profiles and the GPU skip.

Profiles, chosen by the environment variable ``HYPOTHESIS_PROFILE``:

- ``ci`` (the default, and what ``make test`` / ``.ci/run`` use): derandomized, no example
  database, no deadline, a bounded number of examples, so the suite is fast and every run
  draws the same cases.
- ``dev``: more examples, random seeds; for local exploration.
- ``thorough``: many more examples; run it before a release.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("ci", max_examples=25, derandomize=True, database=None, **_common)
settings.register_profile("dev", max_examples=100, **_common)
settings.register_profile("thorough", max_examples=1000, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``gpu`` tests cleanly when CUDA is not available."""
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # reference/ tests still run without torch
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs CUDA (none available)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
