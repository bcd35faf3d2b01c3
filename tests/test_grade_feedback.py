"""What the feedback says, without kernels (issue 20 §1, §2, §2b, §2c): check()'s messages and its
collecting mode, scoring per check() call, the first error of the student's own code, blame of a
blank earlier exercise, redaction of check-cell text, library calls found by reading the answer,
tampered check cells. (Graded for real: test_grade_sandbox.py.)"""
import base64
import sys

import numpy as np
import pytest
import torch

from cvbook.grade import rebuild as rb
from cvbook.grade.explain import REDACTED, Frame, Redactor, blame, student_frames
from cvbook.grade.library import library_references
from cvbook.grade.score import score_cells
from cvbook.grade.source import defined_names, load_lab
from cvbook.labs import check
from grading import corpus

LAB = load_lab(corpus.SOURCE)
CHECK_MODULE = sys.modules["cvbook.labs.check"]


def test_an_array_mismatch_says_where_how_many_and_how_far():
    expected = np.full((80, 4), 0.5)
    got = expected.copy()
    got[3, 1], got[10, 2], got[70, 0] = 0.7, 0.1, np.nan
    with pytest.raises(AssertionError) as error:
        check("boxes", got, expected)
    message = str(error.value)
    assert message == ("✗ boxes: 3 of 320 entries differ (shape (80, 4); largest difference 0.4): "
                       "at (3, 1) got 0.7, expected 0.5; at (10, 2) got 0.1, expected 0.5; at (70, 0) got nan, expected 0.5")
    assert "mean" not in message
    with pytest.raises(AssertionError, match=r"✗ n: got 'abc', expected 0.5"):
        check("n", "abc", 0.5)
    with pytest.raises(AssertionError, match=r"got '" + "x" * 60):  # a long string is cut
        check("s", "x" * 500, "y")
    assert len(str(pytest.raises(AssertionError, check, "s", "x" * 500, "y").value)) < 200


def test_collecting_records_every_call_and_raises_none(capsys):
    CHECK_MODULE.collect_calls()
    try:
        check("one", 1, 2)
        check("two", torch.tensor([1.0, 2.0]), [1.0, 2.0])
        check("three", [1, 2, 3], [1, 2, 4])
    finally:
        calls = CHECK_MODULE.collected_calls()
    assert [(passed, name) for passed, name, _ in calls] == [(False, "one"), (True, "two"), (False, "three")]
    assert capsys.readouterr().out.splitlines() == ["✗ one: got 1.0000, expected 2.0000", "✓ two: [1, 2]",
                                                    "✗ three: got [1., 2., 3.], expected [1., 2., 4.]"]
    with pytest.raises(AssertionError):  # collecting is over: the student's view, the first failure stops the cell
        check("one", 1, 2)
    assert CHECK_MODULE.collected_calls() == []


def rebuilt(answers: dict[str, str], **kwargs):
    data = corpus.notebook(answers, **kwargs)
    cells = [rb.SubmittedCell(c.get("id"), c["cell_type"], "".join(c["source"])) for c in data["cells"]]
    return rb.rebuild(LAB, rb.Submission(cells, "4.5"), "tok")


def index_of(built, cell_id: str) -> int:
    return [cid for _, cid in built.roles].index(cell_id)


ROC_CALLS = [(True, "FP rates", "FP rates"), (True, "TP rates", "TP rates"), (False, "AUC", "✗ AUC: got 0.5000, expected 0.7188")]


