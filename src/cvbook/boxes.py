"""Bounding boxes: formats, areas, IoU, non-maximum suppression and box offsets.

Box formats (the names of :func:`torchvision.ops.box_convert`):

- ``"xyxy"``: corners ``(x1, y1, x2, y2)`` with ``x1 <= x2`` and ``y1 <= y2``;
- ``"xywh"``: top-left corner, width and height ``(x1, y1, w, h)``;
- ``"cxcywh"``: centre, width and height ``(cx, cy, w, h)``.

Every function takes boxes as a tensor whose last dimension has size 4 and, unless
said otherwise, in ``xyxy``. Coordinates may be pixels or fractions of the image size;
nothing here cares which. Wrong input (a shape that is not ``(..., 4)``, ``x2 < x1``,
NaN, tensors on different devices) raises ``ValueError``; the check is a single
fused comparison, so it costs little next to the computation. Empty inputs give empty
results, and boxes of zero area have IoU 0 with everything (never NaN).

Non-maximum suppression calls torchvision's compiled kernels; this module keeps no
slower copy (the greedy algorithm is derived step by step in the detection chapter).
"""

from __future__ import annotations

import math
from numbers import Real

import torch
import torchvision
from torch import Tensor

__all__ = [
    "BOX_FORMATS",
    "box_convert",
    "box_area",
    "clip_boxes",
    "box_iou",
    "generalized_box_iou",
    "nms",
    "batched_nms",
    "encode_offsets",
    "decode_offsets",
]

BOX_FORMATS: tuple[str, ...] = ("xyxy", "xywh", "cxcywh")

#: Scales of the SSD offset parameterisation (centre offsets x10, log-sizes x5), as in
#: Dive into Deep Learning; they act like the "variances" (0.1, 0.2) of the SSD paper.
CENTER_SCALE = 10.0
SIZE_SCALE = 5.0


# --------------------------------------------------------------------------- checks


def _check_tensor(x: object, name: str, min_dim: int = 1) -> Tensor:
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if x.ndim < min_dim or x.shape[-1] != 4:
        want = "(..., N, 4)" if min_dim >= 2 else "(..., 4)"
        raise ValueError(
            f"{name} must have shape {want} (4 coordinates in the last dimension), "
            f"got shape {tuple(x.shape)}."
        )
    if x.is_complex() or x.dtype == torch.bool:
        raise ValueError(f"{name} must hold real numbers, got dtype {x.dtype}.")
    return x


def _explain_bad_boxes(boxes: Tensor, name: str, fmt: str) -> None:
    """Called only when the fused check failed: find and describe the first bad box."""
    flat = boxes.detach().reshape(-1, 4)
    nan_rows = torch.isnan(flat).any(dim=1).nonzero().flatten() if flat.is_floating_point() else None
    if nan_rows is not None and nan_rows.numel():
        i = int(nan_rows[0])
        raise ValueError(
            f"{name} contains NaN ({nan_rows.numel()} box(es), first at flat index {i}: "
            f"{flat[i].tolist()}); remove or fix those boxes first."
        )
    if fmt == "xyxy":
        bad = (flat[:, 2:] < flat[:, :2]).any(dim=1).nonzero().flatten()
        i = int(bad[0])
        raise ValueError(
            f"{name} must be 'xyxy' boxes with x1 <= x2 and y1 <= y2, but {bad.numel()} box(es) "
            f"have x2 < x1 or y2 < y1 (first at flat index {i}: {flat[i].tolist()}). "
            "If they are (x, y, w, h) or (cx, cy, w, h), convert them with box_convert first."
        )
    bad = (flat[:, 2:] < 0).any(dim=1).nonzero().flatten()
    i = int(bad[0])
    raise ValueError(
        f"{name} in format {fmt!r} must have width >= 0 and height >= 0, but {bad.numel()} box(es) "
        f"do not (first at flat index {i}: {flat[i].tolist()})."
    )


def _check_values(boxes: Tensor, name: str, fmt: str = "xyxy") -> None:
    """One fused comparison: it is False for x2 < x1 and for NaN (NaN >= x is False)."""
    if boxes.numel() == 0 or boxes.device.type == "meta":
        return
    if fmt == "xyxy":
        ok = (boxes[..., 2:] >= boxes[..., :2]).all()
    else:
        ok = ((boxes[..., 2:] >= 0) & (boxes[..., :2] == boxes[..., :2])).all()
    if not bool(ok):
        _explain_bad_boxes(boxes, name, fmt)


