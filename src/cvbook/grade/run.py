"""Grading one submission: rebuild it, run it with nbval in the sandbox, read the JUnit XML.

The grader's pytest runs outside the sandbox (it holds the expected outputs); only the kernel it
starts is confined, through a kernel spec whose command line is the sandbox's. While pytest
runs, a :class:`~cvbook.grade.watch.Watchdog` watches the kernel's processes; when they exceed
their memory, the kernel is killed, nbval notes it, and the checks run so far keep their result.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from .explain import student_message
from .rebuild import Flag, InvalidNotebook, read_submission, rebuild
from .score import read_calls, score_cells
from .sandbox import Limits, Sandbox
from .source import Lab
from .watch import UidSlot, Watchdog, kill_tree

__all__ = ["CheckResult", "CellProblem", "Result", "Flag", "grade_one", "invalid", "SANITIZE", "KERNEL_NAME", "reproduce_command",
           "failed", "classify", "student_message", "read_junit", "STOP", "Interrupted"]

STOP = threading.Event()  # set on Ctrl-C: running submissions are stopped and not recorded


class Interrupted(Exception):
    """Grading of a submission was stopped because :data:`STOP` was set."""

KERNEL_NAME = "cvbook-grade"
# Only the ✓ lines of a check cell are compared: a student's own print() inside a graded function
# must not cost the check. (A failing check raises, and a cell that raises fails anyway.)
SANITIZE = "regex: (?m)^(?!✓ ).*\\n?\nreplace: \n"
_ANSI = re.compile(r"(?:\x1b|#x1B)\[[0-9;]*[A-Za-z]")  # pytest's JUnit XML writes ESC as "#x1B"


@dataclass
class CheckResult:
    id: str
    points: float
    earned: float  # points times the share of the cell's check() calls that passed
    message: str  # why it failed, for the student ("" when it passed); a hidden check's is shown only when revealed


@dataclass
class CellProblem:
    role: str  # answer or added
    first_line: str
    message: str


@dataclass
class Result:
    student: str
    status: str  # graded, invalid-notebook, timeout, memory, crashed, error
    score: float
    max_score: float
    checks: list[CheckResult]
    detail: str = ""
    notes: list[str] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)  # for the instructor only (flags.csv)
    problems: list[CellProblem] = field(default_factory=list)
    lead: str = ""  # the first error in the student's own code: where, what, the frames of their code
    sandbox: str = ""
    seconds: float = 0.0
    submission_sha256: str = ""
    source_sha256: str = ""
    rebuilt: str = ""  # the rebuilt notebook, relative to the output folder
    truncated: bool = False
    reproduce: str = ""  # for the instructor: the plain nbval command that re-runs the rebuilt notebook

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Result":
        data = json.loads(text)
        data["checks"] = [CheckResult(**c) for c in data["checks"]]
        data["problems"] = [CellProblem(**p) for p in data.get("problems", [])]
        data["flags"] = [Flag(**f) if isinstance(f, dict) else Flag("", str(f)) for f in data.get("flags", [])]
        return cls(**data)


def reproduce_command(rebuilt: Path, profile: str = "quick") -> str:
    """The plain nbval command that re-runs a rebuilt notebook (no sandbox, no grader plugin)."""
    sanitize = shlex.quote(str(rebuilt.with_name("sanitize.txt")))
    return (f"CVBOOK_PROFILE={profile} OMP_NUM_THREADS=1 PYTHONHASHSEED=0 "
            f"MPLBACKEND=module://matplotlib_inline.backend_inline python -m pytest -p no:cacheprovider "
            f"--nbval-lax --nbval-current-env --nbval-sanitize-with {sanitize} {shlex.quote(str(rebuilt))}")


def _zero(lab: Lab, message: str) -> list[CheckResult]:
    return [CheckResult(c.id, c.points, 0.0, message) for c in lab.checks]


def _failure_text(case: ElementTree.Element) -> str | None:
    """Why a JUnit test case (a cell) failed, or None when it passed. An error while pytest tore
    the kernel down after the last cell is not the cell's failure."""
    for node in case:
        if node.tag in ("failure", "error") and not node.get("message", "").startswith("failed on teardown"):
            return _ANSI.sub("", node.text or node.get("message", "") or node.tag)
    node = case.find("skipped")
    if node is not None:
        return _ANSI.sub("", node.get("message", "skipped") + "\n" + (node.text or ""))
    return None


