"""``python -m cvbook.grade SOURCE SUBMISSIONS --out OUT`` (also ``cvbook-grade``).

SOURCE is a lab source notebook or its name (``lab04``); SUBMISSIONS a folder with one notebook per
student (``alice.ipynb``), or one folder per student with one notebook inside (``alice/lab.ipynb``).
Results appear in OUT as soon as each is known; a rerun grades only what is missing or changed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from . import run
from .report import load_results, write_checks, write_gradebook, write_result
from .sandbox import KINDS, Limits, Sandbox, SandboxError, choose
from .source import Lab, SourceError, load_lab

__all__ = ["main", "grade_class", "find_submissions"]


def find_submissions(folder: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """Student name -> notebook, and student name -> why it cannot be graded."""
    found: dict[str, list[Path]] = {}
    problems: dict[str, str] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_dir():
            notebooks = sorted(p for p in entry.iterdir() if p.suffix == ".ipynb" and not p.name.startswith("."))
            if len(notebooks) != 1:
                listed = ", ".join(p.name for p in notebooks) or "none"
                problems[entry.name] = f"the folder {entry.name}/ must hold exactly one notebook (found: {listed})"
            found.setdefault(entry.name, []).append(notebooks[0] if len(notebooks) == 1 else entry)
        elif entry.is_file():
            found.setdefault(entry.stem, []).append(entry)
    submissions = {}
    for name, paths in found.items():
        if len(paths) > 1:
            problems[name] = "two submissions have this name: " + ", ".join(p.name for p in paths)
        submissions[name] = paths[0]
    return submissions, problems


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cvbook.grade", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Grade a class's submissions of a lab through nbval, each in a sandbox.",
        epilog="SUBMISSIONS holds one notebook per student (alice.ipynb) or one folder per student with one\n"
               "notebook inside. OUT receives gradebook.csv, checks.csv, feedback/ (Markdown and HTML),\n"
               "results/, rebuilt/ (the notebooks nbval ran) and, with --format gradescope, gradescope/.\n"
               "A rerun grades only the submissions that are new or changed.")
    parser.add_argument("source", help="lab source notebook, or its name (lab04)")
    parser.add_argument("submissions", type=Path, help="folder of submissions")
    parser.add_argument("--out", type=Path, required=True, help="folder for the gradebook and feedback")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per cell (default 60)")
    parser.add_argument("--notebook-timeout", type=float, default=600.0, help="seconds per notebook (default 600)")
    parser.add_argument("--memory", type=int, default=2048, help="MB of memory per submission (default 2048)")
    parser.add_argument("--processes", type=int, default=64, help="processes and threads per submission (default 64)")
    parser.add_argument("--format", choices=["gradescope"], action="append", default=[],
                        help="also write Gradescope's results.json per student")
    parser.add_argument("--sandbox", choices=["auto", *KINDS], default="auto", help="default: bubblewrap if it works")
    parser.add_argument("--regrade", action="store_true", help="grade every submission again")
    parser.add_argument("--profile", choices=["quick", "full"], default="quick",
                        help="CVBOOK_PROFILE of the kernels; the source's outputs must come from the same profile")
    return parser


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.jobs < 1 or args.timeout <= 0 or args.notebook_timeout <= 0 or args.memory < 256 or args.processes < 16:
        return _error("need --jobs >= 1, --timeout > 0, --notebook-timeout > 0, --memory >= 256, --processes >= 16")
    try:
        lab = load_lab(args.source)
    except SourceError as error:
        return _error(str(error))
    if not args.submissions.is_dir():
        return _error(f"{args.submissions} is not a folder of submissions")
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    try:
        sandbox = choose(args.sandbox, profile=args.profile)
        sandbox.ensure_hidden(lab.path, args.submissions, out)
    except SandboxError as error:
        return _error(str(error))
    limits = Limits(cell_timeout=args.timeout, notebook_timeout=args.notebook_timeout, memory_mb=args.memory,
                    processes=args.processes)
    start = time.monotonic()
    try:
        results, graded = grade_class(lab, args.submissions, out, sandbox, limits, args.jobs, tuple(args.format),
                                      regrade=args.regrade, progress=True)
    except KeyboardInterrupt:
        print("\ninterrupted: what was graded is saved; run the same command again to grade the rest", file=sys.stderr)
        return 130
    minutes = (time.monotonic() - start) / 60
    counts: dict[str, int] = {}
    for result in results.values():
        counts[result.status] = counts.get(result.status, 0) + 1
    print(f"graded {graded} in {minutes * 60:.0f} s ({graded / max(minutes, 1e-9):.1f} per minute): "
          + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())), file=sys.stderr)
    flagged = sorted(name for name, result in results.items() if result.flags)
    if flagged:
        print(f"worth a look (code that reaches for the grader or the system): {', '.join(flagged)}", file=sys.stderr)
    print(f"gradebook: {out / 'gradebook.csv'}; feedback: {out / 'feedback'}", file=sys.stderr)
    return 1 if counts.get("error") else 0


def grade_class(lab: Lab, folder: Path, out: Path, sandbox: Sandbox, limits: Limits, jobs: int = 1,
                formats: tuple[str, ...] = (), regrade: bool = False,
                progress: bool = False) -> tuple[dict[str, run.Result], int]:
    """Grade every submission in ``folder`` that ``out`` holds no current result for (new, changed,
    or graded with status ``error``); returns every result, earlier ones included, and how many
    were graded now."""
    submissions, problems = find_submissions(folder)
    results = {name: r for name, r in load_results(out, lab).items() if name in submissions}
    todo = []
    for name, path in submissions.items():
        earlier = results.get(name)
        if regrade or earlier is None or earlier.status == "error" or earlier.submission_sha256 != run.fingerprint(path):
            todo.append(name)
            results.pop(name, None)
    write_checks(out, lab)
    write_gradebook(out, lab, results)
    if progress:
        print(f"{lab.name}: {len(submissions)} submissions, {len(submissions) - len(todo)} already graded, "
              f"{len(todo)} to grade in a {sandbox.kind} sandbox with {jobs} job(s)", file=sys.stderr)
    _grade_all(lab, todo, submissions, problems, results, out, sandbox, limits, jobs, formats, progress)
    return results, len(todo)


def _grade_all(lab: Lab, todo: list[str], submissions: dict[str, Path], problems: dict[str, str],
               results: dict[str, run.Result], out: Path, sandbox: Sandbox, limits: Limits, jobs: int,
               formats: tuple[str, ...], progress: bool) -> None:
    from tqdm import tqdm

    scratch = Path(tempfile.mkdtemp(prefix="cvbook-grade-"))
    bar = tqdm(total=len(todo), unit="submission", file=sys.stderr, dynamic_ncols=True, disable=None if progress else True)
    started = time.monotonic()

    def record(result: run.Result) -> None:
        results[result.student] = result
        write_result(out, lab, result, formats)
        write_gradebook(out, lab, results)
        bar.update(1)
        bar.set_postfix_str(f"{bar.n / max((time.monotonic() - started) / 60, 1e-9):.1f} submissions/min")

    def grade(name: str) -> run.Result:
        if name in problems:
            return run.invalid(lab, name, problems[name], run.fingerprint(submissions[name]))
        try:
            return run.grade_one(lab, name, submissions[name], out, scratch, sandbox, limits)
        except run.Interrupted:
            raise
        except Exception:  # a fault of the grader: recorded, retried by the next run, and the class goes on
            import traceback

            return run.failed(lab, name, traceback.format_exc(), run.fingerprint(submissions[name]))

    run.STOP.clear()
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="grade")
    try:
        pending: set[Future] = {pool.submit(grade, name) for name in todo}
        while pending:
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in finished:
                record(future.result())
    except BaseException:
        run.STOP.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
        shutil.rmtree(scratch, ignore_errors=True)
