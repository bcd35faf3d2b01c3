"""How `make test` hands its work to the xdist workers: the longest work units first.

`make test` runs the unit tests, every chapter through nbval and the full-profile rehearsal in one
pytest session (``--dist loadfile``). A work unit is a file (a notebook's cells share one kernel, a
test module its fixtures), except the rehearsal, whose notebooks are independent units. xdist hands
units out in collection order; here each free worker takes the longest unit left instead, by the
seconds recorded in ``tests/timings.json``, so that no worker runs a long unit alone at the end while
the other idles. The pytest command of ``make test`` with ``--update-timings`` added rewrites that
file from the run (as an argument: in ``PYTEST_ADDOPTS`` it would reach the pytest runs that some
tests start). Run it after a change that makes a unit much longer or shorter; only the order depends
on the file, never a result.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

TIMINGS = Path(__file__).with_name("timings.json")
REHEARSAL = "tools/rehearsal/test_notebooks.py::test_full_profile["
UNKNOWN_SECONDS = 5.0  # a unit not in the file yet: a new test module is usually short


def work_unit(nodeid: str) -> str:
    """The unit of scheduling a test belongs to: a rehearsed notebook alone, else its file."""
    return nodeid if nodeid.startswith(REHEARSAL) else nodeid.split("::", 1)[0]


def recorded_seconds() -> dict[str, float]:
    try:
        return json.loads(TIMINGS.read_text())
    except (OSError, ValueError):
        return {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-timings", action="store_true",
                     help=f"record each work unit's seconds in {TIMINGS} (the order make test hands them out)")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class LongestFirst(LoadScopeScheduling):
        seconds = recorded_seconds()

        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

        def _assign_work_unit(self, node) -> None:
            longest = max(self.workqueue, key=lambda unit: self.seconds.get(unit, UNKNOWN_SECONDS))
            self.workqueue.move_to_end(longest, last=False)
            super()._assign_work_unit(node)

    return LongestFirst(config, log)


_measured: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _measured[work_unit(report.nodeid)] += report.duration


def _still_there(unit: str) -> bool:
    """Whether a recorded unit's file (and a rehearsed unit's notebook) still exists: deleted ones are dropped."""
    root = TIMINGS.parent.parent
    paths = [unit.split("::", 1)[0]] + ([unit[len(REHEARSAL):-1]] if unit.startswith(REHEARSAL) else [])
    return all((root / path).exists() for path in paths)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if session.config.getoption("update_timings") and not hasattr(session.config, "workerinput"):
        kept = {unit: s for unit, s in recorded_seconds().items() if _still_there(unit)}
        timings = {**kept, **{unit: round(s, 1) for unit, s in _measured.items()}}
        TIMINGS.write_text(json.dumps(dict(sorted(timings.items(), key=lambda kv: (-kv[1], kv[0]))), indent=1) + "\n")