def classify(messages: list[str], stopped: str | None, cells_run: int) -> tuple[str, str]:
    """The status of a graded notebook and its one-line reason, from the messages of its failed
    cells (see :func:`student_message`) and from what the watchdog stopped (``memory``, ...)."""
    if stopped == "memory":
        return "memory", "its processes used more memory together than allowed, so they were stopped"
    if stopped == "timeout":
        return "timeout", "the notebook ran past its time limit, so it was stopped"
    if stopped in ("processes", "disk"):
        return "crashed", f"the sandbox was stopped: too many {stopped}"
    if cells_run == 0 or any(m.startswith("not run: the kernel did not start") for m in messages):
        return "error", "the kernel did not start (a problem of the grader, not of the submission)"
    if any(m.startswith(("Timeout of", "not run: the notebook time limit")) for m in messages):
        return "timeout", "a cell ran past its time limit (its checks and the later ones failed)"
    if any(m.startswith("MemoryError") or "can't allocate memory" in m or "Cannot allocate memory" in m for m in messages):
        return "memory", "a cell ran out of memory"
    if any(m.startswith("the kernel stopped") for m in messages):
        return "crashed", "the kernel stopped (a crash, or exit()/os._exit() in the notebook)"
    return "graded", ""


def _run_pytest(job: Path, runtime: Path, notebook: Path, sandbox: Sandbox, limits: Limits,
                uid: int | None) -> tuple[int, str | None]:
    """Run nbval on ``notebook``; the exit status and why the watchdog stopped it (or None)."""
    home = job / "home"
    home.mkdir(mode=0o700)
    if uid is not None:
        os.chown(runtime, uid, uid)
    spec_dir = job / "jupyter" / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps(sandbox.kernelspec(runtime, home, limits, uid)))
    (job / "pytest.ini").write_text("[pytest]\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(job), "LANG": "C.UTF-8",
           "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1",
           "JUPYTER_PATH": str(job / "jupyter"), "JUPYTER_RUNTIME_DIR": str(runtime),
           "JUPYTER_CONFIG_DIR": str(job / "config"), "JUPYTER_DATA_DIR": str(job / "data")}
    if uid is not None:
        env["CVBOOK_GRADE_UID"] = str(uid)
    command = [sys.executable, "-m", "pytest", "-p", "nbval.plugin", "-p", "cvbook.grade.plugin", "-p", "no:cacheprovider",
               "-q", "-c", str(job / "pytest.ini"), "--rootdir", str(job), "--nbval-lax",
               "--nbval-kernel-name", KERNEL_NAME, "--nbval-cell-timeout", f"{limits.cell_timeout:g}",
               "--nbval-sanitize-with", str(notebook.with_name("sanitize.txt")),
               "--grade-notebook-timeout", f"{limits.notebook_timeout:g}", "--grade-output-limit", str(limits.output_bytes),
               "--junitxml", str(job / "junit.xml"), "-o", "junit_family=xunit1", str(notebook)]
    with open(job / "pytest.log", "wb") as log:
        process = subprocess.Popen(command, cwd=job, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    watchdog = Watchdog(process.pid, limits.total_memory_mb * 2**20, limits.processes, runtime)
    deadline = time.monotonic() + limits.notebook_timeout + 30
    stopped: str | None = None
    try:
        while process.poll() is None:
            try:
                process.wait(timeout=0.25)  # returns as soon as pytest ends (a sleep waited 0.125 s on average)
            except subprocess.TimeoutExpired:
                pass
            if STOP.is_set():
                kill_tree(process.pid, include_root=True)
                raise Interrupted
            reason = "timeout" if time.monotonic() > deadline else watchdog.over()
            if reason and stopped is None:
                stopped = reason
                kill_tree(process.pid)  # the kernel: nbval notices and finishes the other cells
                deadline = min(deadline, time.monotonic() + 30) if reason != "timeout" else time.monotonic() + 30
            elif reason == "timeout" and stopped is not None:
                kill_tree(process.pid, include_root=True)
        return process.returncode, stopped
    finally:
        if process.poll() is None:
            kill_tree(process.pid, include_root=True)
            process.wait()
        kill_tree(process.pid)


def read_junit(path: Path) -> dict[int, str | None]:
    """Code cell index -> failure text (None when the cell passed)."""
    results: dict[int, str | None] = {}
    if not path.exists():
        return results
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        match = re.fullmatch(r"Cell (\d+)", case.get("name", ""))
        if match:
            results[int(match.group(1))] = _failure_text(case)
    return results


def _properties(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    return [(p.get("name", ""), p.get("value", "")) for p in ElementTree.parse(path).getroot().iter("property")]


def fingerprint(submission: Path) -> str:
    """sha256 of a submitted file ("" for anything else); a rerun regrades a changed submission."""
    return hashlib.sha256(submission.read_bytes()).hexdigest() if submission.is_file() else ""


def invalid(lab: Lab, student: str, message: str, digest: str = "") -> Result:
    """The result of a submission that could not be read: zero points, the reason in the feedback."""
    return Result(student, "invalid-notebook", 0.0, lab.max_score, _zero(lab, "not graded: " + message), detail=message,
                  submission_sha256=digest, source_sha256=lab.sha256)


def failed(lab: Lab, student: str, detail: str, digest: str = "") -> Result:
    """The result of a submission the grader itself failed on (status ``error``; a rerun retries it)."""
    return Result(student, "error", 0.0, lab.max_score, _zero(lab, "not graded: the grader failed (not your fault)"),
                  detail="the grader failed on this submission (a rerun tries again)\n" + detail,
                  submission_sha256=digest, source_sha256=lab.sha256)


def grade_one(lab: Lab, student: str, submission: Path, out: Path, scratch: Path, sandbox: Sandbox, limits: Limits,
              allow_library: bool = False) -> Result:
    """Grade one submission; never raises for anything the submission does. With
    ``allow_library``, an answer that calls the library function its exercise reimplements keeps
    its points (it is still flagged)."""
    start = time.monotonic()
    digest = fingerprint(submission)
    try:
        if not submission.is_file():
            raise InvalidNotebook(f"{submission.name} is not a file")
        parsed = read_submission(submission)
    except InvalidNotebook as error:
        return invalid(lab, student, str(error), digest)
    result = Result(student, "graded", 0.0, lab.max_score, [], submission_sha256=digest, source_sha256=lab.sha256,
                    sandbox=f"{sandbox.kind} sandbox ({limits.describe()})")
    token = secrets.token_hex(8)
    rebuilt = rebuild(lab, parsed, token, limits.output_bytes)
    result.notes, result.flags = rebuilt.notes, rebuilt.flags
    rebuilt_dir = out / "rebuilt"
    rebuilt_dir.mkdir(parents=True, exist_ok=True)
    (rebuilt_dir / "sanitize.txt").write_text(SANITIZE)
    notebook = rebuilt_dir / f"{student}.ipynb"
    nbformat.write(rebuilt.notebook, notebook)
    result.rebuilt = str(notebook.relative_to(out))
    result.reproduce = reproduce_command(notebook.resolve())

    job = scratch / f"job-{secrets.token_hex(6)}"
    job.mkdir(mode=0o700)
    # the kernel's sockets live in the runtime folder: a Unix socket path has at most 107 bytes
    runtime = Path(tempfile.mkdtemp(prefix="cvg-"))
    try:
        with UidSlot() as uid:
            returncode, stopped = _run_pytest(job, runtime, notebook, sandbox, limits, uid)
    except Interrupted:
        shutil.rmtree(job, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
    cells = read_junit(job / "junit.xml")
    result.truncated = ("truncated", "yes") in _properties(job / "junit.xml")
    messages = [student_message(text) for text in cells.values() if text]
    result.status, result.detail = classify(messages, stopped, len(cells))
    if cells.get(0):  # the grader's first cell runs before any student code: its failure is ours
        result.status = "error"
        result.detail = f"the grader's first cell failed ({student_message(cells[0])})"
    if result.status == "error":
        log = (job / "pytest.log").read_text(errors="replace")[-4000:]
        result.detail += f"\npytest ended with exit status {returncode}:\n{log}"
    if result.status != "graded":  # for whoever looks into it: nbval's own report
        logs = out / "logs"
        logs.mkdir(exist_ok=True)
        for name in ("junit.xml", "pytest.log"):
            if (job / name).exists():
                shutil.copyfile(job / name, logs / f"{student}.{name}")
    scored = score_cells(lab, rebuilt, cells, read_calls(job / "junit.xml"), allow_library)
    result.checks = [CheckResult(*check) for check in scored.checks]
    result.problems = [CellProblem(*problem) for problem in scored.problems]
    result.lead = scored.lead
    result.score = sum(c.earned for c in result.checks)
    result.seconds = time.monotonic() - start
    shutil.rmtree(job, ignore_errors=True)
    return result
