"""The grader without kernels: lab sources, reading and rebuilding submissions, reports, the CLI's
argument errors. (Sandboxed runs: test_grade_sandbox.py, test_grade_labs.py.)"""
import csv
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cvbook.grade import cli, rebuild as rb, report
from cvbook.grade.run import CellProblem, CheckResult, Result, classify, student_message
from cvbook.grade.sandbox import Limits, Sandbox, SandboxError
from cvbook.grade.source import SourceError, find_source, load_lab
from cvbook.labs.cells import CHECK_TAG
from grading import corpus

LAB = load_lab(corpus.SOURCE)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_the_lab_source_knows_its_checks_points_and_answers():
    assert [c.id for c in LAB.checks] == corpus.CHECKS
    assert LAB.max_score == 5 and [c.hidden for c in LAB.checks] == [False, False, True, False, False]
    assert LAB.answers == {corpus.ACC, corpus.BER, corpus.ROC, corpus.IOU}
    assert LAB.check("5f56fc7f").title == "Exercise 1: accuracy" and LAB.check("5f56fc7f").names == ("accuracy",)
    lab4 = load_lab("lab04")
    assert lab4.max_score == 6 and lab4.check("63b617f1").points == 2
    assert find_source("lab04_iou_nms_map") == lab4.path


def test_a_source_that_cannot_be_graded_says_why(tmp_path):
    with pytest.raises(SourceError, match="available: lab01_measures"):
        find_source("lab99")
    nb = nbformat.read(corpus.SOURCE, as_version=4)
    check = next(c for c in nb.cells if CHECK_TAG in c.metadata.get("tags", []))
    check.outputs = []
    nbformat.write(nb, tmp_path / "unexecuted.ipynb")
    with pytest.raises(SourceError, match="no saved output.*execute"):
        load_lab(tmp_path / "unexecuted.ipynb")
    for cell in nb.cells:
        cell.metadata.pop("tags", None)
    nbformat.write(nb, tmp_path / "nochecks.ipynb")
    with pytest.raises(SourceError, match="no check cell"):
        load_lab(tmp_path / "nochecks.ipynb")
    check.metadata = {"tags": [CHECK_TAG], "cvbook": {"points": "two"}}
    check.outputs = [nbformat.v4.new_output("stream", text="✓\n")]
    check.execution_count = 1
    nbformat.write(nb, tmp_path / "points.ipynb")
    with pytest.raises(SourceError, match="points must be a number"):
        load_lab(tmp_path / "points.ipynb")


@pytest.mark.parametrize("name, data, message", [
    ("truncated.ipynb", corpus.dump(corpus.notebook())[:3000], r"not valid JSON \(line \d+, column \d+"),
    ("binary.ipynb", b"\x89PNG\r\n\x1a\n\xff\xfe", "not a text file"),
    ("list.ipynb", b"[1, 2, 3]", "not a Jupyter notebook"),
    ("future.ipynb", json.dumps({"nbformat": 5, "cells": []}).encode(), "nbformat=5"),
    ("nocells.ipynb", json.dumps({"nbformat": 4, "nbformat_minor": 5, "cells": {}}).encode(), "no list of cells"),
    ("badcell.ipynb", json.dumps({"nbformat": 4, "nbformat_minor": 5, "cells": [{"source": "x"}]}).encode(), "malformed"),
    ("badsource.ipynb", json.dumps({"nbformat": 4, "nbformat_minor": 5,
                                    "cells": [{"cell_type": "code", "source": 3}]}).encode(), "neither text"),
    ("answers.py", b"print(1)", "not a notebook"),
])
def test_unreadable_submissions_are_explained(tmp_path, name, data, message):
    with pytest.raises(rb.InvalidNotebook, match=message):
        rb.read_submission(write(tmp_path, name, data))


