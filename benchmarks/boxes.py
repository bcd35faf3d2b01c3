"""Time cvbook.boxes / detection.anchors / metrics against their references, in the same run.

Run from the repository root::

    .venv/bin/python benchmarks/boxes.py            # the sizes of the targets
    .venv/bin/python benchmarks/boxes.py --quick    # smaller sizes, a smoke test
    .venv/bin/python benchmarks/boxes.py --only box_iou map --repeat 9 --threads 1

Each case is timed as the minimum over ``--repeat`` runs (after one warm-up run), ours
and the reference alternately, so that load from other processes hurts both alike. The
table gives both times, ``ours / reference`` and the target for that ratio. On a loaded
machine ``--cpu-time`` (with ``--threads 1``) times by the thread's CPU time instead of
the wall clock, as ``greedy_nms.py`` does.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchvision

from cvbook import boxes as B
from cvbook.detection import anchors as A
from cvbook.detection import postprocess as P
from cvbook.metrics import detection as M

# d2l's TinySSD: 5 feature maps of a 256 x 256 image, 4 anchors per cell: 5,444 anchors.
TINY_SSD_MAPS = (32, 16, 8, 4, 1)
TINY_SSD_SIZES = ([0.2, 0.272], [0.37, 0.447], [0.54, 0.619], [0.71, 0.79], [0.88, 0.961])
TINY_SSD_RATIOS = [1, 2, 0.5]


@dataclass
class Row:
    name: str
    ours: float
    reference: float
    reference_name: str
    target: float | None  # maximum allowed ours / reference
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.reference


#: The clock of every measurement: wall-clock time, or the thread's CPU time (``--cpu-time``).
clock: Callable[[], float] = time.perf_counter


def best_time(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = clock()
        fn()
        times.append(clock() - start)
    return min(times)


def compare(ours: Callable[[], object], reference: Callable[[], object], repeat: int,
            repeat_reference: int | None = None) -> tuple[float, float]:
    """Minimum times, taking turns between the two functions (one warm-up run of ours; a
    reference that runs ``repeat_reference`` times is a slow one and gets no warm-up)."""
    ours()
    if repeat_reference is None:
        reference()
    t_ours, t_ref = [], []
    rounds = max(repeat, repeat_reference or repeat)
    for i in range(rounds):
        if i < repeat:
            start = clock()
            ours()
            t_ours.append(clock() - start)
        if i < (repeat_reference or repeat):
            start = clock()
            reference()
            t_ref.append(clock() - start)
    return min(t_ours), min(t_ref)


def random_boxes(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 500
    return torch.cat([xy, xy + torch.rand(n, 2, generator=g) * 100 + 1], dim=1)


# --------------------------------------------------------------------------- cases


def bench_box_iou(args) -> list[Row]:
    n = 500 if args.quick else 2000
    a, b = random_boxes(n, 0), random_boxes(n, 1)
    assert torch.allclose(B.box_iou(a, b), torchvision.ops.box_iou(a, b))
    rows = []
    ours, ref = compare(lambda: B.box_iou(a, b), lambda: torchvision.ops.box_iou(a, b), args.repeat)
    rows.append(Row(f"box_iou {n}x{n}", ours, ref, "torchvision.ops.box_iou", 1.5))
    ours, ref = compare(lambda: B.generalized_box_iou(a, b), lambda: torchvision.ops.generalized_box_iou(a, b),
                        args.repeat)
    rows.append(Row(f"generalized_box_iou {n}x{n}", ours, ref, "torchvision.ops.generalized_box_iou", None))
    return rows


def bench_convert(args) -> list[Row]:
    n = 20_000 if args.quick else 200_000
    boxes = random_boxes(n, 2)
    ours, ref = compare(lambda: B.box_convert(boxes, "xyxy", "cxcywh"),
                        lambda: torchvision.ops.box_convert(boxes, "xyxy", "cxcywh"), args.repeat)
    return [Row(f"box_convert {n:,} boxes", ours, ref, "torchvision.ops.box_convert", None,
                "includes our input check")]


def bench_nms(args) -> list[Row]:
    n = 1000 if args.quick else 5000
    boxes = random_boxes(n, 3)
    scores = torch.rand(n, generator=torch.Generator().manual_seed(3))
    labels = torch.randint(0, 20, (n,), generator=torch.Generator().manual_seed(4))
    rows = []
    ours, ref = compare(lambda: B.nms(boxes, scores, 0.5), lambda: torchvision.ops.nms(boxes, scores, 0.5), args.repeat)
    rows.append(Row(f"nms {n:,} boxes", ours, ref, "torchvision.ops.nms", None, "same kernel + input check"))
    ours, ref = compare(lambda: B.batched_nms(boxes, scores, labels, 0.5),
                        lambda: torchvision.ops.batched_nms(boxes, scores, labels, 0.5), args.repeat)
    rows.append(Row(f"batched_nms {n:,} boxes, 20 classes", ours, ref, "torchvision.ops.batched_nms", None,
                    "same kernel + input check"))
    # The from-scratch greedy NMS of chapter 7, loaded from its notebook cell (one source).
    sys.path.insert(0, str(Path(__file__).parent))
    from greedy_nms import load_greedy_nms

    greedy_nms = load_greedy_nms()
    assert torch.equal(greedy_nms(boxes[:1000], scores[:1000], 0.5), torchvision.ops.nms(boxes[:1000], scores[:1000], 0.5))
    ours, ref = compare(lambda: greedy_nms(boxes[:1000], scores[:1000], 0.5),
                        lambda: torchvision.ops.nms(boxes[:1000], scores[:1000], 0.5), args.repeat)
    rows.append(Row("greedy nms (chapter 7, from scratch) 1,000 boxes", ours, ref, "torchvision.ops.nms", 3.0))
    return rows


def tiny_ssd_problem(batch: int, num_classes: int, seed: int):
    """TinySSD anchors, labels with 1-4 objects per image, and predictions resembling a trained
    network's: background-dominated probabilities, the true class likely on matched anchors,
    offsets equal to the true ones plus noise."""
    g = torch.Generator().manual_seed(seed)
    anchors = torch.cat([A.multibox_prior((s, s), sz, TINY_SSD_RATIOS)
                         for s, sz in zip(TINY_SSD_MAPS, TINY_SSD_SIZES)], dim=1)
    k = 4
    count = torch.randint(1, k + 1, (batch,), generator=g)
    xy = torch.rand(batch, k, 2, generator=g) * 0.7
    wh = torch.rand(batch, k, 2, generator=g) * 0.25 + 0.05
    labels = torch.cat([torch.randint(0, num_classes, (batch, k, 1), generator=g).float(), xy, xy + wh], dim=-1)
    labels[torch.arange(k)[None] >= count[:, None]] = -1
    offsets, mask, classes = A.multibox_target(anchors, labels)
    num_anchors = anchors.shape[1]
    logits = torch.randn(batch, num_classes + 1, num_anchors, generator=g)
    logits[:, 0] += 8.0
    logits.scatter_add_(1, classes[:, None], torch.full((batch, 1, num_anchors), 10.0) * (classes[:, None] > 0))
    probs = torch.softmax(logits, dim=1)
    offset_preds = offsets + 0.1 * torch.randn(offsets.shape, generator=g)
    return anchors, labels, probs, offset_preds


def bench_target(args) -> list[Row]:
    """multibox_target alone (it runs on every training step), after checking that its targets
    equal d2l's."""
    from d2l import torch as d2l  # test-time reference only

    batch = 8 if args.quick else 32
    anchors, labels, _, _ = tiny_ssd_problem(batch, num_classes=3, seed=0)
    ours_target = A.multibox_target(anchors, labels)
    for i in range(batch):  # identical targets: d2l on each image's real objects (d2l would match padding rows)
        theirs = d2l.multibox_target(anchors, labels[i : i + 1, labels[i, :, 0] >= 0])
        assert all(torch.equal(o[i], t[0]) for o, t in zip(ours_target, theirs)), f"image {i}: targets differ"
    t_ours, t_ref = compare(lambda: A.multibox_target(anchors, labels),
                            lambda: d2l.multibox_target(anchors, labels), args.repeat)
    return [Row(f"multibox_target B={batch}", t_ours, t_ref, "d2l.multibox_target", 1 / 3,
                f"{int(ours_target[1].sum()) // 4} positive anchors")]


