"""Pascal VOC: the VOC 2007 detection set, SSD's VOC pipeline and the VOC 2012 segmentation set.

The XML annotations and their conversion to pixel-edge ``xyxy`` boxes live in
:mod:`cvbook.data.voc_annotations` (re-exported here): ``VOC_CLASSES``, ``parse_voc_xml``,
``voc_target``.

>>> train = voc2007("trainval", transforms=voc_transforms(300, train=True))   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from cvbook.data.sources import fetch_source
from cvbook.data.transforms import detection_transform
from cvbook.data.voc_annotations import VOC_CLASSES, parse_voc_xml, voc_box, voc_target

__all__ = ["VOC_CLASSES", "parse_voc_xml", "voc_box", "voc_target", "voc_transforms", "voc2007",
           "VOC_SEGMENTATION_CLASSES", "VOC_VOID", "voc_segmentation_transforms", "voc2012_segmentation"]


def voc_transforms(size: int = 300, train: bool = True) -> Callable:
    """SSD's ``transforms.v2`` pipeline for VOC, ``(PIL image, VOC annotation) -> (float image, target)``.

    Training: photometric distortion, zoom out, an IoU-constrained random crop, a horizontal
    flip, then resize to ``size × size``; evaluation: resize only. The annotation becomes
    tensors by :func:`voc_target`, and boxes follow the image through every step
    (:func:`cvbook.data.transforms.detection_transform`); boxes cropped away are removed.
    Pass it as ``transforms=`` to ``data.load("voc2007", ...)``.
    """
    from torchvision.transforms import v2

    steps: list = []
    if train:
        steps += [v2.RandomPhotometricDistort(p=0.5), v2.RandomZoomOut(fill=124, side_range=(1.0, 4.0), p=0.5),
                  v2.RandomIoUCrop(), v2.RandomHorizontalFlip(p=0.5)]
    steps += [v2.Resize((size, size), antialias=True), v2.ToDtype(torch.float32, scale=True)]
    pipeline = detection_transform(*steps)

    def apply(image, annotation: Mapping):
        target = voc_target(annotation) if "annotation" in annotation else annotation
        return pipeline(image, target)

    return apply


def voc2007(split: str = "trainval", transforms: Callable | None = None, task: str = "detection", *, root=None):
    """Pascal VOC 2007 (downloaded with checksums on first use): ``"trainval"`` (or ``"train"``) or ``"test"``.

    Returns torchvision's ``VOCDetection`` (``task="detection"``) or ``VOCSegmentation``.
    """
    from torchvision.datasets import VOCDetection, VOCSegmentation

    split = {"train": "trainval"}.get(split, split)
    if split not in ("trainval", "test"):
        raise ValueError(f"VOC2007 splits are 'trainval' (or 'train') and 'test', not {split!r}")
    if task not in ("detection", "segmentation"):
        raise ValueError(f"task={task!r}: use 'detection' or 'segmentation'")
    root = fetch_source("voc2007", split, root=root)
    cls = VOCDetection if task == "detection" else VOCSegmentation
    return cls(str(root), year="2007", image_set=split, download=False, transforms=transforms)


# --- VOC 2012 segmentation (chapter 14) ------------------------------------------------------

#: The VOC 2012 segmentation labels are 0 background, 1..20 the classes of :data:`VOC_CLASSES`, and 255
#: ("void") on object borders and difficult regions, left out of losses and metrics.
VOC_SEGMENTATION_CLASSES: tuple[str, ...] = ("background", *VOC_CLASSES)
VOC_VOID = 255


def voc_segmentation_transforms(size: int = 320, train: bool = True) -> Callable:
    """``(PIL image, PIL mask) -> (float image (3, size, size) normalised for ImageNet, int64 mask)``.

    Training: random scale (0.5–2 of ``size``), random crop of ``size × size`` (padding the
    image with 0 and the mask with 255 where needed), horizontal flip; evaluation: the whole
    image, only normalised (batch size 1, or resize yourself). The mask follows the image
    through every geometric step (``transforms.v2`` with a ``Mask``; nearest interpolation).
    """
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    steps: list = []
    if train:
        steps += [v2.RandomResize(size // 2, 2 * size), v2.RandomCrop(size, pad_if_needed=True,
                                                                        fill={tv_tensors.Mask: VOC_VOID, "others": 0}),
                  v2.RandomHorizontalFlip()]
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])]
    pipeline = v2.Compose(steps)

    def apply(image, mask):
        image = tv_tensors.Image(v2.functional.pil_to_tensor(image))
        mask = tv_tensors.Mask(v2.functional.pil_to_tensor(mask)[0])
        image, mask = pipeline(image, mask)
        return image.as_subclass(torch.Tensor), mask.as_subclass(torch.Tensor).long()

    return apply


def voc2012_segmentation(split: str = "train", transforms: Callable | None = None, *, root=None):
    """Pascal VOC 2012 segmentation (downloaded with checksums on first use): ``"train"`` (1,464
    images) or ``"val"`` (1,449), as torchvision's ``VOCSegmentation``; masks use
    :data:`VOC_SEGMENTATION_CLASSES` and 255 for void."""
    from torchvision.datasets import VOCSegmentation

    if split not in ("train", "val", "trainval"):
        raise ValueError(f"VOC2012 segmentation splits are 'train', 'val' and 'trainval', not {split!r}")
    root = fetch_source("voc2012", "all", root=root)
    return VOCSegmentation(str(root), year="2012", image_set=split, download=False, transforms=transforms)
