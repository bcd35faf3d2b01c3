"""Labs: the student notebooks are generated, up to date, free of solutions, and fail readably."""
import re

import nbformat
import pytest
from nbclient import NotebookClient

from cvbook.labs import BEGIN, strip_solutions, student_notebook
from notebooks import LAB_SOURCES, ROOT

ids = lambda p: p.name  # noqa: E731


def test_strip_solutions_keeps_indentation_and_hint():
    src = "def f(x):\n    ### BEGIN SOLUTION hint: add one\n    return x + 1\n    ### END SOLUTION\nprint(f)"
    assert strip_solutions(src) == ("def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError('Exercise: add one')\nprint(f)")
    with pytest.raises(ValueError, match="no matching"):
        strip_solutions("### BEGIN SOLUTION\nx = 1")
    with pytest.raises(ValueError, match="unbalanced"):
        strip_solutions("x = 1\n### END SOLUTION")


def test_every_lab_has_a_student_version():
    assert LAB_SOURCES, "no lab sources found"
    for src in LAB_SOURCES:
        assert (ROOT / "labs" / src.name).exists(), f"run `make labs`: labs/{src.name} is missing"


@pytest.mark.parametrize("src", LAB_SOURCES, ids=ids)
def test_student_notebook_is_up_to_date_and_has_no_solution(src):
    source = nbformat.read(src, as_version=4)
    committed = nbformat.read(ROOT / "labs" / src.name, as_version=4)
    expected = student_notebook(source)
    assert [(c.cell_type, c.source) for c in committed.cells] == [(c.cell_type, c.source) for c in expected.cells], \
        f"labs/{src.name} is stale: run `make labs`"
    assert all(not c.get("outputs") for c in committed.cells if c.cell_type == "code"), "student notebooks carry no outputs"
    solution_lines = set()
    for cell in source.cells:
        inside = False
        for line in cell.source.splitlines():
            if BEGIN.match(line):
                inside = True
            elif "### END SOLUTION" in line:
                inside = False
            elif inside and len(line.strip()) > 12:
                solution_lines.add(line.strip())
    assert solution_lines, f"{src.name} has no solution region"
    student_text = "\n".join(c.source for c in committed.cells)
    assert "BEGIN SOLUTION" not in student_text
    leaked = [line for line in solution_lines if line in student_text.splitlines() or f"\n{line}\n" in student_text]
    leaked = [line for line in leaked if any(line == l.strip() for l in student_text.splitlines())]
    assert not leaked, f"solution code leaked into labs/{src.name}: {leaked[:3]}"


@pytest.mark.parametrize("src", LAB_SOURCES, ids=ids)
def test_student_notebook_fails_at_its_checks_with_a_readable_message(src, tmp_path):
    nb = nbformat.read(ROOT / "labs" / src.name, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(ROOT / "labs")}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors, "the student notebook ran without any failing check"
    for e in errors:
        assert e.ename in ("NotImplementedError", "AssertionError"), f"unreadable failure {e.ename}: {e.evalue}"
        assert re.search(r"Exercise: |✗ ", e.evalue), f"failure without a hint: {e.evalue}"
    checks = [c for c in nb.cells if "nbval-check-output" in c.metadata.get("tags", [])]
    assert all(any(o.output_type == "error" for o in c.outputs) for c in checks), "a check passed without a solution"
