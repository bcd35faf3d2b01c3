"""Bounding boxes: formats, areas, clipping, IoU and non-maximum suppression.

Box formats (the names of :func:`torchvision.ops.box_convert`):

- ``"xyxy"``: corners ``(x1, y1, x2, y2)`` with ``x1 <= x2`` and ``y1 <= y2``;
- ``"xywh"``: top-left corner, width and height ``(x1, y1, w, h)``;
- ``"cxcywh"``: centre, width and height ``(cx, cy, w, h)``.

Every function takes boxes as a tensor whose last dimension has size 4 and, unless
said otherwise, in ``xyxy``. Coordinates may be pixels or fractions of the image size;
nothing here cares which. Wrong input (a shape that is not ``(..., 4)``, ``x2 < x1``,
NaN, tensors on different devices) raises ``ValueError`` (the checks of
``cvbook._checks``, a single fused comparison that costs little next to the
computation). Empty inputs give empty
results, and boxes of zero area have IoU 0 with everything (never NaN).

Non-maximum suppression calls torchvision's compiled kernels; this module keeps no
slower copy (the greedy algorithm is derived step by step in the detection chapter).
Offsets of boxes relative to anchors live with the anchors, in
:mod:`cvbook.detection.anchors`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cvbook._checks import (
    BOX_FORMATS,
    check_box_format,
    check_box_tensor,
    check_box_values,
    check_boxes,
    check_image_size,
    check_integer_labels,
    check_no_nan,
    check_real,
    check_same_device,
)

__all__ = [
    "BOX_FORMATS",
    "box_convert",
    "box_area",
    "clip_boxes",
    "box_iou",
    "generalized_box_iou",
    "nms",
    "batched_nms",
    "paired_box_iou",
]


def _float(boxes: Tensor) -> Tensor:
    """Integer and half-precision boxes are computed in float32 (as areas need the range)."""
    if boxes.dtype in (torch.float32, torch.float64):
        return boxes
    return boxes.float()


# ---------------------------------------------------------------------- conversions


def box_convert(boxes: Tensor, in_fmt: str, out_fmt: str) -> Tensor:
    """Convert boxes between the formats ``"xyxy"``, ``"xywh"`` and ``"cxcywh"``.

    Args:
        boxes: ``(..., 4)`` boxes in ``in_fmt``.
        in_fmt: format of ``boxes``.
        out_fmt: format of the result.

    Returns:
        ``(..., 4)`` boxes in ``out_fmt`` (a new tensor, also when the formats agree).

    Example:
        >>> box_convert(torch.tensor([[10.0, 20.0, 30.0, 60.0]]), "xyxy", "cxcywh")
        tensor([[20., 40., 20., 40.]])
    """
    check_box_format(in_fmt, "in_fmt")
    check_box_format(out_fmt, "out_fmt")
    boxes = check_boxes(boxes, "boxes", in_fmt)
    if in_fmt == out_fmt:
        return boxes.clone()
    a, b, c, d = boxes.unbind(-1)
    if in_fmt == "xywh":  # to xyxy
        a, b, c, d = a, b, a + c, b + d
    elif in_fmt == "cxcywh":
        a, b, c, d = a - 0.5 * c, b - 0.5 * d, a + 0.5 * c, b + 0.5 * d
    # now (a, b, c, d) is xyxy
    if out_fmt == "xywh":
        a, b, c, d = a, b, c - a, d - b
    elif out_fmt == "cxcywh":
        a, b, c, d = (a + c) / 2, (b + d) / 2, c - a, d - b
    return torch.stack((a, b, c, d), dim=-1)


def box_area(boxes: Tensor) -> Tensor:
    """Areas of ``xyxy`` boxes.

    Args:
        boxes: ``(..., 4)`` boxes, ``xyxy``.

    Returns:
        ``(...)`` areas ``(x2 - x1) * (y2 - y1)``, same dtype (integer boxes give
        integer areas).

    Example:
        >>> box_area(torch.tensor([[0.0, 0.0, 2.0, 3.0], [1.0, 1.0, 1.0, 5.0]]))
        tensor([6., 0.])
    """
    boxes = check_boxes(boxes)
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def clip_boxes(boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """Clip ``xyxy`` boxes to an image of ``size = (H, W)``.

    x-coordinates are clamped to ``[0, W]`` and y-coordinates to ``[0, H]`` (like
    :func:`torchvision.ops.clip_boxes_to_image`). Pass ``(1, 1)`` for normalised boxes.

    Args:
        boxes: ``(..., 4)`` boxes, ``xyxy``.
        size: ``(H, W)``, height first; a single number for a square image.

    Returns:
        ``(..., 4)`` clipped boxes (a new tensor).

    Example:
        >>> clip_boxes(torch.tensor([[-5.0, 10.0, 50.0, 90.0]]), size=(64, 32))
        tensor([[ 0., 10., 32., 64.]])
    """
    boxes = check_boxes(boxes)
    height, width = check_image_size(size, "size", integer=False)
    x = boxes[..., 0::2].clamp(0, width)
    y = boxes[..., 1::2].clamp(0, height)
    return torch.stack((x[..., 0], y[..., 0], x[..., 1], y[..., 1]), dim=-1)


# ----------------------------------------------------------------------------- IoU


def _pair_check(boxes1: Tensor, boxes2: Tensor, min_dim: int = 2) -> tuple[Tensor, Tensor]:
    boxes1 = check_box_tensor(boxes1, "boxes1", min_dim)
    boxes2 = check_box_tensor(boxes2, "boxes2", min_dim)
    check_same_device(("boxes1", boxes1), ("boxes2", boxes2))
    check_box_values(boxes1, "boxes1")
    check_box_values(boxes2, "boxes2")
    return _float(boxes1), _float(boxes2)


def _corners(boxes: Tensor, dim: int, batch_ndim: int) -> tuple[Tensor, Tensor]:
    """``(..., N, 4)`` -> top-left and bottom-right corners, each ``(2, ..., N, 1)``
    (``dim=-1``) or ``(2, ..., 1, N)`` (``dim=-2``), contiguous, with ``batch_ndim``
    batch dimensions (leading 1s added) so that the two sets broadcast."""
    boxes = boxes.reshape((1,) * (batch_ndim + 2 - boxes.ndim) + tuple(boxes.shape))
    columns = boxes.movedim(-1, 0).contiguous().unsqueeze(dim)
    return columns[:2], columns[2:]


def _pair_corners(boxes1: Tensor, boxes2: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    batch_ndim = max(boxes1.ndim, boxes2.ndim) - 2
    return (*_corners(boxes1, -1, batch_ndim), *_corners(boxes2, -2, batch_ndim))


def _inter_union(boxes1: Tensor, boxes2: Tensor) -> tuple[Tensor, Tensor]:
    """Intersections and unions ``(..., N, M)``; the union is never 0.

    The x and y coordinates are laid out as contiguous ``(2, ..., N, 1)`` and
    ``(2, ..., 1, M)`` tensors, so every pairwise operation streams over contiguous memory
    and x and y go through each operation together (few, vectorised passes). A tiny
    number (the smallest normal float) is added to the areas of ``boxes1``: it changes no
    union of boxes with positive area, and it turns the ``0 / 0`` of two empty boxes into
    an IoU of 0.
    """
    return _corner_inter_union(*_pair_corners(boxes1, boxes2))


def _corner_inter_union(lt1: Tensor, rb1: Tensor, lt2: Tensor, rb2: Tensor) -> tuple[Tensor, Tensor]:
    """Intersections and unions from corners laid out as ``(2, ...)`` (x and y first)."""
    wh = torch.minimum(rb1, rb2).sub_(torch.maximum(lt1, lt2)).clamp_(min=0)
    inter = wh[0] * wh[1]
    wh1, wh2 = rb1 - lt1, rb2 - lt2
    area1 = (wh1[0] * wh1[1]).add_(torch.finfo(inter.dtype).tiny)
    union = torch.add(area1, wh2[0] * wh2[1]).sub_(inter)
    return inter, union


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise intersection over union (Jaccard index) of two sets of ``xyxy`` boxes.

    Leading batch dimensions broadcast, so ``(B, N, 4)`` against ``(M, 4)`` gives
    ``(B, N, M)``. Pairs whose union is empty (two zero-area boxes) get IoU 0.

    Args:
        boxes1: ``(..., N, 4)`` boxes, ``xyxy``.
        boxes2: ``(..., M, 4)`` boxes, ``xyxy``.

    Returns:
        ``(..., N, M)`` IoU values in ``[0, 1]`` (floating point).

    Example:
        >>> box_iou(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0]]))
        tensor([[0.3333]])
    """
    boxes1, boxes2 = _pair_check(boxes1, boxes2)
    inter, union = _inter_union(boxes1, boxes2)
    return inter.div_(union)


