"""Semantic segmentation metrics, all from one pixel confusion matrix.

All metrics derive from a confusion matrix ``M`` (rows: true class, columns: predicted
class) over the pixels whose target is not ``ignore_index``. For a class ``c``:
``TP = M[c, c]``, ``FN = sum(M[c, :]) - TP``, ``FP = sum(M[:, c]) - TP``. Each function
takes either ``(pred, target, num_classes, ignore_index)`` or a confusion matrix alone
(accumulate one over a data set with :func:`confusion_matrix`, then pass it). A pixel
confusion matrix is a classifier's confusion matrix over pixels: :func:`confusion_matrix` is
:func:`cvbook.metrics.classification.confusion_matrix`, exported here too.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cvbook.metrics.classification import confusion_matrix

__all__ = ["confusion_matrix", "pixel_accuracy", "class_accuracy", "iou_per_class", "mean_iou", "dice"]


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
