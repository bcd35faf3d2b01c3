"""Anchor boxes: priors on every feature-map cell, their assignment to ground truth, box offsets.

The conventions are those of Dive into Deep Learning (d2l), so that results can be
compared number for number with ``d2l.multibox_prior``, ``d2l.multibox_target`` and
``d2l.multibox_detection``:

- anchors are ``xyxy`` in normalised coordinates (fractions of the image width and
  height), one set shared by every image of a batch, shape ``(1, A, 4)`` or ``(A, 4)``;
- a batch of ground truth is a tensor ``labels`` of shape ``(B, K, 5)`` whose rows are
  ``[class, x1, y1, x2, y2]`` (normalised ``xyxy``); rows with a negative class are
  padding (images with fewer than ``K`` objects);
- class predictions are ``(B, C + 1, A)`` probabilities, row 0 being the background.

Unlike d2l, nothing here loops over the images of a batch: the only Python loop is the
greedy matching in :func:`assign_anchors`, over the (few) ground-truth boxes, and it
handles all images at once on ``(B, K)`` tensors. The IoUs of the real boxes with the
anchors are computed once; each later step reads them once or touches only the few
anchors that matter (those above the threshold, each box's best), and only assigned
anchors are encoded. Turning predictions back into detections (decoding, then NMS
per image and class) is :func:`cvbook.detection.postprocess.multibox_detection`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from cvbook._checks import (
    check_anchors,
    check_box_tensor,
    check_padded_labels,
    check_real,
    check_same_device,
)
from cvbook.boxes import box_iou
from cvbook.detection.offsets import encode_offsets

__all__ = ["multibox_prior", "assign_anchors", "multibox_target", "D2L_EPS", "CONVENTIONS"]

#: The ``eps`` of d2l's ``offset_boxes``: keeps ``log`` finite for unassigned anchors.
D2L_EPS = 1e-6


def _positive_floats(values: Sequence[float], name: str) -> list[float]:
    values = [float(v) for v in values]
    if not values or not all(v > 0 for v in values):
        raise ValueError(f"{name} must be a non-empty sequence of positive numbers, got {values!r}.")
    return values


CONVENTIONS = ("d2l", "square")


def _aspect(convention: str, image_size: tuple[int, int] | None, feature_map: tuple[int, int]) -> tuple[int, int]:
    """The ``(height, width)`` whose ratio turns ratio ``r`` into normalised anchor widths."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention={convention!r}: use 'd2l' (ratios on the feature map's grid, d2l's anchors) "
                         "or 'square' (ratios in the image's pixels, with image_size=(height, width)).")
    if convention == "d2l":
        if image_size is not None:
            raise ValueError("image_size is used by convention='square' only; d2l's anchors take the feature "
                             "map's aspect ratio. Pass convention='square' to measure ratios in image pixels.")
        return feature_map
    if image_size is None or len(image_size) != 2 or not all(isinstance(v, int) and v >= 1 for v in image_size):
        raise ValueError(f"convention='square' needs image_size=(height, width) in pixels, two positive "
                         f"integers; got {image_size!r}.")
    return tuple(image_size)


def anchors_2d(anchors: Tensor) -> Tensor:
    """Checked anchors ``(1, A, 4)`` or ``(A, 4)`` as ``(A, 4)``."""
    anchors = check_box_tensor(anchors, "anchors")
    if anchors.ndim == 3 and anchors.shape[0] == 1:
        anchors = anchors[0]
    if anchors.ndim != 2:
        raise ValueError(f"anchors must have shape (1, A, 4) or (A, 4), got {tuple(anchors.shape)}.")
    return check_anchors(anchors)


