"""Helpers shared by the test modules (plain functions and classes; the fixtures live in conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent.parent

#: The environment variable holding the crash tests' seed (see conftest.py).
CRASH_SEED_VAR = "RELIABILITY_SEED"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def require(available: bool, what: str) -> None:
    """A test that needs a real component (a browser, its driver, a server): skip without it, fail in CI.

    Under ``CI=true`` a missing component is a failure, never a silent skip: ``.ci/run`` installs them.
    """
    if available:
        return
    if in_ci():
        pytest.fail(f"CI=true and {what} is missing (.ci/run installs it)", pytrace=False)
    pytest.skip(f"{what} is missing")
