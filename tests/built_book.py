"""The built book, for the tests that read it (test_book.py, test_browser.py).

``make test`` builds the book beside its first tests (the Makefile's ``book-in-background``: the
build uses one core for about a minute, which the set-up left idle): it writes the build's process
id to ``_build/.book-building`` and, when ``make book`` ends, its exit status to
``_build/.book-status``. :func:`wait_for_book` waits for that build, and fails with the end of its
log (``_build/book.log``) if it failed, so that a book that does not build fails ``make test`` as
before. Without a background build (``make book`` by hand, or ``CVBOOK_HTML``), it takes the
book as it is.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from notebooks import ROOT

BUILD = ROOT / "_build"
HTML = Path(os.environ.get("CVBOOK_HTML", BUILD / "html"))
BUILDING, STATUS, LOG = BUILD / ".book-building", BUILD / ".book-status", BUILD / "book.log"
WAIT_S = 1200  # the build takes about 70 s alone and about twice that beside two busy workers


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _builder() -> int | None:
    """The process id of a background build, if one was started (whether or not it still runs)."""
    try:
        return int(BUILDING.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def wait_for_book() -> Path:
    """The HTML folder, once a background build of the book (if one was started) has ended."""
    pid = None if "CVBOOK_HTML" in os.environ else _builder()
    if pid is not None:
        deadline = time.monotonic() + WAIT_S
        while not STATUS.exists() and _alive(pid):
            if time.monotonic() > deadline:
                pytest.fail(f"the book's background build (pid {pid}) has not ended after {WAIT_S} s: see {LOG}")
            time.sleep(0.5)
        status = STATUS.read_text().strip() if STATUS.exists() else "none (it was stopped)"
        if status != "0":
            tail = LOG.read_text(errors="replace")[-4000:] if LOG.exists() else "(no log)"
            pytest.fail(f"`make book` failed, exit status {status}; the end of {LOG}:\n{tail}")
    if not (HTML / "index.html").exists():
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"the book is not built at {HTML}: run `make book`")
    return HTML