def multibox_prior(feature_map: Tensor | tuple[int, int], sizes: Sequence[float], ratios: Sequence[float], *,
                   convention: str = "d2l", image_size: tuple[int, int] | None = None) -> Tensor:
    """Anchor boxes centred on every cell of a feature map (d2l's ``multibox_prior``).

    At each of the ``H * W`` cells, ``n + m - 1`` anchors are made from ``n = len(sizes)``
    sizes ``s`` and ``m = len(ratios)`` aspect ratios ``r``: every size with ``ratios[0]``,
    then ``sizes[0]`` with every other ratio. The order is cell by cell (row-major), and
    within a cell in the order just described.

    Two conventions for the shapes, in fractions of the image width and height:

    - ``"d2l"`` (default, bit for bit ``d2l.multibox_prior``): width ``s * sqrt(r) * H / W``
      and height ``s / sqrt(r)`` with ``H × W`` the *feature map*. In the pixels of an
      image of ``h_img × w_img`` the ratio is ``r * (H / W) / (h_img / w_img)``: exactly
      ``r`` only when the map has the image's aspect ratio (a map computed from the image,
      or anchors on every pixel). On a square map over a non-square photo, "ratio 1"
      anchors are stretched to the photo's shape.
    - ``"square"``: width ``s * sqrt(r) * h_img / w_img`` and height ``s / sqrt(r)`` with
      ``image_size = (h_img, w_img)``: ``r`` is the width/height ratio in the image's
      pixels on any map ("ratio 1" is square), and ``s`` the size relative to the image
      height. Equal to ``"d2l"`` when the map and the image have the same aspect ratio.

    Args:
        feature_map: a tensor ``(..., H, W)`` (only its shape and device are used) or a
            tuple ``(H, W)``.
        sizes: anchor sizes in ``(0, 1]``.
        ratios: aspect ratios (width / height).
        convention: ``"d2l"`` or ``"square"`` (see above).
        image_size: ``(height, width)`` of the image in pixels; needed by ``"square"`` only.

    Returns:
        ``(1, H * W * (n + m - 1), 4)`` anchors, normalised ``xyxy``, float32.

    Example:
        >>> anchors = multibox_prior((2, 2), sizes=[0.5, 0.25], ratios=[1, 2, 0.5])
        >>> anchors.shape
        torch.Size([1, 16, 4])
        >>> anchors[0, 0]
        tensor([0.0000, 0.0000, 0.5000, 0.5000])
        >>> pixels = torch.tensor([200, 100, 200, 100])  # a 100 × 200 image, a 2 × 2 map
        >>> multibox_prior((2, 2), [0.5], [1.0])[0, 0] * pixels  # d2l: 100 × 50 pixels
        tensor([  0.,   0., 100.,  50.])
        >>> multibox_prior((2, 2), [0.5], [1.0], convention="square", image_size=(100, 200))[0, 0] * pixels
        tensor([25.,  0., 75., 50.])
    """
    if isinstance(feature_map, Tensor):
        if feature_map.ndim < 2:
            raise ValueError(f"feature_map must have shape (..., H, W), got {tuple(feature_map.shape)}.")
        height, width = feature_map.shape[-2:]
        device = feature_map.device
    else:
        if len(feature_map) != 2:
            raise ValueError(f"feature_map must be a tensor or a tuple (H, W), got {feature_map!r}.")
        height, width = (int(v) for v in feature_map)
        device = torch.device("cpu")
    if height < 1 or width < 1:
        raise ValueError(f"the feature map must have H, W >= 1, got H={height}, W={width}.")
    sizes = _positive_floats(sizes, "sizes")
    ratios = _positive_floats(ratios, "ratios")
    aspect_h, aspect_w = _aspect(convention, image_size, (height, width))
    size_t = torch.tensor(sizes, device=device)
    ratio_t = torch.tensor(ratios, device=device)
    # Anchor widths and heights; with "d2l" the same expressions as d2l, hence the same float values.
    w = torch.cat((size_t * torch.sqrt(ratio_t[0]), sizes[0] * torch.sqrt(ratio_t[1:]))) * aspect_h / aspect_w
    h = torch.cat((size_t / torch.sqrt(ratio_t[0]), sizes[0] / torch.sqrt(ratio_t[1:])))
    half = torch.stack((-w, -h, w, h), dim=1) / 2  # (n + m - 1, 4)
    center_y = (torch.arange(height, device=device) + 0.5) * (1.0 / height)
    center_x = (torch.arange(width, device=device) + 0.5) * (1.0 / width)
    cy, cx = torch.meshgrid(center_y, center_x, indexing="ij")
    centers = torch.stack((cx, cy, cx, cy), dim=-1).reshape(-1, 1, 4)  # (H * W, 1, 4)
    return (centers + half).reshape(1, -1, 4)