def test_a_check_cell_earns_its_share_of_passing_calls_and_lists_every_failure():
    built = rebuilt(corpus.RIGHT)
    roc = index_of(built, "7bee7dec")
    cells = {i: None for i in range(len(built.roles))}
    cells[roc] = "Notebook cell execution failed\nCell 9: Cell outputs differ\n\nInput:\n...\n- ✓ AUC: matches"
    scored = score_cells(LAB, built, cells, {roc: ROC_CALLS})
    by_id = {c[0]: c for c in scored.checks}
    assert by_id["7bee7dec"][2] == pytest.approx(2 / 3, abs=1e-4)
    assert by_id["7bee7dec"][3] == "2 of 3 checks passed; ✗ AUC: got 0.5000, expected 0.7188"
    assert [c[2] for c in scored.checks] == [1, 1, 1, pytest.approx(2 / 3, abs=1e-4), 1]
    two_failures = [(False, "FP rates", "✗ FP rates: got 0"), (True, "TP rates", "TP rates"), (False, "AUC", "✗ AUC: got 0.5")]
    message = score_cells(LAB, built, cells, {roc: two_failures}).checks[3][3]
    assert message == "1 of 3 checks passed; ✗ FP rates: got 0; ✗ AUC: got 0.5"
    # the cell stops at an error after its first call: that call counts, the others did not run
    error = ("Cell 9: Cell execution caused an exception\n\nInput:\n...\nTraceback:\n---------\n"
             "NameError                    Traceback (most recent call last)\nNameError: name 'sk_tpr' is not defined")
    scored = score_cells(LAB, built, {**cells, roc: error}, {roc: ROC_CALLS[:1]})
    assert scored.checks[3][2] == pytest.approx(1 / 3, abs=1e-4)
    assert scored.checks[3][3] == "1 of 3 checks passed; NameError: name 'sk_tpr' is not defined (2 of its 3 checks did not run)"


TRACEBACK = """Notebook cell execution failed
Cell 5: Cell execution caused an exception

Input:
_cvbook_seal_x({})
check("accuracy", accuracy(predicted, labels), skm.accuracy_score(labels, predicted))

Traceback:
---------------------------------------------------------------------------
ZeroDivisionError                         Traceback (most recent call last)
File /tmp/ipykernel_7/1234.py:2
----> 2 check("accuracy", accuracy(predicted, labels), skm.accuracy_score(labels, predicted))

Cell In[1], line 2, in accuracy(predicted, labels)
      1 def accuracy(predicted, labels):
----> 2     return helper(predicted)

Cell In[1], line 5, in helper(x)
      4 def helper(x):
----> 5     return 1 / 0

ZeroDivisionError: division by zero
"""
EARLY = "def accuracy(predicted, labels):\n    return helper(predicted)\n\ndef helper(x):\n    return 1 / 0\n"


def test_the_feedback_leads_with_the_first_error_in_the_students_code():
    frames = student_frames(TRACEBACK, {corpus.ACC: EARLY, "other": "x = 1\ny = 2"})
    assert [(f.cell, f.line, f.function, f.code) for f in frames] == [
        (corpus.ACC, 2, "accuracy", "return helper(predicted)"), (corpus.ACC, 5, "helper", "return 1 / 0")]
    built = rebuilt({**corpus.RIGHT, corpus.ACC: EARLY})
    cells = {i: None for i in range(len(built.roles))}
    cells[index_of(built, "5f56fc7f")] = TRACEBACK
    scored = score_cells(LAB, built, cells, {})
    assert scored.lead == ("your code, called by the check of Exercise 1: accuracy: ZeroDivisionError: division by zero. "
                           "In your code: line 2, in accuracy: `return helper(predicted)` → line 5, in helper: `return 1 / 0`")
    timeout = TRACEBACK.replace("Cell execution caused an exception", "Timeout of 8 seconds exceeded executing cell")
    cells[index_of(built, corpus.ACC)] = timeout.replace("ZeroDivisionError: division by zero", "KeyboardInterrupt: ")
    scored = score_cells(LAB, built, cells, {})
    assert scored.lead.startswith("your answer to Exercise 1: accuracy (the cell starting `def accuracy(predicted, labels):`): "
                                  "Timeout of 8 seconds exceeded executing cell, while running line 5, in helper: `return 1 / 0`")
    assert scored.problems[0][2].endswith("while running line 5, in helper: `return 1 / 0`")


# The same failure as IPython 7.34 (Colab's) prints it: no line number in a frame's header.
TRACEBACK_IPYTHON7 = """ZeroDivisionError                         Traceback (most recent call last)
/tmp/ipykernel_2/2070189390.py in <cell line: 0>()
      1 _cvbook_seal_x({})
----> 2 check("accuracy", accuracy(predicted, labels), skm.accuracy_score(labels, predicted))

/tmp/ipykernel_2/2841304405.py in accuracy(predicted, labels)
      1 def accuracy(predicted, labels):
----> 2     return helper(predicted)
      3 

/tmp/ipykernel_2/2841304405.py in helper(x)
      3 
      4 def helper(x):
----> 5     return 1 / 0

ZeroDivisionError: division by zero
"""


