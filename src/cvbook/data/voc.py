"""Pascal VOC: its classes, its XML box annotations, the VOC 2007 detection set and the VOC 2012
segmentation set.

VOC (and ImageNet's box annotations, which use the same XML shape) number pixels from 1 and
give a box by its first and last pixel, both included: ``xmin = 1, xmax = 3`` covers the
first three columns. The whole book uses pixel *edges* instead (``xyxy`` with ``x1 = 0,
x2 = 3`` for those columns, as torchvision and the ``shapes`` data do), so this module
converts once, in one place: ``x1 = xmin − 1``, ``y1 = ymin − 1``, ``x2 = xmax``,
``y2 = ymax``. Width and height are then the pixel counts.

>>> ann = parse_voc_xml(open("000005.xml").read())   # doctest: +SKIP
>>> ann["boxes"]                                     # (K, 4) float32 pixel-edge xyxy
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence

import torch

from cvbook.data.sources import fetch_source
from cvbook.data.transforms import detection_transform

__all__ = ["VOC_CLASSES", "parse_voc_xml", "voc_target", "voc_transforms", "voc2007",
           "VOC_SEGMENTATION_CLASSES", "VOC_VOID", "voc_segmentation_transforms", "voc2012_segmentation"]

VOC_CLASSES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)
"""The 20 Pascal VOC classes, in the order of their label indices (0..19)."""


def voc_box(xmin: float, ymin: float, xmax: float, ymax: float, name: str = "object") -> list[float]:
    """VOC's 1-based, inclusive pixel indices as a pixel-edge ``xyxy`` box (the module's one conversion)."""
    if xmax < xmin or ymax < ymin:
        raise ValueError(f"object {name!r} has xmax < xmin or ymax < ymin: {(xmin, ymin, xmax, ymax)}")
    return [xmin - 1.0, ymin - 1.0, float(xmax), float(ymax)]


def _text(node: ET.Element, path: str) -> str:
    found = node.find(path)
    if found is None or found.text is None:
        raise ValueError(f"annotation is missing <{path}> (inside <{node.tag}>)")
    return found.text.strip()


def parse_voc_xml(xml: str) -> dict:
    """Parse one ``<annotation>`` document (VOC or ImageNet) into tensors.

    Returns:
        A dict with ``filename`` (str), ``size`` (``(height, width, depth)``), ``names``
        (list of K class names or synset ids), ``boxes`` (``(K, 4)`` float32 pixel-edge
        ``xyxy``, see the module docstring), ``difficult`` and ``truncated`` (``(K,)`` bool).

    Raises:
        ValueError: for malformed XML, a missing field, or a box with ``xmax < xmin`` or
            ``ymax < ymin``.
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as e:
        raise ValueError(f"not well-formed XML: {e}") from None
    if root.tag != "annotation":
        raise ValueError(f"expected an <annotation> document, got <{root.tag}>")
    size = root.find("size")
    dims = tuple(int(_text(size, k)) for k in ("height", "width", "depth")) if size is not None else None
    names, boxes, difficult, truncated = [], [], [], []
    for obj in root.iter("object"):  # a handful of XML records, not box arithmetic
        names.append(_text(obj, "name"))
        bb = obj.find("bndbox")
        if bb is None:
            raise ValueError(f"object {names[-1]!r} has no <bndbox>")
        boxes.append(voc_box(*(float(_text(bb, k)) for k in ("xmin", "ymin", "xmax", "ymax")), name=names[-1]))
        difficult.append(obj.findtext("difficult", "0").strip() == "1")
        truncated.append(obj.findtext("truncated", "0").strip() == "1")
    return {
        "filename": root.findtext("filename", "").strip(),
        "size": dims,
        "names": names,
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "difficult": torch.tensor(difficult, dtype=torch.bool),
        "truncated": torch.tensor(truncated, dtype=torch.bool),
    }


def voc_target(annotation: Mapping, class_names: Sequence[str] = VOC_CLASSES, *, keep_difficult: bool = True) -> dict:
    """Turn one target of :class:`torchvision.datasets.VOCDetection` (nested dicts) into tensors.

    Args:
        annotation: the dict VOCDetection returns, ``{"annotation": {"object": [...]}}``.
        class_names: label ``i`` is ``class_names[i]``.
        keep_difficult: keep objects marked ``difficult`` (VOC's evaluation ignores them).

    Returns:
        ``{"boxes": (K, 4) float32 pixel-edge xyxy, "labels": (K,) int64, "difficult": (K,) bool}``.
    """
    try:
        objects = annotation["annotation"]["object"]
    except (KeyError, TypeError):
        raise ValueError("annotation must be VOCDetection's {'annotation': {'object': [...]}} dict") from None
    if isinstance(objects, Mapping):
        objects = [objects]
    index = {name: i for i, name in enumerate(class_names)}
    boxes, labels, difficult = [], [], []
    for obj in objects:
        if obj["name"] not in index:
            raise ValueError(f"class {obj['name']!r} is not in class_names")
        hard = str(obj.get("difficult", "0")).strip() == "1"
        if hard and not keep_difficult:
            continue
        bb = obj["bndbox"]
        boxes.append(voc_box(*(float(bb[k]) for k in ("xmin", "ymin", "xmax", "ymax")), name=obj["name"]))
        labels.append(index[obj["name"]])
        difficult.append(hard)
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor(labels, dtype=torch.int64),
        "difficult": torch.tensor(difficult, dtype=torch.bool),
    }


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
