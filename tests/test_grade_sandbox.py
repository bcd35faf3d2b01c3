"""The grader against the adversarial corpus (tests/grading/corpus.py), in both sandboxes.

Every submission must get a gradebook row with the right points and status, and none may affect
the grader, the machine or the other submissions: a TCP listener on 127.0.0.1, sentinel files
and the submissions folder are checked afterwards, and no sandbox process may be left.
In CI (``CI=true``) a missing sandbox fails these tests instead of skipping them.
"""
import csv
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from cvbook.grade.rebuild import PROLOGUE_ID, SEAL_PREFIX
from cvbook.grade.sandbox import available
from cvbook.grade.watch import stray_processes
from grading import corpus

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TIMEOUT = "8"  # seconds per cell: the loops of the corpus run into it


def need(kind: str) -> None:
    reason = available(kind)
    if reason:
        (pytest.fail if IN_CI else pytest.skip)(f"the {kind} sandbox cannot run here: {reason}")


class Listener:
    """A TCP server on 127.0.0.1 that records every connection made to it."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(2)
                try:
                    self.connections.append(connection.recv(1024) or b"(connected)")
                except OSError:
                    self.connections.append(b"(connected)")


@dataclass
class Run:
    ctx: corpus.Context
    cases: list[corpus.Case]
    rows: dict[str, dict]
    stderr: str
    returncode: int
    listener: Listener
    hashes: dict[str, str]


def hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def grade(ctx: corpus.Context, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "cvbook.grade", "lab01", str(ctx.submissions), "--out", str(ctx.out),
               "--jobs", "2", "--timeout", TIMEOUT, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=1500)


def rows(out: Path) -> dict[str, dict]:
    return {row["student"]: row for row in csv.DictReader(open(out / "gradebook.csv"))}


def corpus_run(tmp_path_factory, kind: str, cases: list[corpus.Case]) -> Run:
    need(kind)
    base = tmp_path_factory.mktemp(kind)
    listener = Listener()
    ctx = corpus.Context(base / "submissions", base / "out", listener.port,
                         sentinels=[base / "sentinel.txt", base / "elsewhere" / "sentinel.txt"],
                         forbidden=[base / "written.txt", Path("/tmp") / f"cvbook-grade-test-{os.getpid()}.txt"])
    corpus.write(cases, ctx)
    for sentinel in ctx.sentinels:
        sentinel.parent.mkdir(exist_ok=True)
        sentinel.write_text("must survive")
    before = hashes(ctx.submissions)
    done = grade(ctx, "--sandbox", kind, "--format", "gradescope")
    assert done.returncode == 0, done.stderr[-3000:]
    return Run(ctx, cases, rows(ctx.out), done.stderr, done.returncode, listener, before)


@pytest.fixture(scope="module")
def bwrap(tmp_path_factory) -> Run:
    return corpus_run(tmp_path_factory, "bubblewrap", corpus.CASES)


@pytest.fixture(scope="module")
def fallback(tmp_path_factory) -> Run:
    return corpus_run(tmp_path_factory, "unshare", [c for c in corpus.CASES if c.unshare])


def check_rows(run: Run, case: corpus.Case) -> None:
    row = run.rows[case.name]
    earned = [float(row[check]) for check in corpus.CHECKS]
    assert (earned, row["status"]) == (case.earned, case.status), \
        f"{case.name}: {row}\n" + (run.ctx.out / "feedback" / f"{case.name}.md").read_text()
    assert float(row["score"]) == sum(case.earned) and float(row["max_score"]) == 5
    result = json.loads((run.ctx.out / "results" / f"{case.name}.json").read_text())
    assert bool(result["flags"]) == case.flagged, result["flags"]


@pytest.mark.parametrize("case", corpus.CASES, ids=lambda c: c.name)
def test_bubblewrap_row(bwrap, case):
    check_rows(bwrap, case)


@pytest.mark.parametrize("case", [c for c in corpus.CASES if c.unshare], ids=lambda c: c.name)
def test_fallback_row(fallback, case):
    check_rows(fallback, case)


@pytest.mark.parametrize("sandbox", ["bwrap", "fallback"])
def test_nothing_escaped(sandbox, request):
    run: Run = request.getfixturevalue(sandbox)
    assert run.listener.connections == [], "a submission reached a server on 127.0.0.1"
    assert all(s.read_text() == "must survive" for s in run.ctx.sentinels), "a submission deleted a file"
    assert not any(p.exists() for p in run.ctx.forbidden), "a submission wrote outside its folder"
    assert hashes(run.ctx.submissions) == run.hashes, "a submission changed the submissions"
    assert set(run.rows) == {c.name for c in run.cases}
    assert stray_processes() == {}, "processes of a finished sandbox are still alive"
    assert f"in a {'bubblewrap' if sandbox == 'bwrap' else 'unshare'} sandbox" in run.stderr


def test_feedback_says_what_to_do(bwrap):
    feedback = bwrap.ctx.out / "feedback"
    for case in bwrap.cases:
        assert (feedback / f"{case.name}.html").exists()
        gradescope = json.loads((bwrap.ctx.out / "gradescope" / case.name / "results.json").read_text())
        assert gradescope["score"] == float(bwrap.rows[case.name]["score"])
    empty = (feedback / "empty.md").read_text()
    table = [line for line in empty.splitlines() if line.startswith("| ") and "✗" in line]
    assert len(table) == 5 and all("not answered yet. Hint:" in line for line in table)
    assert "compare the two tensors elementwise" in empty
    assert "**Score: 0 / 5** (status: graded)" in empty
    assert "not valid JSON (line" in (feedback / "malformed_json.md").read_text()
    assert "not a notebook" in (feedback / "python_file.md").read_text()
    assert "some output was cut" in (feedback / "print_bomb.md").read_text()
    assert "ran past its time limit" in (feedback / "stubborn_loop.md").read_text()
    assert "exit status" in (feedback / "os_exit.md").read_text()
    assert "bubblewrap sandbox (8 s per cell" in (feedback / "right.md").read_text()
    assert "found by their text" in (feedback / "old_format.md").read_text()


def plain_nbval(notebooks: list[Path], junit: Path) -> dict[tuple[str, int], bool]:
    """Run notebooks with plain nbval (no sandbox, no grader plugin), two at a time:
    (notebook file name, code cell) -> passed."""
    env = {**os.environ, "CVBOOK_PROFILE": "quick", "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    parallel = ["-n", "2", "--dist", "loadfile"] if len(notebooks) > 1 else []
    subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *parallel, "--nbval-lax",
                    "--nbval-current-env", "--nbval-sanitize-with", str(notebooks[0].with_name("sanitize.txt")),
                    *map(str, notebooks), "--junitxml", str(junit), "-o", "junit_family=xunit1"],
                   env=env, capture_output=True, timeout=900, cwd=junit.parent)
    import xml.etree.ElementTree as ElementTree

    return {(Path(case.get("file")).name, int(case.get("name").split()[-1])): not list(case)
            for case in ElementTree.parse(junit).getroot().iter("testcase")}


def test_a_grade_is_reproduced_by_the_plain_nbval_command_in_the_feedback(bwrap, tmp_path):
    feedback = (bwrap.ctx.out / "feedback" / "partly_wrong.md").read_text()
    command = re.search(r"```bash\n(.*?)\n```", feedback, re.S).group(1)
    notebook = Path(command.split()[-1])
    assert "--nbval-lax" in command and notebook.exists()
    passed = plain_nbval([notebook], tmp_path / "junit.xml")
    cells = [c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]
    by_check = {cell.id: passed[(notebook.name, i)] for i, cell in enumerate(cells) if cell.id in corpus.CHECKS}
    assert [float(by_check[c]) for c in corpus.CHECKS] == [float(bwrap.rows["partly_wrong"][c]) for c in corpus.CHECKS]


ATTACKS = {"fake_check": True, "fake_code": True, "fake_comparison": True, "fake_transformer": True, "fake_handler": True,
           "fake_references": False, "read_source": True}


@pytest.fixture(scope="module")
def undefended(bwrap, tmp_path_factory) -> dict[str, bool]:
    """Each attack's rebuilt notebook with the seal removed, run by plain nbval without a sandbox:
    attack -> whether its (wrong) accuracy check passes."""
    folder = tmp_path_factory.mktemp("undefended")
    (folder / "sanitize.txt").write_text((bwrap.ctx.out / "rebuilt" / "sanitize.txt").read_text())
    accuracy_cell = {}
    for attack in ATTACKS:
        nb = nbformat.read(bwrap.ctx.out / "rebuilt" / f"{attack}.ipynb", as_version=4)
        nb.cells = [c for c in nb.cells if c.get("id") != PROLOGUE_ID]
        for cell in nb.cells:
            cell.source = "\n".join(l for l in cell.source.splitlines() if not l.startswith(SEAL_PREFIX))
        nbformat.write(nb, folder / f"{attack}.ipynb")
        accuracy_cell[attack] = [c.id for c in nb.cells if c.cell_type == "code"].index("5f56fc7f")
    passed = plain_nbval([folder / f"{attack}.ipynb" for attack in ATTACKS], folder / "junit.xml")
    return {attack: passed[(f"{attack}.ipynb", accuracy_cell[attack])] for attack in ATTACKS}


@pytest.mark.parametrize("attack", ATTACKS)
def test_the_attacks_work_without_the_graders_defences(bwrap, undefended, attack):
    """Without the seal and the sandbox, each attack's wrong accuracy check passes (so the corpus
    case does test them), except where the output comparison alone catches it (patched references
    print the student's wrong value). With them, it earns nothing."""
    assert undefended[attack] == ATTACKS[attack]
    assert bwrap.rows[attack]["5f56fc7f"] == "0"


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


def test_ctrl_c_keeps_what_was_graded_and_a_rerun_finishes(tmp_path):
    need("bubblewrap")
    ctx = corpus.Context(tmp_path / "submissions", tmp_path / "out", 0, [], [])
    ctx.submissions.mkdir()
    for name in ("a", "b"):
        (ctx.submissions / f"{name}.ipynb").write_bytes(corpus.dump(corpus.notebook(corpus.RIGHT)))
    command = [sys.executable, "-m", "cvbook.grade", "lab01", str(ctx.submissions), "--out", str(ctx.out), "--jobs", "1"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while not list((ctx.out / "results").glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # the second submission is running now
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "run the same command again" in stderr, stderr
    kept = rows(ctx.out)
    assert len(kept) == 1 and all(row["score"] == "5" for row in kept.values())
    assert stray_processes() == {}
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0 and "1 already graded, 1 to grade" in done.stderr, done.stderr
    assert {name: row["score"] for name, row in rows(ctx.out).items()} == {"a": "5", "b": "5"}


def test_the_whole_notebook_has_a_time_limit(tmp_path):
    """A cell that would run 90 s is stopped when the notebook's 25 s are up; later checks fail at once."""
    need("bubblewrap")
    from cvbook.grade.run import grade_one
    from cvbook.grade.sandbox import Limits, choose
    from cvbook.grade.source import load_lab

    path = tmp_path / "slow.ipynb"
    path.write_bytes(corpus.dump(corpus.notebook(corpus.RIGHT, after={corpus.BER: "import time\ntime.sleep(90)"})))
    limits = Limits(cell_timeout=100, notebook_timeout=25)
    result = grade_one(load_lab(corpus.SOURCE), "slow", path, tmp_path / "out", tmp_path, choose("bubblewrap"), limits)
    assert result.status == "timeout" and [c.earned for c in result.checks][1:] == [0, 0, 0, 0], result
    assert "notebook time limit of 25 s" in result.checks[-1].message
    assert result.seconds < 25 + 30