def assign_anchors(
    ground_truth: Tensor,
    anchors: Tensor,
    iou_threshold: float = 0.5,
    *,
    valid: Tensor | None = None,
) -> Tensor:
    """Assign a ground-truth box to each anchor, or -1 (d2l's ``assign_anchor_to_bbox``).

    With the IoU matrix ``J`` (anchors x boxes):

    1. each ground-truth box takes one anchor, greedily: the largest entry of ``J`` gives
       a pair (anchor ``i``, box ``j``); row ``i`` and column ``j`` are then discarded,
       and this repeats once per box (so every box gets an anchor, even a poorly
       overlapping one); among equal entries the first in row-major order wins (the
       lowest anchor, then the lowest box), as ``torch.argmax`` in d2l;
    2. every other anchor takes the box it overlaps most (the lowest box among equals) if
       that IoU is ``>= iou_threshold``, else -1 (background).

    Batched: ``ground_truth`` may be ``(B, K, 4)`` with ``valid`` marking the real rows
    (padding rows take no anchor); the greedy steps run for all images at once.

    Args:
        ground_truth: ``(K, 4)`` or ``(B, K, 4)`` boxes, ``xyxy``.
        anchors: ``(A, 4)`` or ``(1, A, 4)`` anchors, ``xyxy``, same coordinates.
        iou_threshold: minimum IoU for step 2.
        valid: optional ``(K,)`` or ``(B, K)`` bool, False for padding rows (default: all True).

    Returns:
        ``(A,)`` or ``(B, A)`` int64: index into the ``K`` boxes, or -1.

    Example:
        >>> gt = torch.tensor([[0.1, 0.1, 0.5, 0.5]])
        >>> anchors = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.1, 0.1, 0.45, 0.5], [0.6, 0.6, 1.0, 1.0]])
        >>> assign_anchors(gt, anchors)
        tensor([ 0,  0, -1])
    """
    anchors = anchors_2d(anchors)
    gt = check_box_tensor(ground_truth, "ground_truth", min_dim=2)
    if gt.ndim not in (2, 3):
        raise ValueError(f"ground_truth must have shape (K, 4) or (B, K, 4), got {tuple(gt.shape)}.")
    single = gt.ndim == 2
    if single:
        gt = gt[None]
    batch, num_gt = gt.shape[:2]
    if valid is None:
        valid = torch.ones(batch, num_gt, dtype=torch.bool, device=gt.device)
    else:
        if not isinstance(valid, Tensor) or valid.dtype != torch.bool:
            raise ValueError("valid must be a bool tensor.")
        valid = valid[None] if single else valid
        if valid.shape != (batch, num_gt):
            raise ValueError(f"valid must have shape {tuple(gt.shape[:-1])}, got {tuple(valid.shape)}.")
    check_same_device(("ground_truth", gt), ("anchors", anchors), ("valid", valid))
    threshold = check_real(iou_threshold, "iou_threshold")
    if gt.device.type != "meta" and gt.numel():
        ok = ((gt[..., 2:] >= gt[..., :2]).all(dim=-1) | ~valid).all()  # one fused check
        if not bool(ok):
            raise ValueError(
                "ground_truth must be 'xyxy' boxes with x1 <= x2, y1 <= y2 and no NaN; "
                "some (non-padding) boxes are not. Convert them with cvbook.boxes.box_convert."
            )
    assigned = torch.full((batch, anchors.shape[0]), -1, dtype=torch.long, device=anchors.device)
    image, anchor, box = _matched_pairs(gt, anchors, valid, threshold)
    assigned[image, anchor] = box
    return assigned[0] if single else assigned