def test_a_huge_submission_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    monkeypatch.setattr(rb, "MAX_BYTES", 1000)
    with pytest.raises(rb.InvalidNotebook, match="clear the outputs"):
        rb.read_submission(write(tmp_path, "big.ipynb", b" " * 2000))


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_rebuild_takes_answers_by_id_and_everything_else_from_the_source(tmp_path):
    data = corpus.notebook({corpus.ACC: "def accuracy(p, l):\n    return 0.25  # mine"},
                           added=[("b307b5d3", "helper = 1")])
    for cell in data["cells"]:  # the student edits and re-tags a check cell: it must not matter
        if cell["id"] == "5f56fc7f":
            cell["source"], cell["metadata"]["tags"] = "print('✓ accuracy: 0.7000')", ["nbval-skip"]
    built = rb.rebuild(LAB, rb.read_submission(write(tmp_path, "s.ipynb", corpus.dump(data))), "abc")
    cells = code_cells(built.notebook)
    roles = dict(zip([c.id for c in cells], [r for r, _ in built.roles]))
    assert built.roles[0] == ("prologue", rb.PROLOGUE_ID) and "install('abc'" in cells[0].source
    source_cells = {c.id: c for c in nbformat.read(corpus.SOURCE, as_version=4).cells}
    for cell in cells:
        if roles[cell.id] == "check":
            original = source_cells[cell.id]
            assert cell.source == f"{rb.SEAL_PREFIX}abc(" + cell.source.split("(", 1)[1].split("\n", 1)[0] + "\n" + original.source
            assert cell.outputs == original.outputs and cell.execution_count == original.execution_count
            assert cell.metadata["tags"] == [CHECK_TAG]
        else:
            assert not cell.outputs and cell.execution_count is None
    assert "hidden-another-problem" in roles, "the hidden check is added"
    assert cells[[c.id for c in cells].index(corpus.ACC)].source.endswith("# mine")
    assert next(c for c in cells if c.id == corpus.BER).source == next(
        c for c in LAB.student.cells if c.id == corpus.BER).source, "an untouched answer stays the stub"
    added = [i for i, (role, _) in enumerate(built.roles) if role == "added"]
    assert len(added) == 1 and cells[added[0]].source == "helper = 1"
    assert [c.id for c in cells].index(corpus.ACC) == added[0] + 1, "an added cell stays where the student put it"
    assert "'check': 'cvbook.labs:check'" in cells[[c.id for c in cells].index("5f56fc7f")].source
    assert built.flags == [rb.Flag("check 5f56fc7f (Exercise 1: accuracy)", "check cell edited (the source's version was run)")], \
        "the edited check cell is reported to the instructor, nothing else is"


def test_rebuild_finds_answers_without_ids_by_what_they_define(tmp_path):
    data = corpus.notebook(corpus.RIGHT)
    data["nbformat_minor"] = 4
    for cell in data["cells"]:
        cell.pop("id")
    data["cells"].reverse()  # order does not matter either
    built = rb.rebuild(LAB, rb.read_submission(write(tmp_path, "s.ipynb", corpus.dump(data))), "t")
    cells = {c.id: c.source for c in code_cells(built.notebook)}
    for cell_id, source in corpus.RIGHT.items():
        assert cells[cell_id] == source
    assert any("found by their text" in note for note in built.notes)
    assert [r for r, _ in built.roles].count("added") == 0, "copies of the lab's own cells are not run twice"


def test_rebuild_of_an_empty_notebook_uses_the_stubs_and_says_so(tmp_path):
    built = rb.rebuild(LAB, rb.read_submission(write(tmp_path, "s.ipynb", json.dumps(
        {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}).encode())), "t")
    stubs = {c.id: c.source for c in LAB.student.cells}
    for cell in code_cells(built.notebook):
        if cell.id in LAB.answers:
            assert cell.source == stubs[cell.id] and "NotImplementedError" in cell.source
    assert sum("graded as unanswered" in note for note in built.notes) == 4


def test_suspicious_code_is_flagged_for_the_instructor():
    assert "touches the check machinery" in rb.suspicious("check = lambda *a: None")
    assert "patches a library" in rb.suspicious("np.allclose = lambda *a, **k: True")
    assert "reconfigures the IPython shell" in rb.suspicious("get_ipython().input_transformers_post.append(f)")
    assert rb.suspicious("def accuracy(p, l):\n    return (p == l).float().mean().item()") == []


def result(student: str, earned: list[float], status: str = "graded") -> Result:
    checks = [CheckResult(c.id, c.points, e, "" if e == c.points else ("not answered yet. Hint: think" if not c.hidden else
              "✗ accuracy, another problem: got 0.5000, expected 0.6250")) for c, e in zip(LAB.checks, earned)]
    return Result(student, status, sum(earned), LAB.max_score, checks, sandbox="bubblewrap sandbox", seconds=1.5,
                  source_sha256=LAB.sha256, rebuilt=f"rebuilt/{student}.ipynb", reproduce="python -m pytest --nbval-lax /x",
                  problems=[CellProblem("answer", "def f():", "SyntaxError: invalid syntax")], notes=["a note"],
                  lead="your answer to Exercise 1: accuracy (the cell starting `def accuracy(p, l):`): ZeroDivisionError",
                  flags=[rb.Flag("answer 30f74f54 (Exercise 1: accuracy)", "touches builtins"),
                         rb.Flag("check 7bee7dec (Exercise 3)", "check cell deleted (the source's version was run)")])


