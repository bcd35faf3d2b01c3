"""Labs: the student notebooks are generated, up to date, free of solutions, keep the source's cell
ids; check() and the pass-count summary say the truth. (That they fail readably when run as handed
out: tests/test_grade_labs.py, from the grader's run of each.)"""

import nbformat
import numpy as np
import pytest
import torch
from nbclient import NotebookClient

from cvbook.labs import check
from cvbook.labs.author import strip_solutions, student_notebook
from cvbook.labs.cells import BEGIN, SUMMARY_ID, is_answer, is_check, is_hidden, points, summary_source
from notebooks import LAB_SOURCES, ROOT

ids = lambda p: p.name  # noqa: E731


def test_strip_solutions_keeps_indentation_and_hint():
    src = "def f(x):\n    ### BEGIN SOLUTION hint: add one\n    return x + 1\n    ### END SOLUTION\nprint(f)"
    assert strip_solutions(src) == ("def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError('Exercise: add one')\nprint(f)")
    with pytest.raises(ValueError, match="no matching"):
        strip_solutions("### BEGIN SOLUTION\nx = 1")
    with pytest.raises(ValueError, match="unbalanced"):
        strip_solutions("x = 1\n### END SOLUTION")


def test_a_long_hint_is_split_over_lines_that_fit_the_page_and_raises_it_whole():
    hint = "argsort the scores (descending), cumsum the positives and the negatives, divide, prepend a 0"
    stub = strip_solutions(f"def f(x):\n    ### BEGIN SOLUTION hint: {hint}\n    return x\n    ### END SOLUTION")
    lines = stub.splitlines()
    assert len(lines) > 3 and all(len(line) <= 76 for line in lines), stub
    namespace = {}
    exec(stub, namespace)
    with pytest.raises(NotImplementedError) as raised:
        namespace["f"](1)
    assert str(raised.value) == f"Exercise: {hint}"


