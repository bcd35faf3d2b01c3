"""The full-profile rehearsal as tests: one per notebook of book/ and labs/solutions/.

Run by ``make rehearsal`` (``pytest -n 2 tools/rehearsal/test_notebooks.py``), part of
``make test``. See ``tools/rehearsal/__init__.py`` for what is rehearsed and how.
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rehearsal import prepare, run  # noqa: E402

ROOT = prepare.ROOT


def result_name(notebook: Path) -> str:
    return notebook.relative_to(ROOT).as_posix().replace("/", "__").removesuffix(".ipynb")


def longest_first(notebooks: list[Path]) -> list[Path]:
    """The notebooks, the longest first (then by name), so that two workers finish together instead
    of one waiting for the last long notebook: wall seconds of the last rehearsal here, else those
    recorded in ``tests/timings.json`` (a clean clone; see tests/schedule.py, which orders ``make test``)."""
    recorded = json.loads((ROOT / "tests" / "timings.json").read_text())

    def last_seconds(notebook: Path) -> float:
        try:
            return json.loads((prepare.BUILD / "results" / f"{result_name(notebook)}.json").read_text())["seconds"]
        except (OSError, ValueError, KeyError):
            return recorded.get(f"tools/rehearsal/test_notebooks.py::test_full_profile[{notebook.relative_to(ROOT).as_posix()}]", 0.0)

    return sorted(notebooks, key=lambda p: (-last_seconds(p), p.as_posix()))


NOTEBOOKS = longest_first(sorted([*ROOT.glob("book/*.ipynb"), *ROOT.glob("labs/solutions/*.ipynb")]))


@pytest.fixture(scope="session")
def standins() -> Path:
    return prepare.standins()


@pytest.fixture(scope="session")
def torch_home() -> Path:
    return prepare.torch_home()


#: What selects the profile in a notebook's code. A notebook without any of it runs the same code on
#: the same data in both profiles (the package selects only through ``data.for_profile``, which
#: test_the_package_selects_the_profile_only_through_for_profile keeps so): its quick-profile run
#: (nbval in ``make test`` for book/, the grader's test for labs/solutions/) is its full profile.
PROFILE_SWITCH = re.compile(r"\bprofile\.(pick|is_full|is_quick|name)\b|\bfor_profile\b|CVBOOK_PROFILE")


def profile_independent(notebook: Path) -> bool:
    cells = json.loads(notebook.read_text())["cells"]
    return not any(PROFILE_SWITCH.search("".join(c["source"])) for c in cells if c["cell_type"] == "code")


def test_the_package_selects_the_profile_only_through_for_profile():
    package = ROOT / "src" / "cvbook"
    selecting = sorted(p.relative_to(package).as_posix() for p in package.rglob("*.py") if p.name != "profile.py"
                       and re.search(r"\bprofile\.(pick|is_full|is_quick|name)\(", p.read_text()))
    assert selecting == ["data/registry.py"], selecting  # for_profile: the notebooks' own, visible choice
    assert "return profile.pick(quick=quick, full=full)" in (package / "data" / "registry.py").read_text()


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_full_profile(notebook: Path, standins: Path, torch_home: Path):
    name = result_name(notebook)
    if profile_independent(notebook):  # the same run as the quick profile's, which make test checks
        result = {"notebook": str(notebook), "same_as_quick": True, "failed": None, "assertions": [], "network": [],
                  "seconds": 0.0, "cpu_seconds": 0.0, "cells": []}
    else:
        result = run.rehearse(notebook, prepare.BUILD / "runs" / name, standins, torch_home)
    results = prepare.BUILD / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps(result, indent=1))
    problems = run.problems(result)
    assert not problems, f"{notebook.name}, full profile (only 127.0.0.1 reachable):\n" + "\n".join(problems)
    for failed in result["assertions"]:
        warnings.warn(f"{notebook.name} cell {failed['cell']}: assertion not met in the capped run: "
                      f"{failed['message'][:200]}", stacklevel=1)