def test_gradebook_feedback_and_gradescope_files(tmp_path):
    results = {"=cmd": result("=cmd", [1, 0, 0, 1, 0.5]), "alice": result("alice", [1, 1, 1, 1, 1])}
    results["alice"].flags = []
    for r in results.values():
        report.write_result(tmp_path, LAB, r, ("gradescope",))
    report.write_gradebook(tmp_path, LAB, results)
    report.write_checks(tmp_path, LAB)
    rows = list(csv.reader(open(tmp_path / "gradebook.csv")))
    assert rows[0] == ["student", "score", "max_score", "status", *corpus.CHECKS, "flags"]
    assert rows[1] == ["'=cmd", "2.5", "5", "graded", "1", "0", "0", "1", "0.5", "touches builtins; check cell deleted (the source's version was run)"], \
        "no spreadsheet formula from a file name"
    assert rows[2] == ["alice", "5", "5", "graded", "1", "1", "1", "1", "1", ""]
    flags = list(csv.reader(open(tmp_path / "flags.csv")))
    assert flags == [["student", "where", "flag"], ["'=cmd", "answer 30f74f54 (Exercise 1: accuracy)", "touches builtins"],
                     ["'=cmd", "check 7bee7dec (Exercise 3)", "check cell deleted (the source's version was run)"]]
    checks = list(csv.DictReader(open(tmp_path / "checks.csv")))
    assert [c["check"] for c in checks] == corpus.CHECKS and checks[2]["hidden"] == "yes"
    md = (tmp_path / "feedback" / "=cmd.md").read_text()
    assert "**Score: 2.5 / 5**" in md and "Hint: think" in md and "SyntaxError" in md
    assert md.index("## First error in your code") < md.index("| # |") and "ZeroDivisionError" in md
    assert "(hidden check)" in md and report.HIDDEN_FAILED in md and "0.6250" not in md and "another problem" not in md
    for instructor_only in ("touches builtins", "deleted", "--nbval-lax", "pytest", "For the instructor", str(tmp_path)):
        assert instructor_only not in md, instructor_only
    revealed = report.to_markdown(report.feedback_blocks(LAB, results["=cmd"], tmp_path, reveal_hidden=True))
    assert "expected 0.6250" in revealed
    html = (tmp_path / "feedback" / "=cmd.html").read_text()
    assert "<strong>Score: 2.5 / 5</strong>" in html and "<table>" in html and "&lt;" not in html.split("<body>")[0][-5:]
    gradescope = json.loads((tmp_path / "gradescope" / "=cmd" / "results.json").read_text())
    assert gradescope["score"] == 2.5 and len(gradescope["tests"]) == 5
    assert [t["visibility"] for t in gradescope["tests"]].count("after_published") == 1
    assert gradescope["tests"][2]["output"] == report.HIDDEN_FAILED
    assert report.load_results(tmp_path, LAB).keys() == {"=cmd", "alice"}
    assert Result.from_json((tmp_path / "results" / "=cmd.json").read_text()) == results["=cmd"]
    assert json.loads((tmp_path / "results" / "=cmd.json").read_text())["reproduce"].endswith("/x")


def test_failures_become_messages_a_student_can_act_on():
    hint = "Traceback:\nNotImplementedError                       Traceback\n----> 1 x\nNotImplementedError: Exercise: add one"
    assert student_message(hint) == "not answered yet. Hint: add one"
    assert student_message("Traceback:\nAssertionError: ✗ accuracy: got 0.5000, expected 0.7000") == \
        "AssertionError: ✗ accuracy: got 0.5000, expected 0.7000"
    assert student_message("pytest plugin exception: the kernel stopped while running this cell (exit status 3)") == \
        "the kernel stopped while running this cell (exit status 3)"
    assert student_message("Notebook cell execution failed\nCell 5: Timeout of 8 seconds exceeded executing cell\n\n"
                           "Input:\nwhile True: pass") == "Timeout of 8 seconds exceeded executing cell"
    assert classify(["Timeout of 8 seconds exceeded while executing cell."], None, 10)[0] == "timeout"
    assert classify(["MemoryError"], None, 10)[0] == "memory"
    assert classify(["RuntimeError: DefaultCPUAllocator: can't allocate memory: you tried"], None, 10)[0] == "memory"
    assert classify(["the kernel stopped while running this cell (exit status -11)"], None, 10)[0] == "crashed"
    assert classify(["NameError: name 'MemoryError' is not a thing"], None, 10)[0] == "graded"
    assert classify([], "memory", 10)[0] == "memory"
    setup = "self = <BlockingKernelClient>\n>       raise RuntimeError(msg)\nE       RuntimeError: Kernel died before replying to kernel_info"
    assert student_message(setup) == "not run: the kernel did not start"
    assert classify([student_message(setup)], None, 10)[0] == "error"
    assert student_message("pytest plugin exception: zmq/backend/cython/_zmq.py:190: ZMQError").startswith(
        "not run: the grader could not run this cell")
    assert classify([], None, 10) == ("graded", "")


