"""Interactive intersection over union: two boxes over a photo."""

from __future__ import annotations

import anywidget
import numpy as np
import torch
import traitlets

from cvbook import boxes as box_ops
from cvbook.widgets._base import WidgetStateError, check_box, image_data_url, module_source, stylesheet


class IoUWidget(anywidget.AnyWidget):
    """Two boxes A and B over a photo, movable and resizable with the mouse, the keyboard or
    number inputs; shows their intersection (shaded), union, IoU and the verdict IoU ≥ ½.

    Boxes are ``xyxy`` in the photo's pixel coordinates. Python reads and sets them through
    ``boxes``; ``iou``, ``intersection`` and ``union`` follow, computed with
    ``cvbook.boxes.box_iou`` (the browser shows the same numbers, computed in JavaScript).

    Args:
        image: a ``cvbook.data.photo`` name or an ``(H, W, 3)`` uint8 array.
        boxes: ``[[x1, y1, x2, y2], [x1, y1, x2, y2]]``; default: two overlapping boxes.
        threshold: the IoU above which a detection counts as correct.

    Example:
        >>> w = IoUWidget("chelsea", boxes=[[100, 50, 300, 250], [150, 100, 350, 300]])
        >>> round(w.iou, 4)
        0.3913
    """

    _esm = module_source("iou")
    _css = stylesheet()

    image = traitlets.Unicode().tag(sync=True)
    image_size = traitlets.List(traitlets.Int(), minlen=2, maxlen=2).tag(sync=True)
    boxes = traitlets.List().tag(sync=True)
    threshold = traitlets.Float(0.5).tag(sync=True)
    intersection = traitlets.Float(0.0, read_only=True).tag(sync=True)
    union = traitlets.Float(0.0, read_only=True).tag(sync=True)
    iou = traitlets.Float(0.0, read_only=True).tag(sync=True)

    def __init__(self, image: str | np.ndarray = "chelsea", boxes: list | None = None, threshold: float = 0.5, **kwargs) -> None:
        url, size = image_data_url(image)
        super().__init__(image=url, image_size=size, threshold=threshold, **kwargs)
        width, height = size
        self.boxes = boxes if boxes is not None else [
            [round(0.20 * width), round(0.20 * height), round(0.60 * width), round(0.70 * height)],
            [round(0.40 * width), round(0.35 * height), round(0.80 * width), round(0.85 * height)],
        ]

    @traitlets.validate("boxes")
    def _check_boxes(self, proposal: dict) -> list:
        value = proposal["value"]
        if len(value) != 2:
            raise WidgetStateError(f"boxes must be two boxes [[x1, y1, x2, y2], [x1, y1, x2, y2]], got {len(value)}")
        return [check_box(b, self.image_size, f"boxes[{k}]") for k, b in enumerate(value)]

    @traitlets.validate("threshold")
    def _check_threshold(self, proposal: dict) -> float:
        if not 0.0 <= proposal["value"] <= 1.0:
            raise WidgetStateError(f"threshold must lie in [0, 1], got {proposal['value']}")
        return proposal["value"]

    @traitlets.observe("boxes")
    def _update_measures(self, change: dict) -> None:
        a, b = torch.tensor(change["new"], dtype=torch.float64)
        iou = box_ops.box_iou(a[None], b[None])[0, 0].item()
        corner_lo = torch.maximum(a[:2], b[:2])
        corner_hi = torch.maximum(torch.minimum(a[2:], b[2:]), corner_lo)
        inter = box_ops.box_area(torch.cat([corner_lo, corner_hi])[None])[0].item()
        union = (box_ops.box_area(torch.stack([a, b])).sum() - inter).item()
        with self.hold_trait_notifications():
            self.set_trait("intersection", inter)
            self.set_trait("union", union)
            self.set_trait("iou", iou)
