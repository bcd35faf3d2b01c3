"""``python -m cvbook.grade SOURCE SUBMISSIONS --out OUT`` (also ``cvbook-grade``).

SOURCE is a lab source notebook or its name (``lab04``); SUBMISSIONS a folder with one notebook per
student (``alice.ipynb``), or one folder per student with one notebook inside (``alice/lab.ipynb``),
or an LMS's bulk download matched to a roster (``--roster``, :mod:`cvbook.grade.lms`).
Every path is made absolute first. Each result is saved as soon as it is known; the gradebook is
written once, at the end, and only when no grader fault happened (a fault stops the run and
leaves the previous gradebook as it was). A rerun grades only what is missing or changed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from . import lms, run
from .report import load_results, write_checks, write_gradebook, write_result
from .sandbox import KINDS, Limits, Sandbox, SandboxError, choose
from .source import Lab, SourceError, load_lab

__all__ = ["main", "grade_class", "find_submissions", "GraderFault"]

FORMATS = ("canvas", "moodle")
_GRADESCOPE = ("--format gradescope is gone: it wrote results.json files that Gradescope never reads. Gradescope "
               "grades in its own container: build its autograder with `python -m cvbook.grade.gradescope SOURCE "
               "--out autograder.zip` and upload that (see the appendix \"Grading the labs\")")


class GraderFault(Exception):
    """The grader itself failed on a submission (not the student's fault): nothing was scored."""

    def __init__(self, result: run.Result, log: Path) -> None:
        first = result.detail.splitlines()[0] if result.detail else "the grader failed"
        super().__init__(f"grader fault on {result.student}: {first}\n{result.detail}")
        self.result, self.log = result, log


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
               "notebook inside; with --roster, an LMS's bulk download (Canvas, Moodle) matched to the roster.\n"
               "OUT receives gradebook.csv, checks.csv, flags.csv (for you only), feedback/ (Markdown and HTML,\n"
               "for the students), results/, rebuilt/ (the notebooks nbval ran), logs/ and, with --format\n"
               "canvas|moodle, canvas.csv or moodle.csv to import into the LMS. Relative paths are taken from\n"
               "the current folder.\n\n"
               "A rerun grades only the submissions that are new or changed. The gradebook is written at the\n"
               "end of a run, and only when the grader did not fail: a grader fault (the kernel did not start,\n"
               "...) stops the run with exit status 3 and leaves the previous gradebook as it was.\n"
               "Exit status: 0 done (each submission's status is in the gradebook), 2 wrong arguments,\n"
               "3 grader fault, 130 interrupted.\n\n"
               "Gradescope: it runs its own autograder, which `python -m cvbook.grade.gradescope SOURCE\n"
               "--out autograder.zip` builds (the former --format gradescope wrote files Gradescope never read).")
    parser.add_argument("source", help="lab source notebook, or its name (lab04)")
    parser.add_argument("submissions", type=Path, help="folder of submissions")
    parser.add_argument("--out", type=Path, required=True, help="folder for the gradebook and feedback")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per cell (default 60)")
    parser.add_argument("--notebook-timeout", type=float, default=600.0, help="seconds per notebook (default 600)")
    parser.add_argument("--memory", type=int, default=2048, help="MB of memory per submission (default 2048)")
    parser.add_argument("--processes", type=int, default=64, help="processes and threads per submission (default 64)")
    parser.add_argument("--roster", type=Path, help="CSV of the class (columns id, name; optional: email, "
                        "sis_user_id, sis_login_id, section): SUBMISSIONS is then an LMS bulk download, "
                        "one row per student, the latest upload counts, `late` is a column")
    parser.add_argument("--lms", choices=lms.DOWNLOADS, default="auto",
                        help="whose bulk-download file names SUBMISSIONS has (default: auto, Canvas's or Moodle's)")
    parser.add_argument("--assignment", help="the LMS's name of the assignment, the grade column of --format "
                        "(default: the lab's name)")
    parser.add_argument("--format", choices=[*FORMATS, "gradescope"], action="append", default=[],
                        help="also write OUT/canvas.csv (Canvas's gradebook import) or OUT/moodle.csv (Moodle's grading "
                        "worksheet upload); needs --roster")
    parser.add_argument("--sandbox", choices=["auto", *KINDS], default="auto", help="default: bubblewrap if it works")
    parser.add_argument("--regrade", action="store_true", help="grade every submission again")
    parser.add_argument("--reveal-hidden", action="store_true",
                        help="the feedback says why a hidden check failed (after the deadline; rewrites the feedback of "
                             "what was graded before, without grading it again; default: only that it failed)")
    parser.add_argument("--allow-library", action="store_true",
                        help="an answer that calls the cvbook function its exercise reimplements keeps its points "
                             "(it is flagged either way)")
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
    if "gradescope" in args.format:
        return _error(_GRADESCOPE)
    if args.format and args.roster is None:
        return _error(f"--format {args.format[0]} needs --roster: the LMS imports grades by its students' ids")
    try:
        lab = load_lab(args.source)
    except SourceError as error:
        return _error(str(error))
    submissions, out = args.submissions.resolve(), args.out.resolve()  # the grader's pytest runs elsewhere
    if not submissions.is_dir():
        return _error(f"{args.submissions} is not a folder of submissions")
    roster = None
    if args.roster is not None:
        try:
            roster = lms.read_roster(args.roster.resolve(), args.lms)
        except lms.RosterError as error:
            return _error(str(error))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return _error(f"cannot create the output folder {args.out}: {error}")
    try:
        sandbox = choose(args.sandbox, profile=args.profile)
        sandbox.ensure_hidden(lab.path, submissions, out)
    except SandboxError as error:
        return _error(str(error))
    limits = Limits(cell_timeout=args.timeout, notebook_timeout=args.notebook_timeout, memory_mb=args.memory,
                    processes=args.processes)
    start = time.monotonic()
    try:
        results, graded = grade_class(lab, submissions, out, sandbox, limits, args.jobs, regrade=args.regrade,
                                      progress=True, roster=roster, formats=tuple(args.format),
                                      assignment=args.assignment, reveal_hidden=args.reveal_hidden,
                                      allow_library=args.allow_library)
    except KeyboardInterrupt:
        print("\ninterrupted: what was graded is saved (OUT/results/), the gradebook is as it was; run the same "
              "command again to grade the rest", file=sys.stderr)
        return 130
    except GraderFault as fault:
        print(f"error: {fault}\n\nThe grader failed, not the submission: no score was written and "
              f"{out / 'gradebook.csv'} is as it was. nbval's log: {fault.log}. Fix the cause and run the same "
              "command again (what was graded before the fault is kept).", file=sys.stderr)
        return 3
    minutes = (time.monotonic() - start) / 60
    counts: dict[str, int] = {}
    for result in results.values():
        counts[result.status] = counts.get(result.status, 0) + 1
    print(f"graded {graded} in {minutes * 60:.0f} s ({graded / max(minutes, 1e-9):.1f} per minute): "
          + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())), file=sys.stderr)
    students = roster.students if roster is not None else {}
    flagged = [f"{name} ({students[name].name})" if name in students else name
               for name in sorted(name for name, result in results.items() if result.flags)]
    if flagged:
        print(f"worth a look (code that reaches for the grader or the system): {', '.join(flagged)}", file=sys.stderr)
    written = [out / "gradebook.csv"] + [out / f"{f}.csv" for f in dict.fromkeys(args.format)]
    print(f"gradebook: {', '.join(map(str, written))}; for you: {out / 'flags.csv'}; feedback: {out / 'feedback'}",
          file=sys.stderr)
    return 0