def _check_boxes(boxes: object, name: str = "boxes", fmt: str = "xyxy", min_dim: int = 1) -> Tensor:
    boxes = _check_tensor(boxes, name, min_dim)
    _check_values(boxes, name, fmt)
    return boxes


def _check_same_device(*named: tuple[str, Tensor]) -> None:
    devices = {t.device for _, t in named}
    if len(devices) > 1:
        listing = ", ".join(f"{n} on {t.device}" for n, t in named)
        raise ValueError(f"all tensors must be on the same device, got {listing}; move them with .to(device).")


def _check_format(fmt: str, name: str) -> None:
    if fmt not in BOX_FORMATS:
        raise ValueError(f"{name}={fmt!r} is not a box format; use one of {', '.join(BOX_FORMATS)}.")


def _check_threshold(value: object, name: str = "iou_threshold") -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or math.isnan(float(value)):
        raise ValueError(f"{name} must be a real number, got {value!r}.")
    return float(value)


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
    _check_format(in_fmt, "in_fmt")
    _check_format(out_fmt, "out_fmt")
    boxes = _check_boxes(boxes, "boxes", in_fmt)
    return _convert(boxes, in_fmt, out_fmt)


def _convert(boxes: Tensor, in_fmt: str, out_fmt: str) -> Tensor:
    """:func:`box_convert` without the checks, for inputs already checked."""
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
    boxes = _check_boxes(boxes)
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def clip_boxes(boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """Clip ``xyxy`` boxes to an image of ``size = (H, W)``.

    x-coordinates are clamped to ``[0, W]`` and y-coordinates to ``[0, H]`` (like
    :func:`torchvision.ops.clip_boxes_to_image`). Pass ``(1, 1)`` for normalised boxes.

    Args:
        boxes: ``(..., 4)`` boxes, ``xyxy``.
        size: ``(H, W)``, height first.

    Returns:
        ``(..., 4)`` clipped boxes (a new tensor).

    Example:
        >>> clip_boxes(torch.tensor([[-5.0, 10.0, 50.0, 90.0]]), size=(64, 32))
        tensor([[ 0., 10., 32., 64.]])
    """
    boxes = _check_boxes(boxes)
    if len(size) != 2:
        raise ValueError(f"size must be (H, W), got {size!r}.")
    height, width = (float(s) for s in size)
    if not (height >= 0 and width >= 0):
        raise ValueError(f"size must be (H, W) with H, W >= 0, got {size!r}.")
    x = boxes[..., 0::2].clamp(0, width)
    y = boxes[..., 1::2].clamp(0, height)
    return torch.stack((x[..., 0], y[..., 0], x[..., 1], y[..., 1]), dim=-1)


# ----------------------------------------------------------------------------- IoU


def _pair_check(boxes1: Tensor, boxes2: Tensor) -> tuple[Tensor, Tensor]:
    boxes1 = _check_tensor(boxes1, "boxes1", min_dim=2)
    boxes2 = _check_tensor(boxes2, "boxes2", min_dim=2)
    _check_same_device(("boxes1", boxes1), ("boxes2", boxes2))
    _check_values(boxes1, "boxes1")
    _check_values(boxes2, "boxes2")
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
    lt1, rb1, lt2, rb2 = _pair_corners(boxes1, boxes2)
    wh = torch.minimum(rb1, rb2).sub_(torch.maximum(lt1, lt2)).clamp_(min=0)  # (2, ..., N, M)
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
    boxes = _check_tensor(boxes, "boxes", min_dim=2)
    if boxes.ndim != 2:
        raise ValueError(f"boxes must have shape (N, 4), got {tuple(boxes.shape)}.")
    if not isinstance(scores, Tensor) or scores.shape != boxes.shape[:1]:
        got = tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__
        raise ValueError(f"scores must have shape (N,) = ({boxes.shape[0]},) to match boxes, got {got}.")
    if not scores.is_floating_point() or not boxes.is_floating_point():
        raise ValueError(
            f"boxes and scores must be floating point, got {boxes.dtype} and {scores.dtype}; call .float()."
        )
    _check_same_device(("boxes", boxes), ("scores", scores))
    _check_values(boxes, "boxes")
    if scores.numel() and scores.device.type != "meta" and bool(torch.isnan(scores).any()):
        raise ValueError("scores contains NaN; remove those boxes first.")
    return _check_threshold(iou_threshold)


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
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}; call .long().")
    _check_same_device(("boxes", boxes), ("labels", labels))
    return torchvision.ops.batched_nms(boxes, scores, labels, threshold)


