"""Semantic segmentation metrics, all from one pixel confusion matrix.

All metrics derive from a confusion matrix ``M`` (rows: true class, columns: predicted
class) over the pixels whose target is not ``ignore_index``. For a class ``c``:
``TP = M[c, c]``, ``FN = sum(M[c, :]) - TP``, ``FP = sum(M[:, c]) - TP``. Each function
takes either ``(pred, target, num_classes, ignore_index)`` or a confusion matrix alone
(accumulate one over a data set with :func:`confusion_matrix`, then pass it). A pixel
confusion matrix is a classifier's confusion matrix over pixels: :func:`confusion_matrix` is
:func:`cvbook.metrics.classification.confusion_matrix`, exported here too.

Instance and panoptic segmentation (chapter 16) are measured on segments instead of pixels:
:func:`mask_iou` between two sets of masks, :func:`mask_average_precision` (COCO's ``segm``
AP: detection AP with mask IoU in place of box IoU) and :func:`panoptic_quality`
(``PQ = SQ × RQ``, Kirillov et al., 2019).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from cvbook._checks import check_integer_labels
from cvbook.metrics.classification import confusion_matrix
from cvbook.metrics.detection import COCO_IOU_THRESHOLDS, DetectionMAP, average_precision

__all__ = ["confusion_matrix", "pixel_accuracy", "class_accuracy", "iou_per_class", "mean_iou", "dice",
           "mask_iou", "mask_average_precision", "PanopticQuality", "panoptic_quality"]


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


# ------------------------------------------------------------------ instance segmentation


def mask_iou(masks_a: Tensor, masks_b: Tensor) -> Tensor:
    """Pairwise intersection over union of two sets of binary masks.

    Args:
        masks_a: ``(N, H, W)`` bool (or 0/1) masks.
        masks_b: ``(M, H, W)``, same ``H × W``.

    Returns:
        ``(N, M)`` float64; 0 where both masks are empty.

    Example:
        >>> a = torch.zeros(1, 4, 4, dtype=torch.bool); a[0, :2] = True
        >>> b = torch.zeros(1, 4, 4, dtype=torch.bool); b[0, :, :2] = True
        >>> mask_iou(a, b)  # 4 shared pixels of 8 + 8 - 4
        tensor([[0.3333]], dtype=torch.float64)
    """
    for name, m in (("masks_a", masks_a), ("masks_b", masks_b)):
        if not isinstance(m, Tensor) or m.ndim != 3:
            raise ValueError(f"{name} must be a (N, H, W) tensor of binary masks, got "
                             f"{tuple(m.shape) if isinstance(m, Tensor) else type(m).__name__}.")
        if m.is_floating_point() and m.numel() and bool(((m != 0) & (m != 1)).any()):
            raise ValueError(f"{name} must hold 0 and 1 (threshold probabilities first, e.g. masks >= 0.5).")
    if masks_a.shape[1:] != masks_b.shape[1:]:
        raise ValueError(f"masks of different sizes: {tuple(masks_a.shape[1:])} and {tuple(masks_b.shape[1:])}.")
    a = masks_a.reshape(masks_a.shape[0], -1).to(torch.float64)
    b = masks_b.reshape(masks_b.shape[0], -1).to(torch.float64)
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1), 0.0)


def _match_image(ious: Tensor, det_labels: Tensor, gt_labels: Tensor, thresholds: np.ndarray) -> np.ndarray:
    """COCO's greedy matching in one image: ``(T, D)`` bool, detection ``d`` (by decreasing
    score) is a true positive at threshold ``t``. Each takes the free ground truth of its class
    with the highest IoU ``>= t`` (the last of equal IoUs, as COCOeval)."""
    iou = np.where(det_labels[:, None].numpy() == gt_labels[None, :].numpy(), ious.numpy(), -1.0)
    t_eff = np.minimum(thresholds, 1 - 1e-10)[:, None]
    taken = np.zeros((len(thresholds), iou.shape[1]), dtype=bool)
    is_tp = np.zeros((len(thresholds), iou.shape[0]), dtype=bool)
    for d in range(iou.shape[0]):  # greedy: each detection depends on the ones before it
        candidate = (iou[d][None] >= t_eff) & ~taken  # (T, G)
        value = np.where(candidate, iou[d][None], -1.0)
        best = iou.shape[1] - 1 - np.argmax(value[:, ::-1], axis=1)
        hit = candidate.any(axis=1)
        taken[np.nonzero(hit)[0], best[hit]] = True
        is_tp[:, d] = hit
    return is_tp


def mask_average_precision(
    predictions: Sequence[dict[str, Tensor]],
    targets: Sequence[dict[str, Tensor]],
    iou_thresholds: Sequence[float] = COCO_IOU_THRESHOLDS,
    interpolation: str = "coco",
    max_detections: int | None = 100,
) -> DetectionMAP:
    """Mean average precision of an instance segmenter: COCO's ``segm`` evaluation.

    The same as :func:`cvbook.metrics.detection.mean_average_precision` with the IoU of
    masks instead of boxes: per image and class, detections by decreasing score (at most
    ``max_detections``) each take the free ground-truth mask they overlap most if that IoU is
    ``>= t``; per class, the ranked true and false positives give an AP
    (:func:`cvbook.metrics.detection.average_precision`); classes without ground truth are
    left out. With the defaults it reproduces pycocotools' ``COCOeval(iouType="segm")``
    (area range ``all``, no crowd).

    Args:
        predictions: per image, ``{"masks": (N, H, W) bool, "scores": (N,), "labels": (N,)}``.
        targets: per image, ``{"masks": (K, H, W) bool, "labels": (K,)}``.
        iou_thresholds, interpolation, max_detections: as for detection.

    Returns:
        A :class:`~cvbook.metrics.detection.DetectionMAP` (``map``, ``map_50``, ``map_75``, ...).
    """
    if len(predictions) != len(targets):
        raise ValueError(f"predictions has {len(predictions)} images but targets has {len(targets)}.")
    thresholds = np.array([float(t) for t in iou_thresholds])
    if thresholds.size == 0 or not ((thresholds >= 0) & (thresholds <= 1)).all():
        raise ValueError(f"iou_thresholds must be a non-empty sequence of numbers in [0, 1], got {iou_thresholds}.")
    scores, labels, hits, gt_labels = [], [], [], []
    for i, (pred, target) in enumerate(zip(predictions, targets)):
        for key, item, what in (("masks", pred, "predictions"), ("scores", pred, "predictions"),
                                ("labels", pred, "predictions"), ("masks", target, "targets"),
                                ("labels", target, "targets")):
            if not isinstance(item, dict) or not isinstance(item.get(key), Tensor):
                raise ValueError(f"{what}[{i}] must be a dict with a tensor under {key!r}.")
        p_labels = check_integer_labels(pred["labels"], f"predictions[{i}]['labels']").cpu()
        g_labels = check_integer_labels(target["labels"], f"targets[{i}]['labels']").cpu()
        p_scores = pred["scores"].detach().cpu().double()
        if not (len(p_labels) == len(p_scores) == len(pred["masks"])) or len(g_labels) != len(target["masks"]):
            raise ValueError(f"image {i}: masks, scores and labels must have one entry per instance.")
        order = torch.argsort(-p_scores, stable=True)
        if max_detections is not None:  # the best max_detections of each class
            ranked = p_labels[order]
            rank_in_class = (ranked[:, None] == ranked[None, :]).tril().sum(1) - 1
            order = order[rank_in_class < max_detections]
        ious = mask_iou(pred["masks"][order].cpu(), target["masks"].cpu())
        hits.append(_match_image(ious, p_labels[order], g_labels, thresholds))
        scores.append(p_scores[order])
        labels.append(p_labels[order])
        gt_labels.append(g_labels)
    scores_all = torch.cat(scores) if scores else torch.zeros(0)
    labels_all = torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long)
    hits_all = np.concatenate(hits, axis=1) if hits else np.zeros((len(thresholds), 0), dtype=bool)
    classes, num_gt = torch.unique(torch.cat(gt_labels) if gt_labels else torch.zeros(0, dtype=torch.long),
                                   return_counts=True)
    ap = torch.zeros(len(thresholds), len(classes), dtype=torch.float64)
    for c, (cls, n) in enumerate(zip(classes.tolist(), num_gt.tolist())):
        mine = (labels_all == cls).numpy()
        for t in range(len(thresholds)):
            ap[t, c] = average_precision(scores_all[mine], torch.from_numpy(hits_all[t, mine]), n, interpolation)
    return DetectionMAP.from_ap(ap, classes.tolist(), num_gt.tolist(), thresholds.tolist(), interpolation)


# ------------------------------------------------------------------ panoptic segmentation


@dataclass
class PanopticQuality:
    """Result of :func:`panoptic_quality`: overall ``pq``, ``sq``, ``rq`` (averaged over the
    classes that occur), and per class ``per_class[c] = (pq, sq, rq, tp, fp, fn)``."""

    pq: float
    sq: float
    rq: float
    per_class: dict[int, tuple[float, float, float, int, int, int]]


def panoptic_quality(pred_classes: Tensor, pred_instances: Tensor, true_classes: Tensor, true_instances: Tensor,
                     num_classes: int, ignore_index: int | None = None) -> PanopticQuality:
    """Panoptic quality of one panoptic segmentation (Kirillov et al., 2019).

    A *segment* is the set of pixels with one (class, instance id) pair; "stuff" classes
    (sky, road) have a single segment, "thing" classes one per object. A predicted and a
    true segment of the same class **match** when their IoU exceeds ½ (such a match is
    unique). Per class, with the matched pairs TP and the unmatched predicted (FP) and true
    (FN) segments,

    .. math:: \\mathrm{PQ} = \\underbrace{\\frac{\\sum_{(p, g) \\in TP} \\mathrm{IoU}(p, g)}{|TP|}}_{\\mathrm{SQ}}
              \\times \\underbrace{\\frac{|TP|}{|TP| + \\frac12 |FP| + \\frac12 |FN|}}_{\\mathrm{RQ}}.

    Pixels whose true class is ``ignore_index`` are left out, and so is a predicted segment
    that is more than half made of them (it is not counted as a false positive).

    Args:
        pred_classes, pred_instances: ``(H, W)`` int class and instance id of each pixel.
        true_classes, true_instances: ``(H, W)`` the same for the ground truth.
        num_classes: ``C``; classes are ``0 .. C − 1``.
        ignore_index: the void class of the ground truth, if any.

    Returns:
        A :class:`PanopticQuality`; classes with no segment at all are left out of the means.
    """
    maps = {"pred_classes": pred_classes, "pred_instances": pred_instances,
            "true_classes": true_classes, "true_instances": true_instances}
    shapes = {tuple(m.shape) for m in maps.values() if isinstance(m, Tensor)}
    if len(shapes) != 1 or any(not isinstance(m, Tensor) for m in maps.values()) or len(next(iter(shapes))) != 2:
        raise ValueError("the four maps must be (H, W) integer tensors of one size.")
    for name, m in maps.items():
        check_integer_labels(m, name)
    allow = (ignore_index,) if ignore_index is not None else ()
    check_integer_labels(true_classes, "true_classes", num_classes, allow=allow)
    check_integer_labels(pred_classes, "pred_classes", num_classes)
    # Segment ids: one per distinct (class, instance) pair, on each side.
    pred_key = pred_classes.reshape(-1).long() * (int(pred_instances.max()) + 1) + pred_instances.reshape(-1).long()
    true_key = true_classes.reshape(-1).long() * (int(true_instances.max()) + 1) + true_instances.reshape(-1).long()
    void = (true_classes.reshape(-1) == ignore_index) if ignore_index is not None \
        else torch.zeros_like(true_key, dtype=torch.bool)
    p_keys, p_id = torch.unique(pred_key, return_inverse=True)
    p_class = torch.zeros(len(p_keys), dtype=torch.long).scatter_(0, p_id, pred_classes.reshape(-1).long())
    t_keys, t_id = torch.unique(true_key[~void], return_inverse=True)
    t_class = torch.zeros(len(t_keys), dtype=torch.long).scatter_(0, t_id, true_classes.reshape(-1)[~void].long())
    p_area = torch.bincount(p_id[~void], minlength=len(p_keys)).double()  # void pixels are not counted
    p_void = torch.bincount(p_id[void], minlength=len(p_keys)).double()
    t_area = torch.bincount(t_id, minlength=len(t_keys)).double()
    inter = torch.bincount(p_id[~void] * len(t_keys) + t_id, minlength=len(p_keys) * len(t_keys))
    inter = inter.reshape(len(p_keys), len(t_keys)).double()
    iou = inter / (p_area[:, None] + t_area[None, :] - inter).clamp(min=1)
    matched = (iou > 0.5) & (p_class[:, None] == t_class[None, :])
    tp_iou = torch.where(matched, iou, 0.0)
    ignored_pred = ~matched.any(1) & (p_void > 0.5 * (p_area + p_void))
    tp = torch.bincount(t_class, weights=matched.any(0).double(), minlength=num_classes)
    iou_sum = torch.bincount(t_class, weights=tp_iou.sum(0), minlength=num_classes)
    fn = torch.bincount(t_class, weights=(~matched.any(0)).double(), minlength=num_classes)
    fp = torch.bincount(p_class, weights=(~matched.any(1) & ~ignored_pred).double(), minlength=num_classes)
    per_class = {}
    for c in range(num_classes):
        if tp[c] + fp[c] + fn[c] == 0:
            continue
        sq = float(iou_sum[c] / tp[c]) if tp[c] > 0 else 0.0
        rq = float(tp[c] / (tp[c] + 0.5 * fp[c] + 0.5 * fn[c]))
        per_class[c] = (sq * rq, sq, rq, int(tp[c]), int(fp[c]), int(fn[c]))
    values = np.array([v[:3] for v in per_class.values()]) if per_class else np.full((1, 3), np.nan)
    return PanopticQuality(*(float(v) for v in values.mean(axis=0)), per_class=per_class)
