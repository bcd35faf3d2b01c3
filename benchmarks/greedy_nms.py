"""Time chapter 7's from-scratch greedy NMS against torchvision.ops.nms and d2l's nms.

The function is not copied here: it is read from the cell tagged ``greedy-nms`` of
``book/07_boxes_sliding_windows_nms.ipynb`` and executed, so the book and the benchmark
time one and the same source. Run from the repository root::

    .venv/bin/python benchmarks/greedy_nms.py                 # 1,000 boxes
    .venv/bin/python benchmarks/greedy_nms.py --boxes 300 --repeat 9

Two box sets of the same size: ``sparse`` (boxes scattered over a large canvas, most of
them kept) and ``dense`` (boxes piled on a small canvas, few kept), since the cost of a
greedy loop grows with the number of boxes it keeps. Each time is the minimum over
``--repeat`` runs after a warm-up, the three implementations taking turns, with
torch limited to one thread (torchvision's CPU kernel is single-threaded). Times are
thread CPU time (``--wall`` for wall-clock time), so that a loaded machine slows all
three alike rather than whichever ran when the load peaked.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable

import nbformat
import torch
import torchvision

NOTEBOOK = Path(__file__).resolve().parent.parent / "book" / "07_boxes_sliding_windows_nms.ipynb"
TAG = "greedy-nms"


def load_greedy_nms(notebook: Path = NOTEBOOK) -> Callable:
    """Execute the notebook cell tagged ``greedy-nms`` and return its ``greedy_nms``."""
    nb = nbformat.read(notebook, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and TAG in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"{notebook} must have exactly one code cell tagged {TAG!r}, found {len(cells)}")
    namespace: dict = {}
    exec(compile(cells[0].source, f"{notebook.name}[{TAG}]", "exec"), namespace)
    if "greedy_nms" not in namespace:
        raise ValueError(f"the cell tagged {TAG!r} does not define greedy_nms")
    return namespace["greedy_nms"]


def make_boxes(n: int, canvas: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n random xyxy boxes (sides 10..100) inside a canvas, with uniform random scores."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * canvas
    boxes = torch.cat([xy, xy + torch.rand(n, 2, generator=g) * 90 + 10], dim=1)
    return boxes, torch.rand(n, generator=g)


def best_times(fns: dict[str, Callable], repeat: int, clock: Callable[[], float] = time.thread_time) -> dict[str, float]:
    """Minimum time of each function over `repeat` rounds, taking turns.

    The default clock is the calling thread's CPU time, which other processes competing
    for the cores do not inflate (torch runs on this one thread here)."""
    for fn in fns.values():  # warm-up
        fn()
    times = {name: float("inf") for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = clock()
            fn()
            times[name] = min(times[name], clock() - start)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--no-d2l", action="store_true", help="skip d2l's nms (slow)")
    parser.add_argument("--wall", action="store_true", help="time wall-clock instead of CPU time")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    greedy_nms = load_greedy_nms()
    fns_for = {}
    if not args.no_d2l:
        from d2l import torch as d2l  # test-time reference only
    print(f"{args.boxes} boxes, IoU threshold {args.threshold}, torch threads 1, min of {args.repeat} runs, "
          f"{'wall-clock' if args.wall else 'thread CPU'} time")
    print(f"{'set':<7} {'kept':>5} {'greedy_nms':>11} {'torchvision':>12} {'d2l':>10}  {'ours/tv':>8} {'d2l/tv':>7}")
    for name, canvas in (("sparse", 1000.0), ("dense", 100.0)):
        b, s = make_boxes(args.boxes, canvas)
        expected = torchvision.ops.nms(b, s, args.threshold)
        got = greedy_nms(b, s, args.threshold)
        if not torch.equal(got, expected):
            raise AssertionError(f"{name}: greedy_nms differs from torchvision.ops.nms")
        fns_for = {
            "ours": lambda: greedy_nms(b, s, args.threshold),
            "torchvision": lambda: torchvision.ops.nms(b, s, args.threshold),
        }
        if not args.no_d2l:
            fns_for["d2l"] = lambda: d2l.nms(b, s, args.threshold)
        t = best_times(fns_for, args.repeat, time.perf_counter if args.wall else time.thread_time)
        d2l_ms = f"{t['d2l'] * 1e3:8.2f}ms" if "d2l" in t else f"{'-':>10}"
        d2l_ratio = f"{t['d2l'] / t['torchvision']:6.1f}x" if "d2l" in t else f"{'-':>7}"
        print(f"{name:<7} {len(expected):>5} {t['ours'] * 1e3:9.2f}ms {t['torchvision'] * 1e3:10.2f}ms {d2l_ms}"
              f"  {t['ours'] / t['torchvision']:7.2f}x {d2l_ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
