"""Data, training and evaluation for the anchor-based detectors of :mod:`cvbook.detection.ssd`.

The data path is the same in both profiles: a dataset yields ``(image, target)`` pairs in
torchvision's detection format (``target["boxes"]`` pixel ``xyxy``, ``target["labels"]``
0-based classes), :func:`collate_labels` stacks the images and pads the targets into the
``(B, K, 5)`` normalised label tensor of :func:`cvbook.anchors.multibox_target`, and
:func:`labels_to_targets` turns such labels back into per-image dicts for
:func:`cvbook.metrics.mean_average_precision`.

- Quick profile: the generated shapes (``data.load("shapes", ...)``), 64×64 pixels.
- Full profile: Pascal VOC 2007 with :func:`voc_transforms`, whose annotations become
  ``tv_tensors.BoundingBoxes`` so that ``torchvision.transforms.v2`` moves the boxes with
  the image.

:func:`train_step` is one SSD step (targets, the two losses, an optimiser step);
:func:`fit_detector` repeats it for a number of steps or until a time budget is spent;
:func:`predict` and :func:`evaluate_map` measure a trained detector.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from cvbook import anchors as anchor_ops
from cvbook import metrics
from cvbook.detection import ssd
from cvbook.detection.transforms import detection_transform

__all__ = [
    "collate_labels",
    "labels_to_targets",
    "voc_transforms",
    "train_step",
    "DetectorHistory",
    "fit_detector",
    "predict",
    "evaluate_map",
]

def collate_labels(items: Sequence[tuple[Tensor, dict[str, Tensor]]]) -> tuple[Tensor, Tensor]:
    """Batch ``(image, target)`` pairs for an anchor-based detector.

    Args:
        items: pairs of an image ``(3, H, W)`` (all the same size) and a dict with
            ``"boxes"`` ``(k_i, 4)`` pixel ``xyxy`` and ``"labels"`` ``(k_i,)`` 0-based classes.

    Returns:
        ``images`` ``(B, 3, H, W)`` and ``labels`` ``(B, K, 5)`` with ``K = max k_i``, rows
        ``[class, x1, y1, x2, y2]`` with coordinates divided by the image width and height,
        ``-1`` rows as padding (the input of :func:`cvbook.anchors.multibox_target`).
    """
    images, targets = zip(*items)
    sizes = {tuple(im.shape[-2:]) for im in images}
    if len(sizes) != 1:
        raise ValueError(f"images of different sizes {sorted(sizes)} cannot be stacked; resize them first "
                         "(e.g. transforms.v2.Resize((300, 300)))")
    height, width = sizes.pop()
    scale = torch.tensor([width, height, width, height], dtype=torch.float32)
    rows = [torch.cat([t["labels"].float()[:, None], torch.as_tensor(t["boxes"]).float().reshape(-1, 4) / scale],
                      dim=1) for t in targets]
    labels = nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=-1.0)
    if labels.shape[1] == 0:  # no image has an object: one padding row keeps the shape (B, K, 5) valid
        labels = torch.full((len(rows), 1, 5), -1.0)
    return torch.stack(images), labels


def labels_to_targets(labels: Tensor, size: tuple[int, int]) -> list[dict[str, Tensor]]:
    """Per-image target dicts from padded normalised labels (the inverse of :func:`collate_labels`).

    Args:
        labels: ``(B, K, 5)`` rows ``[class, x1, y1, x2, y2]`` normalised, ``class < 0`` padding.
        size: the image size ``(H, W)`` in pixels.

    Returns:
        ``B`` dicts with ``"boxes"`` ``(k_i, 4)`` pixel ``xyxy`` and ``"labels"`` ``(k_i,)`` int64.
    """
    if labels.ndim != 3 or labels.shape[-1] != 5:
        raise ValueError(f"labels must be (B, K, 5), got {tuple(labels.shape)}")
    height, width = size
    scale = labels.new_tensor([width, height, width, height])
    return [{"boxes": rows[rows[:, 0] >= 0, 1:] * scale, "labels": rows[rows[:, 0] >= 0, 0].long()}
            for rows in labels]


def voc_transforms(size: int = 300, train: bool = True) -> Callable:
    """SSD's ``transforms.v2`` pipeline for VOC, ``(PIL image, VOC annotation) -> (float image, target)``.

    Built on :func:`cvbook.detection.transforms.detection_transform`, which turns the
    annotation into a ``tv_tensors.BoundingBoxes`` target so that boxes follow the image.
    Training: photometric distortion, zoom out, an IoU-constrained random crop, a
    horizontal flip, then resize to ``size × size``; evaluation: resize only. Boxes cropped
    away are removed. Pass it as ``transforms=`` to ``data.load("voc2007", ...)``.
    """
    from torchvision.transforms import v2

    steps: list = []
    if train:
        steps += [v2.RandomPhotometricDistort(p=0.5), v2.RandomZoomOut(fill=124, side_range=(1.0, 4.0), p=0.5),
                  v2.RandomIoUCrop(), v2.RandomHorizontalFlip(p=0.5)]
    steps += [v2.Resize((size, size), antialias=True), v2.ToDtype(torch.float32, scale=True)]
    return detection_transform(*steps)


def train_step(model: ssd.SSD, images: Tensor, labels: Tensor, optimizer: torch.optim.Optimizer,
               neg_pos_ratio: float = 3.0) -> tuple[float, float]:
    """One SSD training step: forward, anchor targets, the two losses, backward, optimiser step.

    Args:
        images: ``(B, 3, H, W)``; labels: ``(B, K, 5)`` (see :func:`collate_labels`).

    Returns:
        The step's ``(classification loss, box loss)`` as floats.
    """
    model.train()
    anchors, cls_logits, box_preds = model(images)
    offsets, mask, classes = anchor_ops.multibox_target(anchors, labels)
    cls_loss, box_loss = ssd.ssd_loss(cls_logits, box_preds, offsets, mask, classes, neg_pos_ratio)
    loss = cls_loss + box_loss
    if not torch.isfinite(loss):
        raise FloatingPointError(f"the loss is {loss.item()}: lower the learning rate or check the labels")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return cls_loss.item(), box_loss.item()


@dataclass
class DetectorHistory:
    """What :func:`fit_detector` did: per-step losses, the wall time, and why it stopped."""

    cls_loss: list[float] = field(default_factory=list)
    box_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    stopped_by_budget: bool = False

    @property
    def steps(self) -> int:
        return len(self.cls_loss)

    def plot(self, title: str = "SSD training losses", smooth: int = 10):
        """Both losses against the step (moving average over ``smooth`` steps); returns the figure."""
        import matplotlib.pyplot as plt
        import numpy as np

        fig, ax = plt.subplots(figsize=(6, 3.4))
        kernel = np.ones(max(1, min(smooth, self.steps))) / max(1, min(smooth, self.steps))
        for name, values in (("classification", self.cls_loss), ("box (smooth ℓ1)", self.box_loss)):
            if values:
                ax.plot(np.arange(len(kernel), self.steps + 1), np.convolve(values, kernel, mode="valid"), label=name)
        ax.set(title=title, xlabel="step", ylabel="loss per positive anchor")
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        return fig


def fit_detector(model: ssd.SSD, loader: Iterable, *, steps: int, lr: float = 3e-3, weight_decay: float = 1e-4,
                 warmup: int = 10, time_budget: float | None = None, device: torch.device | str | None = None,
                 step_fn: Callable | None = None, log_every: int = 0) -> DetectorHistory:
    """Train ``model`` with AdamW for ``steps`` batches of ``loader`` (cycled), or until ``time_budget`` seconds.

    The learning rate warms up linearly over ``warmup`` steps, then follows a cosine from
    ``lr`` down to ``lr / 20`` over the planned ``steps``.

    Args:
        loader: yields ``(images, labels)`` as :func:`collate_labels` makes them.
        steps: number of optimiser steps planned.
        lr, weight_decay: AdamW's peak learning rate and weight decay.
        warmup: steps of linear warm-up.
        device: where to train; default the model's device.
        time_budget: stop after the step during which this many seconds of training have passed.
        step_fn: the step, ``step_fn(model, images, labels, optimizer) -> (cls_loss, box_loss)``;
            default :func:`train_step`.
        log_every: print the losses every so many steps (0: never).
    """
    if steps < 1:
        raise ValueError(f"steps={steps}: train for at least one step")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    step_fn = step_fn or train_step
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    history = DetectorHistory()
    start = time.perf_counter()
    while history.steps < steps:
        for images, labels in loader:
            cls_loss, box_loss = step_fn(model, images.to(device), labels.to(device), optimizer)
            scheduler.step()
            history.cls_loss.append(cls_loss)
            history.box_loss.append(box_loss)
            history.seconds = time.perf_counter() - start
            if log_every and history.steps % log_every == 0:
                print(f"step {history.steps:>4}/{steps}  classification {cls_loss:.3f}  box {box_loss:.3f}  "
                      f"({history.seconds:.0f} s)", flush=True)
            if history.steps >= steps:
                break
            if time_budget is not None and history.seconds >= time_budget:
                history.stopped_by_budget = True
                return history
    return history


@torch.no_grad()
def predict(model: ssd.SSD, loader: Iterable, **detect_kwargs) -> tuple[list[dict[str, Tensor]], list[dict[str, Tensor]]]:
    """Detections and ground truth of every image of ``loader``, both as torchvision-style dicts (pixels)."""
    device = next(model.parameters()).device
    predictions, targets = [], []
    for images, labels in loader:
        predictions += [{k: v.cpu() for k, v in d.items()}
                        for d in ssd.detect(model, images.to(device), **detect_kwargs)]
        targets += labels_to_targets(labels, tuple(images.shape[-2:]))
    return predictions, targets


def evaluate_map(model: ssd.SSD, loader: Iterable, iou_threshold: float = 0.5,
                 interpolation: str = "voc2010", **detect_kwargs) -> metrics.DetectionMAP:
    """Mean average precision of ``model`` on ``loader`` at one IoU threshold (VOC all-point AP by default)."""
    predictions, targets = predict(model, loader, **detect_kwargs)
    return metrics.mean_average_precision(predictions, targets, iou_thresholds=[iou_threshold],
                                          interpolation=interpolation)