def paired_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """IoU of corresponding boxes: ``boxes1[i]`` with ``boxes2[i]``, not every pair.

    The element-wise form of :func:`box_iou` (the same arithmetic, the same 0 for an empty
    union), for matched pairs: a detection and the ground truth it was matched to, a
    predicted box and its target in a loss.

    Args:
        boxes1: ``(..., 4)`` boxes, ``xyxy``.
        boxes2: ``(..., 4)`` boxes, ``xyxy``, broadcastable against ``boxes1``.

    Returns:
        ``(...)`` IoU values in ``[0, 1]``.

    Example:
        >>> paired_box_iou(torch.tensor([[0.0, 0, 2, 2], [0, 0, 1, 1]]), torch.tensor([[1.0, 0, 3, 2], [0, 0, 1, 1]]))
        tensor([0.3333, 1.0000])
    """
    boxes1, boxes2 = _pair_check(boxes1, boxes2, min_dim=1)
    corners1 = boxes1.movedim(-1, 0)
    corners2 = boxes2.movedim(-1, 0)
    inter, union = _corner_inter_union(corners1[:2], corners1[2:], corners2[:2], corners2[2:])
    return inter.div_(union)


def generalized_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise generalized IoU (Rezatofighi et al., 2019) of ``xyxy`` boxes.

    ``GIoU = IoU - (|C| - |A ∪ B|) / |C|`` with ``C`` the smallest box enclosing both;
    it lies in ``[-1, 1]``. When ``C`` has zero area (both boxes are the same point or
    segment) the penalty is taken as 0, so the result is never NaN.

    Args:
        boxes1: ``(..., N, 4)`` boxes, ``xyxy``.
        boxes2: ``(..., M, 4)`` boxes, ``xyxy``.

    Returns:
        ``(..., N, M)`` GIoU values.

    Example:
        >>> generalized_box_iou(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[2.0, 0.0, 3.0, 1.0]]))
        tensor([[-0.3333]])
    """
    boxes1, boxes2 = _pair_check(boxes1, boxes2)
    inter, union = _inter_union(boxes1, boxes2)
    iou = inter / union
    lt1, rb1, lt2, rb2 = _pair_corners(boxes1, boxes2)
    wh = torch.maximum(rb1, rb2).sub_(torch.minimum(lt1, lt2))  # the enclosing box
    hull = (wh[0] * wh[1]).clamp_(min=torch.finfo(union.dtype).tiny)  # empty hull: union is tiny too
    return iou.sub_((hull - union).div_(hull))


# ----------------------------------------------------------------------------- NMS


def _nms_check(boxes: Tensor, scores: Tensor, iou_threshold: float) -> float:
    boxes = check_box_tensor(boxes, "boxes", min_dim=2)
    if boxes.ndim != 2:
        raise ValueError(f"boxes must have shape (N, 4), got {tuple(boxes.shape)}.")
    if not isinstance(scores, Tensor) or scores.shape != boxes.shape[:1]:
        got = tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__
        raise ValueError(f"scores must have shape (N,) = ({boxes.shape[0]},) to match boxes, got {got}.")
    if not scores.is_floating_point() or not boxes.is_floating_point():
        raise ValueError(
            f"boxes and scores must be floating point, got {boxes.dtype} and {scores.dtype}; call .float()."
        )
    check_same_device(("boxes", boxes), ("scores", scores))
    check_box_values(boxes, "boxes")
    check_no_nan(scores, "scores", "remove those boxes first.")
    return check_real(iou_threshold, "iou_threshold")


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Non-maximum suppression (torchvision's compiled kernel, after input checks).

    Greedily keeps the highest-scoring box and drops every remaining box whose IoU with
    it is greater than ``iou_threshold``, then repeats with the next remaining box.

    Args:
        boxes: ``(N, 4)`` boxes, ``xyxy``, floating point.
        scores: ``(N,)`` scores.
        iou_threshold: boxes with IoU ``> iou_threshold`` with a kept box are dropped.

    Returns:
        ``(K,)`` int64 indices of the kept boxes, by decreasing score.

    Example:
        >>> b = torch.tensor([[0.0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]])
        >>> nms(b, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
        tensor([0, 2])
    """
    import torchvision  # here, not at the top: it imports torch's compiler (~1.5 s), which IoU alone never needs

    threshold = _nms_check(boxes, scores, iou_threshold)
    return torchvision.ops.nms(boxes, scores, threshold)


