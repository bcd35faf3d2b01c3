"""The grader against the adversarial corpus (tests/grading/corpus.py), in the bubblewrap sandbox.

Every submission must get a gradebook row with the right points and status, and none may affect
the grader, the machine or the other submissions: a TCP listener on 127.0.0.1, sentinel files
and the submissions folder are checked afterwards, and no sandbox process may be left.
In CI (``CI=true``) a missing sandbox fails these tests instead of skipping them.
(The unshare fallback, Ctrl-C and the notebook time limit: test_grade_fallback.py.)

The same run shows that hidden checks stay hidden and that feedback says what to fix (issue 20
§1, §2, §2b, §2c). Each leak attack of the corpus collects the text of later cells and raises it
in a last cell of its own; test_grade_attacks.py shows that each leaks without the grader's
defences. Graded, the seal's resets leave them nothing to collect (their cell says "nothing
collected"), and what no reset can stop (a student function reading its caller's frames, inside
the check) is redacted from the feedback, base64 or not. (These tests had a module of their own,
test_grade_leaks.py, which graded ten of the corpus's submissions a second time.)
"""
import json
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from cvbook.grade.explain import REDACTED, Redactor
from cvbook.grade.run import Result
from cvbook.grade.sandbox import ETC, USER, choose, run_confined
from cvbook.grade.source import load_lab
from grading import corpus
from grading.harness import TIMEOUT, Run, check_nothing_escaped, check_rows, corpus_run, grade, need, plain_nbval, rows


@pytest.fixture(scope="module")
def bwrap(tmp_path_factory) -> Run:
    return corpus_run(tmp_path_factory, "bubblewrap", corpus.CASES)


@pytest.mark.parametrize("case", corpus.CASES, ids=lambda c: c.name)
def test_bubblewrap_row(bwrap, case):
    check_rows(bwrap, case)


def test_nothing_escaped(bwrap):
    check_nothing_escaped(bwrap, "bubblewrap")


def test_the_kernel_has_a_user_name_and_sees_only_the_listed_etc_entries():
    """As in the fallback (test_grade_fallback.py): torchvision imports, getpass names the user, /etc
    shows only ETC's entries (bubblewrap binds them, read-only, into a fresh root)."""
    from test_grade_fallback import PROBE

    need("bubblewrap")
    done = run_confined(choose("bubblewrap"), PROBE)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout)
    assert (seen["etc"], seen["user"]) == (sorted(name for name in ETC if os.path.lexists(f"/etc/{name}")), USER)


def test_feedback_says_what_to_do(bwrap):
    feedback = bwrap.ctx.out / "feedback"
    for case in bwrap.cases:
        assert (feedback / f"{case.name}.html").exists()
    empty = (feedback / "empty.md").read_text()
    table = [line for line in empty.splitlines() if line.startswith("| ") and "✗" in line]
    hidden = [line for line in table if "(hidden check)" in line]
    assert len(table) == 5 and all("not answered yet. Hint:" in line for line in table if line not in hidden)
    assert len(hidden) == 1 and "what it tests is not shown" in hidden[0], "a hidden check says only that it failed"
    assert "compare the two tensors elementwise" in empty
    assert "**Score: 0 / 5** (status: graded)" in empty
    assert "not valid JSON (line" in (feedback / "malformed_json.md").read_text()
    assert "not a notebook" in (feedback / "python_file.md").read_text()
    assert "some output was cut" in (feedback / "print_bomb.md").read_text()
    assert "ran past its time limit" in (feedback / "ignores_interrupts.md").read_text()
    assert "exit status" in (feedback / "exits.md").read_text() and "SystemExit: I give up" in (feedback / "exits.md").read_text()
    assert f"bubblewrap sandbox ({TIMEOUT} s per cell" in (feedback / "right.md").read_text()
    assert "found by their text" in (feedback / "old_format.md").read_text()


def test_a_grade_is_reproduced_by_the_plain_nbval_command_of_the_result(bwrap, tmp_path):
    command = json.loads((bwrap.ctx.out / "results" / "partly_wrong.json").read_text())["reproduce"]
    assert "--nbval-lax" not in (bwrap.ctx.out / "feedback" / "partly_wrong.md").read_text(), "for the instructor only"
    notebook = Path(command.split()[-1])
    assert "--nbval-lax" in command and notebook.exists()
    passed = plain_nbval([notebook], tmp_path / "junit.xml")
    cells = [c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]
    by_check = {cell.id: passed[(notebook.name, i)] for i, cell in enumerate(cells) if cell.id in corpus.CHECKS}
    full = [float(bwrap.rows["partly_wrong"][c]) == 1 for c in corpus.CHECKS]  # plain nbval grades whole cells
    assert [by_check[c] for c in corpus.CHECKS] == full


