"""Every lab in labs/solutions (labs added later included) can be graded: its source itself
scores full marks, its unchanged student version scores 0 with a hint for every visible check.

This is the one place that runs every lab's student version (about 70 s): the grader's run of it
also shows that the student notebook fails readably (a hint or a ✗ line at every check, a hint at
every unanswered cell), which test_labs.py once checked with a second run of its own."""
import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cvbook.grade.run import grade_one
from cvbook.grade.sandbox import Limits, available, choose
from cvbook.grade.source import load_lab
from notebooks import LAB_SOURCES, ROOT

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# what a failing check of an unanswered lab says: its hint, a ✗ line, or the earlier exercise it waits for
READABLE = re.compile(r"^(not answered yet\. Hint:|AssertionError: ✗|NameError)|^depends on .*not answered yet|"
                      r"^\d+ of \d+ checks passed; ✗ ")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """(lab name, right|wrong) -> (lab, result), graded two at a time in the default sandbox."""
    reason = available("bubblewrap") and available("unshare")
    if reason:
        (pytest.fail if IN_CI else pytest.skip)(f"no sandbox: {reason}")
    sandbox = choose("auto")
    out = tmp_path_factory.mktemp("labs")
    labs = {src.stem: load_lab(src) for src in LAB_SOURCES}
    jobs = [(name, kind) for name in labs for kind in ("right", "wrong")]

    def grade(job):
        name, kind = job
        lab = labs[name]
        submission = lab.path if kind == "right" else ROOT / "labs" / f"{name}.ipynb"
        with tempfile.TemporaryDirectory() as scratch:
            limits = Limits(cell_timeout=600)  # training cells on a loaded machine
            return job, (lab, grade_one(lab, f"{name}-{kind}", submission, out, Path(scratch), sandbox, limits))

    # the longest labs first, so that the threads finish together
    jobs.sort(key=lambda job: (job[1] != "right", -len(labs[job[0]].path.read_bytes())))
    with ThreadPoolExecutor(threads()) as pool:
        return dict(pool.map(grade, jobs))


def threads() -> int:
    """Submissions graded at once: the machine's cores shared with the other pytest-xdist workers
    (one thread on two cores under `make test`'s two workers; two when this file runs alone)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return max(1, (os.cpu_count() or 1) // workers)


@pytest.mark.parametrize("src", LAB_SOURCES, ids=lambda p: p.stem)
def test_the_source_itself_scores_full_marks(graded, src):
    lab, result = graded[(src.stem, "right")]
    failing = {c.id: c.message for c in result.checks if c.earned < c.points}
    assert (result.status, failing) == ("graded", {}), result.detail
    assert result.score == lab.max_score > 0


@pytest.mark.parametrize("src", LAB_SOURCES, ids=lambda p: p.stem)
def test_the_unchanged_student_version_scores_zero_with_hints(graded, src):
    lab, result = graded[(src.stem, "wrong")]
    assert result.status == "graded" and result.score == 0, result.detail
    assert [c.id for c in result.checks] == [c.id for c in lab.checks], "hidden checks are graded too"
    for check, outcome in zip(lab.checks, result.checks):
        if not check.hidden:
            assert READABLE.search(outcome.message), outcome.message
    assert any("Hint:" in c.message for c in result.checks)


@pytest.mark.parametrize("src", LAB_SOURCES, ids=lambda p: p.stem)
def test_the_student_version_fails_readably_at_its_answer_cells(graded, src):
    """What a student sees running the notebook as handed out: an answer cell that fails says its
    exercise's hint (the checks' messages: the test above), nothing unreadable."""
    lab, result = graded[(src.stem, "wrong")]
    unreadable = [p.message for p in result.problems if p.role == "answer" and not re.search(r"Hint: |Exercise: |not answered yet|✗ ", p.message)]
    assert not unreadable, f"an answer cell of the student version fails without its hint: {unreadable}"
