"""The face detector before deep learning: a boosted cascade on local binary patterns.

Viola and Jones (2001) made face detection real-time with two ideas that MTCNN still
uses: a **cascade** (cheap stages reject most windows early, only promising windows reach
the expensive ones) and **sliding windows** over positions and scales. scikit-image ships
such a detector trained by OpenCV on multi-block local binary pattern features
(``skimage.data.lbp_frontal_face_cascade_filename()``, run by ``skimage.feature.Cascade``);
it says only yes or no for each 24×24 window (scaled up to larger windows).

A face is accepted by many neighbouring windows, a false alarm by few. So the windows that
pass are grouped, and each group gives one detection, the mean of its windows, **scored by
the number of windows in the group**: the neighbour count that OpenCV's ``minNeighbors``
thresholds. Ranking detections by it gives a precision-recall curve and an AP, comparable to
a network's scores (:mod:`cvbook.detection.mtcnn`).

>>> boxes, counts = detect_faces_lbp(skimage.data.astronaut(), min_size=60)  # doctest: +SKIP
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor

from cvbook._checks import check_boxes, check_image_array, check_positive_int, check_real

__all__ = ["load_cascade", "raw_windows", "group_windows", "detect_faces_lbp"]


@functools.lru_cache(maxsize=1)
def load_cascade():
    """scikit-image's trained LBP frontal-face cascade (``skimage.feature.Cascade``)."""
    import skimage.data
    from skimage.feature import Cascade

    return Cascade(skimage.data.lbp_frontal_face_cascade_filename())


def raw_windows(gray: np.ndarray, min_size: int, max_size: int, scale_factor: float, step_ratio: float) -> Tensor:
    """Every window the cascade accepts, ungrouped: ``(R, 4)`` float32 xyxy pixel edges.

    ``detect_multi_scale`` with an overlap threshold of 1 groups nothing (an overlap never
    exceeds 1) and with ``min_neighbor_number=1`` drops nothing. Its threads append windows
    in any order, so they are sorted (by size, then row, then column) to make the result
    reproducible.
    """
    gray = np.asarray(gray, dtype=np.float64)
    if gray.ndim != 2:
        raise ValueError(f"gray must be a greyscale image (H, W), got shape {gray.shape}; "
                         "detect_faces_lbp converts colour images.")
    found = load_cascade().detect_multi_scale(
        img=gray, scale_factor=scale_factor, step_ratio=step_ratio, min_size=(min_size, min_size),
        max_size=(max_size, max_size), min_neighbor_number=1, intersection_score_threshold=1.0)
    if not found:
        return torch.zeros(0, 4)
    rcwh = np.array([[d["r"], d["c"], d["width"], d["height"]] for d in found])
    rcwh = rcwh[np.lexsort((rcwh[:, 1], rcwh[:, 0], rcwh[:, 2]))]
    xyxy = np.stack([rcwh[:, 1], rcwh[:, 0], rcwh[:, 1] + rcwh[:, 2], rcwh[:, 0] + rcwh[:, 3]], axis=1)
    return torch.from_numpy(xyxy).float()


def group_windows(windows: Tensor, min_overlap: float = 0.5) -> tuple[Tensor, Tensor]:
    """Group overlapping windows; each group gives its mean box and its size.

    Two windows belong together if their intersection covers more than ``min_overlap`` of
    the smaller one (scikit-image's merging criterion); groups are the connected components
    of that relation, so the result does not depend on the order of the windows.

    Args:
        windows: ``(R, 4)`` xyxy.
        min_overlap: intersection over the smaller area above which two windows are linked.

    Returns:
        ``boxes (G, 4)`` (mean of each group's windows) and ``counts (G,)`` float32, by
        decreasing count (ties: first window first).

    Example:
        >>> w = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]])
        >>> group_windows(w)
        (tensor([[ 0.5000,  0.5000, 10.5000, 10.5000],
                [50.0000, 50.0000, 60.0000, 60.0000]]), tensor([2., 1.]))
    """
    from scipy.sparse.csgraph import connected_components

    windows = check_boxes(windows, "windows", min_dim=2)
    if windows.ndim != 2:
        raise ValueError(f"windows must have shape (R, 4), got {tuple(windows.shape)}.")
    min_overlap = check_real(min_overlap, "min_overlap", low=0.0, high=1.0)
    if len(windows) == 0:
        return torch.zeros(0, 4), torch.zeros(0)
    wh = (torch.minimum(windows[:, None, 2:], windows[None, :, 2:])
          - torch.maximum(windows[:, None, :2], windows[None, :, :2])).clamp(min=0)
    area = (windows[:, 2:] - windows[:, :2]).prod(dim=1)
    linked = wh.prod(dim=2) > min_overlap * torch.minimum(area[:, None], area[None, :])
    _, group = connected_components(linked.numpy(), directed=False)
    group = torch.from_numpy(group).long()  # numbered in order of first window
    counts = torch.bincount(group).float()
    sums = torch.zeros(len(counts), 4).index_add_(0, group, windows)
    order = torch.argsort(counts, descending=True, stable=True)
    return (sums / counts[:, None])[order], counts[order]


def detect_faces_lbp(image: object, min_size: int = 24, max_size: int | None = None, *,
                     scale_factor: float = 1.2, step_ratio: float = 1.0, min_neighbors: int = 1,
                     min_overlap: float = 0.5) -> tuple[Tensor, Tensor]:
    """Detect faces with scikit-image's LBP cascade: slide, group, score by group size.

    Args:
        image: ``(H, W, 3)`` or greyscale ``(H, W)`` uint8 (or float in ``[0, 1]``), or a
            tensor ``(3, H, W)``; it is converted to grey.
        min_size: smallest window side in pixels (the cascade's own window is 24).
        max_size: largest window side (default: the image's shorter side).
        scale_factor: ratio of consecutive window sizes (> 1).
        step_ratio: window step in units of the window's scale (1: every position the
            scale allows; larger is faster and coarser).
        min_neighbors: keep groups of at least this many windows (OpenCV's ``minNeighbors``;
            1 keeps all, so that the whole precision-recall curve can be drawn).
        min_overlap: see :func:`group_windows`.

    Returns:
        ``boxes (N, 4)`` xyxy pixels and ``scores (N,)``: the number of windows of each
        group (float32), by decreasing score.
    """
    import skimage.color

    pixels = check_image_array(image, scale=255, dtype=np.float32)
    min_size = check_positive_int(min_size, "min_size", minimum=24)
    max_size = min(pixels.shape[:2]) if max_size is None else check_positive_int(max_size, "max_size", min_size)
    scale_factor = check_real(scale_factor, "scale_factor", low=1.01)
    step_ratio = check_real(step_ratio, "step_ratio", low=1.0)
    min_neighbors = check_positive_int(min_neighbors, "min_neighbors")
    gray = skimage.color.rgb2gray(pixels / 255.0)
    boxes, counts = group_windows(raw_windows(gray, min_size, max_size, scale_factor, step_ratio), min_overlap)
    keep = counts >= min_neighbors
    return boxes[keep], counts[keep]