def grade_class(lab: Lab, folder: Path, out: Path, sandbox: Sandbox, limits: Limits, jobs: int = 1,
                regrade: bool = False, progress: bool = False, roster: lms.Roster | None = None,
                formats: tuple[str, ...] = (), assignment: str | None = None, reveal_hidden: bool = False,
                allow_library: bool = False) -> tuple[dict[str, run.Result], int]:
    """Grade every submission in ``folder`` that ``out`` holds no current result for (new, changed,
    or left by a grader fault); returns every result, earlier ones included, and how many were
    graded now. Raises :class:`GraderFault` (the gradebook untouched) when the grader fails."""
    folder, out = Path(folder).resolve(), Path(out).resolve()
    if roster is None:
        submissions, problems = find_submissions(folder)
        matched = None
    else:
        matched = lms.match(roster, folder)
        submissions, problems = matched.submissions, matched.problems
    results = {name: r for name, r in load_results(out, lab).items() if name in submissions}
    todo = []
    for name, path in submissions.items():
        earlier = results.get(name)
        if regrade or earlier is None or earlier.status == "error" or earlier.submission_sha256 != run.fingerprint(path):
            todo.append(name)
            results.pop(name, None)
    if progress:
        print(f"{lab.name}: {len(submissions)} submissions, {len(submissions) - len(todo)} already graded, "
              f"{len(todo)} to grade in a {sandbox.kind} sandbox with {jobs} job(s)", file=sys.stderr)
        if matched is not None and matched.notes:
            print("roster: " + "; ".join(matched.notes), file=sys.stderr)
    _grade_all(lab, todo, submissions, problems, results, out, sandbox, limits, jobs, progress,
               reveal_hidden, allow_library)
    if reveal_hidden:  # after the deadline: every student's feedback says why a hidden check failed, no regrading
        for name in set(results) - set(todo):
            write_result(out, lab, results[name], reveal_hidden=True)
    # only now, with every submission graded and no fault: the gradebook, then the LMS's files
    write_checks(out, lab)
    write_gradebook(out, lab, results)
    if matched is not None:
        lms.write_roster_gradebook(out / "gradebook.csv", out / "gradebook.csv", matched)
        for kind in dict.fromkeys(formats):
            lms.write_import(kind, out / f"{kind}.csv", roster, results, assignment or lab.name, lab.max_score)
    return results, len(todo)


