"""Detection samples as torchvision ``tv_tensors``, so boxes follow the image through transforms.

:mod:`torchvision.transforms.v2` moves, flips, crops and resizes a
:class:`~torchvision.tv_tensors.BoundingBoxes` together with the image it belongs to,
as long as the sample is made of ``tv_tensors``. The datasets hand out plain tensors
(shapes) or PIL images and parsed XML (Pascal VOC); the functions below wrap either into

- ``image``: :class:`~torchvision.tv_tensors.Image` ``(3, H, W)``,
- ``target``: ``{"boxes": BoundingBoxes (K, 4) XYXY, canvas (H, W), "labels": (K,) int64,
  "masks": Mask (K, H, W)}`` (masks only when the dataset has them).

>>> from torchvision.transforms import v2
>>> from cvbook.data import ShapesDetection
>>> ds = ShapesDetection(8, transform=detection_transform(v2.RandomHorizontalFlip(p=1.0)))
>>> image, target = ds[0]
>>> type(target["boxes"]).__name__
'BoundingBoxes'
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms import v2

__all__ = ["VOC_CLASSES", "to_tv_tensors", "voc_target", "detection_transform"]

VOC_CLASSES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)
"""The 20 Pascal VOC classes, in the order of their label indices (0..19)."""


def to_tv_tensors(image: Any, target: dict) -> tuple[tv_tensors.Image, dict]:
    """Wrap a shapes-style sample into ``tv_tensors``.

    Args:
        image: ``(3, H, W)`` tensor (float in ``[0, 1]`` or uint8) or a PIL image.
        target: ``{"boxes": (K, 4) xyxy, "labels": (K,), "masks": (K, H, W) optional}``.

    Returns:
        ``(image, target)`` with ``image`` an :class:`~torchvision.tv_tensors.Image`,
        ``target["boxes"]`` :class:`~torchvision.tv_tensors.BoundingBoxes` (``XYXY``,
        ``canvas_size = (H, W)``) and ``target["masks"]`` a
        :class:`~torchvision.tv_tensors.Mask`; other keys are copied unchanged.
    """
    if "boxes" not in target or "labels" not in target:
        raise ValueError(f"target needs 'boxes' and 'labels', got keys {sorted(target)}")
    image = tv_tensors.Image(v2.functional.pil_to_tensor(image) if not torch.is_tensor(image) else image)
    if image.dim() != 3:
        raise ValueError(f"image must be (C, H, W), got shape {tuple(image.shape)}")
    boxes = torch.as_tensor(target["boxes"], dtype=torch.float32)
    if boxes.dim() != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"target['boxes'] must be (K, 4) xyxy, got shape {tuple(boxes.shape)}")
    out = dict(target)
    out["boxes"] = tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=tuple(image.shape[-2:]))
    out["labels"] = torch.as_tensor(target["labels"], dtype=torch.int64)
    if "masks" in target:
        out["masks"] = tv_tensors.Mask(target["masks"])
    return image, out


def voc_target(annotation: dict, class_names: Sequence[str] = VOC_CLASSES, *, keep_difficult: bool = True) -> dict:
    """Turn one item's target of :class:`torchvision.datasets.VOCDetection` into tensors.

    Args:
        annotation: the nested dict VOCDetection returns, ``{"annotation": {"object": [...]}}``.
        class_names: label ``i`` is ``class_names[i]``.
        keep_difficult: keep objects marked ``difficult`` (VOC's evaluation ignores them).

    Returns:
        ``{"boxes": (K, 4) float32 xyxy, "labels": (K,) int64, "difficult": (K,) bool}``.
        VOC's 1-based inclusive pixel indices become pixel edges: ``x1 = xmin − 1``,
        ``x2 = xmax``.
    """
    try:
        objects = annotation["annotation"]["object"]
    except (KeyError, TypeError):
        raise ValueError("annotation must be VOCDetection's {'annotation': {'object': [...]}} dict") from None
    if isinstance(objects, dict):
        objects = [objects]
    index = {name: i for i, name in enumerate(class_names)}
    boxes, labels, difficult = [], [], []
    for obj in objects:  # parsing a handful of XML records, not box arithmetic
        if obj["name"] not in index:
            raise ValueError(f"class {obj['name']!r} is not in class_names")
        hard = str(obj.get("difficult", "0")).strip() == "1"
        if hard and not keep_difficult:
            continue
        bb = obj["bndbox"]
        boxes.append([float(bb["xmin"]) - 1, float(bb["ymin"]) - 1, float(bb["xmax"]), float(bb["ymax"])])
        labels.append(index[obj["name"]])
        difficult.append(hard)
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor(labels, dtype=torch.int64),
        "difficult": torch.tensor(difficult, dtype=torch.bool),
    }


def detection_transform(*transforms: Callable, sanitize: bool = True) -> Callable:
    """A ``transform(image, target)`` for detection datasets built from v2 transforms.

    The sample is wrapped with :func:`to_tv_tensors` (a VOCDetection target is first
    converted by :func:`voc_target`), then passed through ``transforms`` in order, then
    (``sanitize=True``) boxes are clamped to the image and boxes that became empty are
    dropped together with their labels and masks
    (:class:`~torchvision.transforms.v2.SanitizeBoundingBoxes`).

    Pass it as ``transform=`` to ``cvbook.data.ShapesDetection`` or as
    ``transforms=`` to the VOC dataset of ``cvbook.data.load("voc2007")``.
    """
    tail = [v2.ClampBoundingBoxes(), v2.SanitizeBoundingBoxes()] if sanitize else []
    pipeline = v2.Compose([*transforms, *tail]) if (transforms or tail) else None

    def apply(image: Any, target: dict) -> tuple[Tensor, dict]:
        if "annotation" in target:
            target = voc_target(target)
        image, target = to_tv_tensors(image, target)
        return pipeline(image, target) if pipeline is not None else (image, target)

    return apply