def test_junit_results_per_cell(tmp_path):
    from cvbook.grade.run import read_junit

    (tmp_path / "junit.xml").write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase name="Cell 0"/>'
        '<testcase name="Cell 1"><failure message="boom">#x1B[31mAssertionError#x1B[0m: ✗ x</failure></testcase>'
        '<testcase name="Cell 2"><skipped type="pytest.xfail" message="Previous cell timed out, expected cell to fail"/></testcase>'
        '<testcase name="Cell 3"><error message="failed on teardown with &quot;ZMQError&quot;">zmq</error></testcase>'
        '<testcase name="Cell 4"><error message="failed on setup with x">not run: the notebook time limit</error>'
        '<error message="failed on teardown with y">zmq</error></testcase>'
        '</testsuite></testsuites>')
    cells = read_junit(tmp_path / "junit.xml")
    assert cells[0] is None and cells[3] is None, "a teardown error is not the cell's failure"
    assert cells[1] == "AssertionError: ✗ x" and "timed out" in cells[2] and "time limit" in cells[4]


def test_find_submissions_per_file_and_per_folder(tmp_path):
    (tmp_path / "alice.ipynb").write_text("{}")
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "lab.ipynb").write_text("{}")
    (tmp_path / "carol").mkdir()
    for name in ("a.ipynb", "b.ipynb"):
        (tmp_path / "carol" / name).write_text("{}")
    (tmp_path / "dave.ipynb").write_text("{}")
    (tmp_path / "dave").mkdir()
    (tmp_path / "dave" / "x.ipynb").write_text("{}")
    (tmp_path / ".hidden.ipynb").write_text("{}")
    found, problems = cli.find_submissions(tmp_path)
    assert sorted(found) == ["alice", "bob", "carol", "dave"] and found["bob"].name == "lab.ipynb"
    assert "exactly one notebook" in problems["carol"] and "two submissions" in problems["dave"]
    assert "alice" not in problems and "bob" not in problems


def test_the_sandbox_refuses_to_expose_what_it_must_hide(tmp_path):
    sandbox = Sandbox("bubblewrap", sys.executable, (str(tmp_path),))
    with pytest.raises(SandboxError, match="must read"):
        sandbox.ensure_hidden(tmp_path / "submissions")
    sandbox.ensure_hidden(Path("/nonexistent/elsewhere"))
    argv = sandbox.argv(["python"], tmp_path / "rt", tmp_path / "home", Limits(), 3_500_999)
    assert argv[0] == "bwrap" and "--unshare-net" in argv and "--uid" in argv and "3500999" in argv
    assert str(corpus.SOURCE.parent) not in " ".join(argv), "the lab sources are never bound into the sandbox"
    assert "2048 MB of memory per process" in Limits().describe()


@pytest.mark.parametrize("args, message", [
    (["lab99", ".", "--out", "OUT"], "no lab source named 'lab99'"),
    (["lab01", "/nonexistent", "--out", "OUT"], "not a folder of submissions"),
    (["lab01", ".", "--out", "OUT", "--jobs", "0"], "--jobs >= 1"),
])
def test_the_command_line_explains_wrong_arguments(tmp_path, args, message):
    args = [a.replace("OUT", str(tmp_path / "out")) for a in args]
    done = subprocess.run([sys.executable, "-m", "cvbook.grade", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_a_sandbox_is_tried_once_per_process_and_a_failed_trial_is_tried_again(monkeypatch):
    from cvbook.grade import sandbox as sb

    verdicts = iter(["the trial run failed: no kernel", None, None])
    tried = []
    monkeypatch.setattr(sb, "available", lambda kind: None)
    monkeypatch.setattr(sb, "_trial", lambda box: tried.append(box) or next(verdicts))
    monkeypatch.setattr(sb, "_TRIED", set())
    with pytest.raises(SandboxError, match="no kernel"):
        sb.choose("bubblewrap")
    first, second = sb.choose("bubblewrap"), sb.choose("bubblewrap")
    assert first == second and len(tried) == 2, "a passed trial is not repeated; a failed one is"
    assert sb.choose("unshare").kind == "unshare" and len(tried) == 3, "each kind has its own trial"
