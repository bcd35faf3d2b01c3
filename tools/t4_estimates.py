"""Each notebook's one-line full-profile time on a Colab T4, estimated: a documentation generator.

    python tools/t4_estimates.py                        # each notebook's minutes and where they go
    python tools/t4_estimates.py --write                # also each notebook's line (markdown cell full-profile-t4)
    python tools/t4_estimates.py --write 10_ssd lab09_vae   # some notebooks, by name

Nothing here was measured on a GPU: the machines that build the book have none. Every notebook of
``book/`` and ``labs/solutions/`` has an entry in :data:`NOTEBOOKS`, read from its
``profile.pick(quick=..., full=...)`` values, and its page carries :func:`statement` (``tests/test_t4_estimates.py``
checks both, the 30-minute limit, and the FLOP count against ``torch.utils.flop_counter``).

A notebook's time is 1 minute to install and start, its downloads at 20 MB/s plus half again to
unpack (:data:`DOWNLOAD_MB`), its CPU-only cells (at most its quick-profile time) and CPU work
(:class:`CpuWork`: items × :data:`CPU_MS`, over Colab's 2 vCPUs counted as 1.5 cores when torch or
BLAS thread), and for each GPU pass (:class:`Work`) the longest of

- **compute**: multiply-adds per image (:func:`cvbook.backbones.summary.count_macs` on the ``meta``
  device, or torchvision's ``_ops`` metadata) × 2 FLOPs × 3 when training (forward and backward),
  over **6 TFLOP/s** with float16 autocast (``cvbook.train.fit`` on a T4) or **3 TFLOP/s** in float32
  (evaluation, ``fit(..., amp=False)``): NVIDIA's published T4 ResNet-50 inference throughput
  (DeepLearningExamples, batch 128: 1,190 images/s with AMP, 420 in FP32, i.e. 9.8 and 3.4 TFLOP/s
  at 8.2 GFLOP per image), discounted for training by 0.6 and 0.9;
- **step overhead**: at least ``step_ms`` per optimiser step however small the network (kernel
  launches, Python): 8 ms, 15 ms for a small SSD, 60 ms for a torchvision Faster or Mask R-CNN;
- **input pipeline**: CPU milliseconds per image of the notebook's transforms (:data:`PIPELINE_MS`)
  over its DataLoader workers, at most 1.5 cores.

The CPU milliseconds were measured on the build machine (one thread, ``process_time``);
``python benchmarks/t4_measure.py`` measures them again. :func:`steps_per_second` gives the
estimated training rate of each pass, to set beside a rate measured on a real GPU.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "tools") not in sys.path:  # run as a script, imported by the tests or from elsewhere
    sys.path.insert(0, str(ROOT / "tools"))
import repository  # noqa: E402  (tools/repository.py: the GitHub address, which a fork rewrites)

AMP_TFLOPS, FP32_TFLOPS = 6.0, 3.0
COLAB_CORES = 1.5
DOWNLOAD_MB_PER_S = 20.0
SETUP_S = 60.0
T4_SESSION_MIN = 30.0

#: CPU milliseconds per image of each input pipeline (``benchmarks/t4_measure.py`` measures the keys marked *).
PIPELINE_MS = {
    "cifar augment": 0.20,         # PIL 32×32 → ToImage, ToDtype, RandomCrop(32, padding=4), flip
    "cifar plain": 0.07,           # * PIL 32×32 → ToImage, ToDtype (as torchvision's CIFAR10 item: fromarray first)
    "cifar 128": 0.68,             # PIL 32×32 → ToImage, ToDtype, Resize(128), Normalize
    "voc ssd train": 26.3,         # JPEG 500×375 decode + voc_transforms(300, train=True) (zoom out, IoU crop)
    "voc ssd eval": 3.0,           # JPEG decode + resize to 300×300
    "voc seg train": 4.3,          # * JPEG 500×375 + PNG mask decode, voc_segmentation_transforms(320, train=True)
    "voc seg eval": 3.6,           # * the same decode, voc_segmentation_transforms(train=False) (normalise only)
    "pets 160": 2.8,               # * OxfordPets item: JPEG 500×375 + trimap PNG decode, resize to 160, flip
    "penn-fudan": 10.5,            # PNG ~560×530 decode to a float tensor
    "nuclei": 0.24,                # * NucleiPatches item: a 96×96 crop of the tensor, flips, quarter turn
    "nuclei elastic": 0.58,        # * the same, collated, then elastic_deformation (grid 3, std 10), per patch
    "memory": 0.0,                 # tensors already in memory
}

#: CPU milliseconds per item of the work full profiles do on the CPU (``benchmarks/t4_measure.py``
#: measures them unless the comment says otherwise).
CPU_MS = {
    "small YOLO training image": 8.5,      # SmallYOLO, fit(device="cpu"), batches of 32 shapes images (64×64)
    "small YOLO detection image": 4.6,     # SmallYOLO.detect(score_threshold=0.01), 200 images per call
    "16×16 CNN pretraining image": 0.067,  # chapter 7's frozen feature CNN, one image-epoch, batches of 64
    "window features image": 11.6,         # chapter 7: 371 windows of a 64×64 image cropped to 16×16, features, IoUs
    "linear head step": 24.0,              # chapter 7: a full-batch AdamW step of a linear head, 56,000 × 256 → 4
    "MTCNN scene": 66.0,                   # chapter 12's executed output (process_time per 256×256 scene)
    "LBP cascade scene": 80.0,             # idem
    "biharmonic inpainting digit": 1.2,    # skimage inpaint_biharmonic, 28×28 digit, 14×14 hole
    "JPEG round trips digit": 1.0,         # cvbook.generative.compression.jpeg_roundtrip at its 7 qualities
    "logistic regression iteration": 182,  # scikit-learn LogisticRegression (L-BFGS), 60,000×784, one iteration
}

#: Download sizes (MB): the datasets' archives (their sites; URLs in ``src/cvbook/data/sources.json``) and
#: torchvision's weights (``Weights.meta["_file_size"]``).
DOWNLOAD_MB = {
    "cifar10": 170, "mnist": 12, "voc2007 trainval": 460, "voc2007 test": 451, "voc2012": 2_000,
    # the painting, The Scream: Commons' full-size JPEG, a few MB (an estimate: its size could not be read here)
    "penn-fudan": 54, "oxford-iiit-pet": 792 + 19, "painting": 2,
    "resnet18": 44.7, "resnet50": 97.8, "alexnet": 233.1, "vgg19": 548.1,
    "fasterrcnn_resnet50_fpn": 159.7, "maskrcnn_resnet50_fpn": 169.8,
    "stardist wheel": 3,  # installed with --no-deps in the full profile when missing
}


def _mb(*names: str) -> float:
    return sum(DOWNLOAD_MB[n] for n in names)


@functools.cache
def _count_macs(build: Callable[[], nn.Module], input: tuple[int, ...]) -> float:
    from cvbook.backbones.summary import count_macs

    with torch.device("meta"):
        model = build()
    return float(count_macs(model, (1, *input)))


@dataclass(frozen=True)
class Work:
    """One GPU pass of a full profile: ``images`` through ``model`` (built on the ``meta`` device)
    at ``input`` ``(C, H, W)``, training (×3 FLOPs) or not, in ``steps`` optimiser steps (or batches)
    of at least ``step_ms`` each, fed by the :data:`PIPELINE_MS` ``pipeline`` over ``workers``; with
    ``amp`` (float16 autocast) or in float32; ``macs`` per image replaces ``model`` where it cannot
    run on ``meta``."""

    what: str
    model: Callable[[], nn.Module] | None
    input: tuple[int, ...]
    images: int
    train: bool = True
    steps: int = 0
    step_ms: float = 8.0
    pipeline: str = "memory"
    workers: int = 0
    amp: bool = True
    macs: float | None = None

    def macs_per_image(self) -> float:
        return self.macs if self.macs is not None else _count_macs(self.model, self.input)

    def seconds(self) -> dict[str, float]:
        """``compute``, ``overhead``, ``data`` and their maximum, ``total``."""
        flops = self.macs_per_image() * 2 * (3 if self.train else 1) * self.images
        parts = {"compute": flops / ((AMP_TFLOPS if self.amp else FP32_TFLOPS) * 1e12),
                 "overhead": self.steps * self.step_ms / 1e3,
                 "data": self.images * PIPELINE_MS[self.pipeline] / 1e3 / min(COLAB_CORES, max(1, self.workers))}
        return parts | {"total": max(parts.values())}


@dataclass(frozen=True)
class CpuWork:
    """Work a full profile does on the CPU: ``items`` × :data:`CPU_MS` ``[cost]``, over 1.5 cores when
    ``threaded`` (torch, BLAS), else one."""

    what: str
    cost: str
    items: float
    threaded: bool = True

    def seconds(self) -> float:
        return self.items * CPU_MS[self.cost] / 1e3 / (COLAB_CORES if self.threaded else 1.0)


@dataclass(frozen=True)
class Notebook:
    """A full profile: GPU passes, downloads (MB), other CPU-only cells (s), what it reaches, CPU work."""

    work: list[Work] = field(default_factory=list)
    download_mb: float = 0.0
    cpu_s: float = 60.0
    reaches: str = ""  # what the full profile aims at, a noun phrase ("CIFAR-10 test accuracy ≥ 0.93 ...")
    same: str = ""  # instead, why its results are the quick profile's ("the chapter uses no real dataset")
    cpu_work: list[CpuWork] = field(default_factory=list)

    def seconds(self) -> dict[str, float]:
        """Where the time goes (``setup``, ``downloads``, ``cpu cells``, the GPU parts) and its ``total``."""
        passes = [w.seconds() for w in self.work]
        parts = {"setup": SETUP_S, "downloads": self.download_mb / DOWNLOAD_MB_PER_S * 1.5,
                 "cpu cells": self.cpu_s + sum(c.seconds() for c in self.cpu_work)}
        gpu = {k: sum(p[k] for p in passes) for k in ("compute", "overhead", "data")}
        return parts | gpu | {"total": sum(parts.values()) + sum(p["total"] for p in passes)}

    def minutes(self) -> int:
        """The estimate rounded up to whole minutes (what the notebook states)."""
        return math.ceil(self.seconds()["total"] / 60)


# --- the networks (built as the notebooks build them) --------------------------------------

@functools.cache  # one builder per network: its count is made once
def _resnet_small(widths, blocks=None):
    from cvbook.backbones.resnet import resnet_small

    return lambda: resnet_small(10, widths=widths, **({"blocks": blocks} if blocks else {}))


@functools.cache
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


@functools.cache
def _fcn_small(variant: str):
    from cvbook.segmentation import fcn

    return lambda: fcn.FCN(4, variant=variant, backbone=fcn.SmallBackbone(3, (32, 64, 128, 192, 256)))


def _fcn_resnet50():
    from cvbook.segmentation import fcn

    return fcn.FCN(21, variant="8s", backbone=fcn.ResNetBackbone("resnet50", weights=None))


@functools.cache
def _unet(in_channels: int, base: int, depth: int):
    from cvbook.segmentation.unet import UNet

    return lambda: UNet(in_channels=in_channels, num_classes=2, base_channels=base, depth=depth)


@functools.cache
def _autoencoder(shape, latent):
    from cvbook.generative.autoencoder import Autoencoder

    return lambda: Autoencoder(shape, latent, hidden=(256,))


@functools.cache
def _vae(shape, latent, hidden):
    from cvbook.generative.vae import VAE

    return lambda: VAE(shape, latent_dim=latent, hidden=(hidden,))


def _vae_decoder():
    return _vae((1, 28, 28), 16, 400)().decoder


def _srcnn():
    from cvbook.generative.superres import SRCNN

    return SRCNN(channels=(64, 32))


def _vgg19_extractor():
    import torchvision

    from cvbook.generative.style import CONTENT_LAYERS, STYLE_LAYERS, FeatureExtractor

    return FeatureExtractor(torchvision.models.vgg19().features, CONTENT_LAYERS + STYLE_LAYERS)


FASTER_RCNN_R50_FPN_MACS = 134.38e9  # torchvision's FasterRCNN_ResNet50_FPN_Weights.COCO_V1.meta["_ops"] (GMACs)
MASK_RCNN_R50_FPN_MACS = 134.38e9    # MaskRCNN_ResNet50_FPN_Weights.COCO_V1.meta["_ops"] (its mask head uncounted)
# The small two-stage detectors of chapters 12 and 16 run anchors, NMS and RoIAlign, which do not run on the
# meta device. Chapter 16's small Mask R-CNN (cvbook.segmentation.mask_rcnn.small_mask_rcnn) at 64×64: its
# backbone is 0.040 G (count_macs on meta), the RPN head 0.002 G, the box head 32 sampled regions × 0.4 M, the
# mask head at most 8 positive regions × 18 M (two 3×3 convolutions of 64 channels at 14×14, the up-convolution):
# about 0.2 G per training image. Chapter 12's small Faster R-CNN (no mask head): about 0.1 G.
SMALL_FASTER_RCNN_MACS, SMALL_MASK_RCNN_MACS = 0.1e9, 0.2e9

CIFAR_TRAIN, CIFAR_TEST = 50_000, 10_000
MNIST_TRAIN, MNIST_TEST = 60_000, 10_000
VOC07_TRAINVAL, VOC07_TEST = 5_011, 4_952
VOC12_TRAIN, VOC12_VAL = 1_464, 1_449
PETS_TRAINVAL, PETS_TEST = 3_680, 3_669
PENN_TRAIN, PENN_TEST = 120, 50
SSD_STEPS, SSD_BATCH = 2_500, 32


def _steps(images: int, batch: int, drop_last: bool = False) -> int:
    """Optimiser steps of one epoch."""
    return images // batch if drop_last else math.ceil(images / batch)


# Chapter 3: 45,000 training images, batches of 256 (176 steps per epoch), 30 epochs, a validation pass on the
# 5,000 held-out images every quarter epoch (44 steps: 120 passes), then the final weights on the 45,000 training
# images three ways (augmented in training and in evaluation mode, plain) and the test set once.
CH3_STEPS = 30 * _steps(45_000, 256)
# Chapter 6, per seed (5 in the full profile): three ways train the whole network for 10 epochs of 500 images in
# batches of 64 (8 steps: from scratch, fine-tuning from a trained head, fine-tuning with a random head), two train a
# linear head on fixed features (the fixed-feature way, and the head that fine-tuning starts from); evaluations:
# features of the 500 training images (twice) and the 1,000 test images, and each finished network on the test
# and its training images.
CH6_SEEDS = 5
# Chapter 17: six digit autoencoders (d = 16, 2, 4, 8, 32, and the inpainter) × 15 epochs of 60,000 in batches
# of 64, and the face denoiser's 3,000 steps of 16.
CH17_STEPS = 6 * 15 * _steps(MNIST_TRAIN, 64) + 3_000
# Chapter 18: two digit VAEs (β = 1, 4) × 50 epochs of 60,000 in batches of 128; two shape VAEs (β = 1, 8) × 60
# epochs of 20,000 silhouettes in batches of 64.
CH18_DIGIT_STEPS, CH18_SHAPE_STEPS = 2 * 50 * _steps(MNIST_TRAIN, 128), 2 * 60 * _steps(20_000, 64)

NOTEBOOKS: dict[str, Notebook] = {
    "01_tasks_and_measures": Notebook(same="the chapter uses no real dataset"),
    "02_convnets": Notebook(
        [Work("ResNet-50 on one photo", _torchvision("resnet50"), (3, 224, 224), 1, train=False, amp=False)],
        download_mb=_mb("resnet50", "alexnet"),
        reaches="AlexNet's 64 first-layer filters and the top-5 ImageNet classes of a cat photo from pretrained "
                "ResNet-50"),
    "03_training_a_classifier": Notebook(
        [Work("ResNet-18 (32×32), 30 epochs of 45,000", _resnet_small((64, 128, 256, 512), (2, 2, 2, 2)), (3, 32, 32),
              30 * 45_000, steps=CH3_STEPS, pipeline="cifar augment", workers=4),
         Work("validation, 120 × 5,000", _resnet_small((64, 128, 256, 512), (2, 2, 2, 2)), (3, 32, 32),
              120 * 5_000, train=False, pipeline="cifar plain", amp=False),
         Work("final weights on the training images, augmented (2 modes)", _resnet_small((64, 128, 256, 512),
              (2, 2, 2, 2)), (3, 32, 32), 2 * 45_000, train=False, pipeline="cifar augment", amp=False),
         Work("final weights on the plain training images, and the test set", _resnet_small((64, 128, 256, 512),
              (2, 2, 2, 2)), (3, 32, 32), 45_000 + CIFAR_TEST, train=False, pipeline="cifar plain", amp=False)],
        download_mb=_mb("cifar10"), cpu_s=30,
        reaches="CIFAR-10 test accuracy ≥ 0.93 after 30 epochs on 45,000 images, 5,000 held out for validation "
                "(its target; not measured)"),
    "04_fully_convolutional": Notebook(
        [Work("convolutionised AlexNet on a 300×451 photo", _torchvision("alexnet"), (3, 300, 451), 1, train=False,
              amp=False)],
        download_mb=_mb("alexnet"), reaches="AlexNet's class map of a cat photo"),
    "05_augmentation": Notebook(
        [Work("8 runs (4 seeds × 2 ways) × 60 epochs × 2,000 images, ResNet 8/16/32", _resnet_small((8, 16, 32)),
              (3, 32, 32), 8 * 60 * 2_000, steps=8 * 60 * _steps(2_000, 32), pipeline="cifar augment"),
         Work("each run's test set", _resnet_small((8, 16, 32)), (3, 32, 32), 8 * CIFAR_TEST, train=False,
              pipeline="cifar plain", amp=False),
         Work("one and ten views of the test images, stacked in memory", _resnet_small((8, 16, 32)), (3, 32, 32),
              11 * CIFAR_TEST, train=False, amp=False)],
        download_mb=_mb("cifar10"),
        reaches="the paired gain of augmentation on 2,000 CIFAR-10 images over 4 seeds, ≥ 0.05 with its 95 % "
                "interval above 0 (its target; not measured)"),
    "06_transfer_learning": Notebook(
        [Work(f"ResNet-18 at 128×128, {CH6_SEEDS} seeds × 3 ways × 10 epochs of 500", _torchvision("resnet18"),
              (3, 128, 128), CH6_SEEDS * 3 * 10 * 500, steps=CH6_SEEDS * 3 * 10 * _steps(500, 64),
              pipeline="cifar 128"),
         Work("linear heads on fixed features, 2 per seed × 80 steps", None, (512, 1, 1), 0,
              steps=CH6_SEEDS * 2 * 10 * _steps(500, 64), macs=0),
         Work("features and evaluations, 6,500 images per seed", _torchvision("resnet18"), (3, 128, 128),
              CH6_SEEDS * 6_500, train=False, pipeline="cifar 128", amp=False),
         Work("neuro-surgery net, 80 steps of 64 + validation and test", _surgery_net, (3, 128, 128), 80 * 64,
              steps=80, pipeline="cifar 128"),
         Work("its 8 validation passes of 200, the test set", _surgery_net, (3, 128, 128), 8 * 200 + 1_000,
              train=False, pipeline="cifar 128", amp=False)],
        download_mb=_mb("cifar10", "resnet18", "alexnet"), cpu_s=90,  # + CIFAR-10 read 23 times (cifar_task)
        reaches="the order fine-tuned from a trained head > fixed ImageNet ResNet-18 features > from scratch (by "
                "≥ 0.05) in test accuracy on 1,000 CIFAR-10 test images after training on 500, over 5 seeds, a "
                "random-head fine-tune below the "
                "trained-head one on average, and a neuro-surgery network on AlexNet's first layer at test accuracy "
                "≥ 0.5 (its targets; not measured)"),
    "07_boxes_sliding_windows_nms": Notebook(
        download_mb=_mb("voc2007 test"), cpu_s=120,  # the quick profile's cells, MTCNN and the LBP cascade included
        cpu_work=[CpuWork("16×16 CNN, 10 epochs of 20,000", "16×16 CNN pretraining image", 10 * 20_000),
                  CpuWork("window features of 1,000 + 200 images", "window features image", 1_200),
                  CpuWork("regression head 2,000 steps, two classifier heads 1,000 each", "linear head step", 4_000)],
        reaches="the quick profile's experiments with 10–20× the data (OverFeat's regression head and hard "
                "negatives on 1,000 training images), MTCNN equal to facenet-pytorch's and the LBP cascade on 7 face "
                "images, and VOC 2007 boxes"),
    "08_evaluating_detectors": Notebook(reaches="the quick profile's evaluation on 500 held-out shapes images"),
    "09_anchor_boxes": Notebook(same="the chapter uses no real dataset"),
    "10_ssd": Notebook(
        [Work(f"SSD300 (ResNet-50), {SSD_STEPS:,} steps × {SSD_BATCH}", _ssd300, (3, 300, 300), SSD_STEPS * SSD_BATCH,
              steps=SSD_STEPS, step_ms=30, pipeline="voc ssd train", workers=8),
         Work("evaluation on VOC 2007 test", _ssd300, (3, 300, 300), VOC07_TEST, train=False, pipeline="voc ssd eval",
              workers=0, amp=False)],
        download_mb=_mb("voc2007 trainval", "voc2007 test", "resnet50"), cpu_s=60,
        reaches=f"VOC 2007 test mAP@0.5 ≥ 0.40 after {SSD_STEPS:,} steps (not measured; the paper's 68 % needs ~20,000)"),
    "11_yolo": Notebook(
        [Work("small YOLO, 5,000 shapes × 20 epochs", _small_yolo, (3, 64, 64), 20 * 5_000,
              steps=20 * _steps(5_000, 32))],
        cpu_s=30,
        cpu_work=[CpuWork("detection on 1,000 test images (on the CPU)", "small YOLO detection image", 1_000)],
        reaches="mAP@0.5 ≥ 0.70 on 1,000 held-out shapes images, as in the quick profile, with 5× the images"),
    "12_region_based": Notebook(
        [Work("small Faster R-CNN, 5,000 shapes × 10 epochs", None, (3, 64, 64), 10 * 5_000,
              steps=10 * _steps(5_000, 16), step_ms=60, macs=SMALL_FASTER_RCNN_MACS),
         Work("its detection on 1,000 test images", None, (3, 64, 64), 1_000, train=False, amp=False,
              macs=SMALL_FASTER_RCNN_MACS),
         Work("Faster R-CNN R50-FPN fine-tuned on Penn-Fudan, 5 epochs", None, (3, 800, 800), 5 * PENN_TRAIN,
              steps=5 * _steps(PENN_TRAIN, 2), step_ms=60, pipeline="penn-fudan", macs=FASTER_RCNN_R50_FPN_MACS),
         Work("Penn-Fudan test images", None, (3, 800, 800), PENN_TEST, train=False, pipeline="penn-fudan", amp=False,
              macs=FASTER_RCNN_R50_FPN_MACS)],
        download_mb=_mb("penn-fudan", "fasterrcnn_resnet50_fpn"), cpu_s=90,
        cpu_work=[CpuWork("small YOLO, 20 epochs of 5,000 on the CPU (device='cpu' in both profiles)",
                          "small YOLO training image", 20 * 5_000),
                  CpuWork("its detection on 1,000 test images", "small YOLO detection image", 1_000),
                  CpuWork("MTCNN on 72 more scenes × 2 (upright, tilted)", "MTCNN scene", 2 * (96 - 24)),
                  CpuWork("the LBP cascade on the same", "LBP cascade scene", 2 * (96 - 24), threaded=False)],
        reaches="small Faster R-CNN and small YOLO at mAP@0.5 ≥ 0.50 and ≥ 0.70 on 1,000 held-out shapes, MTCNN "
                "at AP@0.5 ≥ 0.9 and above the LBP cascade on 96 face scenes, upright and tilted, and the Penn-Fudan "
                "mAP@0.5 of a fine-tuned COCO Faster R-CNN (printed; not measured)"),
    "13_upsampling": Notebook(same="the chapter is the same in both profiles"),
    "14_fcn_segmentation": Notebook(
        [Work("FCN-32s, 16s, 8s on 128×128 scenes, 3 × 1,500 steps × 16", _fcn_small("8s"), (3, 128, 128),
              3 * 1_500 * 16, steps=3 * 1_500),
         Work("their predictions on 500 test scenes", _fcn_small("8s"), (3, 128, 128), 3 * 500, train=False,
              amp=False),
         Work("FCN-8s (ResNet-50) on VOC 2012 train, 30 epochs at 320×320", _fcn_resnet50, (3, 320, 320),
              30 * _steps(VOC12_TRAIN, 16, drop_last=True) * 16, steps=30 * _steps(VOC12_TRAIN, 16, drop_last=True),
              pipeline="voc seg train", workers=2),
         Work("VOC 2012 val at full size (about 500×375)", _fcn_resnet50, (3, 375, 500), VOC12_VAL, train=False,
              pipeline="voc seg eval", amp=False)],
        download_mb=_mb("voc2012", "resnet50"),
        reaches="FCN-8s at mIoU ≥ 0.8 on 500 generated 128×128 scenes, 0.2 above FCN-32s; FCN-8s (ResNet-50) on "
                "VOC 2012 val with a mIoU target of 0.60 (printed; not measured)"),
    "15_unet": Notebook(
        [Work("three U-Nets (base 16) on nuclei patches, 3 × 1,500 steps × 8", _unet(1, 16, 3), (1, 96, 96),
              3 * 1_500 * 8, steps=3 * 1_500, pipeline="nuclei elastic"),
         Work("the held-out strip, plain and 8-fold averaged", _unet(1, 16, 3), (1, 160, 512), 3 * 9, train=False,
              amp=False),
         Work("U-Net (base 32) on Oxford-IIIT Pet, 25 epochs at 160×160", _unet(3, 32, 4), (3, 160, 160),
              25 * _steps(PETS_TRAINVAL, 32, drop_last=True) * 32, steps=25 * _steps(PETS_TRAINVAL, 32, drop_last=True),
              pipeline="pets 160", workers=2),
         Work("Oxford-IIIT Pet test", _unet(3, 32, 4), (3, 160, 160), PETS_TEST, train=False, pipeline="pets 160",
              workers=2, amp=False)],
        download_mb=_mb("oxford-iiit-pet", "stardist wheel"),
        reaches="U-Net foreground IoU ≥ 0.75 on the nuclei image's held-out rows, and an Oxford-IIIT Pet test pet "
                "IoU with a target of 0.80 (printed; not measured)"),
    "16_instance_segmentation": Notebook(
        [Work("small Mask R-CNN, 2,000 steps × 8 shapes", None, (3, 64, 64), 2_000 * 8, steps=2_000, step_ms=60,
              macs=SMALL_MASK_RCNN_MACS),
         Work("its instances on 500 test images", None, (3, 64, 64), 500, train=False, steps=_steps(500, 16),
              step_ms=60, amp=False, macs=SMALL_MASK_RCNN_MACS),
         Work("Mask R-CNN R50-FPN fine-tuned on Penn-Fudan, 10 epochs", None, (3, 800, 800), 10 * PENN_TRAIN,
              steps=10 * _steps(PENN_TRAIN, 2), step_ms=60, pipeline="penn-fudan", macs=MASK_RCNN_R50_FPN_MACS),
         Work("Penn-Fudan test images", None, (3, 800, 800), PENN_TEST, train=False, pipeline="penn-fudan", amp=False,
              macs=MASK_RCNN_R50_FPN_MACS)],
        download_mb=_mb("penn-fudan", "maskrcnn_resnet50_fpn"), cpu_s=90,  # + box and mask AP, pycocotools, 500 images
        reaches="held-out mask AP@0.5 ≥ 0.7 on shapes, equal to pycocotools', and a COCO Mask R-CNN fine-tuned on "
                "Penn-Fudan with targets box AP@0.5 ≥ 0.80 and mask AP@0.5 ≥ 0.70 (printed; not measured)"),
    "17_autoencoders": Notebook(
        [Work("6 digit autoencoders × 15 epochs of MNIST, the face denoiser's 3,000 steps",
              _autoencoder((1, 28, 28), 16), (1, 28, 28), 6 * 15 * MNIST_TRAIN + 3_000 * 16, steps=CH17_STEPS)],
        download_mb=_mb("mnist"),
        cpu_work=[CpuWork("logistic regression on 60,000 digits, at most 2,000 L-BFGS iterations",
                          "logistic regression iteration", 2_000),
                  CpuWork("biharmonic inpainting of the 10,000 test digits", "biharmonic inpainting digit", MNIST_TEST,
                          threaded=False),
                  CpuWork("JPEG round trips of the 10,000 test digits", "JPEG round trips digit", MNIST_TEST,
                          threaded=False)],
        reaches="the quick profile's claims on MNIST: autoencoder against PCA and JPEG, denoising and inpainting "
                "gains, 2-D codes and random codes (asserted; not measured)"),
    "18_variational_autoencoders": Notebook(
        [Work("VAE and β-VAE, 50 epochs of MNIST each", _vae((1, 28, 28), 16, 400), (1, 28, 28),
              2 * 50 * MNIST_TRAIN, steps=CH18_DIGIT_STEPS),
         Work("two shape VAEs, 60 epochs of 20,000 silhouettes each", _vae((1, 16, 16), 6, 256), (1, 16, 16),
              2 * 60 * 20_000, steps=CH18_SHAPE_STEPS),
         Work("importance sampling: K = 5,000 decodings of each of the 10,000 test digits", _vae_decoder, (16,),
              5_000 * MNIST_TEST, train=False, amp=False)],
        download_mb=_mb("mnist"),
        reaches="a VAE on MNIST with test ELBO above −105 nats (its target; not measured), importance-sampled "
                "log-likelihoods with K = 5,000, a β-VAE, and a MIG for β = 8 above β = 1's by ≥ 0.02 on 20,000 "
                "silhouettes"),
    "19_style_transfer": Notebook(
        # L-BFGS: 400 iterations take at most 500 evaluations of the loss (a forward and backward pass each)
        [Work("VGG-19 to block5_conv1 at 384×384, 3 Gram and 1 AdaIN transfers × ≤ 500 L-BFGS evaluations, "
              "and Adam's 200 steps beside them (float32)",
              _vgg19_extractor,
              (3, 384, 384), 4 * 500 + 200, steps=4 * 500 + 200, amp=False)],
        download_mb=_mb("vgg19", "painting"),
        reaches="style transfer with ImageNet VGG-19 at 384×384 onto Munch's The Scream: the style loss divided "
                "by ≥ 5 and the style-weight trade-off (asserted; not measured)"),
    "20_beyond_2d": Notebook(
        [Work("SRCNN (64/32 channels), 30,000 steps × 32 patches of 21×21", _srcnn, (1, 21, 21), 30_000 * 32,
              steps=30_000)],
        reaches="SRCNN above bicubic interpolation on the held-out cameraman by ≥ 0.1 dB (not measured), and the "
                "quick profile's stereo and 3-D results"),
    "grading": Notebook(
        # its executed output: "graded 6 in 57-76 s", two at a time on the build machine's 2 cores, with the 10 s
        # cell timeout that Erin's submission runs into
        cpu_s=76,
        same="the same lab-1 submissions of six students and their gradebook, graded on the CPU"),
    "interactive_figures": Notebook(same="no profile-dependent work"),
    "lab01_measures": Notebook(same="the lab uses no real dataset"),
    "lab02_resnet": Notebook(
        [Work("your ResNet (64–512, one block per stage), 30 epochs", _resnet_small((64, 128, 256, 512), (1, 1, 1, 1)),
              (3, 32, 32), 30 * CIFAR_TRAIN, steps=30 * _steps(CIFAR_TRAIN, 256), pipeline="cifar augment", workers=0),
         Work("test set", _resnet_small((64, 128, 256, 512), (1, 1, 1, 1)), (3, 32, 32), CIFAR_TEST, train=False,
              pipeline="cifar plain", amp=False)],
        download_mb=_mb("cifar10"), reaches="CIFAR-10 test accuracy ≥ 0.90 (its target; not measured)"),
    "lab03_augment_finetune": Notebook(same="the lab uses no real dataset"),
    "lab04_iou_nms_map": Notebook(same="the lab uses no real dataset"),
    "lab05_yolo_loss": Notebook(same="the lab uses no real dataset"),
    "lab06_train_detector": Notebook(
        [Work("tiny SSD, 1,500 steps × 32 of 8,000 shapes", _tiny_ssd, (3, 64, 64), 1_500 * 32, steps=1_500,
              step_ms=15),
         Work("evaluation", _tiny_ssd, (3, 64, 64), 200, train=False, amp=False)],
        reaches="held-out mAP@0.5 ≥ 0.8 on shapes (its target; not measured)"),
    "lab07_transposed_convolution": Notebook(
        same="the lab is the same in both profiles"),
    "lab08_segmentation_metrics_unet": Notebook(
        [Work("U-Net (base 8) on 4,000 nuclei patches, 1,500 steps × 8", _unet(1, 8, 3), (1, 96, 96), 1_500 * 8,
              steps=1_500, pipeline="nuclei")],
        download_mb=_mb("stardist wheel"),
        reaches="held-out mIoU ≥ 0.80 on the nuclei image (its target; not measured)"),
    "lab09_vae": Notebook(
        [Work("your VAE, 30 epochs of MNIST", _vae((1, 28, 28), 16, 400), (1, 28, 28), 30 * MNIST_TRAIN,
              steps=30 * _steps(MNIST_TRAIN, 64))],
        download_mb=_mb("mnist"), reaches="test ELBO above −105 nats on MNIST (its target; not measured)"),
    "lab10_style_transfer": Notebook(same="the lab is the same in both profiles"),
    "lab11_convolutionize": Notebook(same="the lab is the same in both profiles"),
    "lab12_anchors": Notebook(same="the lab is the same in both profiles"),
    "lab13_roi_proposals": Notebook(same="the lab is the same in both profiles"),
    "lab14_training_well": Notebook(same="the lab is the same in both profiles"),
    "lab15_instance_segmentation": Notebook(same="the lab is the same in both profiles"),
    "lab16_autoencoders": Notebook(same="the lab is the same in both profiles"),
    "lab17_stereo": Notebook(same="the lab is the same in both profiles"),
}


SOURCE = "tools/t4_estimates.py"


def statement(name: str) -> str:
    """The one line a notebook's full-profile section carries. It links this file on GitHub
    (:func:`repository.github_url`): a notebook opened in Colab has no ``tools/`` beside it."""
    nb = NOTEBOOKS[name]
    aim = f"its results are the quick profile's ({nb.same})" if nb.same else f"it aims at {nb.reaches}"
    return (f"**Full profile on a Colab T4:** about {nb.minutes()} min (estimated from FLOPs and measured CPU costs, "
            f"not measured on a T4: [{SOURCE}]({repository.github_url(SOURCE)})); {aim}.")


def steps_per_second(name: str) -> dict[str, float]:
    """The estimated T4 rate of each training pass of a notebook's full profile: ``{what: optimiser steps/s}``
    (empty when its full profile trains nothing on the GPU). For comparing with a rate measured on a GPU."""
    return {w.what: w.steps / w.seconds()["total"] for w in NOTEBOOKS[name].work if w.train and w.steps}


CELL_ID = "full-profile-t4"


def notebook_path(name: str) -> Path:
    """``book/<name>.ipynb`` or ``labs/solutions/<name>.ipynb``."""
    for path in (ROOT / "book" / f"{name}.ipynb", ROOT / "labs" / "solutions" / f"{name}.ipynb"):
        if path.exists():
            return path
    raise FileNotFoundError(f"no notebook named {name} in book/ or labs/solutions/")


def write_statement(name: str) -> bool:
    """Put :func:`statement` into the notebook's markdown cell ``full-profile-t4`` (made at the end, or
    before a lab's closing summary cell, the first time); returns whether the file changed. Markdown only:
    no output goes stale."""
    path = notebook_path(name)
    text = path.read_text()
    nb = json.loads(text)
    source = statement(name).splitlines(keepends=True)
    cells = [c for c in nb["cells"] if c.get("id") == CELL_ID]
    if cells:
        cells[0]["source"] = source
    else:
        ids = [c.get("id") for c in nb["cells"]]
        # a lab ends with its pass count (cvbook.labs): the statement goes just before it
        at = ids.index("checks-summary") if "checks-summary" in ids else len(ids)
        nb["cells"].insert(at, {"cell_type": "markdown", "id": CELL_ID, "metadata": {}, "source": source})
    new = json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    if new != text:
        path.write_text(new)
    return new != text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebook names (file names without .ipynb); default: all")
    parser.add_argument("--write", action="store_true", help=f"also write each notebook's line (cell '{CELL_ID}')")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in NOTEBOOKS]
    if unknown:
        parser.error(f"no estimate for {', '.join(unknown)}: add it to NOTEBOOKS in tools/t4_estimates.py")
    names = args.names or list(NOTEBOOKS)
    for name in names:
        s = NOTEBOOKS[name].seconds()
        print(f"{name}: {NOTEBOOKS[name].minutes()} min (" + ", ".join(f"{k} {v:.0f} s" for k, v in s.items()
                                                                       if k != "total") + ")")
    if args.write:
        changed = [n for n in names if write_statement(n)]
        print(f"\nlines written: {', '.join(changed) or 'none changed'} (run `make labs` for the labs)")
    over = [n for n in names if NOTEBOOKS[n].minutes() > T4_SESSION_MIN]
    if over:
        print(f"\nover {T4_SESSION_MIN:.0f} minutes: {', '.join(over)}")
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
