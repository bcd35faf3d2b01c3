"""The GPU check (`make gpu-check`): every notebook on CUDA, then measured training rates beside the T4 estimates.

    python tools/gpu_check.py                                   # on the GPU: all of it, in ≤ 8 minutes
    python tools/gpu_check.py --device cpu --notebooks 1 --steps 1 --max-batch 2   # a dry run without a GPU

No internet is needed, and nothing beyond the repository and its venv: the rehearsal's machinery
(``tools/rehearsal``) builds its dataset and weight stand-ins locally (under ``_build/rehearsal``).

1. **Notebooks.** Each notebook of ``book/`` and ``labs/solutions/`` runs in the full profile against
   the stand-ins served on 127.0.0.1, capped to one optimiser step per fit and a handful of items
   (:func:`rehearsal.run.rehearse`, several at once: ``--jobs``), on the device (``--device cpu``
   hides CUDA from the kernels). Unlike ``make rehearsal``, a notebook whose code never selects the
   profile runs too: it still places its tensors on the device.
2. **Training rates.** For each GPU training pass of :data:`t4_estimates.NOTEBOOKS`, the pass's network
   (built as the notebook builds it) trains ``--steps`` optimiser steps on random inputs of the pass's
   size and batch through :func:`cvbook.train.fit` (float16 autocast and the gradient scaler where the
   pass uses them), after ``--warmup`` steps; the table prints measured steps/s beside
   :func:`t4_estimates.steps_per_second` (a T4's estimate: on another GPU the ratio is what to read).

``--notebooks N`` takes the first N notebooks, those with timed training passes first (or names).
Nothing starts after ``--budget-s`` (480 s); what was left is listed and fails the check.
Exits 1 on any failure (a cell that raised, a refused network access, a device error in a timed
step), 2 when the device asked for is not there. ``--json PATH`` writes the results.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import t4_estimates  # noqa: E402
from rehearsal import prepare, run  # noqa: E402


def all_notebooks() -> list[Path]:
    """``book/`` and ``labs/solutions/``: those the estimates time first (by name), then the rest."""
    found = sorted([*ROOT.glob("book/*.ipynb"), *ROOT.glob("labs/solutions/*.ipynb")], key=lambda p: p.stem)
    return sorted(found, key=lambda p: (not timed_passes(p.stem), p.stem))


def timed_passes(name: str) -> list:
    """The estimate's training passes of notebook ``name`` (empty when it trains nothing on the GPU)."""
    entry = t4_estimates.NOTEBOOKS.get(name)
    return [w for w in entry.work if w.train and w.steps] if entry else []


def select(spec: list[str] | None) -> list[Path]:
    notebooks = all_notebooks()
    if not spec:
        return notebooks
    if len(spec) == 1 and spec[0].isdigit():
        return notebooks[:int(spec[0])]
    by_name = {p.stem: p for p in notebooks}
    unknown = [s for s in spec if s not in by_name]
    if unknown:
        raise SystemExit(f"no notebook named {', '.join(unknown)}; use a count or names such as {notebooks[0].stem}")
    return [by_name[s] for s in spec]


# --- 1. every notebook on the device ----------------------------------------------------------

def rehearse_all(notebooks: list[Path], device: str, jobs: int, deadline: float = float("inf")) -> list[dict]:
    """Each notebook's rehearsal result (see :func:`rehearsal.run.execute`), with ``problems``; a notebook
    not started by ``deadline`` (``time.monotonic()``) is a failure that says so."""
    late = {"failed": "not run: past the time budget (--budget-s)", "network": [], "seconds": None,
            "problems": ["not run: past the time budget (--budget-s)"]}
    if time.monotonic() > deadline:
        return [_report({"notebook": str(notebook), **late}) for notebook in notebooks]
    standins, torch_home = prepare.standins(), prepare.torch_home()
    if device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # inherited by every kernel: profile.device() is the CPU
    netns = run.netns_available()

    def one(notebook: Path) -> dict:
        work = prepare.BUILD / "gpu-check" / notebook.relative_to(ROOT).as_posix().replace("/", "__").removesuffix(".ipynb")
        if time.monotonic() > deadline:
            return {"notebook": str(notebook), **late}
        try:
            result = run.rehearse(notebook, work, standins, torch_home, netns=netns)
        except RuntimeError as e:
            result = {"notebook": str(notebook), "failed": str(e)[-3000:], "network": [], "seconds": None}
        result["problems"] = run.problems(result)
        return result

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return [_report(result) for result in pool.map(one, notebooks)]


