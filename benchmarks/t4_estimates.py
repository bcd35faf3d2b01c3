"""How long each notebook's full profile takes on a Colab T4, estimated from FLOPs (no GPU here).

    python benchmarks/t4_estimates.py                 # the table (Markdown), as in benchmarks/README.md
    python benchmarks/t4_estimates.py 10_ssd lab02_resnet   # some notebooks, by name

Nothing here was measured on a GPU: the machine that builds the book has none. Each notebook's
full profile is described by its work (:class:`Work`): which network, what input size, how many
images go through it for training or evaluation, how many optimiser steps, and which input
pipeline feeds it. A piece of work takes the longest of

- **compute**: multiply-adds per image (:func:`cvbook.models.summary.count_macs`, or
  torchvision's ``_ops`` metadata for its detectors) × 2 FLOPs × 3 for training (forward and
  backward) or × 1 for evaluation, × images, at an effective **6 TFLOP/s with mixed precision**
  (``cvbook.train.fit`` uses float16 autocast on a T4) or **3 TFLOP/s in float32**. These rates
  come from NVIDIA's published T4 ResNet-50 inference throughput (DeepLearningExamples,
  batch 128: 1,190 images/s with AMP, 420 in FP32, i.e. 9.8 and 3.4 TFLOP/s at 8.2 GFLOP per
  image), discounted for training (backward kernels, optimiser, Python) by 0.6 and 0.9;
- **step overhead**: small networks do not fill a GPU; each optimiser step costs at least
  ``step_ms`` (kernel launches, Python): 8 ms for a small classifier, 15 ms for a small SSD,
  60 ms for a torchvision Faster R-CNN step;
- **input pipeline**: per-image CPU milliseconds of the notebook's own transforms, measured on
  the build machine (``process_time``, one thread; :data:`PIPELINE_MS`), spread over the
  DataLoader's workers but at most Colab's 2 vCPUs, counted as 1.5 cores (hyper-threads).

Plus fixed costs: installing the package and starting (1 min), downloads at 20 MB/s with
unpacking, and the notebook's CPU-only cells (at most its quick-profile time). Later chapters
add their notebooks to :data:`NOTEBOOKS` by name.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

AMP_TFLOPS = 6.0
FP32_TFLOPS = 3.0
COLAB_CORES = 1.5
DOWNLOAD_MB_PER_S = 20.0
SETUP_S = 60.0
T4_SESSION_MIN = 30.0

#: CPU milliseconds per image of each input pipeline, measured on the build machine (see the module docstring).
PIPELINE_MS = {
    "cifar augment": 0.20,         # PIL 32×32 → ToImage, ToDtype, RandomCrop(32, padding=4), flip
    "cifar 128": 0.68,             # PIL 32×32 → ToImage, ToDtype, Resize(128), Normalize
    "voc ssd train": 26.3,         # JPEG 500×375 decode + voc_transforms(300, train=True) (zoom out, IoU crop)
    "voc ssd eval": 3.0,           # JPEG decode + resize to 300×300
    "penn-fudan": 10.5,            # PNG ~560×530 decode to a float tensor
    "memory": 0.0,                 # tensors already in memory
}


@dataclass(frozen=True)
class Work:
    """One kind of pass of a notebook's full profile.

    Args:
        what: a label for the table.
        model: builds the network (on the ``meta`` device: nothing is allocated), or None with ``macs``.
        input: ``(C, H, W)`` of one image.
        images: images that go through the network (all epochs, runs and seeds together).
        train: forward and backward (×3) or forward only.
        steps: optimiser steps (for the per-step overhead).
        step_ms: the least time one step takes, however small the network.
        pipeline: a key of :data:`PIPELINE_MS`.
        workers: the DataLoader's ``num_workers`` (0: the main process).
        amp: float16 autocast (``cvbook.train.fit`` on a T4), else float32.
        macs: multiply-adds per image when ``model`` is None (torchvision's ``_ops`` metadata).
    """

    what: str
    model: Callable[[], nn.Module] | None
    input: tuple[int, int, int]
    images: int
    train: bool = True
    steps: int = 0
    step_ms: float = 8.0
    pipeline: str = "memory"
    workers: int = 0
    amp: bool = True
    macs: float | None = None

    def macs_per_image(self) -> float:
        if self.macs is not None:
            return self.macs
        from cvbook.models.summary import count_macs

        with torch.device("meta"):
            model = self.model()
        return float(count_macs(model, (1, *self.input)))

    def seconds(self) -> dict[str, float]:
        flops = self.macs_per_image() * 2 * (3 if self.train else 1) * self.images
        compute = flops / ((AMP_TFLOPS if self.amp else FP32_TFLOPS) * 1e12)
        overhead = self.steps * self.step_ms / 1e3
        cores = min(COLAB_CORES, max(1, self.workers))
        data = self.images * PIPELINE_MS[self.pipeline] / 1e3 / cores
        return {"compute": compute, "overhead": overhead, "data": data, "total": max(compute, overhead, data)}


@dataclass(frozen=True)
class Notebook:
    """A notebook's full profile: its work, downloads (MB), CPU-only cells (s), and what it reaches."""

    work: list[Work] = field(default_factory=list)
    download_mb: float = 0.0
    cpu_s: float = 60.0
    reaches: str = ""

    def seconds(self) -> dict[str, float]:
        parts = [w.seconds() for w in self.work]
        return {
            "setup": SETUP_S,
            "downloads": self.download_mb / DOWNLOAD_MB_PER_S * 1.5,  # + unpacking
            "cpu cells": self.cpu_s,
            "compute": sum(p["compute"] for p in parts),
            "overhead": sum(p["overhead"] for p in parts),
            "data": sum(p["data"] for p in parts),
            "total": SETUP_S + self.download_mb / DOWNLOAD_MB_PER_S * 1.5 + self.cpu_s + sum(p["total"] for p in parts),
        }

    def minutes(self) -> int:
        """The estimate rounded up to whole minutes (what the notebook states)."""
        return math.ceil(self.seconds()["total"] / 60)


# --- the networks (built as the notebooks build them) --------------------------------------

def _resnet_small(widths, blocks=None):
    from cvbook.models.resnet import resnet_small

    return lambda: resnet_small(10, widths=widths, **({"blocks": blocks} if blocks else {}))


def _torchvision(name: str, **kwargs):
    import torchvision

    return lambda: getattr(torchvision.models, name)(weights=None, **kwargs)


def _surgery_net():
    import torchvision

    from cvbook import transfer

    return transfer.SurgeryNet(torchvision.models.alexnet().features[0], 10, widths=(128, 256))


def _ssd300():
    from cvbook.detection import ssd

    return ssd.SSD(ssd.ResNetBackbone("resnet50", weights=None, extra=(512, 256, 256)), 20,
                   sizes=[(0.1, 0.141), (0.2, 0.272), (0.37, 0.447), (0.54, 0.619), (0.71, 0.79), (0.88, 0.961)])


def _small_yolo():
    from cvbook.detection import yolo

    return yolo.SmallYOLO(num_classes=3, num_boxes=2)


def _tiny_ssd():
    from cvbook.detection import ssd

    return ssd.tiny_ssd(3, stem=(8, 16), stages=(32, 32))


FASTER_RCNN_R50_FPN_MACS = 134.38e9  # torchvision's FasterRCNN_ResNet50_FPN_Weights.COCO_V1.meta["_ops"] (GMACs)
CIFAR_TRAIN, CIFAR_TEST = 50_000, 10_000
VOC07_TRAINVAL, VOC07_TEST = 5_011, 4_952
SSD_STEPS, SSD_BATCH = 2_500, 32

NOTEBOOKS: dict[str, Notebook] = {
    "01_tasks_and_measures": Notebook(reaches="the quick profile's results: the chapter uses no real dataset"),
    "02_convnets": Notebook(
        [Work("ResNet-50 on one photo", _torchvision("resnet50"), (3, 224, 224), 1, train=False)],
        download_mb=98, reaches="the top-5 ImageNet classes of a cat photo from pretrained ResNet-50"),
    "03_training_a_classifier": Notebook(
        [Work("ResNet-18 (32×32), 30 epochs", _resnet_small((64, 128, 256, 512), (2, 2, 2, 2)), (3, 32, 32),
              30 * CIFAR_TRAIN, steps=30 * 196, pipeline="cifar augment", workers=4),
         Work("validation every epoch", _resnet_small((64, 128, 256, 512), (2, 2, 2, 2)), (3, 32, 32),
              31 * CIFAR_TEST, train=False)],
        download_mb=163, cpu_s=30, reaches="CIFAR-10 test accuracy ≥ 0.93 (its target; not measured)"),
    "04_fully_convolutional": Notebook(
        [Work("convolutionised AlexNet on a 300×451 photo", _torchvision("alexnet"), (3, 300, 451), 1, train=False)],
        download_mb=233, reaches="AlexNet's class map of a cat photo"),
    "05_augmentation": Notebook(
        [Work("8 runs × 60 epochs × 2,000 images, ResNet 8/16/32", _resnet_small((8, 16, 32)), (3, 32, 32),
              8 * 60 * 2_000, steps=8 * 60 * 63, pipeline="cifar augment"),
         Work("test sets and ten-crop views", _resnet_small((8, 16, 32)), (3, 32, 32), 8 * CIFAR_TEST + 10 * CIFAR_TEST,
              train=False)],
        download_mb=163, reaches="the paired gain of augmentation on 2,000 CIFAR-10 images (not measured)"),
    "06_transfer_learning": Notebook(
        [Work("ResNet-18 at 128×128: scratch and fine-tuning, 3 seeds × 10 epochs", _torchvision("resnet18"),
              (3, 128, 128), 2 * 3 * 10 * 500, steps=2 * 3 * 10 * 8, pipeline="cifar 128"),
         Work("features and test sets", _torchvision("resnet18"), (3, 128, 128), 3 * 1_500 + 6 * 1_000, train=False,
              pipeline="cifar 128", amp=False),
         Work("neuro-surgery net, 10 epochs + validation", _surgery_net, (3, 128, 128), 10 * 500 + 10 * 1_000,
              steps=10 * 8, pipeline="cifar 128")],
        download_mb=163 + 45 + 233,
        reaches="pretrained ResNet-18 features beat training from scratch on 500 CIFAR-10 images by ≥ 0.05 (not measured)"),
    "07_boxes_sliding_windows_nms": Notebook(download_mb=451, cpu_s=120,
                                             reaches="the quick profile's experiments at 10× the images, and VOC 2007 boxes"),
    "08_evaluating_detectors": Notebook(reaches="the quick profile's evaluation on 500 held-out shapes images"),
    "09_anchor_boxes": Notebook(reaches="the quick profile's results: the chapter uses no real dataset"),
    "10_ssd": Notebook(
        [Work(f"SSD300 (ResNet-50), {SSD_STEPS:,} steps × {SSD_BATCH}", _ssd300, (3, 300, 300), SSD_STEPS * SSD_BATCH,
              steps=SSD_STEPS, step_ms=30, pipeline="voc ssd train", workers=8),
         Work("evaluation on VOC 2007 test", _ssd300, (3, 300, 300), VOC07_TEST, train=False, pipeline="voc ssd eval",
              workers=0)],
        download_mb=460 + 451 + 98, cpu_s=60,
        reaches=f"VOC 2007 test mAP@0.5 ≥ 0.40 after {SSD_STEPS:,} steps (not measured; the paper's 68 % needs ~20,000)"),
    "11_yolo": Notebook(
        [Work("small YOLO, 5,000 shapes × 20 epochs", _small_yolo, (3, 64, 64), 20 * 5_000, steps=20 * 157),
         Work("detection on 1,000 test images", _small_yolo, (3, 64, 64), 1_000, train=False)],
        cpu_s=30, reaches="mAP@0.5 ≥ 0.70 on held-out shapes, as in the quick profile, with 5× the images"),
    "12_region_based": Notebook(
        [Work("small Faster R-CNN, 5,000 shapes × 10 epochs", None, (3, 64, 64), 10 * 5_000, steps=10 * 313,
              step_ms=60, macs=0.1e9),
         Work("small YOLO, 5,000 shapes × 20 epochs", _small_yolo, (3, 64, 64), 20 * 5_000, steps=20 * 157),
         Work("Faster R-CNN R50-FPN fine-tuned on Penn-Fudan, 5 epochs", None, (3, 800, 800), 5 * 120, steps=5 * 60,
              step_ms=60, pipeline="penn-fudan", macs=FASTER_RCNN_R50_FPN_MACS),
         Work("Penn-Fudan test images", None, (3, 800, 800), 50, train=False, pipeline="penn-fudan",
              macs=FASTER_RCNN_R50_FPN_MACS)],
        download_mb=53 + 160, cpu_s=90,
        reaches="both shapes detectors at their targets, and a Penn-Fudan mAP@0.5 (printed; not measured)"),
    "interactive_figures": Notebook(reaches="the same figures: no profile-dependent work"),
    "lab01_measures": Notebook(reaches="the quick profile's checks: no real dataset"),
    "lab02_resnet": Notebook(
        [Work("your ResNet (64–512, one block per stage), 30 epochs", _resnet_small((64, 128, 256, 512), (1, 1, 1, 1)),
              (3, 32, 32), 30 * CIFAR_TRAIN, steps=30 * 196, pipeline="cifar augment", workers=0),
         Work("test set", _resnet_small((64, 128, 256, 512), (1, 1, 1, 1)), (3, 32, 32), CIFAR_TEST, train=False)],
        download_mb=163, reaches="CIFAR-10 test accuracy ≥ 0.90 (its target; not measured)"),
    "lab03_augment_finetune": Notebook(reaches="the quick profile's checks: the lab uses no real dataset"),
    "lab04_iou_nms_map": Notebook(reaches="the quick profile's checks: no real dataset"),
    "lab05_yolo_loss": Notebook(reaches="the quick profile's checks: no real dataset"),
    "lab06_train_detector": Notebook(
        [Work("tiny SSD, 1,500 steps × 32 shapes", _tiny_ssd, (3, 64, 64), 1_500 * 32, steps=1_500, step_ms=15),
         Work("evaluation", _tiny_ssd, (3, 64, 64), 200, train=False)],
        reaches="held-out mAP@0.5 ≥ 0.8 on shapes (its target)"),
}


def statement(name: str) -> str:
    """The one line a notebook's full-profile section carries."""
    nb = NOTEBOOKS[name]
    return (f"**Full profile on a Colab T4:** about {nb.minutes()} min (estimated from FLOPs, not measured: "
            f"`benchmarks/t4_estimates.py`); it reaches {nb.reaches}.")


CELL_ID = "full-profile-t4"


def notebook_path(name: str):
    """``book/<name>.ipynb`` or ``labs/solutions/<name>.ipynb``."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for path in (root / "book" / f"{name}.ipynb", root / "labs" / "solutions" / f"{name}.ipynb"):
        if path.exists():
            return path
    raise FileNotFoundError(f"no notebook named {name} in book/ or labs/solutions/")


def write_statement(name: str) -> bool:
    """Put :func:`statement` into the notebook's markdown cell ``full-profile-t4`` (made at the end
    the first time); returns whether the file changed. Markdown only: no output goes stale."""
    import json

    path = notebook_path(name)
    text = path.read_text()
    nb = json.loads(text)
    source = statement(name)
    cells = [c for c in nb["cells"] if c.get("id") == CELL_ID]
    if cells:
        cells[0]["source"] = source.splitlines(keepends=True)
    else:
        nb["cells"].append({"cell_type": "markdown", "id": CELL_ID, "metadata": {}, "source": source.splitlines(keepends=True)})
    new = json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    if new != text:
        path.write_text(new)
    return new != text


def table(names: list[str]) -> str:
    rows = ["| notebook | minutes | compute (s) | step overhead (s) | input pipeline (s) | downloads (s) | reaches |",
            "|---|---:|---:|---:|---:|---:|---|"]
    for name in names:
        s = NOTEBOOKS[name].seconds()
        rows.append(f"| {name} | {NOTEBOOKS[name].minutes()} | {s['compute']:.0f} | {s['overhead']:.0f} | "
                    f"{s['data']:.0f} | {s['downloads']:.0f} | {NOTEBOOKS[name].reaches} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebook names (file names without .ipynb); default: all")
    parser.add_argument("--write", action="store_true",
                        help=f"also write each notebook's one-line statement (markdown cell '{CELL_ID}')")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in NOTEBOOKS]
    if unknown:
        parser.error(f"no estimate for {', '.join(unknown)}: add it to NOTEBOOKS in benchmarks/t4_estimates.py")
    names = args.names or list(NOTEBOOKS)
    print(table(names))
    if args.write:
        changed = [n for n in names if write_statement(n)]
        print(f"\nstatements written: {', '.join(changed) or 'none changed'} (run `make labs` for the labs)")
    over = [n for n in names if NOTEBOOKS[n].minutes() > T4_SESSION_MIN]
    if over:
        print(f"\nover {T4_SESSION_MIN:.0f} minutes: {', '.join(over)}")
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
