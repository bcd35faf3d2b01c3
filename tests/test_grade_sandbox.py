"""The grader against the adversarial corpus (tests/grading/corpus.py), in the bubblewrap sandbox.

Every submission must get a gradebook row with the right points and status, and none may affect
the grader, the machine or the other submissions: a TCP listener on 127.0.0.1, sentinel files
and the submissions folder are checked afterwards, and no sandbox process may be left.
In CI (``CI=true``) a missing sandbox fails these tests instead of skipping them.
(The unshare fallback, Ctrl-C and the notebook time limit: test_grade_fallback.py.)
"""
import json
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from cvbook.grade.sandbox import ETC, USER, choose, run_confined
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
    assert "ran past its time limit" in (feedback / "stubborn_loop.md").read_text()
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


def test_a_rerun_grades_only_what_is_missing_or_changed(bwrap):
    ctx = bwrap.ctx
    before = rows(ctx.out)
    (ctx.out / "results" / "right.json").unlink()
    (ctx.submissions / "empty.ipynb").write_bytes(corpus.dump(corpus.notebook(corpus.RIGHT)))
    try:
        done = grade(ctx, "--sandbox", "bubblewrap")
        assert done.returncode == 0 and f"{len(bwrap.cases) - 2} already graded, 2 to grade" in done.stderr, done.stderr
        after = rows(ctx.out)
        assert after["empty"]["score"] == "5" and after["right"] == before["right"]
        assert {k: v for k, v in after.items() if k not in ("empty", "right")} == \
               {k: v for k, v in before.items() if k not in ("empty", "right")}
    finally:
        (ctx.submissions / "empty.ipynb").write_bytes(corpus.STUDENT.read_bytes())
