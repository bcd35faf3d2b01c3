"""RoIAlign (He et al., 2017): region features without rounding, by bilinear sampling.

RoI pooling (chapter 12) rounds a region's corners to whole feature cells and its bins to
whole cells too, which shifts a region by up to half a cell (8 input pixels at stride 16):
harmless for a class, ruinous for a 28×28 mask. RoIAlign keeps the exact coordinates:

1. the region ``x1 · scale, ..., y2 · scale`` (minus ½ with ``aligned=True``) is cut into
   ``out_h × out_w`` equal bins, without rounding;
2. each bin is sampled at ``g × g`` regularly spaced points (``g = sampling_ratio``, or
   ``⌈bin size⌉`` when it is ``≤ 0``), each value read by **bilinear interpolation** of the
   four nearest cells;
3. the samples of a bin are averaged.

Bilinear interpolation is separable, and so is the average over a bin's grid of points, so
each region's output is ``W_y · F · W_xᵀ``: two small interpolation matrices around the
feature map. That is how :func:`roi_align` computes it, for all regions at once, with the
same border rules as ``torchvision.ops.roi_align``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from cvbook._checks import check_image_batch, check_image_size, describe

__all__ = ["bilinear_weights", "roi_align"]


def bilinear_weights(coords: Tensor, size: int) -> Tensor:
    """Interpolation weights of sample positions along one axis of length ``size``.

    Cell ``i`` has its centre at ``i`` (in these coordinates). A position ``c`` in
    ``[-1, size]`` reads cells ``⌊c⌋`` and ``⌊c⌋ + 1`` with weights ``1 − (c − ⌊c⌋)`` and
    ``c − ⌊c⌋`` (clamped to the first and last cell); outside that range it reads nothing.

    Args:
        coords: ``(...)`` positions.
        size: the axis length.

    Returns:
        ``(..., size)`` weights, each row summing to 1 (0 outside ``[-1, size]``).
    """
    valid = ((coords >= -1) & (coords <= size)).to(coords.dtype)
    c = coords.clamp(min=0)
    low = c.floor().long()
    at_edge = low >= size - 1
    low = torch.where(at_edge, size - 1, low)
    high = torch.where(at_edge, size - 1, low + 1)
    c = torch.where(at_edge, low.to(c.dtype), c)
    frac = c - low
    weights = coords.new_zeros(*coords.shape, size)
    weights.scatter_add_(-1, low[..., None], ((1 - frac) * valid)[..., None])
    weights.scatter_add_(-1, high[..., None], (frac * valid)[..., None])
    return weights


def _bin_weights(start: Tensor, length: Tensor, bins: int, grid: Tensor, size: int) -> Tensor:
    """(K, bins, size): the average interpolation weights of each bin's sample points."""
    g_max = int(grid.max())
    step = length / bins  # (K,)
    index = torch.arange(g_max, dtype=start.dtype)
    used = index[None] < grid[:, None]  # (K, g_max)
    offsets = (index[None] + 0.5) * step[:, None] / grid[:, None]  # (K, g_max)
    coords = start[:, None, None] + torch.arange(bins, dtype=start.dtype)[None, :, None] * step[:, None, None] \
        + offsets[:, None, :]  # (K, bins, g_max)
    weights = bilinear_weights(coords, size) * used[:, None, :, None]
    return weights.sum(dim=2) / grid[:, None, None]


def roi_align(features: Tensor, rois: Tensor, output_size: int | tuple[int, int], spatial_scale: float = 1.0,
              sampling_ratio: int = -1, aligned: bool = False) -> Tensor:
    """RoIAlign, equal to ``torchvision.ops.roi_align`` with the same arguments.

    Args:
        features: ``(N, C, H, W)`` feature maps.
        rois: ``(K, 5)`` rows ``(image index, x1, y1, x2, y2)`` in input pixels.
        output_size: ``(out_h, out_w)``, or one number.
        spatial_scale: feature cells per input pixel (``1/16`` for a stride-16 map).
        sampling_ratio: sample points per bin and axis; ``≤ 0``: ``⌈bin size⌉`` for each region.
        aligned: subtract half a cell from the scaled corners (pixel centres at ``i + ½``;
            Detectron2's choice). With ``False`` a region is at least one cell wide.

    Returns:
        ``(K, C, out_h, out_w)``.
    """
    check_image_batch(features, "features")
    if not isinstance(rois, Tensor) or rois.ndim != 2 or rois.shape[1] != 5:
        raise ValueError(f"rois must have shape (K, 5), rows (image index, x1, y1, x2, y2), got {describe(rois)}.")
    out_h, out_w = check_image_size(output_size, "output_size")
    height, width = features.shape[-2:]
    rois = rois.to(features.dtype)
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (rois[:, i] * spatial_scale - offset for i in range(1, 5))
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:
        roi_w, roi_h = roi_w.clamp(min=1.0), roi_h.clamp(min=1.0)
    if sampling_ratio > 0:
        grid_h = grid_w = torch.full_like(roi_h, float(sampling_ratio))
    else:
        grid_h, grid_w = torch.ceil(roi_h / out_h).clamp(min=1), torch.ceil(roi_w / out_w).clamp(min=1)
    w_y = _bin_weights(y1, roi_h, out_h, grid_h, height)  # (K, out_h, H)
    w_x = _bin_weights(x1, roi_w, out_w, grid_w, width)  # (K, out_w, W)
    index = rois[:, 0].long()
    if rois.numel() and (index.min() < 0 or index.max() >= features.shape[0] or not math.isfinite(float(rois.sum()))):
        raise ValueError(f"rois' image indices must lie in [0, {features.shape[0] - 1}] and coordinates be finite.")
    return torch.einsum("kph,kchw,kqw->kcpq", w_y, features[index], w_x)
