"""Detection samples as torchvision ``tv_tensors``, so boxes follow the image through transforms.

:mod:`torchvision.transforms.v2` moves, flips, crops and resizes a
:class:`~torchvision.tv_tensors.BoundingBoxes` together with the image it belongs to,
as long as the sample is made of ``tv_tensors``. The datasets hand out plain tensors
(shapes) or PIL images (Pascal VOC, after :func:`cvbook.data.voc_annotations.voc_target`); the functions
below wrap either into

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

from typing import Any, Callable

import torch
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms import v2

from cvbook.data.voc_annotations import voc_target

__all__ = ["to_tv_tensors", "detection_transform"]

def to_tv_tensors(image: Any, target: dict) -> tuple[tv_tensors.Image, dict]:
    """Wrap a shapes-style sample into ``tv_tensors``.

    Args:
        image: ``(3, H, W)`` tensor (float in ``[0, 1]`` or uint8) or a PIL image.
        target: ``{"boxes": (K, 4) xyxy, "labels": (K,), "masks": (K, H, W) optional}``, or
            the ``{"annotation": ...}`` dict of torchvision's ``VOCDetection``, converted by
            :func:`cvbook.data.voc_annotations.voc_target` (VOC's pixel indices become pixel edges).

    Returns:
        ``(image, target)`` with ``image`` an :class:`~torchvision.tv_tensors.Image`,
        ``target["boxes"]`` :class:`~torchvision.tv_tensors.BoundingBoxes` (``XYXY``,
        ``canvas_size = (H, W)``) and ``target["masks"]`` a
        :class:`~torchvision.tv_tensors.Mask`; other keys are copied unchanged.
    """
    if "annotation" in target and "boxes" not in target:
        target = voc_target(target)
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


def detection_transform(*transforms: Callable, sanitize: bool = True) -> Callable:
    """A ``transform(image, target)`` for detection datasets built from v2 transforms.

    The sample is wrapped with :func:`to_tv_tensors`, then passed through ``transforms`` in order, then
    (``sanitize=True``) boxes are clamped to the image and boxes that became empty are
    dropped together with their labels and masks
    (:class:`~torchvision.transforms.v2.SanitizeBoundingBoxes`).

    Pass it as ``transform=`` to ``cvbook.data.ShapesDetection`` or as ``transforms=`` to
    ``data.load("voc2007", ...)`` (VOC's annotations are converted first, see
    :func:`to_tv_tensors`); :func:`cvbook.data.voc.voc_transforms` is SSD's whole VOC pipeline.
    """
    tail = [v2.ClampBoundingBoxes(), v2.SanitizeBoundingBoxes()] if sanitize else []
    pipeline = v2.Compose([*transforms, *tail]) if (transforms or tail) else None

    def apply(image: Any, target: dict) -> tuple[Tensor, dict]:
        image, target = to_tv_tensors(image, target)
        return pipeline(image, target) if pipeline is not None else (image, target)

    return apply
