"""Pascal VOC's XML box annotations as the book's targets: classes, pixel edges, tensors.

VOC (and ImageNet's box annotations, which use the same XML shape) number pixels from 1 and
give a box by its first and last pixel, both included: ``xmin = 1, xmax = 3`` covers the
first three columns. The whole book uses pixel *edges* instead (``xyxy`` with ``x1 = 0,
x2 = 3`` for those columns, as torchvision and the ``shapes`` data do), so this module
converts once, in one place: ``x1 = xmin − 1``, ``y1 = ymin − 1``, ``x2 = xmax``,
``y2 = ymax``. Width and height are then the pixel counts.

It needs nothing but the annotations, so both :mod:`cvbook.data.voc` (the datasets) and
:mod:`cvbook.data.transforms` (which reads a ``VOCDetection`` item's raw annotation) use it.

>>> ann = parse_voc_xml(open("000005.xml").read())   # doctest: +SKIP
>>> ann["boxes"]                                     # (K, 4) float32 pixel-edge xyxy
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

import torch

__all__ = ["VOC_CLASSES", "voc_box", "parse_voc_xml", "voc_target"]

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