def test_frames_are_found_in_ipython_7_tracebacks_too():
    frames = student_frames(TRACEBACK_IPYTHON7, {corpus.ACC: EARLY, "other": "x = 1\ny = 2"})
    assert [(f.cell, f.line, f.function, f.code) for f in frames] == [
        (corpus.ACC, 2, "accuracy", "return helper(predicted)"), (corpus.ACC, 5, "helper", "return 1 / 0")]


def test_a_long_line_of_the_students_code_is_cut_with_an_ellipsis():
    line = "raise NotImplementedError('Exercise: " + "x" * 200 + "')"
    shown = Frame("cell", 7, "roc_points", line).describe()
    assert shown == f"line 7, in roc_points: `{line[:119]}…`" and len(shown.split("`")[1]) == 120
    # a line of words is cut after a whole word, not inside one; a cut line is not also marked as going on
    words = "raise NotImplementedError('Exercise: " + "argsort the scores, " * 10 + "')"
    quoted = Frame("cell", 7, "roc_points", words).describe().split("`")[1]
    assert quoted.endswith("scores,…") and words.startswith(quoted[:-1]) and len(quoted) <= 120
    assert Frame("cell", 7, "f", words[:-2]).describe().endswith("…`")
    assert Frame("cell", 2, "f", "return 1 / 0").describe() == "line 2, in f: `return 1 / 0`"
    # the first line of a statement that goes on (a long hint's stub) says so
    assert Frame("cell", 7, "f", "raise NotImplementedError('Exercise: sort the '").describe() == \
        "line 7, in f: `raise NotImplementedError('Exercise: sort the '` …"
    assert Frame("cell", 3, "", "for x in items:").describe() == "line 3: `for x in items:`"


def test_a_check_blames_the_blank_exercise_it_depends_on():
    ber = LAB.check("384435d5")
    acc_hint = LAB.answer(corpus.ACC).hints[0]
    assert blame(LAB, ber, f"not answered yet. Hint: {acc_hint}").startswith("depends on Exercise 1: accuracy, which is not answered")
    assert blame(LAB, ber, "NameError: name 'accuracy' is not defined").startswith("depends on Exercise 1: accuracy, which is not answered yet or failed: `accuracy`")
    own = f"not answered yet. Hint: {LAB.answer(corpus.BER).hints[0]}"
    assert blame(LAB, ber, own) == own, "its own exercise's hint stays"
    assert blame(LAB, ber, "NameError: name 'nothing_known' is not defined").startswith("NameError")
    assert {"roc_points", "area_under", "binary", "scores"} <= defined_names(corpus.RIGHT[corpus.ROC])


def test_student_text_holding_check_cell_text_is_never_echoed():
    redact = Redactor(LAB)
    hidden = next(c for c in LAB.notebook.cells if c.id == "hidden-another-problem").source
    line = hidden.splitlines()[1]
    for leaked in [hidden, line, line.upper(), " ".join(line), line[::-1], base64.b64encode(hidden.encode()).decode(),
                   hidden.encode().hex(), "accuracy, another problem", base64.b64encode(hidden.encode()).decode()[:600]]:
        assert redact(f"ValueError: {leaked}") == REDACTED, leaked
    for fine in ["ZeroDivisionError: division by zero", "AssertionError: ✗ accuracy: got 0.5000, expected 0.7000",
                 "NameError: name 'labels' is not defined"]:
        assert redact(fine) == fine
    assert redact("ValueError: " + "z" * 5000).endswith("[...]") and len(redact("x" * 5000)) < 500


def test_the_hidden_checks_own_message_is_kept_for_the_instructor_only():
    built = rebuilt({**corpus.RIGHT, corpus.BER: corpus.WRONG[corpus.BER]})
    hidden = index_of(built, "hidden-another-problem")
    cells = {i: None for i in range(len(built.roles))}
    cells[hidden] = "Cell 8: Cell outputs differ"
    calls = [(True, "accuracy, another problem", "accuracy, another problem"),
             (False, "balanced error rate, another problem", "✗ balanced error rate, another problem: got 0.5000, expected 0.3750")]
    check_id, points, earned, message = score_cells(LAB, built, cells, {hidden: calls}).checks[2]
    assert earned == 0.5 and "another problem: got 0.5000, expected 0.3750" in message  # report.visible_message hides it


