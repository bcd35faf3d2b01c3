"""The grading command as an instructor types it: relative paths from any folder, a grader fault
that stops the run and leaves the gradebook alone, lab names found from a second checkout."""
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cvbook.grade import cli, run
from cvbook.grade.sandbox import Limits, Sandbox, available
from cvbook.grade.source import SourceError, find_source, load_lab
from grading import corpus

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
LAB = load_lab(corpus.SOURCE)


def need_bubblewrap() -> None:
    reason = available("bubblewrap")
    if reason:
        (pytest.fail if IN_CI else pytest.skip)(f"the bubblewrap sandbox cannot run here: {reason}")


def rows(path: Path) -> dict[str, dict]:
    return {row["student"]: row for row in csv.DictReader(open(path))}


def test_relative_paths_from_another_folder_grade_right(tmp_path):
    """`--out graded/` and a relative submissions folder, from a folder that is not the checkout:
    the rebuilt notebooks are found (they were not: every submission got `error`). One submission
    shows it (a blank one scores 0 from outside the checkout in the private-variant test below)."""
    need_bubblewrap()
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "alice.ipynb").write_bytes(corpus.dump(corpus.notebook(corpus.RIGHT)))
    done = subprocess.run([sys.executable, "-m", "cvbook.grade", "lab01", "subs", "--out", "graded/", "--jobs", "1",
                           "--timeout", "30"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    book = rows(tmp_path / "graded" / "gradebook.csv")
    assert (book["alice"]["score"], book["alice"]["status"]) == ("5", "graded"), book
    assert (tmp_path / "graded" / "rebuilt" / "alice.ipynb").exists()


def fake_result(student: str, score: float) -> run.Result:
    checks = [run.CheckResult(c.id, c.points, c.points if score else 0.0, "") for c in LAB.checks]
    return run.Result(student, "graded", score, LAB.max_score, checks, source_sha256=LAB.sha256,
                      submission_sha256="")


@pytest.fixture
def no_kernels(monkeypatch):
    """The command without a real sandbox: ``choose`` returns a sandbox that is never started and
    ``grade_one`` is replaced per test."""
    monkeypatch.setattr(cli, "choose", lambda kind, profile: Sandbox("bubblewrap", sys.executable, ()))


def test_a_grader_fault_stops_the_run_and_keeps_the_gradebook(tmp_path, monkeypatch, no_kernels, capsys):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    for name in ("alice", "bob", "carol"):
        (subs / f"{name}.ipynb").write_bytes(corpus.dump(corpus.notebook(corpus.RIGHT)))

    def good(lab, student, submission, out_, scratch, sandbox, limits, **options):
        assert out_.is_absolute() and submission.is_absolute(), "paths are resolved before grading"
        result = fake_result(student, lab.max_score)
        result.submission_sha256 = run.fingerprint(submission)
        return result

    monkeypatch.setattr(run, "grade_one", good)
    # the lab by its path: under the cwd (tmp_path) or an installed, not editable, package (make test-colab),
    # "lab01" names no lab
    lab01 = str(Path(__file__).resolve().parents[1] / "labs" / "solutions" / "lab01_measures.ipynb")
    monkeypatch.chdir(tmp_path)
    assert cli.main([lab01, "subs", "--out", "out"]) == 0
    before = (out / "gradebook.csv").read_bytes()
    assert {r["score"] for r in rows(out / "gradebook.csv").values()} == {"5"}

    def faulty(lab, student, submission, out_, scratch, sandbox, limits, **options):
        if student == "bob":
            raise FileNotFoundError("file or directory not found: graded_j1/rebuilt/bob.ipynb")
        return good(lab, student, submission, out_, scratch, sandbox, limits, **options)

    monkeypatch.setattr(run, "grade_one", faulty)
    capsys.readouterr()
    assert cli.main([lab01, "subs", "--out", "out", "--regrade"]) == 3
    stderr = capsys.readouterr().err
    assert "grader fault on bob" in stderr and "graded_j1/rebuilt/bob.ipynb" in stderr, stderr
    assert "no score was written" in stderr and "Traceback" in stderr  # the grader's own traceback, for its author
    assert (out / "gradebook.csv").read_bytes() == before, "a grader fault never rewrites the gradebook"
    assert run.Result.from_json((out / "results" / "bob.json").read_text()).score == 5, "bob's earlier grade stays"

    # the cause fixed, the same command finishes the job
    monkeypatch.setattr(run, "grade_one", good)
    assert cli.main([lab01, "subs", "--out", "out"]) == 0
    assert (out / "gradebook.csv").read_bytes() == before


def test_a_kernel_that_does_not_start_is_a_fault_not_a_zero(tmp_path, monkeypatch, no_kernels, capsys):
    """What run.grade_one reports when nbval finds no notebook (status error) stops the run too."""
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "alice.ipynb").write_bytes(corpus.dump(corpus.notebook(corpus.RIGHT)))
    monkeypatch.setattr(run, "grade_one", lambda lab, student, *rest, **options: run.Result(
        student, "error", 0.0, lab.max_score, [], detail="the kernel did not start (a problem of the grader)\n"
        "ERROR: file or directory not found: graded_j1/rebuilt/alice.ipynb"))
    assert cli.main(["lab01", str(tmp_path / "subs"), "--out", str(tmp_path / "out")]) == 3
    assert "file or directory not found" in capsys.readouterr().err
    assert not (tmp_path / "out" / "gradebook.csv").exists() and not (tmp_path / "out" / "results").exists()


def test_gradescope_format_is_gone_with_a_pointer_to_the_autograder(tmp_path):
    done = subprocess.run([sys.executable, "-m", "cvbook.grade", "lab01", str(tmp_path), "--out", str(tmp_path / "o"),
                           "--format", "gradescope"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "python -m cvbook.grade.gradescope" in done.stderr and "Traceback" not in done.stderr
    helped = subprocess.run([sys.executable, "-m", "cvbook.grade", "--help"], capture_output=True, text=True, timeout=120)
    assert "autograder.zip" in helped.stdout and "never read" in helped.stdout


def test_a_lab_name_from_a_second_checkout_is_the_packages_lab(tmp_path, monkeypatch):
    second = tmp_path / "second-checkout" / "labs" / "solutions"
    second.mkdir(parents=True)
    shutil.copy(corpus.SOURCE, second / corpus.SOURCE.name)
    monkeypatch.chdir(second.parents[1])
    assert find_source("lab01") == corpus.SOURCE.resolve(), "the package's own checkout first, no false ambiguity"
    assert find_source("lab01_measures") == corpus.SOURCE.resolve()
    # a folder searched first wins; ambiguity only among one folder's labs
    assert find_source("lab01", [second, corpus.SOURCE.parent]) == (second / corpus.SOURCE.name).resolve()
    shutil.copy(corpus.SOURCE, second / "lab01_measures_v2.ipynb")
    assert find_source("lab01_measures", [second]) == (second / corpus.SOURCE.name).resolve(), "an exact name wins"
    with pytest.raises(SourceError, match="names several labs in .*lab01_measures, lab01_measures_v2"):
        find_source("lab01", [second])
    with pytest.raises(SourceError, match="no lab source named 'lab99'"):
        find_source("lab99", [second])


def test_options_reach_grading_and_feedback_unchanged(tmp_path, monkeypatch, no_kernels):
    seen = {}

    def record(lab, student, submission, out, scratch, sandbox, limits, **options):
        seen["limits"], seen["options"] = limits, options
        result = fake_result(student, 0)
        result.submission_sha256 = run.fingerprint(submission)
        result.checks[2].message = "AssertionError: ✗ secret: got 3, expected 4"
        return result

    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "a.ipynb").write_text("{}")
    monkeypatch.setattr(run, "grade_one", record)
    assert cli.main(["lab01", str(tmp_path / "s"), "--out", str(tmp_path / "o"), "--timeout", "7", "--memory", "512"]) == 0
    assert seen["limits"] == Limits(cell_timeout=7, memory_mb=512) and seen["options"] == {"allow_library": False}
    assert LAB.checks[2].hidden and "expected 4" not in (tmp_path / "o" / "feedback" / "a.md").read_text()
    assert (tmp_path / "o" / "flags.csv").exists(), "the instructor's file is written with the gradebook"
    seen.clear()
    assert cli.main(["lab01", str(tmp_path / "s"), "--out", str(tmp_path / "o"), "--reveal-hidden"]) == 0
    assert not seen and "expected 4" in (tmp_path / "o" / "feedback" / "a.md").read_text(), "revealed without regrading"
    assert cli.main(["lab01", str(tmp_path / "s"), "--out", str(tmp_path / "o"), "--regrade", "--allow-library"]) == 0
    assert seen["options"] == {"allow_library": True}


def test_a_private_variant_of_a_lab_is_graded_from_outside_the_checkout(tmp_path):
    """An instructor's own lab: a copy of lab 1's source outside the repository with other points
    and one more hidden check, handed out with `python -m cvbook.labs` and graded by its path."""
    import nbformat

    from cvbook.labs.cells import is_check

    need_bubblewrap()
    private, handout, subs = tmp_path / "private", tmp_path / "handout", tmp_path / "subs"
    private.mkdir()
    source = nbformat.read(corpus.SOURCE, as_version=4)
    checks = [c for c in source.cells if is_check(c) and not c.metadata.get("cvbook", {}).get("hidden")]
    checks[0].metadata.setdefault("cvbook", {})["points"] = 3
    checks[1].metadata.setdefault("cvbook", {})["hidden"] = True
    nbformat.write(source, private / "lab01_ours.ipynb")
    made = subprocess.run([sys.executable, "-m", "cvbook.labs", str(private), str(handout)],
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    handed_out = nbformat.read(handout / "lab01_ours.ipynb", as_version=4)
    assert checks[1].id not in {c.id for c in handed_out.cells}, "a hidden check must stay out of the handout"
    subs.mkdir()
    shutil.copy(private / "lab01_ours.ipynb", subs / "alice.ipynb")  # every answer right
    shutil.copy(handout / "lab01_ours.ipynb", subs / "bob.ipynb")  # the handout as it is
    done = subprocess.run([sys.executable, "-m", "cvbook.grade", "private/lab01_ours.ipynb", "subs", "--out", "graded",
                           "--jobs", "2", "--timeout", "30"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    book = rows(tmp_path / "graded" / "gradebook.csv")
    maximum = f"{LAB.max_score + 2:g}"  # one check worth 3 instead of 1
    assert (book["alice"]["score"], book["alice"]["max_score"]) == (maximum, maximum), book
    assert book["bob"]["score"] == "0" and book["bob"]["status"] == "graded", book