def _report(result: dict) -> dict:
    name = Path(result["notebook"]).stem
    status = "ok" if not result["problems"] else "FAILED"
    print(f"  {name:38s} {status:6s} {result.get('seconds') or 0:6.1f} s", flush=True)
    for problem in result["problems"]:
        print("    " + problem.replace("\n", "\n    ")[:2000], flush=True)
    return result


# --- 2. training rates ---------------------------------------------------------------------

def _detector(work):
    """The torchvision detector of a pass the estimates count by multiply-adds (no ``model``), or None;
    it resizes its inputs to the pass's size (800 pixels, torchvision's default, in the notebooks)."""
    import torchvision.models.detection as detection

    _, h, w = work.input
    size = dict(weights=None, weights_backbone=None, num_classes=2, min_size=min(h, w), max_size=max(h, w))
    if work.what.startswith("Faster R-CNN R50-FPN"):
        return lambda: detection.fasterrcnn_resnet50_fpn(**size)
    if work.what.startswith("Mask R-CNN R50-FPN"):
        return lambda: detection.maskrcnn_resnet50_fpn(**size)
    return None


def _tensors(output) -> list:
    import torch

    if torch.is_tensor(output):
        return [output]
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        return [t for item in output for t in _tensors(item)]
    return []


def _batch(work, batch: int, detector: bool):
    """Random inputs of the pass's size: a tensor ``(B, C, H, W)``, or detection images and targets."""
    import torch

    generator = torch.Generator().manual_seed(0)
    if not detector:
        return torch.rand(batch, *work.input, generator=generator)
    _, h, w = work.input
    masks = torch.zeros(batch, 1, h, w, dtype=torch.uint8)
    masks[:, :, h // 4:h // 2, w // 4:w // 2] = 1
    targets = [{"boxes": torch.tensor([[w / 4, h / 4, w / 2, h / 2]]), "labels": torch.tensor([1]), "masks": masks[i]}
               for i in range(batch)]
    return [torch.rand(*work.input, generator=generator) for _ in range(batch)], targets


def time_pass(work, device: str, steps: int, warmup: int, max_batch: int | None) -> dict:
    """Train the pass's network ``warmup`` then ``steps`` optimiser steps; ``{"batch", "steps_per_s"}``."""
    import torch

    from cvbook.train import QUIET, fit

    detector = _detector(work)
    build = work.model or detector
    if build is None:
        return {"skipped": "the estimate counts it by multiply-adds only (no network to build)"}
    batch = max(1, round(work.images / work.steps))
    batch = min(batch, max_batch) if max_batch else batch
    model = build()
    data = [_batch(work, batch, detector is not None)]

    def step(model, inputs):
        if detector is not None:
            return model(*inputs)  # the detector's own losses
        return {"loss": sum(t.float().pow(2).mean() for t in _tensors(model(inputs)) if t.is_floating_point())}

    amp = work.amp and device == "cuda"
    options = dict(step=step, device=device, amp=amp, report=QUIET, max_steps=None, max_batch=None)
    fit(model, data, steps=max(1, warmup), **options)
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fit(model, data, steps=steps, **options)
    if device == "cuda":
        torch.cuda.synchronize()
    return {"batch": batch, "amp": amp, "steps_per_s": steps / (time.perf_counter() - start)}


def time_all(notebooks: list[Path], device: str, steps: int, warmup: int, max_batch: int | None,
             deadline: float = float("inf")) -> list[dict]:
    rows = []
    for notebook in notebooks:
        estimates = t4_estimates.steps_per_second(notebook.stem) if timed_passes(notebook.stem) else {}
        for work in timed_passes(notebook.stem):
            row = {"notebook": notebook.stem, "pass": work.what, "t4_estimate": estimates.get(work.what)}
            if time.monotonic() > deadline:
                row["error"] = "not timed: past the time budget (--budget-s)"
                rows.append(row)
                print(format_row(row), flush=True)
                continue
            try:
                row |= time_pass(work, device, steps, warmup, max_batch)
            except Exception as e:  # a device error (CUDA, cuDNN, AMP) is what this check is for
                row["error"] = f"{type(e).__name__}: {e}"
                row["traceback"] = traceback.format_exc()[-3000:]
            rows.append(row)
            print(format_row(row), flush=True)
    return rows


def format_row(row: dict) -> str:
    head = f"  {row['notebook'][:26]:26s} {row['pass'][:48]:48s}"
    if "error" in row:
        return f"{head} ERROR {row['error'][:300]}"
    if "skipped" in row:
        return f"{head} not timed: {row['skipped']}"
    estimate = row["t4_estimate"]
    ratio = f"{row['steps_per_s'] / estimate:6.2f}×" if estimate else "     -"
    return (f"{head} {row['batch']:5d} {'amp ' if row['amp'] else 'fp32'} {row['steps_per_s']:9.2f} "
            f"{estimate or float('nan'):9.2f} {ratio}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--notebooks", nargs="*", help="a count (the first N) or notebook names; default all")
    parser.add_argument("--steps", type=int, default=20, help="timed optimiser steps per training pass")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before (cuDNN autotuning, caches)")
    parser.add_argument("--max-batch", type=int, default=None, help="cap the batch (a CPU dry run)")
    parser.add_argument("--jobs", type=int, default=None, help="notebooks at once (default: 6 on CUDA, 1 on CPU)")
    parser.add_argument("--skip-notebooks", action="store_true", help="only the training rates")
    parser.add_argument("--budget-s", type=float, default=480,
                        help="start nothing after this many seconds (what was not run fails the check)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu-check: no CUDA device here (torch.cuda.is_available() is False; torch "
              f"{torch.__version__}, CUDA build {torch.version.cuda}). Run it on a machine with an NVIDIA GPU "
              "and its driver, or try the dry run on the CPU: python tools/gpu_check.py --device cpu "
              "--notebooks 1 --steps 1 --max-batch 2", file=sys.stderr)
        return 2
    start = time.perf_counter()
    deadline = time.monotonic() + args.budget_s
    name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    notebooks = select(args.notebooks)
    print(f"gpu-check on {name}: {len(notebooks)} notebooks, torch {torch.__version__}", flush=True)
    results = []
    if not args.skip_notebooks:
        print("1. every notebook in the full profile, one step per fit, against the stand-ins:", flush=True)
        results = rehearse_all(notebooks, args.device, args.jobs or (6 if args.device == "cuda" else 1), deadline)
    print(f"2. training rates, {args.steps} steps after {args.warmup} (steps/s; the T4 estimate; measured/estimate):",
          flush=True)
    print(f"  {'notebook':26s} {'pass':48s} {'batch':>5s} prec {'measured':>9s} {'T4 est.':>9s}  ratio")
    rows = time_all(notebooks, args.device, args.steps, args.warmup, args.max_batch, deadline)
    failed = [r["notebook"] for r in results if r["problems"]] + [f"{r['notebook']}: {r['pass']}" for r in rows if "error" in r]
    seconds = time.perf_counter() - start
    if args.json:
        args.json.write_text(json.dumps({"device": name, "seconds": round(seconds, 1), "notebooks": results,
                                         "rates": rows}, indent=1, default=str))
    print(f"gpu-check: {len(results)} notebooks, {len(rows)} timed passes in {seconds:.0f} s; "
          + (f"FAILED: {', '.join(failed)}" if failed else "no device error"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
