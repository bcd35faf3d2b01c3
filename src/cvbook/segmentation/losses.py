"""Segmentation losses for the three kinds of targets (chapter 14).

- **binary**: one class against the background; one logit map ``(B, 1, H, W)`` (or
  ``(B, H, W)``), targets ``{0, 1}``; binary cross-entropy on the sigmoid.
- **multi-class**: ``C`` mutually exclusive classes, every pixel has exactly one; logits
  ``(B, C, H, W)``, targets ``(B, H, W)`` class indices; cross-entropy on the softmax.
- **multi-label**: ``C`` classes that may overlap, one ``{0, 1}`` channel per class; logits
  and targets ``(B, C, H, W)``; one binary cross-entropy per channel.

:func:`soft_dice_loss` is ``1 −`` the Dice coefficient computed on probabilities instead of
hard labels; it weighs a small class as much as a large one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from cvbook._checks import check_integer_labels, describe

__all__ = ["TASKS", "segmentation_loss", "soft_dice_loss"]

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
