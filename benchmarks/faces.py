"""MTCNN against the LBP cascade on the same face scenes: AP at IoU 0.5 and time per image.

Run from the repository root::

    .venv/bin/python benchmarks/faces.py                       # 48 scenes upright, 48 tilted
    .venv/bin/python benchmarks/faces.py --scenes 24 --plot pr.png

Scenes come from :func:`cvbook.data.compose_face_scenes` (scikit-image's LFW faces pasted on
photos and textures, non-face crops as hard negatives), once upright and once with faces
tilted by up to ``--tilt`` degrees. The AP is VOC's all-point AP at IoU 0.5 from
:func:`cvbook.metrics.detection.mean_average_precision`, and the precision-recall curves come
from :func:`cvbook.metrics.detection.precision_recall_curve` (the same matching, precision and
recall at every rank). Times are thread CPU time with one torch thread, so other jobs on the
machine matter little.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from cvbook.data import compose_face_scenes
from cvbook.detection.cascade import detect_faces_lbp
from cvbook.detection.mtcnn import detect_faces
from cvbook.metrics.detection import mean_average_precision, precision_recall_curve

DETECTORS = {"MTCNN (facenet-pytorch weights)": detect_faces, "LBP cascade (scikit-image)": detect_faces_lbp}


def run(detector, images) -> tuple[list[dict], float]:
    """Detections of every image, and the mean thread CPU time per image."""
    detector(images[0])  # warm-up: loads weights or the cascade
    predictions, start = [], time.thread_time()
    for image in images:
        boxes, scores = detector(image)
        predictions.append({"boxes": boxes, "scores": scores, "labels": torch.zeros(len(boxes), dtype=torch.long)})
    return predictions, (time.thread_time() - start) / len(images)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=48, help="scenes per setting")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tilt", type=float, default=30.0, help="largest tilt of the tilted setting, degrees")
    parser.add_argument("--plot", help="save the precision-recall curves to this PNG")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    settings = {"upright": 0.0, f"tilted ±{args.tilt:g}°": args.tilt}
    rows, curves = [], {}
    for setting, tilt in settings.items():
        images, truths = compose_face_scenes(args.scenes, seed=args.seed, distractors=2, max_rotation=tilt)
        targets = [{"boxes": b, "labels": torch.zeros(len(b), dtype=torch.long)} for b in truths]
        num_gt = sum(len(b) for b in truths)
        for name, detector in DETECTORS.items():
            predictions, seconds = run(detector, images)
            ap = mean_average_precision(predictions, targets, iou_thresholds=[0.5], interpolation="voc2010",
                                        max_detections=None).map_50
            precision, recall, _ = precision_recall_curve(predictions, targets, iou_threshold=0.5)
            curves[setting, name] = recall.numpy(), precision.numpy()
            true_positives = round(float(recall[-1]) * num_gt) if len(recall) else 0
            rows.append((setting, name, ap, true_positives, len(recall), num_gt, seconds))
        print(f"... {setting} done", file=sys.stderr)

    print(f"\n{args.scenes} scenes per setting (seed {args.seed}), 256 x 256, 1-4 faces of 32-100 px, up to 2 "
          "non-face crops; AP: VOC all-point at IoU 0.5\n")
    print("| scenes | detector | AP@0.5 | true positives | detections | faces | CPU ms / image |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for setting, name, ap, tp, dets, faces, seconds in rows:
        print(f"| {setting} | {name} | {ap:.3f} | {tp} | {dets} | {faces} | {seconds * 1e3:.0f} |")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(settings), figsize=(5 * len(settings), 4), sharey=True)
        for ax, setting in zip(np.atleast_1d(axes), settings):
            for (s, name), (recall, precision) in curves.items():
                if s == setting:
                    ap = next(r[2] for r in rows if r[:2] == (s, name))
                    ax.step(recall, precision, where="post", label=f"{name}: AP {ap:.3f}")
            ax.set(title=f"Faces, {setting}", xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02))
            ax.legend(loc="lower left")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
        print(f"\nprecision-recall curves: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