# ------------------------------------------------------------------------- offsets


def _check_anchors(anchors: object) -> Tensor:
    anchors = _check_tensor(anchors, "anchors")
    if anchors.numel() and anchors.device.type != "meta" and not bool((anchors[..., 2:] > anchors[..., :2]).all()):
        _check_values(anchors, "anchors")  # NaN or x2 < x1: a precise message
        raise ValueError("anchors must have positive width and height (x2 > x1 and y2 > y1).")
    return anchors


def encode_offsets(anchors: Tensor, boxes: Tensor, eps: float = 0.0) -> Tensor:
    """Offsets of ``boxes`` relative to ``anchors``, the SSD parameterisation of d2l.

    With anchor centre ``(xa, ya)`` and size ``(wa, ha)``, and box centre ``(x, y)`` and
    size ``(w, h)``::

        t = (10 (x - xa) / wa,  10 (y - ya) / ha,  5 log(eps + w / wa),  5 log(eps + h / ha))

    This is ``offset_boxes`` of Dive into Deep Learning; d2l uses ``eps = 1e-6`` so that
    unassigned anchors (box of all zeros) give a finite value, and
    :func:`cvbook.anchors.multibox_target` passes that. With the default ``eps = 0`` it is
    the exact inverse of :func:`decode_offsets` (a zero-size box gives ``-inf``, which
    decodes back to size 0).

    Args:
        anchors: ``(..., 4)`` anchors, ``xyxy``, with positive width and height.
        boxes: ``(..., 4)`` boxes, ``xyxy``, broadcastable against ``anchors``.
        eps: added to the size ratios before the logarithm.

    Returns:
        ``(..., 4)`` offsets ``(tx, ty, tw, th)``.

    Example:
        >>> a = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
        >>> encode_offsets(a, torch.tensor([[0.5, 0.0, 1.5, 1.0]]))
        tensor([[5., 0., 0., 0.]])
    """
    anchors = _check_anchors(anchors)
    boxes = _check_boxes(boxes, "boxes")
    _check_same_device(("anchors", anchors), ("boxes", boxes))
    anc = _convert(anchors, "xyxy", "cxcywh")
    box = _convert(boxes, "xyxy", "cxcywh")
    offset_xy = CENTER_SCALE * (box[..., :2] - anc[..., :2]) / anc[..., 2:]
    offset_wh = SIZE_SCALE * torch.log(eps + box[..., 2:] / anc[..., 2:])
    return torch.cat((offset_xy, offset_wh), dim=-1)


def decode_offsets(anchors: Tensor, offsets: Tensor) -> Tensor:
    """Boxes from ``anchors`` and predicted offsets: the inverse of :func:`encode_offsets`.

    ``x = xa + tx wa / 10``, ``y = ya + ty ha / 10``, ``w = wa exp(tw / 5)``,
    ``h = ha exp(th / 5)`` (``offset_inverse`` of Dive into Deep Learning).

    Args:
        anchors: ``(..., 4)`` anchors, ``xyxy``, with positive width and height.
        offsets: ``(..., 4)`` offsets ``(tx, ty, tw, th)``, broadcastable against ``anchors``.

    Returns:
        ``(..., 4)`` boxes, ``xyxy``.

    Example:
        >>> a = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
        >>> decode_offsets(a, torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
        tensor([[0.1000, 0.0000, 1.1000, 1.0000]])
    """
    anchors = _check_anchors(anchors)
    offsets = _check_tensor(offsets, "offsets")
    _check_same_device(("anchors", anchors), ("offsets", offsets))
    if offsets.numel() and offsets.device.type != "meta" and bool(torch.isnan(offsets).any()):
        raise ValueError("offsets contains NaN; check the network's output.")
    anc = _convert(anchors, "xyxy", "cxcywh")
    xy = (offsets[..., :2] * anc[..., 2:] / CENTER_SCALE) + anc[..., :2]
    wh = torch.exp(offsets[..., 2:] / SIZE_SCALE) * anc[..., 2:]
    return _convert(torch.cat((xy, wh), dim=-1), "cxcywh", "xyxy")