def _matched_pairs(gt: Tensor, anchors: Tensor, valid: Tensor, threshold: float) -> tuple[Tensor, Tensor, Tensor]:
    """The work of :func:`assign_anchors` on checked input, as a list of pairs.

    Only the real boxes enter: their IoUs with the anchors form a ``(V, A)`` matrix, one
    contiguous row per box, computed once; padding rows cost nothing.

    Args:
        gt: ``(B, K, 4)`` boxes (padding rows may hold anything).
        anchors: ``(A, 4)`` anchors.
        valid: ``(B, K)`` bool, False for padding rows.
        threshold: the IoU threshold of step 2.

    Returns:
        ``(image, anchor, box)``, three ``(P,)`` int64 tensors: anchor ``anchor[p]`` of image
        ``image[p]`` takes box ``box[p]``; every other anchor is background. No
        ``(image, anchor)`` appears twice.
    """
    image, box = torch.nonzero(valid, as_tuple=True)  # the real boxes, image by image, in box order
    num_anchors = anchors.shape[0]
    if len(image) == 0 or num_anchors == 0:
        return (torch.zeros(0, dtype=torch.long, device=gt.device),) * 3
    dtype = anchors.dtype if anchors.is_floating_point() else torch.float32
    jaccard = box_iou(gt[image, box].to(dtype), anchors.to(dtype))  # (V, A)
    # Step 2: every anchor with IoU >= threshold takes the box it overlaps most (the lowest box
    # among equals). Few pairs pass; they are ordered by (image, anchor), then by decreasing
    # IoU, then by box (stable sorts), and the first of each (image, anchor) wins.
    row, anchor = torch.nonzero(jaccard >= threshold, as_tuple=True)  # rows, hence boxes, ascending
    by_iou = torch.argsort(jaccard[row, anchor], descending=True, stable=True)
    row, anchor = row[by_iou], anchor[by_iou]
    key = image[row] * num_anchors + anchor
    by_key = torch.argsort(key, stable=True)
    row, key = row[by_key], key[by_key]
    first = torch.ones_like(key, dtype=torch.bool)
    first[1:] = key[1:] != key[:-1]
    row, key = row[first], key[first]
    # Step 1, the greedy matching, overrides step 2 where they meet.
    g_image, g_anchor, g_row = _greedy_match(jaccard, image, box, valid.shape)
    kept = (key[:, None] != (g_image * num_anchors + g_anchor)[None, :]).all(dim=1)
    rows = torch.cat((row[kept], g_row))
    return image[rows], torch.cat((key[kept] % num_anchors, g_anchor)), box[rows]


def _greedy_match(jaccard: Tensor, image: Tensor, box: Tensor, shape: torch.Size) -> tuple[Tensor, Tensor, Tensor]:
    """Step 1 of :func:`assign_anchors`: place the boxes one by one, all images at once.

    Each box keeps its best free anchor (its ``head``, the lowest anchor among equal IoUs).
    Step ``s`` places, in every image, the box whose head has the largest IoU (ties: the
    lowest anchor, then the lowest box: the first in the row-major order of d2l's
    ``argmax`` over anchors x boxes); that anchor is then taken, and the few boxes whose
    head it was look again, among the anchors still free. So the IoU matrix is scanned
    once, plus one row per such conflict; the loop works on ``(B, K)`` tensors.

    Args:
        jaccard: ``(V, A)`` IoUs of the real boxes (read, not changed).
        image, box: ``(V,)`` the place of each row in the ``(B, K)`` batch.
        shape: ``(B, K)``.

    Returns:
        ``(image, anchor, row)``, three ``(P,)`` int64 tensors: the placed pairs.
    """
    batch, num_gt = shape
    device = jaccard.device
    rank = torch.arange(num_gt, device=device)
    row_of = torch.zeros(batch, num_gt, dtype=torch.long, device=device)
    row_of[image, box] = torch.arange(len(image), device=device)
    value = torch.full((batch, num_gt), -3.0, dtype=jaccard.dtype, device=device)  # -3: no box to place
    head = torch.zeros(batch, num_gt, dtype=torch.long, device=device)
    value[image, box], head[image, box] = torch.max(jaccard, dim=1)  # the first maximum: the lowest anchor
    num_valid = torch.bincount(image, minlength=batch)
    steps = int(num_valid.max())
    best = torch.empty(batch, steps, dtype=jaccard.dtype, device=device)  # per step: the IoU,
    placed_box = torch.empty(batch, steps, dtype=torch.long, device=device)  # the box placed
    taken = torch.empty_like(placed_box)  # and its anchor
    for step in range(steps):
        top = value.amax(dim=1, keepdim=True)
        pick = torch.where(value == top, head * num_gt + rank, torch.iinfo(torch.long).max).argmin(dim=1, keepdim=True)
        anchor = head.gather(1, pick)
        best[:, step], placed_box[:, step], taken[:, step] = top[:, 0], pick[:, 0], anchor[:, 0]
        value.scatter_(1, pick, -3.0)  # placed
        # Boxes whose best anchor was just taken look again among the free anchors.
        stale = (head == anchor) & (value >= 0)
        if step + 1 < steps and bool(stale.any()):
            b, k = torch.nonzero(stale, as_tuple=True)
            rows = jaccard[row_of[b, k]].scatter_(1, taken[b, : step + 1], -2.0)  # -2: taken
            value[b, k], head[b, k] = torch.max(rows, dim=1)
    placed_image, step = torch.nonzero(best >= 0, as_tuple=True)  # an image with no box left has top -3
    return placed_image, taken[placed_image, step], row_of[placed_image, placed_box[placed_image, step]]


