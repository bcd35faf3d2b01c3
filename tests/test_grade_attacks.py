"""The corpus's attacks are real: without the grader's defences (the seal in the kernel, the
sandbox around it, the feedback's redaction) each one earns the point it aims at, or leaks the
hidden check's text, so the corpus tests those defences and not attacks that fail on their own.
(With the defences they earn nothing: test_grade_sandbox.py; they leak nothing: test_grade_sandbox.py too.)"""
import base64
import re
import xml.etree.ElementTree as ElementTree

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
AIMED_AT = {"fake_references": "ca6975fb"}  # the IoU check (the others aim at the accuracy check, 5f56fc7f)


def _failures(junit) -> dict[tuple[str, int], str]:
    """(notebook file name, code cell) -> the text of its failure."""
    found = {}
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        for node in case:
            if node.tag in ("failure", "error"):
                key = (case.get("file", "").rsplit("/", 1)[-1], int(case.get("name").split()[-1]))
                found[key] = re.sub(r"(?:\x1b|#x1B)\[[0-9;]*[A-Za-z]", "", node.text or "")
    return found


@pytest.fixture(scope="module")
def undefended(tmp_path_factory) -> tuple[dict[str, bool], dict[str, str]]:
    """attack -> whether its accuracy check passes, and leak -> the error its last cell raised,
    when their rebuilt notebooks run with plain nbval, no seal and no sandbox."""
    folder = tmp_path_factory.mktemp("undefended")
    ctx = corpus.Context(folder / "submissions", folder / "out", 0, [], [])
    ctx.submissions.mkdir()
    (folder / "sanitize.txt").write_text(SANITIZE)
    lab = load_lab(corpus.SOURCE)
    cases = {case.name: case for case in corpus.CASES}
    watched = {}  # notebook -> the code cell whose result matters
    for attack in [*ATTACKS, *corpus.LEAK_CASES]:
        submitted = ctx.submissions / f"{attack}.ipynb"
        submitted.write_bytes(cases[attack].build(ctx))
        nb = rb.rebuild(lab, rb.read_submission(submitted), "t").notebook
        nb.cells = [c for c in nb.cells if c.get("id") != rb.PROLOGUE_ID]
        for cell in nb.cells:
            cell.source = "\n".join(l for l in cell.source.splitlines() if not l.startswith(rb.SEAL_PREFIX))
        nbformat.write(nb, folder / f"{attack}.ipynb")
        ids = [c.id for c in nb.cells if c.cell_type == "code"]
        # an attack on the checks: the check it aims at; a leak: its own cell, the last one added
        watched[attack] = ids.index(AIMED_AT.get(attack, "5f56fc7f")) if attack in ATTACKS else max(
            i for i, cell_id in enumerate(ids) if cell_id.startswith("added-"))
    passed = plain_nbval([folder / f"{attack}.ipynb" for attack in watched], folder / "junit.xml")
    failures = _failures(folder / "junit.xml")
    return ({attack: passed[(f"{attack}.ipynb", watched[attack])] for attack in ATTACKS},
            {leak: failures.get((f"{leak}.ipynb", watched[leak]), "") for leak in corpus.LEAK_CASES})


@pytest.mark.parametrize("attack", ATTACKS)
def test_the_attack_works_without_the_graders_defences(undefended, attack):
    assert undefended[0][attack] == ATTACKS[attack]


@pytest.mark.parametrize("leak", corpus.LEAK_CASES)
def test_the_leak_works_without_the_graders_defences(undefended, leak):
    error = undefended[1][leak].split("Traceback:", 1)[-1]
    shown = error
    for token in re.findall(r"[A-Za-z0-9+/=]{24,}", error):
        shown += base64.b64decode(token[:len(token) - len(token) % 4]).decode("utf-8", errors="ignore")
    assert "ValueError: nothing collected" not in error and "labels_b = torch.tensor" in shown, error[-2000:]
