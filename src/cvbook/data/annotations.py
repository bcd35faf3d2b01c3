"""Box annotations in the XML shape of ImageNet and Pascal VOC.

>>> ann = parse_voc_xml(open("n02123394_2084.xml").read())   # doctest: +SKIP
>>> ann["boxes"]                                              # (K, 4) float xyxy, pixels
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import torch

__all__ = ["parse_voc_xml"]


def _text(node: ET.Element, path: str) -> str:
    found = node.find(path)
    if found is None or found.text is None:
        raise ValueError(f"annotation is missing <{path}> (inside <{node.tag}>)")
    return found.text.strip()


def parse_voc_xml(xml: str) -> dict:
    """Parse one ``<annotation>`` document into tensors.

    Returns a dict with ``filename`` (str), ``size`` (``(height, width, depth)``), ``names``
    (list of K class names or synset ids), ``boxes`` (``(K, 4)`` float32 ``xyxy``, in the
    file's pixel coordinates), ``difficult`` and ``truncated`` (``(K,)`` bool).

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
    for obj in root.iter("object"):
        names.append(_text(obj, "name"))
        bb = obj.find("bndbox")
        if bb is None:
            raise ValueError(f"object {names[-1]!r} has no <bndbox>")
        x1, y1, x2, y2 = (float(_text(bb, k)) for k in ("xmin", "ymin", "xmax", "ymax"))
        if x2 < x1 or y2 < y1:
            raise ValueError(f"object {names[-1]!r} has xmax < xmin or ymax < ymin: {(x1, y1, x2, y2)}")
        boxes.append((x1, y1, x2, y2))
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
