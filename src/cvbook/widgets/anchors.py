"""Interactive anchor boxes over a photo, and their assignment to a ground-truth box."""

from __future__ import annotations

import anywidget
import numpy as np
import torch
import traitlets

from cvbook.detection import anchors as anchor_ops
from cvbook import boxes as box_ops
from cvbook.widgets._base import WidgetStateError, check_box, image_data_url, module_source, stylesheet


class AnchorWidget(anywidget.AnyWidget):
    """Anchor boxes of an ``h × w`` feature map over a photo (``multibox_prior``: ``n + m - 1``
    anchors per cell from ``n`` sizes and ``m`` ratios), one ground-truth box, each anchor's
    IoU with it, and the anchors assigned to it at ``threshold``
    (``cvbook.detection.anchors.assign_anchors``: IoU ≥ threshold, plus the best anchor).

    Click a cell to see its anchors (cells are numbered from 0, row then column, as in
    Python); drag the ground-truth box. Python reads ``anchors`` (the selected cell's
    anchors, pixels ``xyxy``), ``ious`` (their IoU with the ground truth) and ``assigned``
    (indices into all ``h·w·(n+m-1)`` anchors), computed with ``cvbook.detection.anchors``
    and ``cvbook.boxes.box_iou``; the browser computes the same in JavaScript.

    ``convention`` chooses the anchors' shapes (see ``multibox_prior``): ``"d2l"`` measures
    the ratio on the feature map's grid, so on a square map over a non-square photo "ratio
    1" is not square; ``"square"`` measures it in the photo's pixels.

    Args:
        image: a ``cvbook.data.photo`` name or an ``(H, W, 3)`` uint8 array.
        feature_size: ``(h, w)`` cells, each 1 to 16.
        sizes: anchor sizes in ``(0, 1]``, fractions of the image.
        ratios: aspect ratios width / height, positive.
        gt_box: the ground-truth box, pixels ``xyxy``; default: the middle of the photo.
        location: the selected cell ``(row, column)``.
        threshold: IoU needed for an anchor to be assigned.
        convention: ``"d2l"`` (default) or ``"square"``.
    """

    _esm = module_source("anchors")
    _css = stylesheet()

    image = traitlets.Unicode().tag(sync=True)
    image_size = traitlets.List(traitlets.Int(), minlen=2, maxlen=2).tag(sync=True)
    feature_size = traitlets.List(traitlets.Int(), [4, 4], minlen=2, maxlen=2).tag(sync=True)
    sizes = traitlets.List(traitlets.Float(), [0.75, 0.5, 0.25]).tag(sync=True)
    ratios = traitlets.List(traitlets.Float(), [1.0, 2.0, 0.5]).tag(sync=True)
    location = traitlets.List(traitlets.Int(), [1, 1], minlen=2, maxlen=2).tag(sync=True)
    gt_box = traitlets.List().tag(sync=True)
    threshold = traitlets.Float(0.5).tag(sync=True)
    convention = traitlets.Unicode("d2l").tag(sync=True)
    anchors = traitlets.List(read_only=True).tag(sync=True)
    ious = traitlets.List(read_only=True).tag(sync=True)
    assigned = traitlets.List(read_only=True).tag(sync=True)
    num_anchors = traitlets.Int(0, read_only=True).tag(sync=True)

    def __init__(
        self,
        image: str | np.ndarray = "chelsea",
        feature_size: tuple[int, int] = (4, 4),
        sizes: tuple[float, ...] = (0.75, 0.5, 0.25),
        ratios: tuple[float, ...] = (1.0, 2.0, 0.5),
        gt_box: list | None = None,
        location: tuple[int, int] = (1, 1),
        threshold: float = 0.5,
        convention: str = "d2l",
        **kwargs,
    ) -> None:
        url, size = image_data_url(image)
        width, height = size
        box = gt_box if gt_box is not None else [round(0.25 * width), round(0.1 * height), round(0.7 * width), round(0.8 * height)]
        super().__init__(image=url, image_size=size, **kwargs)
        with self.hold_trait_notifications():
            self.feature_size = list(feature_size)
            self.sizes = list(sizes)
            self.ratios = list(ratios)
            self.location = list(location)
            self.threshold = threshold
            self.convention = convention
            self.gt_box = box

    @traitlets.validate("feature_size")
    def _check_feature_size(self, proposal: dict) -> list:
        if not all(1 <= v <= 16 for v in proposal["value"]):
            raise WidgetStateError(f"feature_size must be (h, w) with 1 ≤ h, w ≤ 16, got {proposal['value']}")
        return proposal["value"]

    @traitlets.validate("sizes", "ratios")
    def _check_positive(self, proposal: dict) -> list:
        name, values = proposal["trait"].name, proposal["value"]
        if not values or not all(v > 0 for v in values) or (name == "sizes" and max(values) > 1):
            bound = "in (0, 1]" if name == "sizes" else "positive"
            raise WidgetStateError(f"{name} must be a non-empty list of numbers {bound}, got {values}")
        return values

    @traitlets.validate("location")
    def _check_location(self, proposal: dict) -> list:
        (i, j), (h, w) = proposal["value"], self.feature_size
        if not (0 <= i < h and 0 <= j < w):
            raise WidgetStateError(f"location {[i, j]} is not a cell of the {h}×{w} feature map (rows 0..{h - 1}, columns 0..{w - 1})")
        return proposal["value"]

    @traitlets.validate("gt_box")
    def _check_gt_box(self, proposal: dict) -> list:
        return check_box(proposal["value"], self.image_size, "gt_box")

    @traitlets.validate("threshold")
    def _check_threshold(self, proposal: dict) -> float:
        if not 0.0 <= proposal["value"] <= 1.0:
            raise WidgetStateError(f"threshold must lie in [0, 1], got {proposal['value']}")
        return proposal["value"]

    @traitlets.validate("convention")
    def _check_convention(self, proposal: dict) -> str:
        if proposal["value"] not in anchor_ops.CONVENTIONS:
            raise WidgetStateError(f"convention must be one of {', '.join(anchor_ops.CONVENTIONS)}, got {proposal['value']!r}")
        return proposal["value"]

    def all_anchors(self) -> torch.Tensor:
        """``(h·w·(n+m-1), 4)`` anchors of the whole feature map, pixels ``xyxy``."""
        width, height = self.image_size
        image = {"image_size": (height, width)} if self.convention == "square" else {}
        normalised = anchor_ops.multibox_prior(tuple(self.feature_size), self.sizes, self.ratios,
                                               convention=self.convention, **image)[0]
        return normalised.double() * torch.tensor([width, height, width, height], dtype=torch.float64)

    @traitlets.observe("feature_size", "sizes", "ratios", "location", "gt_box", "threshold", "convention")
    def _recompute(self, change: dict) -> None:
        if not self.gt_box:
            return
        (i, j), (h, w) = self.location, self.feature_size
        if not (0 <= i < h and 0 <= j < w):
            return  # an intermediate state while the feature map and location change together
        everything = self.all_anchors()
        gt = torch.tensor([self.gt_box], dtype=torch.float64)
        per_cell = len(self.sizes) + len(self.ratios) - 1
        first = (i * w + j) * per_cell
        cell = everything[first : first + per_cell]
        assigned = anchor_ops.assign_anchors(gt, everything, self.threshold)
        with self.hold_trait_notifications():
            self.set_trait("num_anchors", everything.shape[0])
            self.set_trait("anchors", cell.tolist())
            self.set_trait("ious", box_ops.box_iou(cell, gt)[:, 0].tolist())
            self.set_trait("assigned", torch.nonzero(assigned >= 0)[:, 0].tolist())
