"""Detection metrics: average precision of one class, mean average precision of a detector.

:func:`mean_average_precision` matches detections to ground truth like COCO (per image
and class, detections by decreasing score, each taking the unmatched ground-truth box it
overlaps most if that IoU is ``>= t``) and reduces each class's precision-recall curve to an
AP with one of three interpolations:

- ``"voc2007"``: 11-point, the mean of the interpolated precision at recall 0, 0.1, ..., 1
  (PASCAL VOC 2007);
- ``"voc2010"``: all-point, the area under the interpolated curve (VOC 2010 and later);
- ``"coco"``: 101-point, recall 0, 0.01, ..., 1 (COCO).

The interpolated precision at recall ``r`` is the highest precision at any recall ``>= r``.
With the defaults it reproduces pycocotools' ``COCOeval`` for boxes (``maxDets=100``, area
range ``all``, no crowd): ``result.map`` is COCO's AP@[.5:.95] and ``result.map_50`` its
AP@0.5. Box overlaps come from :func:`cvbook.boxes.paired_box_iou`, the one IoU of the book.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from cvbook._checks import check_box_values, check_integer_labels
from cvbook.boxes import paired_box_iou

__all__ = ["COCO_IOU_THRESHOLDS", "INTERPOLATIONS", "DetectionMAP", "average_precision", "mean_average_precision",
           "precision_recall_curve"]

#: IoU thresholds 0.50, 0.55, ..., 0.95, with exactly the float values COCOeval uses.
COCO_IOU_THRESHOLDS: tuple[float, ...] = tuple(float(t) for t in np.linspace(0.5, 0.95, 10))
INTERPOLATIONS: tuple[str, ...] = ("voc2007", "voc2010", "coco")
# Recall points of the sampled interpolations: i / 10 (the decimals 0.0, 0.1, ..., 1.0, as in
# the VOC2007 MATLAB devkit; np.arange(0, 1.1, 0.1) would give 0.6000000000000001) and COCOeval's
# exact values np.linspace(0, 1, 101).
_RECALL_POINTS = {
    "voc2007": np.arange(11) / 10,
    "coco": np.linspace(0.0, 1.0, 101),
}


# ---------------------------------------------------------------- AP from a ranking


def _check_interpolation(interpolation: str) -> None:
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation={interpolation!r} is unknown; use one of {', '.join(INTERPOLATIONS)}.")


def _ap_from_ranked(is_tp: np.ndarray, valid: np.ndarray, num_gt: np.ndarray, interpolation: str) -> np.ndarray:
    """AP of ranked detection lists, one per row.

    Args:
        is_tp: ``(R, L)`` bool, ``L >= 1``, row ``i`` lists its detections by decreasing score.
        valid: ``(R, L)`` bool, False for padding at the end of a row.
        num_gt: ``(R,)`` number of ground-truth boxes of each row.
        interpolation: one of :data:`INTERPOLATIONS`.

    Returns:
        ``(R,)`` float64 AP (NaN where ``num_gt == 0``).
    """
    tp = np.cumsum(is_tp & valid, axis=1, dtype=np.float64)
    fp = np.cumsum(~is_tp & valid, axis=1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = tp / num_gt[:, None].astype(np.float64)
    precision = np.where(valid, tp / np.maximum(tp + fp, 1.0), 0.0)
    # Interpolated precision: the maximum precision at this or any later rank.
    envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    if interpolation == "voc2010":
        step = np.diff(np.where(valid, recall, 0.0), axis=1, prepend=0.0)
        ap = (np.clip(step, 0.0, None) * envelope).sum(axis=1)
    else:
        points = _RECALL_POINTS[interpolation]
        # First rank whose recall reaches each point (padding gets +inf recall, never chosen).
        searchable = torch.from_numpy(np.ascontiguousarray(np.where(valid, recall, np.inf)))
        queries = torch.from_numpy(np.tile(points, (len(recall), 1)))
        index = torch.searchsorted(searchable, queries, side="left").numpy()
        found = index < valid.sum(axis=1, keepdims=True)
        picked = np.take_along_axis(envelope, np.minimum(index, envelope.shape[1] - 1), axis=1)
        ap = np.where(found, picked, 0.0).mean(axis=1)
    return np.where(num_gt > 0, ap, np.nan)


def average_precision(
    scores: Tensor,
    is_tp: Tensor,
    num_gt: int,
    interpolation: str = "voc2010",
) -> float:
    """Average precision of one class from its ranked detections.

    Detections are ranked by decreasing score (ties keep their given order). At rank
    ``k``, precision is ``TP_k / k`` and recall ``TP_k / num_gt``; the AP summarises the
    interpolated precision-recall curve (see the module docstring).

    Args:
        scores: ``(N,)`` detection scores.
        is_tp: ``(N,)`` bool, True where the detection matched a ground-truth box.
        num_gt: number of ground-truth boxes of the class (``> 0``).
        interpolation: ``"voc2007"`` (11-point), ``"voc2010"`` (all-point) or ``"coco"`` (101-point).

    Returns:
        The AP in ``[0, 1]`` (NaN if ``num_gt == 0``).

    Example:
        >>> # ranks: TP, FP, TP with 2 ground-truth boxes: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1
        >>> average_precision(torch.tensor([0.9, 0.8, 0.7]), torch.tensor([True, False, True]), 2)
        0.8333333333333333
    """
    _check_interpolation(interpolation)
    if not isinstance(scores, Tensor) or scores.ndim != 1:
        raise ValueError("scores must be a 1-D tensor (N,).")
    if not isinstance(is_tp, Tensor) or is_tp.shape != scores.shape:
        raise ValueError(f"is_tp must be a tensor of shape {tuple(scores.shape)} like scores.")
    if int(num_gt) < 0 or int(num_gt) < int(is_tp.sum()):
        raise ValueError(f"num_gt={num_gt} must be >= 0 and >= the number of true positives.")
    if scores.numel() and bool(torch.isnan(scores).any()):
        raise ValueError("scores contains NaN.")
    if scores.numel() == 0:
        return 0.0 if int(num_gt) > 0 else float("nan")
    order = np.argsort(-scores.detach().cpu().double().numpy(), kind="stable")
    ranked = is_tp.detach().cpu().bool().numpy()[order][None]
    return float(_ap_from_ranked(ranked, np.ones_like(ranked), np.array([int(num_gt)]), interpolation)[0])


# ------------------------------------------------------------------------------ mAP


@dataclass
class DetectionMAP:
    """Result of :func:`mean_average_precision`.

    Attributes:
        map: AP averaged over classes and IoU thresholds (COCO's AP@[.5:.95] with the
            default thresholds and ``"coco"`` interpolation).
        map_50: AP at IoU 0.5 averaged over classes (NaN if 0.5 is not a threshold).
        map_75: AP at IoU 0.75 averaged over classes (NaN if 0.75 is not a threshold).
        per_class: ``{class: AP averaged over the IoU thresholds}``.
        ap: ``(T, C)`` float64, AP per IoU threshold (rows) and class (columns, in the
            order of ``classes``).
        classes: the classes evaluated: those with at least one ground-truth box.
        num_gt: ``{class: number of ground-truth boxes}``.
        iou_thresholds: the ``T`` thresholds.
        interpolation: the interpolation used.
    """

    map: float
    map_50: float
    map_75: float
    per_class: dict[int, float]
    ap: Tensor
    classes: list[int]
    num_gt: dict[int, int]
    iou_thresholds: tuple[float, ...]
    interpolation: str = "coco"

    @classmethod
    def from_ap(cls, ap: Tensor, classes: Sequence[int], num_gt: Sequence[int], iou_thresholds: Sequence[float],
                interpolation: str) -> DetectionMAP:
        """The summary of an ``(T, C)`` AP table: ``T = len(iou_thresholds)``, ``C = len(classes)``
        (``C = 0``: every average is NaN), ``num_gt`` ground-truth objects per class."""
        thresholds = tuple(float(t) for t in iou_thresholds)
        mean = lambda rows: float(rows.mean()) if rows.numel() else float("nan")  # noqa: E731
        at = lambda t: next((mean(ap[i]) for i, s in enumerate(thresholds) if abs(s - t) < 1e-9), float("nan"))  # noqa: E731
        class_list = [int(c) for c in classes]
        return cls(mean(ap), at(0.5), at(0.75), {c: float(v) for c, v in zip(class_list, ap.mean(dim=0))}, ap,
                   class_list, {c: int(n) for c, n in zip(class_list, num_gt)}, thresholds, interpolation)

    def __repr__(self) -> str:
        return (
            f"DetectionMAP(map={self.map:.4f}, map_50={self.map_50:.4f}, map_75={self.map_75:.4f}, "
            f"classes={len(self.classes)}, interpolation={self.interpolation!r})"
        )


def _gather_boxes(items: Sequence[dict], what: str, with_scores: bool) -> tuple[np.ndarray, ...]:
    """Concatenate a list of per-image dicts into flat float64 / int64 arrays.

    Returns boxes ``(N, 4)``, scores ``(N,)`` (or None), labels, image index and index
    within the image.
    """
    if not isinstance(items, Sequence):
        raise ValueError(f"{what} must be a list of dicts, one per image.")
    keys = ("boxes", "scores", "labels") if with_scores else ("boxes", "labels")
    for i, item in enumerate(items):
        if not isinstance(item, dict) or any(not isinstance(item.get(k), Tensor) for k in keys):
            raise ValueError(f"{what}[{i}] must be a dict with tensors under the keys {', '.join(keys)}.")
        if item["boxes"].ndim != 2 or item["boxes"].shape[-1] != 4:
            raise ValueError(f"{what}[{i}]['boxes'] must have shape (N, 4) (xyxy), got {tuple(item['boxes'].shape)}.")
        n = item["boxes"].shape[0]
        if any(item[k].shape != (n,) for k in keys[1:]):
            raise ValueError(f"{what}[{i}]: {', '.join(keys[1:])} must have shape ({n},) like the boxes.")
        check_integer_labels(item["labels"], f"{what}[{i}]['labels']")
    devices = {item[k].device for item in items for k in keys}
    if len(devices) > 1:
        raise ValueError(f"all tensors of {what} must be on one device, got {sorted(map(str, devices))}.")

    def cat(key: str, dtype: torch.dtype, shape: tuple[int, ...]) -> torch.Tensor:
        if not items:
            return torch.zeros(shape, dtype=dtype)
        return torch.cat([item[key].detach().to(dtype) for item in items]).cpu()

    boxes = cat("boxes", torch.float64, (0, 4))
    check_box_values(boxes, f"{what} boxes")  # one fused check for x2 < x1 and NaN
    scores = cat("scores", torch.float64, (0,)).numpy() if with_scores else None
    if scores is not None and np.isnan(scores).any():
        raise ValueError(f"{what} scores contain NaN.")
    counts = np.array([item["boxes"].shape[0] for item in items], dtype=np.int64)
    image = np.repeat(np.arange(len(items)), counts)
    local = np.arange(image.size) - np.repeat(np.cumsum(counts) - counts, counts)
    return boxes.numpy(), scores, cat("labels", torch.int64, (0,)).numpy(), image, local


def _pad_groups(group: np.ndarray, num_groups: int, min_width: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Items sorted by group -> ``(num_groups, width)`` table of item indices (-1 = empty), and its mask."""
    counts = np.bincount(group, minlength=num_groups)
    width = max(int(counts.max()) if counts.size else 0, min_width)
    rank = np.arange(group.size) - (np.cumsum(counts) - counts)[group]
    table = np.full((num_groups, width), -1, dtype=np.int64)
    table[group, rank] = np.arange(group.size)
    return table, table >= 0


