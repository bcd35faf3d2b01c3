"""Shared test helpers."""

from __future__ import annotations

import importlib
import os

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run and machine: a failure in CI is reproduced
# by running the test again anywhere (a new counterexample then becomes an @example).
settings.register_profile("cvbook", derandomize=True)
settings.load_profile("cvbook")


@pytest.fixture(autouse=True)
def settings_read_again_after_each_test():
    """`cvbook.profile.settings()` reads the environment once per process; a test that changes
    ``CVBOOK_*`` variables calls ``profile.reload()``, and this puts the settings back after it."""
    yield
    from cvbook import profile

    profile.reload()


def reference(module: str):
    """Import an independent reference implementation (d2l, pycocotools, scikit-learn, ...).

    Outside CI a missing reference skips the test that needs it; in CI (``CI=true``) it fails
    it, so a cross-check can never vanish silently from the suite that gates a submission.
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        message = f"the reference {module} is not installed ({e}); `make test` installs it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


# `make test` hands the longest work units to its workers first (tests/schedule.py)
from schedule import (pytest_addoption, pytest_runtest_logreport, pytest_sessionfinish,  # noqa: E402,F401
                      pytest_xdist_make_scheduler)
