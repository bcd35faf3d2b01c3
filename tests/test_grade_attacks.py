"""The corpus's attacks on the checks are real: without the grader's defences (the seal in the
kernel, the sandbox around it) each one earns the point it aims at, so the corpus tests those
defences and not attacks that fail on their own. (With the defences they earn nothing:
test_grade_sandbox.py.)"""
import nbformat
import pytest

from cvbook.grade import rebuild as rb
from cvbook.grade.run import SANITIZE
from cvbook.grade.source import load_lab
from grading import corpus
from grading.harness import plain_nbval

# attack -> whether it works undefended (a passing floating-point check prints no digits, so
# patched references that make the expected value the student's wrong one pass the comparison)
ATTACKS = {"fake_check": True, "fake_code": True, "fake_comparison": True, "fake_transformer": True, "fake_handler": True,
           "fake_references": True, "read_source": True}


@pytest.fixture(scope="module")
def undefended(tmp_path_factory) -> dict[str, bool]:
    """attack -> whether its accuracy check passes when its rebuilt notebook runs with plain
    nbval, no seal and no sandbox."""
    folder = tmp_path_factory.mktemp("undefended")
    ctx = corpus.Context(folder / "submissions", folder / "out", 0, [], [])
    ctx.submissions.mkdir()
    (folder / "sanitize.txt").write_text(SANITIZE)
    lab = load_lab(corpus.SOURCE)
    cases = {case.name: case for case in corpus.CASES}
    accuracy_cell = {}
    for attack in ATTACKS:
        submitted = ctx.submissions / f"{attack}.ipynb"
        submitted.write_bytes(cases[attack].build(ctx))
        nb = rb.rebuild(lab, rb.read_submission(submitted), "t").notebook
        nb.cells = [c for c in nb.cells if c.get("id") != rb.PROLOGUE_ID]
        for cell in nb.cells:
            cell.source = "\n".join(l for l in cell.source.splitlines() if not l.startswith(rb.SEAL_PREFIX))
        nbformat.write(nb, folder / f"{attack}.ipynb")
        accuracy_cell[attack] = [c.id for c in nb.cells if c.cell_type == "code"].index("5f56fc7f")
    passed = plain_nbval([folder / f"{attack}.ipynb" for attack in ATTACKS], folder / "junit.xml")
    return {attack: passed[(f"{attack}.ipynb", accuracy_cell[attack])] for attack in ATTACKS}


@pytest.mark.parametrize("attack", ATTACKS)
def test_the_attack_works_without_the_graders_defences(undefended, attack):
    assert undefended[attack] == ATTACKS[attack]