def _grade_all(lab: Lab, todo: list[str], submissions: dict[str, Path], problems: dict[str, str],
               results: dict[str, run.Result], out: Path, sandbox: Sandbox, limits: Limits, jobs: int,
               progress: bool, reveal_hidden: bool = False, allow_library: bool = False) -> None:
    from tqdm import tqdm

    scratch = Path(tempfile.mkdtemp(prefix="cvbook-grade-"))
    bar = tqdm(total=len(todo), unit="submission", file=sys.stderr, dynamic_ncols=True, disable=None if progress else True)
    started = time.monotonic()
    faults: list[run.Result] = []

    def record(result: run.Result) -> None:
        if result.status == "error":  # the grader's fault: no score anywhere, and the run stops
            faults.append(result)
            run.STOP.set()
            return
        results[result.student] = result
        write_result(out, lab, result, reveal_hidden=reveal_hidden)
        bar.update(1)
        bar.set_postfix_str(f"{bar.n / max((time.monotonic() - started) / 60, 1e-9):.1f} submissions/min")

    def grade(name: str) -> run.Result:
        if name in problems:
            return run.invalid(lab, name, problems[name], run.fingerprint(submissions[name]))
        try:
            return run.grade_one(lab, name, submissions[name], out, scratch, sandbox, limits, allow_library=allow_library)
        except run.Interrupted:
            raise
        except Exception:  # a fault of the grader
            import traceback

            return run.failed(lab, name, traceback.format_exc(), run.fingerprint(submissions[name]))

    run.STOP.clear()
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="grade")
    try:
        pending: set[Future] = {pool.submit(grade, name) for name in todo}
        while pending:
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in finished:
                if future.cancelled():
                    continue
                try:
                    record(future.result())
                except run.Interrupted:
                    if not faults:
                        raise
            if faults:
                for future in pending:
                    future.cancel()
    except BaseException:
        run.STOP.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
        shutil.rmtree(scratch, ignore_errors=True)
        run.STOP.clear()
    if faults:
        fault = faults[0]
        raise GraderFault(fault, out / "logs" / f"{fault.student}.pytest.log")
