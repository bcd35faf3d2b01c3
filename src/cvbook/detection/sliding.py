"""Sliding windows: enumerate them, count them, crop them, classify them, merge the hits.

The oldest way to turn a classifier into a detector is to run it on every window of the
image, at several positions and scales. This module holds the pieces of that pipeline
that chapter 7 uses, in the conventions of :mod:`torchvision.ops`: boxes are ``(N, 4)``
float tensors in pixel-edge ``xyxy`` (a window covering columns ``0..w-1`` has
``x1 = 0`` and ``x2 = w``).

>>> count_all_windows(600, 800)          # every rectangle of an 800×600 image
57768120000
>>> sliding_windows(4, 4, [(2, 2)], stride=2).tolist()
[[0.0, 0.0, 2.0, 2.0], [2.0, 0.0, 4.0, 2.0], [0.0, 2.0, 2.0, 4.0], [2.0, 2.0, 4.0, 4.0]]
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor
from torchvision.ops import roi_align

from cvbook._checks import check_boxes, check_image_size, check_no_nan, check_positive_int, check_real
from cvbook.boxes import box_iou, nms

__all__ = [
    "count_all_windows",
    "count_windows",
    "sliding_windows",
    "crop_windows",
    "classify_windows",
    "sample_negatives",
    "greedy_merge",
]


def _check_size(height: int, width: int) -> None:
    check_image_size((height, width), "the image size (height, width)")


def _check_window_sizes(window_sizes: Sequence[tuple[int, int]]) -> None:
    if len(window_sizes) == 0:
        raise ValueError("window_sizes is empty: give at least one (height, width) pair")
    for size in window_sizes:
        check_image_size(size, f"window size {size!r}")


def count_all_windows(height: int, width: int) -> int:
    """Number of axis-aligned rectangles with integer corners inside a ``height × width`` image.

    A rectangle is a choice of two distinct column edges among ``width + 1`` and two
    distinct row edges among ``height + 1``, so the count is

    .. math:: \\binom{W+1}{2}\\binom{H+1}{2} = \\frac{W(W+1)}{2}\\cdot\\frac{H(H+1)}{2},

    which is also :math:`\\sum_{h=1}^{H}\\sum_{w=1}^{W}(H-h+1)(W-w+1)`, every window size at
    every stride-1 position. Exact integer arithmetic (no overflow).
    """
    _check_size(height, width)
    return (height * (height + 1) // 2) * (width * (width + 1) // 2)


def count_windows(height: int, width: int, window_sizes: Sequence[tuple[int, int]], stride: int = 1) -> int:
    """Number of windows :func:`sliding_windows` returns, without building them.

    A ``h × w`` window with stride ``s`` has ``⌊(H − h)/s⌋ + 1`` row positions and
    ``⌊(W − w)/s⌋ + 1`` column positions (none if it does not fit).

    Args:
        window_sizes: ``(height, width)`` pairs, in pixels.
        stride: the step between neighbouring windows, in pixels, both directions.
    """
    _check_size(height, width)
    _check_window_sizes(window_sizes)
    check_positive_int(stride, "stride")
    total = 0
    for h, w in window_sizes:
        if h <= height and w <= width:
            total += ((height - h) // stride + 1) * ((width - w) // stride + 1)
    return total


def sliding_windows(height: int, width: int, window_sizes: Sequence[tuple[int, int]], stride: int = 1) -> Tensor:
    """Every window of the given sizes at every ``stride``-th position inside the image.

    Args:
        height, width: the image size in pixels.
        window_sizes: ``(height, width)`` pairs in pixels; sizes that do not fit are skipped.
        stride: the step between neighbouring windows, in pixels, both directions.

    Returns:
        ``(N, 4)`` float32 windows in pixel-edge ``xyxy``, size by size, each in row-major
        order of its top-left corner; ``N = count_windows(height, width, window_sizes, stride)``.
    """
    _check_size(height, width)
    _check_window_sizes(window_sizes)
    check_positive_int(stride, "stride")
    parts = []
    for h, w in window_sizes:  # a handful of scales, each one vectorised
        if h > height or w > width:
            continue
        ys = torch.arange(0, height - h + 1, stride, dtype=torch.float32)
        xs = torch.arange(0, width - w + 1, stride, dtype=torch.float32)
        y1, x1 = torch.meshgrid(ys, xs, indexing="ij")
        x1, y1 = x1.reshape(-1), y1.reshape(-1)
        parts.append(torch.stack([x1, y1, x1 + w, y1 + h], dim=1))
    if not parts:
        return torch.zeros((0, 4))
    return torch.cat(parts)


def crop_windows(image: Tensor, windows: Tensor, output_size: int | tuple[int, int]) -> Tensor:
    """Crop every window out of ``image`` and resize it to ``output_size`` (bilinear).

    This is how a sliding-window detector feeds a fixed-size classifier: each window is
    resampled to the classifier's input size. Implemented with
    :func:`torchvision.ops.roi_align` (``aligned=True``), so all windows are cropped in
    one call; a window of exactly ``output_size`` pixels at integer corners comes back as
    the plain slice ``image[:, y1:y2, x1:x2]``.

    Args:
        image: ``(C, H, W)`` float image.
        windows: ``(N, 4)`` pixel-edge ``xyxy`` windows.
        output_size: ``s`` or ``(height, width)`` of each crop.

    Returns:
        ``(N, C, out_h, out_w)`` crops, same dtype as ``image``.
    """
    if image.dim() != 3:
        raise ValueError(f"image must be (C, H, W), got shape {tuple(image.shape)}")
    if not image.is_floating_point():
        raise ValueError(f"image must be a float tensor (convert with .float() / 255), got {image.dtype}")
    windows = check_boxes(windows, "windows", min_dim=2)
    if windows.dim() != 2:
        raise ValueError(f"windows must be (N, 4) xyxy, got shape {tuple(windows.shape)}")
    size = check_image_size(output_size, "output_size")
    rois = torch.cat([torch.zeros_like(windows[:, :1]), windows], dim=1).to(image.dtype)
    # One sample per output bin (sampling_ratio=1) at the bin centre: a plain crop when the
    # window and the output have the same size, bilinear resampling otherwise.
    return roi_align(image[None], rois, size, spatial_scale=1.0, sampling_ratio=1, aligned=True)


@torch.no_grad()
def classify_windows(
    classifier: Callable[[Tensor], Tensor],
    image: Tensor,
    windows: Tensor,
    input_size: int | tuple[int, int],
    *,
    batch_size: int = 1024,
) -> Tensor:
    """Run ``classifier`` on every window of ``image``, in batches.

    Args:
        classifier: maps a ``(B, C, h, w)`` batch of crops to ``(B, K)`` logits.
        image: ``(C, H, W)`` float image.
        windows: ``(N, 4)`` pixel-edge ``xyxy`` windows.
        input_size: the classifier's input size; each window is resized to it.
        batch_size: windows per forward pass (memory, not results, depends on it).

    Returns:
        ``(N, K)`` logits, one row per window.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    outputs = [classifier(crop_windows(image, chunk, input_size)) for chunk in windows.split(batch_size)]
    if not outputs:
        raise ValueError("no windows to classify: windows is empty")
    return torch.cat(outputs)


