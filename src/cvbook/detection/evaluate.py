"""Running a trained detector over a data set, and its mean average precision.

Any detector with a ``detect(images, **kwargs)`` method that returns torchvision-style
dicts (:class:`~cvbook.detection.ssd.SSD`, :class:`~cvbook.detection.yolo.SmallYOLO`) can be
measured here, on a loader that yields ``(images, labels)`` as
:func:`cvbook.data.collate.collate_labels` makes them or ``(images, targets)`` as
:func:`cvbook.data.collate.collate_detection` does.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from cvbook.data.collate import labels_to_targets
from cvbook.metrics.detection import DetectionMAP, mean_average_precision

__all__ = ["collect_detections", "evaluate_map"]


@torch.no_grad()
def collect_detections(model: nn.Module, loader: Iterable,
                       **detect_kwargs) -> tuple[list[dict[str, Tensor]], list[dict[str, Tensor]]]:
    """Detections and ground truth of every image of ``loader``, both as dicts in pixels, on the CPU.

    ``model.detect(images, **detect_kwargs)`` gives one dict per image (``"boxes"`` ``(D, 4)``
    pixel ``xyxy``, ``"scores"`` ``(D,)``, ``"labels"`` ``(D,)``); the targets are ``{"boxes": (K, 4),
    "labels": (K,)}``. (Not :func:`cvbook.train.predict`, which concatenates a classifier's outputs.)
    """
    if not callable(getattr(model, "detect", None)):
        raise ValueError(f"{type(model).__name__} has no detect(images) method; wrap it, or collect its "
                         "detections yourself and call cvbook.metrics.detection.mean_average_precision.")
    device = next(model.parameters()).device
    predictions, targets = [], []
    for images, labels in loader:
        predictions += [{k: v.cpu() for k, v in d.items()} for d in model.detect(images.to(device), **detect_kwargs)]
        if isinstance(labels, Tensor):
            targets += labels_to_targets(labels, tuple(images.shape[-2:]))
        else:
            targets += [{"boxes": t["boxes"].cpu(), "labels": t["labels"].cpu()} for t in labels]
    return predictions, targets


def evaluate_map(model: nn.Module, loader: Iterable, iou_threshold: float = 0.5,
                 interpolation: str = "voc2010", **detect_kwargs) -> DetectionMAP:
    """Mean average precision of ``model`` on ``loader`` at one IoU threshold (VOC all-point AP by default)."""
    predictions, targets = collect_detections(model, loader, **detect_kwargs)
    return mean_average_precision(predictions, targets, iou_thresholds=[iou_threshold],
                                  interpolation=interpolation)