def test_the_students_summary_agrees_with_the_grader(bwrap):
    """What a student sees at the end of the lab counts the same checks the grader passes."""
    nb = nbformat.reads((bwrap.ctx.submissions / "partly_wrong.ipynb").read_text(), as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    visible = [c for c in corpus.CHECKS if not c.startswith("hidden")]
    passed = sum(float(bwrap.rows["partly_wrong"][c]) for c in visible)
    assert printed.startswith(f"Checks passing: {passed:g} of {len(visible)}\n"), printed


def graded(run: Run, student: str) -> tuple[Result, str]:
    """A student's result and feedback (Markdown + HTML) from the output folder of ``run``."""
    feedback = run.ctx.out / "feedback"
    return (Result.from_json((run.ctx.out / "results" / f"{student}.json").read_text()),
            (feedback / f"{student}.md").read_text() + (feedback / f"{student}.html").read_text())


@pytest.mark.parametrize("name", corpus.LEAK_CASES)
def test_no_leak_of_the_hidden_check(bwrap, name):
    result, feedback = graded(bwrap, name)
    case = next(c for c in bwrap.cases if c.name == name)
    assert [c.earned for c in result.checks] == case.earned and result.status == "graded", feedback
    assert corpus.HIDDEN_MARK not in feedback and "another problem" not in feedback
    assert not Redactor(load_lab(corpus.SOURCE)).leaks(feedback), "the feedback holds text of a check cell"
    if name == "leak_frames":  # read inside the check itself: only the redaction stops it
        assert REDACTED in feedback
    else:  # the resets left the attack nothing to collect
        assert "ValueError: nothing collected" in feedback, feedback
    assert result.flags, "the attack's code is flagged for the instructor"


def test_feedback_leads_with_the_first_error_of_the_students_code(bwrap):
    result, feedback = graded(bwrap, "early_error")
    assert feedback.index("## First error in your code") < feedback.index("| # |")
    lead = feedback.split("## First error in your code", 1)[1].split("|", 1)[0]
    assert "ZeroDivisionError: division by zero" in lead and "check of Exercise 1: accuracy" in lead
    assert "line 2, in accuracy: `return ratio(predicted, labels)` → line 5, in ratio: `return 1 / 0`" in lead
    assert "while running line 13: `time.sleep(0.01)`" in feedback, "a timeout names the line that was running"
    assert [c.earned for c in result.checks] == [0, 1, 0, 1, 1]
    result, feedback = graded(bwrap, "early_cell")
    lead = feedback.split("## First error in your code", 1)[1].split("|", 1)[0]
    assert "your answer to Exercise 2: balanced error rate" in lead and "ValueError: my own early mistake" in lead


def test_partial_credit_per_check_call(bwrap):
    result, feedback = graded(bwrap, "partial_credit")
    roc = result.checks[3]
    assert roc.earned == pytest.approx(2 / 3, abs=1e-4) and roc.message.startswith("2 of 3 checks passed; ✗ AUC: got 0.5000")
    assert "| 0.6667 / 1 |" in feedback


@pytest.fixture(scope="module")
def rerun(bwrap) -> tuple[dict[str, dict], dict[str, dict], str]:
    """The corpus graded again with ``--allow-library`` after one result was deleted, one submission
    changed (empty now right) and one added (library_allowed: library_answer's submission):
    the gradebook before, after, and the command's stderr. (Run after the tests that read the
    first run's feedback of empty.)"""
    ctx = bwrap.ctx
    before = rows(ctx.out)
    (ctx.out / "results" / "right.json").unlink()
    (ctx.submissions / "empty.ipynb").write_bytes(corpus.dump(corpus.notebook(corpus.RIGHT)))
    (ctx.submissions / "library_allowed.ipynb").write_bytes((ctx.submissions / "library_answer.ipynb").read_bytes())
    try:
        done = grade(ctx, "--sandbox", "bubblewrap", "--allow-library")
        assert done.returncode == 0, done.stderr[-3000:]
        return before, rows(ctx.out), done.stderr
    finally:
        (ctx.submissions / "empty.ipynb").write_bytes(corpus.STUDENT.read_bytes())
        (ctx.submissions / "library_allowed.ipynb").unlink()


def test_a_rerun_grades_only_what_is_missing_or_changed(bwrap, rerun):
    before, after, stderr = rerun
    assert f"{len(bwrap.cases) - 2} already graded, 3 to grade" in stderr, stderr
    assert after["empty"]["score"] == "5" and after["right"] == before["right"]
    new = ("empty", "right", "library_allowed")
    assert {k: v for k, v in after.items() if k not in new} == {k: v for k, v in before.items() if k not in new}


def test_an_imported_answer_scores_zero_unless_allowed(bwrap, rerun):
    result, feedback = graded(bwrap, "library_answer")
    assert [c.earned for c in result.checks] == [1, 1, 1, 1, 0]
    assert "calls torchvision.ops.box_iou instead of implementing it" in result.checks[4].message
    assert [f.what for f in result.flags] == ["calls the library function it should implement: torchvision.ops.box_iou"]
    allowed, _ = graded(bwrap, "library_allowed")
    assert allowed.score == 5 and allowed.flags == result.flags, "allowed, it keeps its point and stays flagged"
    assert rerun[1]["library_allowed"]["score"] == "5"
    flags = (bwrap.ctx.out / "flags.csv").read_text()
    assert "library_answer,answer ce29af79 (Exercise 4: IoU of boxes),calls the library function" in flags
    assert "calls the library" not in feedback.split("## What to fix")[0].split("| # |")[0]
    assert json.loads((bwrap.ctx.out / "results" / "library_answer.json").read_text())["flags"][0]["where"].startswith("answer ce29af79")