def _ranked_matches(predictions: Sequence[dict], targets: Sequence[dict], thresholds: tuple[float, ...],
                    max_detections: int | None) -> tuple[np.ndarray, ...]:
    """Match detections to ground truth (see :func:`mean_average_precision`) and rank them per class.

    Returns ``classes (C,)`` (those with ground truth), ``num_gt (C,)``, ``is_tp (T, C, L)``
    bool, ``valid (C, L)`` bool (False: padding) and ``scores (C, L)`` (NaN: padding): row
    ``c`` lists class ``c``'s detections by decreasing score (ties: image, then order within it).
    """
    if len(predictions) != len(targets):
        raise ValueError(f"predictions has {len(predictions)} images but targets has {len(targets)}.")
    if not thresholds or not all(0 <= t <= 1 for t in thresholds):
        raise ValueError(f"iou_thresholds must be a non-empty sequence of numbers in [0, 1], got {thresholds}.")
    if max_detections is not None and max_detections < 1:
        raise ValueError(f"max_detections must be >= 1 or None, got {max_detections}.")
    # The bookkeeping below is many small array operations: NumPy (float64, like pycocotools)
    # does them without the thread synchronisation each torch operation would cost.
    d_boxes, d_scores, d_labels, d_image, _ = _gather_boxes(predictions, "predictions", True)
    g_boxes, _, g_labels, g_image, _ = _gather_boxes(targets, "targets", False)

    classes, num_gt = np.unique(g_labels, return_counts=True)
    num_classes, num_thresholds = classes.size, len(thresholds)
    if num_classes == 0:
        return classes, num_gt, np.zeros((num_thresholds, 0, 1), bool), np.zeros((0, 1), bool), np.zeros((0, 1))
    # Detections of classes without ground truth are never evaluated.
    d_class = np.searchsorted(classes, d_labels)
    keep = (d_class < num_classes) & (classes[np.minimum(d_class, num_classes - 1)] == d_labels)
    d_boxes, d_scores, d_class, d_image = d_boxes[keep], d_scores[keep], d_class[keep], d_image[keep]
    g_class = np.searchsorted(classes, g_labels)

    # Detections grouped by (image, class), by decreasing score within a group (ties: input
    # order, as COCOeval's stable sort); at most max_detections per group.
    by_score = np.argsort(-d_scores, kind="stable")
    d_key = d_image * num_classes + d_class
    order = by_score[np.argsort(d_key[by_score], kind="stable")]
    d_boxes, d_scores, d_class, d_key = d_boxes[order], d_scores[order], d_class[order], d_key[order]
    if max_detections is not None and d_key.size:
        counts = np.bincount(d_key)
        within = np.arange(d_key.size) - (np.cumsum(counts) - counts)[d_key] < max_detections
        d_boxes, d_scores, d_class, d_key = d_boxes[within], d_scores[within], d_class[within], d_key[within]
    g_key = g_image * num_classes + g_class
    g_order = np.argsort(g_key, kind="stable")
    g_boxes, g_key = g_boxes[g_order], g_key[g_order]

    # Ground truth of each group in a padded table; a detection meets its own group's boxes.
    groups, inverse = np.unique(np.concatenate([d_key, g_key]), return_inverse=True)
    d_group, g_group = inverse[: d_key.size], inverse[d_key.size:]
    g_table, _ = _pad_groups(g_group, groups.size)
    num_dets, width_g = d_group.size, g_table.shape[1]
    gt_of_det = g_table[d_group]  # (D, K), -1 = no box
    if width_g:
        ious = paired_box_iou(torch.from_numpy(d_boxes[:, None, :]),
                              torch.from_numpy(g_boxes[np.maximum(gt_of_det, 0)])).numpy()
    else:
        ious = np.zeros((num_dets, 0))
    ious[gt_of_det < 0] = -1.0

    # Greedy matching: step r handles the r-th best detection of every group, for all groups
    # and thresholds at once; a detection takes the free box with the highest IoU >= t.
    t_eff = np.minimum(np.array(thresholds), 1 - 1e-10)[:, None, None]  # as COCOeval
    det_tp = np.zeros((num_thresholds, num_dets), dtype=bool)
    if num_dets and width_g:
        counts = np.bincount(d_group, minlength=groups.size)
        d_rank = np.arange(num_dets) - (np.cumsum(counts) - counts)[d_group]
        by_rank = np.argsort(d_rank, kind="stable")
        gt_taken = np.zeros((num_thresholds, groups.size, width_g), dtype=bool)
        for chosen in np.split(by_rank, np.cumsum(np.bincount(d_rank))[:-1]):
            group = d_group[chosen]  # distinct groups
            iou_r = ious[chosen][None]  # (1, n, K)
            candidate = (iou_r >= t_eff) & ~gt_taken[:, group]  # (T, n, K); no box: IoU -1, never
            value = np.where(candidate, iou_r, -1.0)
            last = width_g - 1 - np.argmax(value[..., ::-1], axis=-1)  # COCOeval keeps the last of equal IoUs
            hit = candidate.any(axis=-1)  # (T, n)
            t_hit, j_hit = np.nonzero(hit)
            gt_taken[t_hit, group[j_hit], last[t_hit, j_hit]] = True
            det_tp[:, chosen] = hit

    # Per class, rank over the data set by score; ties: image, then order within the image.
    by_score = np.argsort(-d_scores, kind="stable")
    ranked = by_score[np.argsort(d_class[by_score], kind="stable")]
    c_table, c_valid = _pad_groups(d_class[ranked], num_classes, min_width=1)
    rows = ranked[np.maximum(c_table, 0)] if num_dets else np.zeros_like(c_table)
    is_tp = (det_tp[:, rows] if num_dets else np.zeros((num_thresholds,) + c_table.shape, dtype=bool)) & c_valid
    return classes, num_gt, is_tp, c_valid, np.where(c_valid, d_scores[rows] if num_dets else 0.0, np.nan)