def test_check_prints_exact_expected_values_and_refuses_lookalikes(capsys):
    check("near", 0.70000004, 0.7)
    check("list against tuple", [1, 2], (1, 2))
    check("large", torch.arange(20.0), np.arange(20.0))
    check("floats", torch.linspace(0, 1, 5), np.linspace(0, 1, 5))
    check("count", 3, 3)
    check("claim", True, True)
    check("text", "ColorJitter", "ColorJitter")
    check("flags", torch.tensor([[True, False]]), torch.tensor([[True, False]]))
    check("claims", [1 > 0, 2 > 1], [True, True])
    # floating-point values by shape only: their last digits are the machine's, not the claim
    assert capsys.readouterr().out.splitlines() == [
        "✓ near: matches the expected value", "✓ list against tuple: [1, 2]", "✓ large: an array of shape (20,)",
        "✓ floats: matches the expected array of shape (5,)", "✓ count: 3", "✓ claim: True", "✓ text: 'ColorJitter'",
        "✓ flags: [[True, False]]", "✓ claims: [True, True]"]

    class AlwaysEqual:
        def __eq__(self, other):
            return True

        def __array__(self, *args, **kwargs):
            return np.asarray(0.7)

    with pytest.raises(AssertionError, match="object of type AlwaysEqual"):
        check("liar", AlwaysEqual(), 0.7)
    with pytest.raises(AssertionError, match="object of type"):
        check("liar in a list", [AlwaysEqual()], [0.7])

    class Fake(torch.Tensor):
        pass

    with pytest.raises(AssertionError, match="object of type Fake"):
        check("tensor subclass", torch.zeros(2).as_subclass(Fake), torch.zeros(2))
    with pytest.raises(AssertionError, match=r"✗ wrong: got 0\.5000, expected 0\.7000"):
        check("wrong", 0.5, 0.7)
    with pytest.raises(AssertionError, match="got shape"):
        check("shape", [1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(AssertionError, match="got 'a', expected 'b'"):
        check("text", "a", "b")


def test_cells_and_points():
    cell = nbformat.v4.new_code_cell("check('x', 1, 1)", metadata={"tags": ["nbval-check-output"], "cvbook": {"points": 2}})
    assert is_check(cell) and points(cell) == 2 and not is_hidden(cell)
    cell.metadata["cvbook"] = {"points": -1}
    with pytest.raises(ValueError, match="points"):
        points(cell)
    assert is_answer(nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION"))
    assert points(nbformat.v4.new_code_cell("", metadata={"tags": ["nbval-check-output"]})) == 1


def test_every_lab_has_a_student_version():
    assert LAB_SOURCES, "no lab sources found"
    for src in LAB_SOURCES:
        assert (ROOT / "labs" / src.name).exists(), f"run `make labs`: labs/{src.name} is missing"


@pytest.mark.parametrize("src", LAB_SOURCES, ids=ids)
def test_student_notebook_is_up_to_date_and_has_no_solution(src):
    source = nbformat.read(src, as_version=4)
    committed = nbformat.read(ROOT / "labs" / src.name, as_version=4)
    expected = student_notebook(source)
    assert [(c.cell_type, c.id, c.source) for c in committed.cells] == [(c.cell_type, c.id, c.source) for c in expected.cells], \
        f"labs/{src.name} is stale: run `make labs`"
    assert [c.id for c in committed.cells] == [c.id for c in source.cells if not is_hidden(c)], "cell ids must be the source's"
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
    hidden = [c for c in source.cells if is_hidden(c)]
    assert all(c.source not in student_text for c in hidden), "a hidden check leaked into the student version"


@pytest.mark.parametrize("src", LAB_SOURCES, ids=ids)
def test_every_lab_ends_with_the_pass_count_of_its_own_checks(src):
    source = nbformat.read(src, as_version=4)
    last = source.cells[-1]
    total = sum(is_check(c) for c in source.cells)
    assert last.id == SUMMARY_ID and last.source == summary_source(total), \
        f"{src.name}: the last cell must be the summary of its {total} checks: run `python tools/lab_metadata.py`"
    printed = "".join(o.get("text", "") for o in last.outputs)
    assert printed.startswith(f"Checks passing: {total} of {total} ✓"), f"{src.name}: the solutions do not pass: {printed}"
    student = nbformat.read(ROOT / "labs" / src.name, as_version=4)
    visible = sum(is_check(c) for c in student.cells)
    assert student.cells[-1].source == summary_source(visible)


# That every student notebook fails readably at its checks is read from the grader's run of it
# (tests/test_grade_labs.py): one run of each student lab serves both files.


def test_summary_counts_check_cells_in_a_kernel(tmp_path):
    """Two passing check cells, one failing, one re-run after a fix, one never run."""
    cells = ["from cvbook.labs import check, summary\nvalue = 1",
             "check('one', value, 1)",
             "check('two', value, 2)",
             "value = 2",
             "check('two', value, 2)\ncheck('still two', value, 2)",
             "check('three', 3, 4)",
             "summary(total=5)"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    # cells are keyed by their text when the front end sends no id, so the failed run of
    # "check('two', value, 2)" stays a failing record next to its fixed sibling
    assert printed.splitlines() == ["Checks passing: 2 of 5", "  ✗ two: got 1.0000, expected 2.0000",
                                    "  ✗ three: got 3.0000, expected 4.0000",
                                    "  1 check cell not run yet, or stopped before calling check()"]


def test_the_lab_command_documents_itself_and_creates_its_output_folder(tmp_path):
    import subprocess
    import sys

    helped = subprocess.run([sys.executable, "-m", "cvbook.labs", "--help"], capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "SOLUTIONS" in helped.stdout and "created when missing" in helped.stdout
    out = tmp_path / "new" / "students"
    done = subprocess.run([sys.executable, "-m", "cvbook.labs", str(ROOT / "labs" / "solutions"), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.glob("*.ipynb")) == [p.name for p in LAB_SOURCES]
    written = nbformat.read(out / LAB_SOURCES[0].name, as_version=4)
    assert [c.source for c in written.cells] == [c.source for c in nbformat.read(ROOT / "labs" / LAB_SOURCES[0].name, as_version=4).cells]
    missing = subprocess.run([sys.executable, "-m", "cvbook.labs", str(tmp_path / "nowhere"), str(out)],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "not a folder of lab sources" in missing.stderr and "Traceback" not in missing.stderr
    same = subprocess.run([sys.executable, "-m", "cvbook.labs", str(out), str(out)], capture_output=True, text=True, timeout=120)
    assert same.returncode == 2 and "overwrite the sources" in same.stderr


def test_lab_1s_values_worked_out_by_hand_are_scikit_learns():
    """Lab 1's check cells compare with values worked out by hand (its kernels then need no
    scikit-learn, about 1.3 s of imports in each of the grader's ~90 lab 1 kernels in `make test`):
    each is scikit-learn's on the same data."""
    from sklearn import metrics as skm

    source = nbformat.read(ROOT / "labs" / "solutions" / "lab01_measures.ipynb", as_version=4)
    expected = {}
    ns = {"check": lambda name, got, want: expected.__setitem__(name, np.asarray(want, dtype=float))}
    for cell in source.cells:
        if cell.cell_type == "code" and "google.colab" not in cell.source and cell.id != SUMMARY_ID:
            exec(cell.source.replace("from cvbook.labs import check", ""), ns)
    assert "sklearn" not in "".join(c.source for c in source.cells if c.cell_type == "code")
    fpr, tpr, _ = skm.roc_curve(ns["binary"], ns["scores"], drop_intermediate=False)
    reference = {
        "accuracy": skm.accuracy_score(ns["labels"], ns["predicted"]),
        "balanced error rate": 1 - skm.balanced_accuracy_score(ns["labels"], ns["predicted"]),
        "accuracy, another problem": skm.accuracy_score(ns["labels_b"], ns["predicted_b"]),
        "balanced error rate, another problem": 1 - skm.balanced_accuracy_score(ns["labels_b"], ns["predicted_b"]),
        "FP rates": fpr, "TP rates": tpr, "AUC": skm.roc_auc_score(ns["binary"], ns["scores"])}
    assert set(reference) <= set(expected), sorted(expected)
    for name, value in reference.items():
        np.testing.assert_allclose(expected[name], value, rtol=0, atol=1e-7, err_msg=name)  # float32 tensors
