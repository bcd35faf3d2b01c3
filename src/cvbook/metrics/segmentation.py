"""Semantic segmentation metrics, all from one pixel confusion matrix.

All metrics derive from a confusion matrix ``M`` (rows: true class, columns: predicted
class) over the pixels whose target is not ``ignore_index``. For a class ``c``:
``TP = M[c, c]``, ``FN = sum(M[c, :]) - TP``, ``FP = sum(M[:, c]) - TP``. Each function
takes either ``(pred, target, num_classes, ignore_index)`` or a confusion matrix alone
(accumulate one over a data set with :func:`confusion_matrix`, then pass it). A pixel
confusion matrix is a classifier's confusion matrix over pixels: :func:`confusion_matrix` is
:func:`cvbook.metrics.classification.confusion_matrix`, exported here too.

The four measures of the FCN paper (Long, Shelhamer and Darrell, 2015, Section 5), with
``n_ij`` the pixels of class ``i`` predicted as ``j`` and ``t_i = Σ_j n_ij``:
:func:`pixel_accuracy` ``Σ_i n_ii / Σ_i t_i``, :func:`mean_accuracy` ``(1/n_cl) Σ_i n_ii / t_i``,
:func:`mean_iou` ``(1/n_cl) Σ_i n_ii / (t_i + Σ_j n_ji − n_ii)`` and
:func:`frequency_weighted_iou` ``(Σ_k t_k)⁻¹ Σ_i t_i n_ii / (t_i + Σ_j n_ji − n_ii)``;
:func:`fcn_measures` returns all four.

Instance and panoptic segmentation (chapter 16) are measured on segments instead of pixels:
:func:`mask_iou` between two sets of masks, :func:`mask_average_precision` (COCO's ``segm``
AP: detection AP with mask IoU in place of box IoU) and :func:`panoptic_quality`
(``PQ = SQ × RQ``, Kirillov et al., 2019; in :mod:`cvbook.metrics.panoptic`, re-exported here).
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
from cvbook.metrics.panoptic import PanopticQuality, panoptic_quality

__all__ = ["confusion_matrix", "pixel_accuracy", "class_accuracy", "mean_accuracy", "iou_per_class", "mean_iou",
           "frequency_weighted_iou", "FCNMeasures", "fcn_measures", "dice", "touching_pairs", "separated_pairs",
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
    ``definition="recall"`` is the other common "class accuracy", the one the FCN paper
    averages into its *mean accuracy* (:func:`mean_accuracy`): ``TP / (TP + FN)``, the
    fraction of class-``c`` pixels found. The two differ: name which one you report.

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


def mean_accuracy(
    pred: Tensor, target: Tensor | None = None, num_classes: int | None = None, ignore_index: int | None = None
) -> float:
    """FCN's *mean accuracy* ``(1/n_cl) Σ_i n_ii / t_i``: the mean over the classes present in the
    target of the fraction of their pixels found, ``TP / (TP + FN)`` (scikit-learn's balanced
    accuracy). False positives do not lower it.

    Example:
        >>> mean_accuracy(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 0, 1, 1]), 2)  # (1/2 + 2/2) / 2
        0.75
    """
    return float(torch.nanmean(class_accuracy(pred, target, num_classes, ignore_index, definition="recall")))


def frequency_weighted_iou(
    pred: Tensor, target: Tensor | None = None, num_classes: int | None = None, ignore_index: int | None = None
) -> float:
    """FCN's *frequency weighted IU* ``(Σ_k t_k)⁻¹ Σ_i t_i IoU_i``: each class's IoU weighted by
    its share of the target's pixels (a class absent from the target weighs 0).

    Example:
        >>> round(frequency_weighted_iou(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 0, 1, 1]), 2), 4)
        0.5833
    """
    cm = _confusion(pred, target, num_classes, ignore_index)
    t = cm.sum(dim=1)
    if t.sum() == 0:
        return float("nan")
    iou = torch.nan_to_num(iou_per_class(cm), nan=0.0)
    return float((t * iou).sum() / t.sum())


@dataclass(frozen=True)
class FCNMeasures:
    """The four measures of the FCN paper's Section 5, see :func:`fcn_measures`."""

    pixel_accuracy: float
    mean_accuracy: float
    mean_iou: float
    frequency_weighted_iou: float


def fcn_measures(
    pred: Tensor, target: Tensor | None = None, num_classes: int | None = None, ignore_index: int | None = None
) -> FCNMeasures:
    """Pixel accuracy, mean accuracy, mean IU and frequency weighted IU, as Long et al. define
    them, from one confusion matrix. The means run over the classes present in the prediction
    or the target (mean accuracy: in the target).

    Example:
        >>> fcn_measures(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 0, 1, 1]), 2).mean_accuracy
        0.75
    """
    cm = _confusion(pred, target, num_classes, ignore_index)
    return FCNMeasures(pixel_accuracy(cm), mean_accuracy(cm), mean_iou(cm), frequency_weighted_iou(cm))


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


# ------------------------------------------------------------------ touching cells (chapter 15)


def touching_pairs(instances: Tensor) -> list[tuple[int, int]]:
    """The pairs of cells ``(a, b)``, ``a < b``, that touch: a pixel of ``a`` has a pixel of ``b``
    among its 8 neighbours. ``instances``: ``(H, W)`` int ids, 0 on the background."""
    ids = check_integer_labels(instances, "instances").cpu().numpy()
    if ids.ndim != 2:
        raise ValueError(f"instances must be (H, W), got shape {tuple(ids.shape)}.")
    pairs: set[tuple[int, int]] = set()
    for a, b in ((ids[:-1], ids[1:]), (ids[:, :-1], ids[:, 1:]), (ids[:-1, :-1], ids[1:, 1:]),
                 (ids[:-1, 1:], ids[1:, :-1])):
        touch = (a > 0) & (b > 0) & (a != b)
        pairs |= {(min(x, y), max(x, y)) for x, y in zip(a[touch].tolist(), b[touch].tolist())}
    return sorted(pairs)


def separated_pairs(prediction: Tensor, instances: Tensor) -> tuple[int, int]:
    """How many touching pairs of cells a binary prediction keeps apart, and how many there are.

    The predicted foreground is split into connected regions (8-connectivity); each cell is
    assigned the region that covers most of its pixels (none if it is missed). A touching pair
    is **separated** when both cells are found and lie in different regions.

    Args:
        prediction: ``(H, W)`` int, 1 on the predicted foreground, 0 elsewhere.
        instances: ``(H, W)`` int instance ids of the truth, 0 on the background.

    Returns:
        ``(separated, total)``.
    """
    from scipy.ndimage import label

    check_integer_labels(prediction, "prediction", 2)
    if prediction.shape != instances.shape:
        raise ValueError(f"prediction {tuple(prediction.shape)} and instances {tuple(instances.shape)} differ in shape.")
    pairs = touching_pairs(instances)
    regions, _ = label(prediction.cpu().numpy() > 0, structure=np.ones((3, 3)))
    ids = instances.cpu().numpy()
    region_of = {}
    for cell in {c for pair in pairs for c in pair}:
        covered = regions[(ids == cell) & (regions > 0)]
        region_of[cell] = int(np.bincount(covered).argmax()) if covered.size else 0
    separated = sum(region_of[a] > 0 and region_of[b] > 0 and region_of[a] != region_of[b] for a, b in pairs)
    return int(separated), len(pairs)


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

