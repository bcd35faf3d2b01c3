"""Panoptic fusion (chapter 16): one non-overlapping segmentation from an instance
segmenter's masks and a semantic segmentation's stuff, by the heuristic of Kirillov et al.
(2019), *Panoptic Segmentation*, for their machine baselines.

1. **Things, by confidence.** Instances scoring below ``score_threshold`` are dropped; the
   rest are visited from the most confident down. Each loses the pixels that a more confident
   instance already took; if less than ``overlap_threshold`` of its mask is left, it is
   dropped altogether (it was mostly a duplicate), otherwise it keeps what is left. This is a
   class-agnostic non-maximum suppression on masks: two detections of different classes on
   one object, which a detector's per-class NMS keeps, become one segment.
2. **Stuff fills the rest.** Every pixel no instance took gets the semantic segmentation's
   class if that is a stuff class; a pixel the semantic segmentation calls a thing but no
   instance took is left void (our choice). A stuff region smaller than ``min_stuff_area``
   pixels is left void too. ``score_threshold`` and ``overlap_threshold`` default to ½ (our
   values).

The result is what :func:`cvbook.metrics.segmentation.panoptic_quality` measures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from cvbook._checks import check_integer_labels, check_positive_int, check_real, check_tensor

__all__ = ["PanopticSegmentation", "fuse_panoptic"]


@dataclass
class PanopticSegmentation:
    """Result of :func:`fuse_panoptic`.

    Attributes:
        classes: ``(H, W)`` int64 class of each pixel, ``void`` where nothing was assigned.
        instances: ``(H, W)`` int64, ``k + 1`` on the pixels of the ``k``-th kept instance,
            0 on stuff and void.
        kept: ``(K,)`` int64 indices (into the input instances) of the kept instances, in the
            order of their ids (most confident first).
    """

    classes: Tensor
    instances: Tensor
    kept: Tensor


def fuse_panoptic(masks: Tensor, scores: Tensor, labels: Tensor, semantic: Tensor, stuff_classes: Sequence[int], *,
                  score_threshold: float = 0.5, overlap_threshold: float = 0.5, min_stuff_area: int = 0,
                  void: int = -1) -> PanopticSegmentation:
    """Fuse instances and a semantic segmentation into one panoptic segmentation.

    Args:
        masks: ``(N, H, W)`` bool instance masks.
        scores: ``(N,)`` their confidences.
        labels: ``(N,)`` their (thing) classes, in the panoptic class numbering.
        semantic: ``(H, W)`` int class of each pixel from a semantic segmentation.
        stuff_classes: the classes of ``semantic`` that are stuff.
        score_threshold: instances scoring below it are dropped.
        overlap_threshold: an instance is dropped when less than this fraction of its mask is
            left once more confident instances took their pixels.
        min_stuff_area: stuff regions (per class) smaller than this are left void.
        void: the class written where nothing was assigned.

    Returns:
        A :class:`PanopticSegmentation` whose segments do not overlap.
    """
    if not isinstance(masks, Tensor) or masks.dtype != torch.bool or masks.ndim != 3:
        raise ValueError("masks must be an (N, H, W) bool tensor (threshold the mask probabilities first, "
                         f"e.g. probabilities >= 0.5); got {getattr(masks, 'shape', type(masks).__name__)}.")
    scores = check_tensor(scores, "scores")
    labels = check_integer_labels(labels, "labels")
    semantic = check_integer_labels(semantic, "semantic")
    if scores.shape != (len(masks),) or labels.shape != (len(masks),):
        raise ValueError(f"scores and labels must be (N,) with N = {len(masks)} masks; got {tuple(scores.shape)} "
                         f"and {tuple(labels.shape)}.")
    if semantic.shape != masks.shape[1:]:
        raise ValueError(f"semantic must be (H, W) = {tuple(masks.shape[1:])}, the masks' size; "
                         f"got {tuple(semantic.shape)}.")
    stuff = [int(c) for c in stuff_classes]
    if set(stuff) & set(labels.tolist()):
        raise ValueError(f"stuff_classes {stuff} and the instances' labels must be disjoint (things have instances, "
                         "stuff does not); number the classes so that they do not share ids.")
    score_threshold = check_real(score_threshold, "score_threshold", 0.0, 1.0)
    overlap_threshold = check_real(overlap_threshold, "overlap_threshold", 0.0, 1.0)
    min_stuff_area = check_positive_int(min_stuff_area, "min_stuff_area", minimum=0)

    classes = torch.full(semantic.shape, void, dtype=torch.int64)
    instances = torch.zeros(semantic.shape, dtype=torch.int64)
    taken = torch.zeros(semantic.shape, dtype=torch.bool)
    kept: list[int] = []
    for k in torch.argsort(scores, descending=True, stable=True).tolist():
        area = int(masks[k].sum())
        if scores[k] < score_threshold or area == 0:
            continue
        free = masks[k] & ~taken
        if int(free.sum()) < overlap_threshold * area:
            continue
        kept.append(k)
        classes[free], instances[free] = int(labels[k]), len(kept)
        taken |= free
    for c in stuff:
        region = (semantic == c) & ~taken
        if int(region.sum()) >= max(min_stuff_area, 1):
            classes[region] = c
    return PanopticSegmentation(classes, instances, torch.tensor(kept, dtype=torch.int64))
