"""Semantic segmentation metrics, all from one pixel confusion matrix.

All metrics derive from a confusion matrix ``M`` (rows: true class, columns: predicted
class) over the pixels whose target is not ``ignore_index``. For a class ``c``:
``TP = M[c, c]``, ``FN = sum(M[c, :]) - TP``, ``FP = sum(M[:, c]) - TP``. Each function
takes either ``(pred, target, num_classes, ignore_index)`` or a confusion matrix alone
(accumulate one over a data set with :func:`confusion_matrix`, then pass it).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["confusion_matrix", "pixel_accuracy", "class_accuracy", "iou_per_class", "mean_iou", "dice"]


def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int, ignore_index: int | None = None) -> Tensor:
    """Pixel confusion matrix of a semantic segmentation.

    Args:
        pred: ``(...)`` int predicted class of each pixel (e.g. ``logits.argmax(1)``).
        target: ``(...)`` int true class of each pixel, same shape.
        num_classes: ``C``; classes are ``0 .. C - 1``.
        ignore_index: pixels whose *target* has this value are left out (VOC's 255 border).

    Returns:
        ``(C, C)`` int64 matrix ``M``, ``M[i, j]`` = number of pixels of true class ``i``
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


def _confusion(pred: Tensor, target: Tensor | None, num_classes: int | None, ignore_index: int | None) -> Tensor:
    if target is None:
        if not isinstance(pred, Tensor) or pred.ndim != 2 or pred.shape[0] != pred.shape[1]:
            raise ValueError("called with one argument, it must be a (C, C) confusion matrix; else pass pred, target, num_classes.")
        return pred.to(torch.float64)
    if num_classes is None:
        raise ValueError("num_classes is required with pred and target.")
    return confusion_matrix(pred, target, num_classes, ignore_index).to(torch.float64)


def _tp_fp_fn(cm: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    tp = torch.diagonal(cm)
    return tp, cm.sum(dim=0) - tp, cm.sum(dim=1) - tp


def _ratio(num: Tensor, den: Tensor) -> Tensor:
    return torch.where(den > 0, num / torch.where(den > 0, den, 1.0), torch.nan)


def pixel_accuracy(
    pred: Tensor, target: Tensor | None = None, num_classes: int | None = None, ignore_index: int | None = None
) -> float:
    """Fraction of (non-ignored) pixels whose predicted class is right: ``trace(M) / sum(M)``.

    Args:
        pred: ``(...)`` int predictions, or a ``(C, C)`` confusion matrix if ``target`` is None.
        target: ``(...)`` int true classes.
        num_classes: ``C``.
        ignore_index: target value to leave out.

    Returns:
        The accuracy (NaN if no pixel counts).

    Example:
        >>> pixel_accuracy(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 0, 1, 1]), 2)
        0.75
    """
    cm = _confusion(pred, target, num_classes, ignore_index)
    total = cm.sum()
    return float(torch.trace(cm) / total) if total > 0 else float("nan")


def class_accuracy(
    pred: Tensor,
    target: Tensor | None = None,
    num_classes: int | None = None,
    ignore_index: int | None = None,
    definition: str = "voc",
) -> Tensor:
    """Per-class accuracy of a segmentation.

    ``definition="voc"`` (default) is the PASCAL VOC 2012 "segmentation accuracy"
    ``n / (n + e)``, with ``n = TP`` the pixels of class ``c`` predicted as ``c`` and
    ``e = FP + FN`` the pixels erroneously labelled (predicted ``c`` but not ``c``, or
    ``c`` but predicted otherwise). It is therefore the same number as the IoU
    ``TP / (TP + FP + FN)`` of :func:`iou_per_class`: the VOC devkit computes the
    intersection over union under the name accuracy.
    ``definition="recall"`` is the other common "class accuracy" (the "mean accuracy"
    of the FCN paper): ``TP / (TP + FN)``, the fraction of class-``c`` pixels found.

    Args:
        pred: ``(...)`` int predictions, or a ``(C, C)`` confusion matrix if ``target`` is None.
        target: ``(...)`` int true classes.
        num_classes: ``C``.
        ignore_index: target value to leave out.
        definition: ``"voc"`` or ``"recall"``.

    Returns:
        ``(C,)`` float64, NaN for a class whose denominator is 0.

    Example:
        >>> p, t = torch.tensor([0, 1, 1, 1]), torch.tensor([0, 0, 1, 1])
        >>> class_accuracy(p, t, 2), class_accuracy(p, t, 2, definition="recall")
        (tensor([0.5000, 0.6667], dtype=torch.float64), tensor([0.5000, 1.0000], dtype=torch.float64))
    """
    cm = _confusion(pred, target, num_classes, ignore_index)
    if definition == "voc":  # n / (n + e) with e = FP + FN: VOC's accuracy is the IoU
        return iou_per_class(cm)
    if definition == "recall":
        tp, _, fn = _tp_fp_fn(cm)
        return _ratio(tp, tp + fn)
    raise ValueError(f"definition={definition!r} is unknown; use 'voc' (n / (n + e)) or 'recall' (TP / (TP + FN)).")


def iou_per_class(
    pred: Tensor, target: Tensor | None = None, num_classes: int | None = None, ignore_index: int | None = None
) -> Tensor:
    """Intersection over union of each class: ``TP / (TP + FP + FN)``.

    Args:
        pred: ``(...)`` int predictions, or a ``(C, C)`` confusion matrix if ``target`` is None.
        target: ``(...)`` int true classes.
        num_classes: ``C``.
        ignore_index: target value to leave out.

    Returns:
        ``(C,)`` float64; NaN for a class absent from both ``pred`` and ``target``.

    Example:
        >>> iou_per_class(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 0, 1, 1]), 2)
        tensor([0.5000, 0.6667], dtype=torch.float64)
    """
    cm = _confusion(pred, target, num_classes, ignore_index)
    tp, fp, fn = _tp_fp_fn(cm)
    return _ratio(tp, tp + fp + fn)


def mean_iou(
    pred: Tensor, target: Tensor | None = None, num_classes: int | None = None, ignore_index: int | None = None
) -> float:
    """Mean of :func:`iou_per_class` over the classes present in ``pred`` or ``target``.

    Example:
        >>> round(mean_iou(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 0, 1, 1]), 3), 4)  # class 2 absent
        0.5833
    """
    return float(torch.nanmean(iou_per_class(pred, target, num_classes, ignore_index)))


def dice(
    pred: Tensor,
    target: Tensor | None = None,
    num_classes: int | None = None,
    ignore_index: int | None = None,
    per_class: bool = False,
) -> float | Tensor:
    """Dice coefficient (F1 score) of each class, ``2 TP / (2 TP + FP + FN)``, or their mean.

    Args:
        pred: ``(...)`` int predictions, or a ``(C, C)`` confusion matrix if ``target`` is None.
        target: ``(...)`` int true classes.
        num_classes: ``C``.
        ignore_index: target value to leave out.
        per_class: return the ``(C,)`` float64 tensor (NaN for absent classes) instead of
            the mean over present classes.

    Example:
        >>> dice(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 0, 1, 1]), 2, per_class=True)
        tensor([0.6667, 0.8000], dtype=torch.float64)
    """
    cm = _confusion(pred, target, num_classes, ignore_index)
    tp, fp, fn = _tp_fp_fn(cm)
    values = _ratio(2 * tp, 2 * tp + fp + fn)
    return values if per_class else float(torch.nanmean(values))
