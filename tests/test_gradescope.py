"""The Gradescope autograder: its zip, its results.json, and a run of its run_autograder in a
simulated Gradescope container (a bubblewrap namespace with a temporary tree bound at
/autograder and this project's venv standing in for what setup.sh installs), whose scores must
equal cvbook-grade's for the same notebooks: lab 1's source and its student version, which
cvbook-grade scores full marks and 0 at every check (tests/test_grade_labs.py grades both; this
test once graded them a second time, with cvbook-grade beside the autograder)."""
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cvbook.grade import gradescope
from cvbook.grade.run import CheckResult, Result
from cvbook.grade.sandbox import Limits, available
from cvbook.grade.source import load_lab
from grading import corpus

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
LAB = load_lab(corpus.SOURCE)


def test_the_zip_has_what_gradescope_runs(tmp_path):
    out = gradescope.build(LAB, tmp_path / "autograder.zip", "cvbook @ git+https://github.com/o/r@0123abc",
                           Limits(cell_timeout=30))
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        assert names == {"setup.sh", "run_autograder", corpus.SOURCE.name, gradescope.CONFIG}
        for name in ("setup.sh", "run_autograder"):
            assert stat.S_IMODE(archive.getinfo(name).external_attr >> 16) == 0o755, f"{name} must be executable"
        setup = archive.read("setup.sh").decode()
        config = json.loads(archive.read(gradescope.CONFIG))
        assert archive.read(corpus.SOURCE.name) == corpus.SOURCE.read_bytes()
    assert "apt-get install -y --no-install-recommends bubblewrap" in setup
    assert "'cvbook @ git+https://github.com/o/r@0123abc'" in setup and "download.pytorch.org/whl/cpu" in setup
    assert "python -m cvbook.grade.gradescope --autograder /autograder" in gradescope.RUN_AUTOGRADER
    assert config["source"] == corpus.SOURCE.name and config["limits"]["cell_timeout"] == 30
    assert not config["reveal_hidden"]


def test_the_command_takes_the_checkouts_commit(tmp_path):
    done = subprocess.run([sys.executable, "-m", "cvbook.grade.gradescope", "lab01", "--out", str(tmp_path / "a.zip")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    head = subprocess.run(["git", "-C", str(corpus.ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    setup = zipfile.ZipFile(tmp_path / "a.zip").read("setup.sh").decode()
    assert f"git+{gradescope.checkout_repository(corpus.ROOT)}@{head}'" in setup
    wrong = subprocess.run([sys.executable, "-m", "cvbook.grade.gradescope", "lab01"], capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 2 and "--out autograder.zip" in wrong.stderr


def test_the_repository_is_the_checkouts_origin_as_https(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert gradescope.checkout_repository(tmp_path) == gradescope.DEFAULT_REPOSITORY, "no origin: the book's"
    subprocess.run(["git", "-C", str(tmp_path), "remote", "add", "origin", "git@github.com:someone/fork.git"], check=True)
    assert gradescope.checkout_repository(tmp_path) == "https://github.com/someone/fork"
    subprocess.run(["git", "-C", str(tmp_path), "remote", "set-url", "origin", "/srv/git/cvbook"], check=True)
    assert gradescope.checkout_repository(tmp_path) == gradescope.DEFAULT_REPOSITORY, "pip cannot clone a local path there"


def test_results_json_follows_gradescopes_schema_and_keeps_hidden_checks_hidden():
    earned = [1, 0, 0, 1, 0]
    checks = [CheckResult(c.id, c.points, e, "" if e else f"AssertionError: ✗ got 3, expected 4 ({c.id})")
              for c, e in zip(LAB.checks, earned)]
    result = Result("submission", "graded", 2.0, 5.0, checks, seconds=3.2)
    data = gradescope.results_json(LAB, result)
    assert data["score"] == 2.0 and len(data["tests"]) == len(LAB.checks)
    assert sum(t["score"] for t in data["tests"]) == data["score"]
    for test, check in zip(data["tests"], LAB.checks):
        assert set(test) >= {"name", "score", "max_score", "output", "visibility"}
        assert test["visibility"] == ("after_published" if check.hidden else "visible")
    hidden = data["tests"][2]
    assert "hidden check" in hidden["name"] and "expected" not in hidden["output"] and hidden["status"] == "failed"
    assert "expected 4" in data["tests"][1]["output"]
    assert "expected 4" in gradescope.results_json(LAB, result, reveal_hidden=True)["tests"][2]["output"]


def simulated_container(tmp_path: Path, zip_path: Path, notebook: Path, name: str) -> Path:
    """Gradescope's layout: the zip in /autograder/source, run_autograder beside it, the upload in
    /autograder/submission; returns the tree to bind at /autograder."""
    root = tmp_path / name / "autograder"
    for folder in ("source", "submission", "results", "venv"):
        (root / folder).mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    shutil.copy(notebook, root / "submission" / f"{name}.ipynb")
    return root


def run_autograder(root: Path) -> subprocess.CompletedProcess:
    """``/autograder/run_autograder`` in a mount namespace where ``root`` is /autograder and this
    venv is /autograder/venv (the machine's other top-level folders as they are)."""
    venv = Path(sys.prefix)
    assert (venv / "bin" / "python").exists(), f"the test needs a virtual environment with bin/python: {venv}"
    args = ["bwrap", "--die-with-parent", "--unshare-pid", "--proc", "/proc", "--dev-bind", "/dev", "/dev",
            "--bind", "/tmp", "/tmp"]
    for entry in sorted(Path("/").iterdir()):
        if entry.name in ("proc", "dev", "sys", "tmp", "autograder"):
            continue
        args += ["--symlink", os.readlink(entry), str(entry)] if entry.is_symlink() else ["--bind", str(entry), str(entry)]
    args += ["--bind", str(root), "/autograder", "--bind", str(venv), "/autograder/venv"]
    if os.geteuid() == 0:
        args += ["--cap-add", "ALL"]  # Gradescope runs run_autograder as root: the grader's own sandbox nests
    return subprocess.run(args + ["/autograder/run_autograder"], capture_output=True, text=True, timeout=900)


def test_run_autograder_in_a_simulated_container_scores_as_cvbook_grade(tmp_path):
    reason = available("bubblewrap")
    if reason:
        (pytest.fail if IN_CI else pytest.skip)(f"bubblewrap cannot run here: {reason}")
    zip_path = gradescope.build(LAB, tmp_path / "autograder.zip", "cvbook (the test's venv)", Limits(cell_timeout=60))
    # what cvbook-grade gives each check of these notebooks (test_grade_labs.py: the source scores
    # full marks, the unchanged student version 0 with a hint)
    submissions = {"right": (corpus.SOURCE, [c.points for c in LAB.checks]), "blank": (corpus.STUDENT, [0.0] * len(LAB.checks))}
    for name, (notebook, expected) in submissions.items():
        root = simulated_container(tmp_path, zip_path, notebook, name)
        done = run_autograder(root)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        results = json.loads((root / "results" / "results.json").read_text())
        assert [t["score"] for t in results["tests"]] == expected, (name, results)
        assert [t["max_score"] for t in results["tests"]] == [c.points for c in LAB.checks], name
        assert results["score"] == sum(expected), (name, results)
        if name == "blank":
            assert any("Hint:" in t["output"] for t in results["tests"])
    assert sum(submissions["right"][1]) == LAB.max_score > 0
