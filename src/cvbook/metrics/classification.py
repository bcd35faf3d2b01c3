"""Performance measures of classifiers: confusion matrix, accuracy, error rates, TP/FP rates, ROC and AUC.

Predictions are labels ``(N,)`` or class scores ``(N, C)`` (logits or probabilities, reduced
with ``argmax(dim=1)``), labels ``(N,)`` integers; lists and arrays are converted with
``torch.as_tensor``. For ROC curves, scores are ``(N,)`` floats, higher meaning "more positive".

>>> error_rate([0, 1, 1, 0], [0, 1, 0, 0])
0.25
"""

from __future__ import annotations

import torch
from torch import Tensor

from cvbook._checks import check_class_predictions

__all__ = ["confusion_matrix", "error_rate", "accuracy", "balanced_error_rate", "tp_fp_rates", "roc_curve", "auc", "roc_auc"]


def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int, ignore_index: int | None = None) -> Tensor:
    """Confusion matrix of a classifier, or of a semantic segmentation (pixels as samples).

    Args:
        pred: ``(...)`` int predicted class of each sample or pixel (e.g. ``logits.argmax(1)``).
        target: ``(...)`` int true class, same shape.
        num_classes: ``C``; classes are ``0 .. C - 1``.
        ignore_index: samples whose *target* has this value are left out (VOC's 255 border).

    Returns:
        ``(C, C)`` int64 matrix ``M``, ``M[i, j]`` = number of samples of true class ``i``
        predicted as ``j`` (scikit-learn's convention).

    Example:
        >>> confusion_matrix(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 0, 1, 255]), 2, ignore_index=255)
        tensor([[1, 1],
                [0, 1]])
    """
    if not isinstance(pred, Tensor) or not isinstance(target, Tensor):
        raise ValueError("pred and target must be tensors.")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}.")
    if pred.device != target.device:
        raise ValueError(f"pred and target must be on the same device, got {pred.device} and {target.device}.")
    if pred.is_floating_point() or target.is_floating_point():
        raise ValueError("pred and target must hold integer class indices; for scores, pass scores.argmax(dim=1).")
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}.")
    pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
    if ignore_index is not None:
        keep = target != ignore_index
        pred, target = pred[keep], target[keep]
    if pred.numel() and not bool(((target >= 0) & (target < num_classes) & (pred >= 0) & (pred < num_classes)).all()):
        raise ValueError(
            f"class indices must lie in [0, {num_classes - 1}]; got target in [{int(target.min())}, "
            f"{int(target.max())}] and pred in [{int(pred.min())}, {int(pred.max())}]"
            + ("" if ignore_index is not None else " (pass ignore_index for a 'void' label such as 255)")
            + "."
        )
    return torch.bincount(target * num_classes + pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def error_rate(pred, target) -> float:
    r"""The fraction of wrong predictions, :math:`\hat P(f(X) \neq Y)`."""
    pred, target = check_class_predictions(pred, target)
    return (pred != target).double().mean().item()


def accuracy(pred, target) -> float:
    r"""The fraction of right predictions, :math:`\hat P(f(X) = Y)`, 1 − the error rate."""
    return 1.0 - error_rate(pred, target)


def balanced_error_rate(pred, target, num_classes: int | None = None) -> float:
    r"""The mean over classes of the per-class error, :math:`\frac1C \sum_y \hat P(f(X) \neq y \mid Y = y)`.

    Classes absent from ``target`` are left out of the mean (their error is undefined).
    """
    pred, target = check_class_predictions(pred, target)
    num_classes = num_classes or int(max(pred.max(), target.max())) + 1
    wrong = torch.bincount(target[pred != target], minlength=num_classes).double()
    count = torch.bincount(target, minlength=num_classes).double()
    present = count > 0
    return (wrong[present] / count[present]).mean().item()


def tp_fp_rates(pred, target) -> tuple[float, float]:
    r"""Binary true-positive rate :math:`\hat P(f(X)=1 \mid Y=1)` and false-positive rate
    :math:`\hat P(f(X)=1 \mid Y=0)`; labels are 0 (negative) and 1 (positive)."""
    pred, target = check_class_predictions(pred, target)
    positive, negative = target == 1, target == 0
    if not positive.any() or not negative.any():
        raise ValueError("TP and FP rates need both positive (1) and negative (0) labels")
    return (pred[positive] == 1).double().mean().item(), (pred[negative] == 1).double().mean().item()


def roc_curve(scores, target) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ROC curve: FP rate and TP rate for every threshold on ``scores``.

    Predicting positive when ``score >= threshold``, with the thresholds the distinct scores
    in decreasing order (preceded by ``+inf``, where nothing is positive).

    Returns:
        ``fpr``, ``tpr``, ``thresholds``: 1-D tensors of equal length ``T + 1`` for ``T``
        distinct scores, ``fpr`` and ``tpr`` non-decreasing from 0 to 1.
    """
    scores = torch.as_tensor(scores)
    if scores.ndim != 1:
        raise ValueError(f"scores must be one score per sample (N,), got shape {tuple(scores.shape)}; "
                         "for class probabilities (N, 2) pass probs[:, 1].")
    scores, target = check_class_predictions(scores, target)
    scores, target = scores.double(), target.long()
    order = torch.argsort(scores, descending=True, stable=True)
    scores, target = scores[order], target[order]
    tp = torch.cumsum(target == 1, 0).double()
    fp = torch.cumsum(target == 0, 0).double()
    # Samples with tied scores switch together: keep the last index of each run of ties.
    last = torch.ones_like(scores, dtype=torch.bool)
    last[:-1] = scores[1:] != scores[:-1]
    n_pos, n_neg = tp[-1], fp[-1]
    if n_pos == 0 or n_neg == 0:
        raise ValueError("an ROC curve needs both positive (1) and negative (0) labels")
    zero = torch.zeros(1, dtype=torch.float64)
    fpr = torch.cat([zero, fp[last] / n_neg])
    tpr = torch.cat([zero, tp[last] / n_pos])
    thresholds = torch.cat([torch.tensor([float("inf")], dtype=torch.float64), scores[last]])
    return fpr, tpr, thresholds


def auc(fpr, tpr) -> float:
    """Area under a curve given by its points (trapezoidal rule), e.g. under an ROC curve."""
    fpr, tpr = torch.as_tensor(fpr, dtype=torch.float64), torch.as_tensor(tpr, dtype=torch.float64)
    return torch.trapezoid(tpr, fpr).item()


def roc_auc(scores, target) -> float:
    """Area under the ROC curve of ``scores`` for binary ``target``: the probability that a
    random positive scores higher than a random negative (ties counting one half)."""
    return auc(*roc_curve(scores, target)[:2])
