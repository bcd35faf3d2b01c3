"""What the sandbox tests share: running the grader on the corpus and watching for escapes."""
import csv
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

import pytest

from cvbook.grade.sandbox import available
from grading import corpus

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TIMEOUT = "20"  # seconds per cell: the loops of the corpus run into it, the rest has room on a busy machine


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
    done = grade(ctx, "--sandbox", kind)
    assert done.returncode == 0, done.stderr[-3000:]
    return Run(ctx, cases, rows(ctx.out), done.stderr, done.returncode, listener, before)




def check_rows(run: Run, case: corpus.Case) -> None:
    row = run.rows[case.name]
    earned = [float(row[check]) for check in corpus.CHECKS]
    assert (earned, row["status"]) == (pytest.approx(case.earned, abs=1e-4), case.status), \
        f"{case.name}: {row}\n" + (run.ctx.out / "feedback" / f"{case.name}.md").read_text()
    assert float(row["score"]) == pytest.approx(sum(case.earned), abs=1e-3) and float(row["max_score"]) == 5
    result = json.loads((run.ctx.out / "results" / f"{case.name}.json").read_text())
    assert bool(result["flags"]) == case.flagged, result["flags"]


def check_nothing_escaped(run: Run, kind: str) -> None:
    from cvbook.grade.watch import stray_processes

    assert run.listener.connections == [], "a submission reached a server on 127.0.0.1"
    assert all(s.read_text() == "must survive" for s in run.ctx.sentinels), "a submission deleted a file"
    assert not any(p.exists() for p in run.ctx.forbidden), "a submission wrote outside its folder"
    assert hashes(run.ctx.submissions) == run.hashes, "a submission changed the submissions"
    assert set(run.rows) == {c.name for c in run.cases}
    assert stray_processes() == {}, "processes of a finished sandbox are still alive"
    assert f"in a {kind} sandbox" in run.stderr


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
    return {(Path(case.get("file")).name, int(case.get("name").split()[-1])): not list(case)
            for case in ElementTree.parse(junit).getroot().iter("testcase")}
