"""Hidden checks stay hidden, and feedback says what to fix (issue 20 §1, §2, §2b, §2c), graded for
real in the sandbox this machine has (slow: about two minutes on two cores; run it alone).

Each leak attack of the corpus (tests/grading/corpus.py) collects the text of later cells and
raises it in a last cell of its own; test_grade_attacks.py shows that each leaks without the
grader's defences. Here, graded, the seal's resets leave them nothing to collect (their cell
says "nothing collected"), and what no reset can stop (a student function reading its caller's
frames, inside the check) is redacted from the feedback, base64 or not.
"""
import json
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cvbook.grade import report
from cvbook.grade.explain import REDACTED, Redactor
from cvbook.grade.run import grade_one
from cvbook.grade.sandbox import Limits, available, choose
from cvbook.grade.source import load_lab
from grading import corpus

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
EARLY = "def accuracy(predicted, labels):\n    return ratio(predicted, labels)\n\ndef ratio(p, l):\n    return 1 / 0\n"
LOOP = "import time\nwhile True:\n    time.sleep(0.01)"
EXTRA = {
    # the first error of the student's own code is in an early answer, the loop in a late one
    "early_error": corpus.notebook({**corpus.RIGHT, corpus.ACC: EARLY}, after={corpus.IOU: LOOP}),
    "early_cell": corpus.notebook({**corpus.RIGHT, corpus.BER: "raise ValueError('my own early mistake')\n" + corpus.RIGHT[corpus.BER]}),
}
CASES = {case.name: case for case in corpus.CASES if case.name in (*corpus.LEAK_CASES, "partial_credit", "library_answer")}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """student -> (result, feedback Markdown + HTML), and the output folder."""
    if available("bubblewrap") and available("unshare"):
        (pytest.fail if IN_CI else pytest.skip)("no sandbox here")
    lab = load_lab(corpus.SOURCE)
    base = tmp_path_factory.mktemp("leaks")
    ctx = corpus.Context(base / "submissions", base / "out", 0, [], [])
    ctx.submissions.mkdir()
    jobs = []
    for name, case in CASES.items():
        (ctx.submissions / f"{name}.ipynb").write_bytes(case.build(ctx))
        jobs.append((name, name, False))
    for name, nb in EXTRA.items():
        (ctx.submissions / f"{name}.ipynb").write_bytes(corpus.dump(nb))
        jobs.append((name, name, False))
    jobs.append(("library_allowed", "library_answer", True))
    sandbox, limits = choose("auto"), Limits(cell_timeout=20)

    def grade(job):
        student, submission, allow = job
        with tempfile.TemporaryDirectory() as scratch:
            result = grade_one(lab, student, ctx.submissions / f"{submission}.ipynb", ctx.out, Path(scratch), sandbox,
                               limits, allow_library=allow)
        report.write_result(ctx.out, lab, result)
        feedback = ctx.out / "feedback"
        return student, (result, (feedback / f"{student}.md").read_text() + (feedback / f"{student}.html").read_text())

    with ThreadPoolExecutor(2) as pool:
        results = dict(pool.map(grade, jobs))
    report.write_gradebook(ctx.out, lab, {name: result for name, (result, _) in results.items()})
    return results, ctx.out


@pytest.mark.parametrize("name", corpus.LEAK_CASES)
def test_no_leak_of_the_hidden_check(graded, name):
    results, _ = graded
    result, feedback = results[name]
    assert [c.earned for c in result.checks] == CASES[name].earned and result.status == "graded", feedback
    lab = load_lab(corpus.SOURCE)
    assert corpus.HIDDEN_MARK not in feedback and "another problem" not in feedback
    assert not Redactor(lab).leaks(feedback), "the feedback holds text of a check cell"
    if name == "leak_frames":  # read inside the check itself: only the redaction stops it
        assert REDACTED in feedback
    else:  # the resets left the attack nothing to collect
        assert "ValueError: nothing collected" in feedback, feedback
    assert result.flags, "the attack's code is flagged for the instructor"


def test_feedback_leads_with_the_first_error_of_the_students_code(graded):
    result, feedback = graded[0]["early_error"]
    assert feedback.index("## First error in your code") < feedback.index("| # |")
    lead = feedback.split("## First error in your code", 1)[1].split("|", 1)[0]
    assert "ZeroDivisionError: division by zero" in lead and "check of Exercise 1: accuracy" in lead
    assert "line 2, in accuracy: `return ratio(predicted, labels)` → line 5, in ratio: `return 1 / 0`" in lead
    assert "while running line 13: `time.sleep(0.01)`" in feedback, "a timeout names the line that was running"
    assert [c.earned for c in result.checks] == [0, 1, 0, 1, 1]
    result, feedback = graded[0]["early_cell"]
    lead = feedback.split("## First error in your code", 1)[1].split("|", 1)[0]
    assert "your answer to Exercise 2: balanced error rate" in lead and "ValueError: my own early mistake" in lead


def test_partial_credit_per_check_call(graded):
    result, feedback = graded[0]["partial_credit"]
    roc = result.checks[3]
    assert roc.earned == pytest.approx(2 / 3, abs=1e-4) and roc.message.startswith("2 of 3 checks passed; ✗ AUC: got 0.5000")
    assert "| 0.6667 / 1 |" in feedback


def test_an_imported_answer_scores_zero_unless_allowed(graded, tmp_path):
    results, out = graded
    result, feedback = results["library_answer"]
    assert [c.earned for c in result.checks] == [1, 1, 1, 1, 0]
    assert "calls torchvision.ops.box_iou instead of implementing it" in result.checks[4].message
    assert [f.what for f in result.flags] == ["calls the library function it should implement: torchvision.ops.box_iou"]
    allowed, _ = results["library_allowed"]
    assert allowed.score == 5 and allowed.flags == result.flags, "allowed, it keeps its point and stays flagged"
    flags = (out / "flags.csv").read_text()
    assert "library_answer,answer ce29af79 (Exercise 4: IoU of boxes),calls the library function" in flags
    assert "calls the library" not in feedback.split("## What to fix")[0].split("| # |")[0]
    assert json.loads((out / "results" / "library_answer.json").read_text())["flags"][0]["where"].startswith("answer ce29af79")
