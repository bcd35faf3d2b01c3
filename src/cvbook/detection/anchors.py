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

The matching is d2l's rule, written to be read (:func:`match_anchors`, one image, a dozen
lines); :func:`assign_anchors` and :func:`multibox_target` run it image by image and, unlike
d2l, encode only the assigned anchors. Turning predictions back into detections (decoding, then NMS
per image and class) is :func:`cvbook.detection.postprocess.multibox_detection`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from cvbook._checks import (
    check_anchors,
    check_box_tensor,
    check_real,
    check_same_device,
)
from cvbook.boxes import box_iou
from cvbook.data.collate import check_padded_labels
from cvbook.detection.offsets import encode_offsets

__all__ = ["multibox_prior", "match_anchors", "assign_anchors", "multibox_target", "D2L_EPS", "CONVENTIONS"]

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


def match_anchors(iou: Tensor, iou_threshold: float = 0.5) -> Tensor:
    """Match one image's anchors to its ground-truth boxes from their IoU matrix ``J`` (d2l's rule).

    1. Every box gets an anchor, greedily: the largest entry of ``J`` names a pair (anchor,
       box); the anchor takes the box, and the anchor's row and the box's column leave ``J``;
       this repeats once per box (while anchors remain), so even an object that no anchor
       fits well gets one. Among equal entries the first in row-major order wins (the lowest
       anchor, then the lowest box), as ``torch.argmax`` and d2l's loop do.
    2. Every other anchor takes the box it overlaps most (the lowest box among equals) if
       that IoU is at least ``iou_threshold``, else -1 (background).

    Args:
        iou: ``(A, K)`` IoU of each anchor (row) with each ground-truth box (column), in ``[0, 1]``.
        iou_threshold: the least IoU of step 2.

    Returns:
        ``(A,)`` int64: the box (column) each anchor is matched to, or -1.

    Example:
        >>> match_anchors(torch.tensor([[0.9, 0.0], [0.8, 0.3], [0.6, 0.0]]), 0.5)
        tensor([0, 1, 0])
    """
    if not isinstance(iou, Tensor) or iou.ndim != 2:
        raise ValueError(f"iou must be an (A, K) tensor, anchors by boxes, got {getattr(iou, 'shape', type(iou))}; "
                         "compute it with cvbook.boxes.box_iou(anchors, boxes).")
    num_anchors, num_boxes = iou.shape
    matched = torch.full((num_anchors,), -1, dtype=torch.long, device=iou.device)
    if num_boxes == 0:
        return matched
    # Step 1, on a copy whose deleted rows and columns hold -1 (below every IoU).
    left = iou.clone(memory_format=torch.contiguous_format)
    for _ in range(min(num_anchors, num_boxes)):
        anchor, box = divmod(int(left.argmax()), num_boxes)
        matched[anchor] = box
        left[anchor, :] = -1.0
        left[:, box] = -1.0
    # Step 2: the anchors step 1 left alone take their best box if it overlaps enough.
    best_iou, best_box = iou.max(dim=1)
    return torch.where((matched < 0) & (best_iou >= iou_threshold), best_box, matched)


def assign_anchors(
    ground_truth: Tensor,
    anchors: Tensor,
    iou_threshold: float = 0.5,
    *,
    valid: Tensor | None = None,
) -> Tensor:
    """Assign a ground-truth box to each anchor, or -1 (d2l's ``assign_anchor_to_bbox``).

    The rule is :func:`match_anchors`'s, on the IoU matrix of the anchors and the boxes: every
    box first takes one anchor greedily (largest IoU first), then every other anchor takes
    its best box if their IoU is at least ``iou_threshold``.

    Batched: ``ground_truth`` may be ``(B, K, 4)`` with ``valid`` marking the real rows
    (padding rows take no anchor); the images are matched one after the other.

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
    assigned = _assign_batch(gt, anchors, valid, threshold)
    return assigned[0] if single else assigned


def _assign_batch(gt: Tensor, anchors: Tensor, valid: Tensor, threshold: float) -> Tensor:
    """:func:`match_anchors` image by image on checked input: ``(B, K, 4)`` boxes, ``(A, 4)`` anchors,
    ``(B, K)`` bool ``valid`` -> ``(B, A)`` int64 box index (into ``K``) or -1."""
    assigned = torch.full((gt.shape[0], anchors.shape[0]), -1, dtype=torch.long, device=anchors.device)
    image, box = torch.nonzero(valid, as_tuple=True)  # the real boxes, image after image
    if len(image) == 0 or anchors.shape[0] == 0:
        return assigned
    dtype = anchors.dtype if anchors.is_floating_point() else torch.float32
    iou = box_iou(gt[image, box].to(dtype), anchors.to(dtype))  # (V, A): every real box of the batch at once
    per_image = valid.sum(dim=1).tolist()
    for b, (rows, boxes) in enumerate(zip(iou.split(per_image), box.split(per_image))):
        matched = match_anchors(rows.T, threshold)  # (A,): an index into this image's real boxes, or -1
        assigned[b] = torch.where(matched >= 0, boxes[matched.clamp(min=0)], -1)  # an index into its K rows
    return assigned


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
    assigned = _assign_batch(labels[..., 1:], anchors, labels[..., 0] >= 0, threshold)  # (B, A)
    image, anchor = torch.nonzero(assigned >= 0, as_tuple=True)  # the assigned anchors
    rows = labels[image, assigned[image, anchor]]  # (P, 5): the box of each assigned anchor
    classes = torch.zeros(batch, num_anchors, dtype=torch.long, device=labels.device)
    classes[image, anchor] = rows[:, 0].long() + 1
    offsets = torch.zeros(batch, num_anchors, 4, dtype=anchors.dtype, device=anchors.device)
    offsets[image, anchor] = encode_offsets(anchors[anchor], rows[:, 1:].to(anchors.dtype), eps=D2L_EPS)
    mask = torch.zeros_like(offsets)
    mask[image, anchor] = 1.0
    return offsets.reshape(batch, -1), mask.reshape(batch, -1), classes