def multibox_target(anchors: Tensor, labels: Tensor, iou_threshold: float = 0.5) -> tuple[Tensor, Tensor, Tensor]:
    """Training targets of every anchor for a batch (d2l's ``multibox_target``, batched).

    Anchors are assigned to ground-truth boxes by :func:`assign_anchors`. An assigned
    anchor gets its box's class ``+ 1`` (0 is the background) and the offsets
    :func:`cvbook.detection.offsets.encode_offsets` of its box (with d2l's ``eps = 1e-6``); the
    others get class 0, zero offsets and a zero mask. Unlike d2l, padding rows (class -1)
    never take an anchor, so images with different numbers of objects batch correctly.
    Only the assigned anchors (about 1 in 150 with d2l's TinySSD) are encoded.

    Args:
        anchors: ``(1, A, 4)`` or ``(A, 4)`` anchors, normalised ``xyxy``.
        labels: ``(B, K, 5)`` rows ``[class, x1, y1, x2, y2]``, normalised ``xyxy``;
            ``class < 0`` marks padding.
        iou_threshold: see :func:`assign_anchors`.

    Returns:
        ``(offsets, mask, classes)``: ``(B, A * 4)`` float offsets, ``(B, A * 4)`` float
        mask (1 for the 4 offsets of assigned anchors), ``(B, A)`` int64 classes.

    Example:
        >>> anchors = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0]])
        >>> labels = torch.tensor([[[2.0, 0.0, 0.0, 0.5, 0.6], [-1, -1, -1, -1, -1]]])
        >>> offsets, mask, classes = multibox_target(anchors, labels)
        >>> classes
        tensor([[3, 0]])
        >>> mask
        tensor([[1., 1., 1., 1., 0., 0., 0., 0.]])
    """
    anchors = anchors_2d(anchors)
    labels = check_padded_labels(labels)  # also x1 <= x2, y1 <= y2 for the real rows
    check_same_device(("anchors", anchors), ("labels", labels))
    threshold = check_real(iou_threshold, "iou_threshold")
    batch, num_anchors = labels.shape[0], anchors.shape[0]
    image, anchor, box = _matched_pairs(labels[..., 1:], anchors, labels[..., 0] >= 0, threshold)
    rows = labels[image, box]  # (P, 5): the box of each assigned anchor
    classes = torch.zeros(batch, num_anchors, dtype=torch.long, device=labels.device)
    classes[image, anchor] = rows[:, 0].long() + 1
    offsets = torch.zeros(batch, num_anchors, 4, dtype=anchors.dtype, device=anchors.device)
    offsets[image, anchor] = encode_offsets(anchors[anchor], rows[:, 1:].to(anchors.dtype), eps=D2L_EPS)
    mask = torch.zeros_like(offsets)
    mask[image, anchor] = 1.0
    return offsets.reshape(batch, -1), mask.reshape(batch, -1), classes