def batched_nms(boxes: Tensor, scores: Tensor, labels: Tensor, iou_threshold: float) -> Tensor:
    """Non-maximum suppression done independently for each label (torchvision's kernel).

    Boxes with different labels never suppress each other. To run NMS per image and per
    class in one call, pass ``labels = image_index * num_classes + class``.

    Args:
        boxes: ``(N, 4)`` boxes, ``xyxy``, floating point.
        scores: ``(N,)`` scores.
        labels: ``(N,)`` integer class (or group) of each box.
        iou_threshold: IoU above which a lower-scoring box of the same label is dropped.

    Returns:
        ``(K,)`` int64 indices of the kept boxes, by decreasing score.

    Example:
        >>> b = torch.tensor([[0.0, 0, 10, 10], [1, 1, 10, 10]])
        >>> batched_nms(b, torch.tensor([0.9, 0.8]), torch.tensor([0, 1]), 0.5)
        tensor([0, 1])
    """
    threshold = _nms_check(boxes, scores, iou_threshold)
    if not isinstance(labels, Tensor) or labels.shape != scores.shape:
        got = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
        raise ValueError(f"labels must have shape (N,) = ({scores.shape[0]},) to match boxes, got {got}.")
    check_integer_labels(labels, "labels")
    check_same_device(("boxes", boxes), ("labels", labels))
    import torchvision  # as in nms

    return torchvision.ops.batched_nms(boxes, scores, labels, threshold)