def mean_average_precision(
    predictions: Sequence[dict[str, Tensor]],
    targets: Sequence[dict[str, Tensor]],
    iou_thresholds: Sequence[float] = COCO_IOU_THRESHOLDS,
    interpolation: str = "coco",
    max_detections: int | None = 100,
) -> DetectionMAP:
    """Mean average precision of a detector over a data set, COCO-style matching.

    For each image and class, detections (at most ``max_detections`` per image and
    class, the best, like COCOeval's ``maxDets``) are taken by decreasing score; each
    takes the not yet matched ground-truth box of that image and class with the highest
    IoU, if that IoU is ``>= t`` (a true positive), else it is a false positive. Per
    class, all detections are then ranked by score (ties: image order, then order within
    the image) and the AP computed with ``interpolation`` (see :func:`average_precision`).
    Classes without ground truth are not evaluated; a class with ground truth but no
    detection has AP 0.

    Args:
        predictions: one dict per image with ``"boxes"`` ``(N, 4)`` ``xyxy``,
            ``"scores"`` ``(N,)`` and ``"labels"`` ``(N,)`` int (torchvision's format,
            what :func:`cvbook.detection.postprocess.multibox_detection` returns).
        targets: one dict per image with ``"boxes"`` ``(K, 4)`` ``xyxy`` and
            ``"labels"`` ``(K,)`` int.
        iou_thresholds: IoU thresholds ``t``; default ``0.5:0.05:0.95`` (COCO).
        interpolation: ``"coco"`` (101-point), ``"voc2010"`` (all-point) or ``"voc2007"`` (11-point).
        max_detections: detections kept per image and class (``None``: all).

    Returns:
        A :class:`DetectionMAP` with ``map``, ``map_50``, ``map_75`` (floats),
        ``per_class`` (dict class -> AP), ``ap`` (``(T, C)`` tensor), ``classes``,
        ``num_gt``, ``iou_thresholds`` and ``interpolation``.

    Example:
        >>> target = [{"boxes": torch.tensor([[0.0, 0, 10, 10]]), "labels": torch.tensor([1])}]
        >>> pred = [{"boxes": torch.tensor([[0.0, 0, 10, 9], [50.0, 50, 60, 60]]),
        ...          "scores": torch.tensor([0.9, 0.8]), "labels": torch.tensor([1, 1])}]
        >>> r = mean_average_precision(pred, target)
        >>> round(r.map_50, 4), round(r.map, 4)  # IoU 0.9: TP up to t = 0.9, missed at 0.95
        (1.0, 0.9)
    """
    _check_interpolation(interpolation)
    thresholds = tuple(float(t) for t in iou_thresholds)
    classes, num_gt, is_tp, valid, _ = _ranked_matches(predictions, targets, thresholds, max_detections)
    num_classes, num_thresholds, width = is_tp.shape[1], len(thresholds), is_tp.shape[2]
    if num_classes == 0:
        ap = torch.zeros(num_thresholds, 0, dtype=torch.float64)
    else:
        ap = torch.from_numpy(_ap_from_ranked(
            is_tp.reshape(-1, width),
            np.broadcast_to(valid, (num_thresholds, num_classes, width)).reshape(-1, width),
            np.tile(num_gt, num_thresholds),
            interpolation,
        ).reshape(num_thresholds, num_classes))
    return DetectionMAP.from_ap(ap, classes.tolist(), num_gt.tolist(), thresholds, interpolation)