LIBRARY = ["cvbook.detection.anchors.assign_anchors", "cvbook.detection.anchors.multibox_target"]
LAB_IMPORTS = {"anchors": "cvbook.detection:anchors", "check": "cvbook.labs:check"}


@pytest.mark.parametrize("code, found", [
    ("def assign(a, b):\n    return anchors.assign_anchors(a, b)", ["cvbook.detection.anchors.assign_anchors"]),
    ("from cvbook.detection.anchors import assign_anchors as mine\ndef assign(a, b):\n    return mine(a, b)",
     ["cvbook.detection.anchors.assign_anchors"]),
    ("import cvbook.detection.anchors as A\nx = A\nf = getattr(x, 'multibox_target')", ["cvbook.detection.anchors.multibox_target"]),
    ("from cvbook.detection.anchors import *\ndef assign(a, b):\n    return assign_anchors(a, b)",
     ["cvbook.detection.anchors.assign_anchors"]),
    ("import importlib\nm = importlib.import_module('cvbook.detection.anchors')\nf = getattr(m, 'assign_anchors')",
     ["cvbook.detection.anchors.assign_anchors"]),
    ("def assign_anchors(a, b):\n    return a\n\nassign_anchors(1, 2)", []),  # the student's own function of that name
    ("anchors.assign_anchors = None", []),  # assigning is not calling
    ("def assign(a, b):\n    return anchors.multibox_prior(a)", []),  # another function of the module
    ("def broken(:\n", []),
])
def test_library_calls_are_found_by_reading_the_answer(code, found):
    assert library_references(code, LIBRARY, LAB_IMPORTS) == found


def test_reading_an_answer_imports_only_the_packages_it_names():
    """A grader resolves names by importing them, once per process: an answer that names nothing of
    the declared packages (lab 1's: scikit-learn, torchvision, cvbook) costs it no import of them."""
    import subprocess
    import sys

    probe = ("import sys; from cvbook.grade.library import library_references as refs; "
             "names = ['sklearn.metrics.accuracy_score', 'torchvision.ops.box_iou']; "
             "print(refs('def accuracy(p, l):\\n    return (p == l).float().mean().item()', names), "
             "sorted({'sklearn', 'torchvision', 'torch'} & set(sys.modules)), "
             "refs('import sklearn.metrics as m\\nf = m.accuracy_score', names))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[] [] ['sklearn.metrics.accuracy_score']", done.stdout + done.stderr[-2000:]


def test_no_lab_solution_calls_what_it_reimplements():
    """Read statically (a lab being written need not be executed yet to be checked here)."""
    import types

    import nbformat

    from cvbook.labs.cells import is_answer
    from notebooks import LAB_SOURCES

    declared = 0
    for path in LAB_SOURCES:
        nb = nbformat.read(path, as_version=4)
        answers = [cell for cell in nb.cells if is_answer(cell)]
        imports = rb.lab_imports(types.SimpleNamespace(notebook=nb, answers=frozenset(c.id for c in answers)))
        for cell in answers:
            names = cell.metadata.get("cvbook", {}).get("reimplements", [])
            declared += len(names)
            assert library_references(cell.source, names, imports) == [], (path.name, cell.id)
    assert declared >= 40


def test_edited_and_deleted_check_cells_are_reported():
    data = corpus.notebook(corpus.RIGHT)
    data["cells"] = [c for c in data["cells"] if c["id"] != "7bee7dec"]
    for cell in data["cells"]:
        if cell["id"] == "ca6975fb":
            cell["source"] = "print('✓ IoU matrix')"
    cells = [rb.SubmittedCell(c.get("id"), c["cell_type"], "".join(c["source"])) for c in data["cells"]]
    flags = rb.tampered_checks(LAB, rb.Submission(cells, "4.5"))
    assert [(f.where, f.what.split(" (")[0]) for f in flags] == [
        ("check 7bee7dec (Exercise 3: ROC curve and AUC)", "check cell deleted"),
        ("check ca6975fb (Exercise 4: IoU of boxes)", "check cell edited")]
    untouched = [rb.SubmittedCell(None, c["cell_type"], "".join(c["source"])) for c in corpus.notebook(corpus.RIGHT)["cells"]]
    assert rb.tampered_checks(LAB, rb.Submission(untouched, "4.4")) == [], "found by text without ids"