def sample_negatives(
    scores: Tensor, num: int, strategy: str = "random", *, generator: torch.Generator | None = None
) -> Tensor:
    """Pick ``num`` negative (background) examples out of a pool.

    Args:
        scores: ``(N,)`` how strongly the current model believes each negative is an
            object (e.g. ``1 − p(background)`` or its loss); only ``"hardest"`` reads it.
        num: how many to pick (at most ``N``).
        strategy: ``"random"`` picks uniformly without replacement; ``"hardest"`` picks the
            ``num`` highest scores, the worst-classified negatives (hard negative mining).
        generator: the random generator for ``"random"``.

    Returns:
        ``(num,)`` int64 indices into the pool.
    """
    if scores.dim() != 1:
        raise ValueError(f"scores must be (N,), got shape {tuple(scores.shape)}")
    if not 0 <= num <= scores.numel():
        raise ValueError(f"num={num} must be between 0 and the pool size {scores.numel()}")
    if strategy == "random":
        return torch.randperm(scores.numel(), generator=generator)[:num]
    if strategy == "hardest":
        return scores.topk(num).indices
    raise ValueError(f"strategy={strategy!r}: use 'random' or 'hardest'")


def greedy_merge(boxes: Tensor, scores: Tensor, iou_threshold: float) -> tuple[Tensor, Tensor, Tensor]:
    """Merge overlapping detections into one box per object, greedily by score.

    Boxes are visited by decreasing score, as in non-maximum suppression; each box that
    survives NMS starts a group, and every other box joins the group of the
    highest-scoring survivor that overlaps it with IoU ``> iou_threshold`` (the box that
    suppressed it). Unlike NMS, the group's members are not thrown away: the merged box is
    their score-weighted mean and the merged score the sum of their scores, so a place
    that many windows agree on ends up with a high score (as in OverFeat's merging).

    Args:
        boxes: ``(N, 4)`` ``xyxy`` boxes.
        scores: ``(N,)`` non-negative scores.
        iou_threshold: boxes overlapping a group's leader by more than this join it.

    Returns:
        ``merged_boxes`` ``(K, 4)`` and ``merged_scores`` ``(K,)``, by decreasing leader
        score, and ``group`` ``(N,)`` int64: the index (into the merged outputs) of the
        group each input box joined.
    """
    boxes = check_boxes(boxes, "boxes", min_dim=2)
    if boxes.dim() != 2:
        raise ValueError(f"boxes must be (N, 4) xyxy, got shape {tuple(boxes.shape)}")
    if not isinstance(scores, Tensor) or scores.shape != boxes.shape[:1]:
        raise ValueError(f"scores must be ({boxes.shape[0]},), got {tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__}")
    check_no_nan(scores, "scores", "remove those boxes first.")
    if (scores < 0).any():
        raise ValueError("scores must be non-negative (use probabilities, not logits)")
    iou_threshold = check_real(iou_threshold, "iou_threshold")
    if boxes.shape[0] == 0:
        return boxes.new_zeros((0, 4)), scores.new_zeros((0,)), torch.zeros(0, dtype=torch.int64)
    leaders = nms(boxes, scores, iou_threshold)  # (K,) by decreasing score
    overlap = box_iou(boxes[leaders], boxes) > iou_threshold  # (K, N)
    overlap[torch.arange(leaders.numel()), leaders] = True  # a leader always leads itself
    # The first (highest-scoring) overlapping leader: argmax returns the first maximum.
    group = overlap.to(torch.uint8).argmax(dim=0)
    weights = scores.to(boxes.dtype)
    merged_scores = torch.zeros(leaders.numel(), dtype=boxes.dtype).index_add_(0, group, weights)
    sums = torch.zeros((leaders.numel(), 4), dtype=boxes.dtype).index_add_(0, group, boxes * weights[:, None])
    # A group whose scores are all zero falls back to its leader's box.
    merged_boxes = torch.where(merged_scores[:, None] > 0, sums / merged_scores.clamp_min(1e-12)[:, None],
                               boxes[leaders])
    return merged_boxes, merged_scores.to(scores.dtype), group
