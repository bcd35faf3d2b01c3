"""Panoptic quality (Kirillov et al., 2019): ``PQ = SQ × RQ`` of one panoptic segmentation
(chapter 16). Re-exported by :mod:`cvbook.metrics.segmentation`, where chapter 16 finds it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from cvbook._checks import check_integer_labels

__all__ = ["PanopticQuality", "panoptic_quality"]

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
