"""Segmentation losses for the three kinds of targets (chapter 14).

- **binary**: one class against the background; one logit map ``(B, 1, H, W)`` (or
  ``(B, H, W)``), targets ``{0, 1}``; binary cross-entropy on the sigmoid.
- **multi-class**: ``C`` mutually exclusive classes, every pixel has exactly one; logits
  ``(B, C, H, W)``, targets ``(B, H, W)`` class indices; cross-entropy on the softmax.
- **multi-label**: ``C`` classes that may overlap, one ``{0, 1}`` channel per class; logits
  and targets ``(B, C, H, W)``; one binary cross-entropy per channel.

:func:`soft_dice_loss` is ``1 −`` the Dice coefficient computed on probabilities instead of
hard labels; it weighs a small class as much as a large one.

U-Net's loss for touching cells (chapter 15, Ronneberger et al., 2015, eq. 2): the target
separates touching cells by a background line (:func:`separate_touching`), and the
cross-entropy is weighted pixel by pixel (:func:`weighted_cross_entropy`) by the map of
:func:`unet_weight_map`, ``w(x) = w_c(x) + w_0 exp(−(d_1(x) + d_2(x))² / (2σ²))``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from cvbook._checks import check_integer_labels, describe

__all__ = ["TASKS", "segmentation_loss", "soft_dice_loss", "class_balance_weights", "separate_touching",
           "unet_weight_map", "weighted_cross_entropy"]

TASKS = ("binary", "multiclass", "multilabel")


def _check(logits: Tensor, target: Tensor, task: str) -> tuple[Tensor, Tensor]:
    if task not in TASKS:
        raise ValueError(f"task={task!r}: use one of {', '.join(TASKS)}.")
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise ValueError(f"logits must be a floating-point tensor, got {describe(logits)}.")
    if not isinstance(target, Tensor):
        raise ValueError(f"target must be a tensor, got {type(target).__name__}.")
    if task == "multiclass":
        if logits.ndim != 4 or target.shape != (logits.shape[0], *logits.shape[2:]):
            raise ValueError(f"multiclass: logits (B, C, H, W) and target (B, H, W) class indices, got "
                             f"{tuple(logits.shape)} and {tuple(target.shape)}.")
        check_integer_labels(target, "target")
        return logits, target.long()
    if task == "binary" and logits.ndim == 4 and logits.shape[1] == 1 and target.ndim == 3:
        target = target[:, None]
    if logits.shape != target.shape:
        raise ValueError(f"{task}: logits and target must have the same shape, got {tuple(logits.shape)} and "
                         f"{tuple(target.shape)}" + (" (one channel per class)." if task == "multilabel" else "."))
    if target.is_floating_point() and bool(((target != 0) & (target != 1)).any()):
        raise ValueError(f"{task}: target must hold 0 and 1.")
    return logits, target.to(logits.dtype)


def segmentation_loss(logits: Tensor, target: Tensor, task: str = "multiclass", ignore_index: int = 255) -> Tensor:
    """The mean per-pixel cross-entropy of a segmentation, for a ``"binary"``, ``"multiclass"``
    or ``"multilabel"`` target (see the module docstring for the shapes).

    ``ignore_index`` (multi-class only) marks pixels left out, such as VOC's object borders (255).
    """
    logits, target = _check(logits, target, task)
    if task == "multiclass":
        return F.cross_entropy(logits, target, ignore_index=ignore_index)
    return F.binary_cross_entropy_with_logits(logits, target)


def soft_dice_loss(logits: Tensor, target: Tensor, task: str = "multiclass", eps: float = 1.0) -> Tensor:
    """``1 −`` the soft Dice coefficient, averaged over classes (channels).

    With probabilities ``p`` (softmax over classes, or sigmoid per channel) and one-hot (or
    binary) targets ``t``, class ``c`` scores ``(2 Σ p t + eps) / (Σ p + Σ t + eps)``, sums
    over the batch and the pixels. ``eps`` keeps an absent class from dividing by zero.
    """
    logits, target = _check(logits, target, task)
    if task == "multiclass":
        probs = logits.softmax(dim=1)
        target = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)
    else:
        probs = logits.sigmoid()
        if probs.ndim == 3:
            probs, target = probs[:, None], target[:, None]
    dims = (0, *range(2, probs.ndim))
    overlap = (probs * target).sum(dim=dims)
    dice = (2 * overlap + eps) / (probs.sum(dim=dims) + target.sum(dim=dims) + eps)
    return 1 - dice.mean()


def _check_instances(instances: Tensor) -> Tensor:
    if not isinstance(instances, Tensor) or instances.ndim != 2:
        raise ValueError(f"instances must be an (H, W) integer tensor of instance ids (0: background), "
                         f"got {describe(instances)}.")
    return check_integer_labels(instances, "instances")


def class_balance_weights(mask: Tensor, num_classes: int = 2) -> Tensor:
    """``w_c(x)``: each pixel weighted by ``N / (C · N_c)`` for its class ``c`` (``N`` pixels,
    ``N_c`` of class ``c``, ``C`` classes present), so that every class carries the same total
    weight (scikit-learn's ``class_weight="balanced"``).

    Args:
        mask: ``(H, W)`` class indices ``0 .. num_classes − 1``.

    Returns:
        ``(H, W)`` float32.
    """
    check_integer_labels(mask, "mask", num_classes)
    counts = torch.bincount(mask.reshape(-1).long(), minlength=num_classes).double()
    present = int((counts > 0).sum())
    per_class = torch.where(counts > 0, mask.numel() / (present * counts.clamp(min=1)), 0.0)
    return per_class[mask.long()].float()


def separate_touching(instances: Tensor) -> Tensor:
    """The binary target with a background line between touching cells, as U-Net's labels have:
    a cell pixel becomes background when one of its 8 neighbours belongs to another cell.

    Args:
        instances: ``(H, W)`` int instance ids, 0 on the background.

    Returns:
        ``(H, W)`` int64 mask, 1 on cells except on the lines where two cells touch.
    """
    ids = _check_instances(instances).long()
    padded = F.pad(ids[None, None].double(), (1, 1, 1, 1), mode="replicate")[0, 0].long()
    height, width = ids.shape
    other = torch.zeros_like(ids, dtype=torch.bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            neighbour = padded[1 + dy:1 + dy + height, 1 + dx:1 + dx + width]
            other |= (neighbour > 0) & (neighbour != ids)
    return ((ids > 0) & ~other).long()


def unet_weight_map(instances: Tensor, w0: float = 10.0, sigma: float = 5.0) -> Tensor:
    """U-Net's weight map ``w(x) = w_c(x) + w_0 exp(−(d_1(x) + d_2(x))² / (2σ²))``.

    ``d_1`` and ``d_2`` are the distances (in pixels, Euclidean) from ``x`` to the nearest and the
    second-nearest cell (0 inside a cell), ``w_c`` balances the classes of the target
    :func:`separate_touching` makes (:func:`class_balance_weights`). The border term is large
    only where two cells are close to each other: in the thin gaps and on the lines between
    touching cells. The paper uses ``w_0 = 10`` and ``σ ≈ 5`` pixels.

    Args:
        instances: ``(H, W)`` int instance ids, 0 on the background (at least two cells for a
            border term; with fewer it is 0).
        w0, sigma: the border term's height and width (``sigma > 0``).

    Returns:
        ``(H, W)`` float32.
    """
    from scipy.ndimage import distance_transform_edt

    ids = _check_instances(instances).cpu().numpy()
    if not sigma > 0:
        raise ValueError(f"sigma must be positive (pixels), got {sigma}.")
    d1 = np.full(ids.shape, np.inf)
    d2 = np.full(ids.shape, np.inf)
    for cell in np.unique(ids[ids > 0]):
        d = distance_transform_edt(ids != cell)  # distance to the nearest pixel of this cell
        d2 = np.minimum(d2, np.maximum(d1, d))
        d1 = np.minimum(d1, d)
    border = w0 * np.exp(-((d1 + d2) ** 2) / (2 * sigma**2))  # exp(−inf) = 0 with fewer than two cells
    return class_balance_weights(separate_touching(instances)) + torch.from_numpy(border).float()


def weighted_cross_entropy(logits: Tensor, target: Tensor, weights: Tensor) -> Tensor:
    """``Σ_x w(x) · (−log softmax(z(x))[t(x)]) / Σ_x w(x)``: the cross-entropy with a weight per pixel.

    Args:
        logits: ``(B, C, H, W)``.
        target: ``(B, H, W)`` class indices.
        weights: ``(B, H, W)`` non-negative weights (e.g. :func:`unet_weight_map`).

    Returns:
        The weighted mean, a scalar.
    """
    logits, target = _check(logits, target, "multiclass")
    if not isinstance(weights, Tensor) or weights.shape != target.shape:
        raise ValueError(f"weights must have the target's shape {tuple(target.shape)}, got {describe(weights)}.")
    if bool((weights < 0).any()) or not float(weights.sum()) > 0:
        raise ValueError("weights must be non-negative with a positive sum.")
    per_pixel = F.cross_entropy(logits, target, reduction="none")
    return (weights.to(per_pixel.dtype) * per_pixel).sum() / weights.sum()
