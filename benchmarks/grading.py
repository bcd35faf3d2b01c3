"""How fast the grader grades a class: submissions per minute, and its overhead over nbclient.

Usage:
    python benchmarks/grading.py --lab lab04 --n 200 --jobs 2      # the target run (make bench-grade)
    python benchmarks/grading.py --lab lab01 --n 6 --samples 1     # a smoke test

It makes ``--n`` submissions from the lab source (seeded): about half right (the student version
with the source's answers), a third partly wrong (one or two answers left as stubs), and the rest
adversarial (``sys.exit``, ``os._exit``, a faked ``check``, 50 MB of printing, a bounded fork bomb,
malformed JSON; infinite loops only with ``--with-loops``, as each costs a full cell timeout).

1. Overhead: for ``--samples`` right submissions, in turn, the time to execute the submitted
   notebook plainly with nbclient (no sandbox, no checks), and the time ``cvbook.grade`` takes to
   grade it alone (rebuild, sandbox, nbval, JUnit, feedback). Overhead = grade / plain.
2. Throughput: the whole class graded with ``--jobs`` workers, as ``python -m cvbook.grade`` would;
   submissions per minute, and whether every kind got the expected result.

Prints a Markdown table; exits with status 1 when a target is missed (overhead <= 1.5; for lab 4
with 200 submissions and 2 jobs, at most 15 minutes) or a submission got an unexpected result.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

os.environ.setdefault("CVBOOK_PROFILE", "quick")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("PYTHONHASHSEED", "0")
os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")

from cvbook.grade.cli import grade_class  # noqa: E402
from cvbook.grade.run import grade_one  # noqa: E402
from cvbook.grade.sandbox import Limits, choose  # noqa: E402
from cvbook.grade.source import Lab, load_lab  # noqa: E402

ADVERSARIAL = {
    "exit": ("before", "import sys\nsys.exit('done')"),
    "os_exit": ("before", "import os\nos._exit(1)"),
    "fake_check": ("before", "import sys\nm = sys.modules['cvbook.labs.check']\ngenuine = m.check\n"
                             "def check(name, got, expected, **kw):\n    genuine(name, expected, expected, **kw)\n"
                             "m.check = check"),
    "print_bomb": ("after", "for _ in range(50):\n    print('x' * 2**20)"),
    "fork_bomb": ("before", "import os, signal, time\npids = []\ntry:\n    for _ in range(300):\n        pid = os.fork()\n"
                            "        if pid == 0:\n            time.sleep(30)\n            os._exit(0)\n        pids.append(pid)\n"
                            "except OSError:\n    pass\nfor pid in pids:\n    os.kill(pid, signal.SIGKILL)\n    os.waitpid(pid, 0)"),
    "loop": ("after", "while True:\n    pass"),
}


def make_submissions(lab: Lab, n: int, folder: Path, seed: int, loops: bool) -> dict[str, str]:
    """Write ``n`` submissions into ``folder``; returns name -> kind."""
    rng = random.Random(seed)
    answers = {c.id: c.source for c in lab.notebook.cells if c.id in lab.answers}
    kinds = [k for k in ADVERSARIAL if loops or k != "loop"] + ["malformed"]
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for k in range(n):
        draw = rng.random()
        nb = copy.deepcopy(lab.student)
        for cell in nb.cells:
            if cell.id in answers:
                cell.source = answers[cell.id]
        if draw < 0.5:
            kind = "right"
        elif draw < 0.85:
            kind = "partly_wrong"
            stubbed = rng.sample(sorted(answers), k=min(len(answers), rng.choice([1, 2])))
            student = {c.id: c.source for c in lab.student.cells}
            for cell in nb.cells:
                if cell.id in stubbed:
                    cell.source = student[cell.id]
        else:
            kind = rng.choice(kinds)
            if kind != "malformed":
                where, code = ADVERSARIAL[kind]
                target = rng.choice(sorted(answers))
                cell = next(c for c in nb.cells if c.id == target)
                cell.source = f"{code}\n{cell.source}" if where == "before" else f"{cell.source}\n{code}"
        name = f"student{k:03d}_{kind}"
        text = nbformat.writes(nb)
        (folder / f"{name}.ipynb").write_text(text[: len(text) // 2] if kind == "malformed" else text)
        made[name] = kind
    return made


def plain_seconds(path: Path) -> float:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": folder}}).execute()
    return time.perf_counter() - start


def expected(kind: str, status: str, score: float, max_score: float) -> bool:
    return {"right": status == "graded" and score == max_score,
            "partly_wrong": status == "graded" and score < max_score,
            "exit": status == "graded" and score < max_score,
            "os_exit": status == "crashed",
            "fake_check": status in ("graded", "crashed"),
            "print_bomb": status == "graded" and score == max_score,
            "fork_bomb": status == "graded" and score == max_score,
            "loop": status == "timeout",
            "malformed": status == "invalid-notebook" and score == 0}[kind]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lab", default="lab04")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--samples", type=int, default=5, help="right submissions timed for the overhead")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--sandbox", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--with-loops", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    lab = load_lab(args.lab)
    sandbox = choose(args.sandbox)
    limits = Limits(cell_timeout=args.timeout)
    with tempfile.TemporaryDirectory(prefix="cvbook-bench-") as tmp:
        folder, out = Path(tmp, "submissions"), Path(tmp, "out")
        kinds = make_submissions(lab, args.n, folder, args.seed, args.with_loops)
        rights = sorted(name for name, kind in kinds.items() if kind == "right")[: args.samples]
        pairs = []
        for name in rights:
            plain = plain_seconds(folder / f"{name}.ipynb")
            with tempfile.TemporaryDirectory() as scratch:
                start = time.perf_counter()
                result = grade_one(lab, name, folder / f"{name}.ipynb", Path(tmp, "alone"), Path(scratch), sandbox, limits)
                graded = time.perf_counter() - start
            assert result.score == lab.max_score, result
            pairs.append((plain, graded))
            print(f"  {name}: plain nbclient {plain:.2f} s, graded {graded:.2f} s, ratio {graded / plain:.2f}", file=sys.stderr)

        start = time.perf_counter()
        results, _ = grade_class(lab, folder, out, sandbox, limits, jobs=args.jobs, progress=True)
        wall = time.perf_counter() - start

    wrong = {name: (kinds[name], r.status, r.score) for name, r in results.items()
             if not expected(kinds[name], r.status, r.score, r.max_score)}
    ratios = [g / p for p, g in pairs]
    overhead = statistics.median(ratios) if ratios else float("nan")
    per_minute = len(results) / (wall / 60)
    projected = 200 / per_minute
    counts: dict[str, int] = {}
    for kind in kinds.values():
        counts[kind] = counts.get(kind, 0) + 1
    load = os.getloadavg()
    print(f"\n{lab.name}, {args.n} submissions ({', '.join(f'{n} {k}' for k, n in sorted(counts.items()))}), "
          f"{args.jobs} jobs, {sandbox.kind} sandbox, {os.cpu_count()} CPUs, load average after the run {load[0]:.1f}\n")
    print("| measure | value | target | met |\n|---|---:|---:|:---:|")
    print(f"| plain nbclient, one right submission (median of {len(pairs)}) | "
          f"{statistics.median(p for p, _ in pairs):.2f} s |  |  |")
    print(f"| graded alone, same submission (median) | {statistics.median(g for _, g in pairs):.2f} s |  |  |")
    print(f"| overhead = graded / plain (median; range {min(ratios):.2f}-{max(ratios):.2f}) | {overhead:.2f} | ≤ 1.50 | "
          f"{'yes' if overhead <= 1.5 else 'no'} |")
    print(f"| whole class with --jobs {args.jobs} | {wall:.0f} s |  |  |")
    print(f"| submissions per minute | {per_minute:.1f} |  |  |")
    target_met = projected <= 15
    print(f"| 200 submissions (projected from this run) | {projected:.1f} min | ≤ 15 min | {'yes' if target_met else 'no'} |")
    print(f"| unexpected results | {len(wrong)} | 0 | {'yes' if not wrong else 'no'} |")
    for name, detail in sorted(wrong.items()):
        print(f"  unexpected: {name}: {detail}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({"lab": lab.name, "n": args.n, "jobs": args.jobs, "pairs": pairs, "wall": wall,
                                         "per_minute": per_minute, "overhead": overhead, "wrong": wrong, "load": load}))
    return 0 if (overhead <= 1.5 and not wrong and (target_met or args.lab != "lab04")) else 1


if __name__ == "__main__":
    raise SystemExit(main())
