"""A Gradescope autograder for a lab: ``python -m cvbook.grade.gradescope SOURCE --out autograder.zip``.

Gradescope grades code in its own container: it unzips the autograder into
``/autograder/source``, runs ``setup.sh`` there once (as root, in its Ubuntu image) to build the
image, then for every submission runs ``/autograder/run_autograder`` with the student's files in
``/autograder/submission`` and reads ``/autograder/results/results.json``. The zip holds

- ``setup.sh``: installs bubblewrap (apt-get) and, in ``/autograder/venv``, the book's package
  at the instructor's commit (``cvbook @ git+<repository>@<commit>``, torch's CPU build) with
  the grader's own needs (pytest, nbval, ipykernel);
- ``run_autograder``: ``/autograder/venv/bin/python -m cvbook.grade.gradescope --autograder /autograder``,
  which grades the submitted notebook with the same rebuild, sandbox, limits and points as
  ``cvbook-grade`` and writes Gradescope's schema: ``score``, and one test per check cell with
  ``name``, ``score``, ``max_score``, ``status``, ``output``, ``visibility`` (hidden checks
  ``after_published``; their failure message only with ``--reveal-hidden``);
- the lab source and ``cvbook-autograder.json`` (its file name and the limits).

A grader fault (the sandbox or the kernel does not start) writes no results.json: Gradescope
then reports that the autograder failed, instead of recording a 0.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict
from pathlib import Path

from . import run
from .report import visible_message
from .sandbox import Limits, SandboxError, choose
from .source import Lab, SourceError, load_lab

__all__ = ["results_json", "setup_script", "RUN_AUTOGRADER", "build", "grade_autograder", "checkout_commit",
           "checkout_repository", "main"]

CONFIG = "cvbook-autograder.json"
DEFAULT_REPOSITORY = "https://github.com/cvbook/cvbook"
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission: the student's files are in /autograder/submission,
# the grade goes to /autograder/results/results.json (written by cvbook.grade.gradescope).
set -uo pipefail
exec /autograder/venv/bin/python -m cvbook.grade.gradescope --autograder /autograder
"""


def setup_script(package: str, torch_index: str | None = TORCH_INDEX) -> str:
    """``setup.sh``: bubblewrap from apt, the package (a pip requirement) in /autograder/venv."""
    index = f" --extra-index-url {shlex.quote(torch_index)}" if torch_index else ""
    return ("#!/usr/bin/env bash\n"
            "# Gradescope runs this once, as root, in its Ubuntu image (written by cvbook.grade.gradescope).\n"
            "set -euo pipefail\n"
            "export DEBIAN_FRONTEND=noninteractive\n"
            "apt-get update\n"
            "apt-get install -y --no-install-recommends bubblewrap git python3 python3-venv python3-pip\n"
            "python3 -c 'import sys; assert sys.version_info >= (3, 10), \"cvbook needs Python 3.10 or later: "
            "choose a newer Ubuntu base image\"'\n"
            "python3 -m venv /autograder/venv\n"
            "/autograder/venv/bin/pip install --no-cache-dir --upgrade pip\n"
            f"/autograder/venv/bin/pip install --no-cache-dir{index} {shlex.quote(package)} pytest nbval ipykernel\n"
            "/autograder/venv/bin/python -c 'import cvbook.grade.gradescope, nbval, ipykernel'\n")


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True,
                          timeout=60).stdout.strip()


def checkout_commit(root: Path) -> tuple[str, bool]:
    """The commit of the git checkout at ``root`` and whether its package source has uncommitted changes."""
    return _git(root, "rev-parse", "HEAD"), bool(_git(root, "status", "--porcelain", "--", "src", "pyproject.toml"))


def checkout_repository(root: Path) -> str:
    """The checkout's ``origin`` as an https URL pip can clone (a fork's own), else the book's."""
    try:
        url = _git(root, "remote", "get-url", "origin")
    except (OSError, subprocess.CalledProcessError):
        return DEFAULT_REPOSITORY
    if url.startswith("git@github.com:"):
        url = "https://github.com/" + url.split(":", 1)[1]
    return url.removesuffix(".git") if url.startswith("https://") else DEFAULT_REPOSITORY