def precision_recall_curve(
    predictions: Sequence[dict[str, Tensor]],
    targets: Sequence[dict[str, Tensor]],
    iou_threshold: float = 0.5,
    class_id: int | None = None,
    max_detections: int | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Precision and recall of one class at every rank of its detections over a data set.

    Detections are matched at ``iou_threshold`` as in :func:`mean_average_precision`, then all
    of the class's detections are ranked by decreasing score: keeping the ``k`` best gives
    precision ``TP_k / k`` and recall ``TP_k / num_gt``. The all-point AP of this curve is
    ``mean_average_precision(..., [iou_threshold], "voc2010", max_detections).per_class[class_id]``.

    Args:
        predictions, targets: as for :func:`mean_average_precision`.
        iou_threshold: minimum IoU of a true positive.
        class_id: the class (``None``: the only class that has ground-truth boxes).
        max_detections: detections kept per image and class (``None``: all, as in VOC).

    Returns:
        ``precision (N,)``, ``recall (N,)`` and the detections' ``scores (N,)`` (non-increasing),
        float64, one entry per detection of the class (``N = 0`` if it has none).

    Example:
        >>> target = [{"boxes": torch.tensor([[0.0, 0, 10, 10], [20, 0, 30, 10]]), "labels": torch.tensor([0, 0])}]
        >>> pred = [{"boxes": torch.tensor([[0.0, 0, 10, 9], [50, 50, 60, 60], [20, 0, 30, 10]]),
        ...          "scores": torch.tensor([0.9, 0.8, 0.7]), "labels": torch.tensor([0, 0, 0])}]
        >>> precision, recall, _ = precision_recall_curve(pred, target)
        >>> [round(v, 4) for v in precision.tolist()], recall.tolist()
        ([1.0, 0.5, 0.6667], [0.5, 0.5, 1.0])
    """
    thresholds = (float(iou_threshold),)
    classes, num_gt, is_tp, valid, scores = _ranked_matches(predictions, targets, thresholds, max_detections)
    if class_id is None and classes.size != 1:
        raise ValueError(f"targets have boxes of {classes.size} classes {classes.tolist()}: choose one with class_id.")
    class_id = int(classes[0]) if class_id is None else class_id
    if class_id not in classes.tolist():
        raise ValueError(f"class_id={class_id} has no ground-truth box, so its recall is undefined; classes with "
                         f"boxes: {classes.tolist()}.")
    c = classes.tolist().index(class_id)
    tp = np.cumsum(is_tp[0, c][valid[c]], dtype=np.float64)
    precision = tp / np.arange(1, tp.size + 1)
    return torch.from_numpy(precision), torch.from_numpy(tp / num_gt[c]), torch.from_numpy(scores[c][valid[c]])
