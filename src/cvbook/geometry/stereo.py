"""Depth from a rectified stereo pair by block matching, and its error against ground truth.

In a rectified pair a scene point seen at column ``x`` of the left image is at column ``x − d``
of the right image, on the same row; the disparity ``d`` is inversely proportional to depth,
``Z = f·B / (d + doffs)`` (focal length ``f`` in pixels, baseline ``B``, ``doffs`` the
difference of the principal points). Block matching takes, for every pixel, the disparity whose
``window × window`` blocks differ least (sum of absolute differences): a cost volume over all
candidate disparities, box-filtered, then an argmin; no loop over pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from cvbook._checks import check_positive_int

__all__ = ["cost_volume", "block_matching", "disparity_errors", "disparity_to_depth"]


def _grey(image: Tensor, name: str) -> Tensor:
    if not torch.is_tensor(image) or image.ndim not in (2, 3):
        raise ValueError(f"{name} must be an (H, W) or (H, W, 3) tensor, got {type(image).__name__}.")
    image = image.float()
    return image.mean(dim=-1) if image.ndim == 3 else image


def cost_volume(left: Tensor, right: Tensor, max_disparity: int, window: int = 9) -> Tensor:
    """Mean absolute difference of ``window × window`` blocks for each disparity ``0..max_disparity``.

    ``left, right``: ``(H, W)`` or ``(H, W, 3)`` ``-> (max_disparity + 1, H, W)``; columns where the
    shifted block would leave the right image get ``inf``.
    """
    left, right = _grey(left, "left"), _grey(right, "right")
    if left.shape != right.shape:
        raise ValueError(f"left {tuple(left.shape)} and right {tuple(right.shape)} must have one size.")
    check_positive_int(max_disparity, "max_disparity")
    if check_positive_int(window, "window") % 2 == 0:
        raise ValueError(f"window must be odd (a block centred on its pixel), got {window}.")
    h, w = left.shape
    d = torch.arange(max_disparity + 1)
    cols = torch.arange(w)[None, :] - d[:, None]                               # (D, W): right column of x − d
    shifted = right[:, cols.clamp(min=0)].permute(1, 0, 2)                     # (D, H, W)
    diff = (left[None] - shifted).abs()
    cost = F.avg_pool2d(diff[:, None], window, stride=1, padding=window // 2, count_include_pad=False)[:, 0]
    return cost.masked_fill((cols < 0)[:, None, :], float("inf"))


def block_matching(left: Tensor, right: Tensor, max_disparity: int, window: int = 9) -> Tensor:
    """The disparity of least block difference per pixel: ``(H, W)`` float (whole pixels)."""
    return cost_volume(left, right, max_disparity, window).argmin(dim=0).float()


def disparity_errors(pred: Tensor, truth: Tensor, threshold: float = 2.0) -> dict[str, float]:
    """Mean absolute error and the fraction of "bad" pixels (error > ``threshold``) where ``truth`` is finite.

    The bad-pixel rate is the Middlebury benchmark's measure (``bad 2.0`` for ``threshold=2``).
    """
    if pred.shape != truth.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and truth {tuple(truth.shape)} must have one shape.")
    valid = torch.isfinite(truth)
    if not bool(valid.any()):
        raise ValueError("truth has no finite disparity: nothing to measure.")
    error = (pred.float() - truth.float())[valid].abs()
    return {"mae": float(error.mean()), "bad": float((error > threshold).float().mean())}


def disparity_to_depth(disparity: Tensor, focal: float, baseline: float, doffs: float = 0.0) -> Tensor:
    """Depth ``Z = focal · baseline / (disparity + doffs)``, in the unit of ``baseline``."""
    return focal * baseline / (disparity + doffs)