def build(lab: Lab, out: Path, package: str, limits: Limits, reveal_hidden: bool = False,
          torch_index: str | None = TORCH_INDEX, allow_library: bool = False) -> Path:
    """Write the autograder zip for ``lab``; ``package`` is the pip requirement setup.sh installs."""
    config = {"source": lab.path.name, "source_sha256": lab.sha256, "package": package, "limits": asdict(limits),
              "reveal_hidden": reveal_hidden, "allow_library": allow_library}
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (("setup.sh", setup_script(package, torch_index)), ("run_autograder", RUN_AUTOGRADER)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16  # executable, as Gradescope runs them
            archive.writestr(info, text)
        archive.write(lab.path, lab.path.name)
        archive.writestr(CONFIG, json.dumps(config, indent=1))
    return out


def results_json(lab: Lab, result: run.Result, reveal_hidden: bool = False) -> dict:
    """Gradescope's results.json for one graded submission: a test per check cell."""
    tests = []
    for check, outcome in zip(lab.checks, result.checks):
        passed = outcome.earned >= outcome.points
        message = visible_message(check, outcome, reveal_hidden)
        what = "hidden check" if check.hidden else ", ".join(check.names) or check.id
        tests.append({"name": f"{check.title} ({what})",
                      "score": outcome.earned, "max_score": outcome.points, "status": "passed" if passed else "failed",
                      "output": "✓ passed" if passed else message,
                      "visibility": "after_published" if check.hidden else "visible"})
    lines = [f"{lab.name}: status {result.status}" + (f" ({result.detail.splitlines()[0]})" if result.detail else "")]
    lines += [f"Your cell `{p.first_line}` raised: {p.message}" for p in result.problems]
    lines += [f"Note: {note}" for note in result.notes]
    return {"score": result.score, "output": "\n".join(lines), "tests": tests, "execution_time": round(result.seconds, 1)}


def _pick(lab: Lab, folder: Path) -> tuple[Path | None, str]:
    """The submitted notebook, or None and why none can be graded (for the student)."""
    notebooks = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if len(notebooks) == 1:
        return notebooks[0], ""
    prefix = lab.name.split("_")[0]
    named = [p for p in notebooks if p.name.startswith(prefix)]
    if len(named) == 1:
        return named[0], ""
    listed = ", ".join(p.name for p in notebooks) or "no .ipynb file"
    return None, f"upload exactly one notebook of {lab.name} (.ipynb); found: {listed}"


def grade_autograder(root: Path) -> int:
    """What ``run_autograder`` does: grade ``root/submission`` and write ``root/results/results.json``."""
    config = json.loads((root / "source" / CONFIG).read_text())
    lab = load_lab(root / "source" / config["source"])
    limits = Limits(**config["limits"])
    results = root / "results" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    notebook, problem = _pick(lab, root / "submission")
    if notebook is None:
        result = run.invalid(lab, "submission", problem)
    else:
        try:
            sandbox = choose("auto")
        except SandboxError as error:
            print(f"grader fault, no score written: {error}", file=sys.stderr)
            return 1
        with tempfile.TemporaryDirectory(prefix="cvbook-gradescope-") as work:
            out, scratch = Path(work, "out"), Path(work, "scratch")
            out.mkdir()
            scratch.mkdir()
            result = run.grade_one(lab, "submission", notebook, out, scratch, sandbox, limits,
                                   allow_library=config.get("allow_library", False))
            if result.status == "error":  # the grader's fault: no results.json, Gradescope says it failed
                print(f"grader fault, no score written: {result.detail}", file=sys.stderr)
                for log in (out / "logs").glob("*"):
                    print(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}", file=sys.stderr)
                return 1
    results.write_text(json.dumps(results_json(lab, result, config.get("reveal_hidden", False)), indent=1,
                                  ensure_ascii=False))
    print(f"{lab.name}: {result.score:g} / {result.max_score:g} ({result.status})")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cvbook.grade.gradescope", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Build a Gradescope autograder (a zip of setup.sh, run_autograder and the lab source) that "
                    "grades each submission in Gradescope's container as cvbook-grade does.",
        epilog="Upload the zip as the programming assignment's autograder (Ubuntu base image, Python >= 3.10).\n"
               "setup.sh installs cvbook from REPOSITORY at COMMIT (default: this checkout's HEAD; push it first).\n"
               "Grades reach Gradescope only this way: it never reads results computed elsewhere.")
    parser.add_argument("source", nargs="?", help="lab source notebook, or its name (lab04)")
    parser.add_argument("--out", type=Path, help="the zip to write (autograder.zip)")
    parser.add_argument("--repository", help="https git URL of the book (default: the checkout's origin, else "
                        f"{DEFAULT_REPOSITORY})")
    parser.add_argument("--commit", help="commit to install (default: the commit of the checkout cvbook runs from)")
    parser.add_argument("--package", help="the whole pip requirement instead (e.g. a wheel's URL); overrides "
                        "--repository and --commit")
    parser.add_argument("--torch-index", default=TORCH_INDEX, help="extra pip index for torch (default: its CPU "
                        "build); '' for PyPI's")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per cell (default 60)")
    parser.add_argument("--notebook-timeout", type=float, default=600.0,
                        help="seconds per notebook (default 600; keep it under Gradescope's autograder timeout)")
    parser.add_argument("--memory", type=int, default=2048, help="MB of memory per process (default 2048; give the "
                        "container more in Gradescope's settings)")
    parser.add_argument("--reveal-hidden", action="store_true",
                        help="show why a hidden check failed (default: only that it failed)")
    parser.add_argument("--allow-library", action="store_true",
                        help="an answer that calls the cvbook function its exercise reimplements keeps its points")
    parser.add_argument("--autograder", type=Path, metavar="ROOT",
                        help="inside Gradescope (run_autograder): grade ROOT/submission into ROOT/results")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.autograder is not None:
        return grade_autograder(args.autograder.resolve())
    if args.source is None or args.out is None:
        print("error: give the lab and the zip to write: python -m cvbook.grade.gradescope lab04 --out autograder.zip",
              file=sys.stderr)
        return 2
    try:
        lab = load_lab(args.source)
    except SourceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    package = args.package
    if package is None:
        commit, dirty = args.commit, False
        if commit is None:
            import cvbook

            try:
                commit, dirty = checkout_commit(Path(cvbook.__file__).resolve().parents[2])
            except (OSError, subprocess.CalledProcessError):
                print("error: cvbook does not run from a git checkout: give --commit (or --package)", file=sys.stderr)
                return 2
        import cvbook

        repository = args.repository or checkout_repository(Path(cvbook.__file__).resolve().parents[2])
        package = f"cvbook @ git+{repository}@{commit}"
        if dirty:
            print("warning: the package's source has uncommitted changes; the autograder installs the commit "
                  f"{commit[:12]}, without them", file=sys.stderr)
    limits = Limits(cell_timeout=args.timeout, notebook_timeout=args.notebook_timeout, memory_mb=args.memory)
    out = build(lab, args.out.resolve(), package, limits, args.reveal_hidden, args.torch_index or None,
                args.allow_library)
    print(f"wrote {out}: {lab.name}, {len(lab.checks)} checks, {lab.max_score:g} points; setup.sh installs {package!r}"
          " (push that commit before Gradescope builds the image)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