def bench_ssd(args) -> list[Row]:
    from d2l import torch as d2l  # test-time reference only

    batch = 8 if args.quick else 32
    anchors, labels, probs, offset_preds = tiny_ssd_problem(batch, num_classes=3, seed=0)
    kept = sum(len(d["scores"]) for d in P.multibox_detection(probs, offset_preds, anchors))

    def ours():
        A.multibox_target(anchors, labels)
        P.multibox_detection(probs, offset_preds, anchors)

    def reference():
        d2l.multibox_target(anchors, labels)
        d2l.multibox_detection(probs, offset_preds, anchors)

    t_ours, t_ref = compare(ours, reference, args.repeat, max(1, args.repeat // 3))
    return [Row(f"multibox_target+detection B={batch}, 5,444 anchors", t_ours, t_ref,
                "d2l.multibox_target + d2l.multibox_detection", 1 / 3, f"{kept / batch:.0f} detections/image kept"),
            *bench_target(args)]


def bench_map(args) -> list[Row]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    num_images, num_classes, per_image = (100, 20, 100) if args.quick else (500, 20, 100)
    g = torch.Generator().manual_seed(0)
    predictions, targets = [], []
    for _ in range(num_images):
        k = int(torch.randint(1, 11, (1,), generator=g))
        xy = torch.rand(k, 2, generator=g) * 400
        gt = torch.cat([xy, xy + torch.rand(k, 2, generator=g) * 150 + 10], dim=1)
        gt_labels = torch.randint(0, num_classes, (k,), generator=g)
        source = torch.randint(0, k, (per_image,), generator=g)
        near = torch.rand(per_image, generator=g) < 0.5
        rxy = torch.rand(per_image, 2, generator=g) * 400
        far = torch.cat([rxy, rxy + torch.rand(per_image, 2, generator=g) * 150 + 10], dim=1)
        boxes = torch.where(near[:, None], gt[source] + torch.randn(per_image, 4, generator=g) * 8, far)
        boxes = torch.cat([torch.minimum(boxes[:, :2], boxes[:, 2:]), torch.maximum(boxes[:, :2], boxes[:, 2:])], 1)
        labels = torch.where(near, gt_labels[source], torch.randint(0, num_classes, (per_image,), generator=g))
        scores = torch.rand(per_image, generator=g) * (0.5 + 0.5 * near)
        predictions.append({"boxes": boxes, "scores": scores, "labels": labels})
        targets.append({"boxes": gt, "labels": gt_labels})

    annotations = []
    for i, t in enumerate(targets):
        for (x1, y1, x2, y2), label in zip(t["boxes"].double().tolist(), t["labels"].tolist()):
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": label, "iscrowd": 0,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1)})
    results = [{"image_id": i, "category_id": label, "score": s, "bbox": [x1, y1, x2 - x1, y2 - y1]}
               for i, p in enumerate(predictions)
               for (x1, y1, x2, y2), s, label in zip(p["boxes"].double().tolist(), p["scores"].double().tolist(),
                                                     p["labels"].tolist())]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = {"info": {}, "images": [{"id": i} for i in range(num_images)], "annotations": annotations,
                           "categories": [{"id": c} for c in range(num_classes)]}
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)

    holder = {}

    def reference():  # evaluate + accumulate, as pycocotools users call them
        with contextlib.redirect_stdout(io.StringIO()):
            ev = COCOeval(coco_gt, coco_dt, "bbox")
            ev.evaluate()
            ev.accumulate()
        holder["ev"] = ev

    def ours():
        holder["ours"] = M.mean_average_precision(predictions, targets)

    t_ours, t_ref = compare(ours, reference, args.repeat, max(1, args.repeat // 3))
    precision = holder["ev"].eval["precision"][:, :, :, 0, 2]
    coco_map = float(np.mean(precision[precision > -1]))
    coco_map50 = float(np.mean(precision[0][precision[0] > -1]))
    result = holder["ours"]
    assert abs(result.map - coco_map) < 1e-6 and abs(result.map_50 - coco_map50) < 1e-6, (result, coco_map)
    return [Row(f"mean_average_precision {num_images} img x {per_image} det, {num_classes} cls", t_ours, t_ref,
                "pycocotools COCOeval evaluate+accumulate", 1.0,
                f"AP {result.map:.4f} / AP50 {result.map_50:.4f}, equal to COCO's")]


CASES = {
    "box_iou": bench_box_iou,
    "convert": bench_convert,
    "nms": bench_nms,
    "ssd": bench_ssd,
    "target": bench_target,
    "map": bench_map,
}


def machine() -> str:
    try:
        model = next(line.split(":", 1)[1].strip() for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True).stdout.splitlines() if line.startswith("Model name"))
    except (StopIteration, OSError):
        model = platform.processor() or "unknown CPU"
    return (f"{model}, {torch.get_num_threads()} torch thread(s) (os.cpu_count={__import__('os').cpu_count()}), "
            f"torch {torch.__version__}, torchvision {torchvision.__version__}, Python {platform.python_version()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke test, not the targets)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per case, the minimum is kept")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--only", nargs="+", choices=sorted(CASES), help="run only these cases")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time by the thread's CPU time (needs --threads 1), not the wall clock")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.cpu_time:
        if torch.get_num_threads() != 1:
            parser.error("--cpu-time measures one thread: add --threads 1")
        global clock
        clock = time.thread_time
    args.repeat = args.repeat or (3 if args.quick else 7)
    rows: list[Row] = []
    for name in args.only or [c for c in CASES if c != "target"]:  # ssd includes target
        rows.extend(CASES[name](args))
        print(f"... {name} done", file=sys.stderr)

    print(f"\nMachine: {machine()}")
    print(f"Profile: {'quick' if args.quick else 'full'}, {'thread CPU' if args.cpu_time else 'wall-clock'} time, "
          f"min of {args.repeat} runs (references that take seconds: "
          f"min of {max(1, args.repeat // 3)})\n")
    print("| case | ours (ms) | reference | reference (ms) | ours / reference | target | met |")
    print("|---|---:|---|---:|---:|---:|:---:|")
    failed = 0
    for r in rows:
        met = "" if r.target is None else ("yes" if r.ratio <= r.target else "NO")
        failed += met == "NO"
        target = "" if r.target is None else f"≤ {r.target:.2f}"
        note = f" ({r.note})" if r.note else ""
        print(f"| {r.name}{note} | {r.ours * 1e3:.1f} | {r.reference_name} | {r.reference * 1e3:.1f} | "
              f"{r.ratio:.3f} | {target} | {met} |")
    return 1 if failed and not args.quick else 0


if __name__ == "__main__":
    sys.exit(main())
