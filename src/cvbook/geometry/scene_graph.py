"""A scene graph from detections: objects as nodes, pairwise spatial relations as edges.

A scene-graph model (trained on Visual Genome's objects and relationships) predicts a predicate
for pairs of detected objects from their appearance and geometry. This module keeps only the
geometry, so that the structure is clear: for every ordered pair of boxes it names the relation
``subject — predicate — object`` from their overlap and the offset of their centres, all pairs
at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from cvbook._checks import check_boxes, check_real

__all__ = ["PREDICATES", "spatial_relations", "scene_graph"]

#: Predicate names, indexed by the codes :func:`spatial_relations` returns (0 means no edge).
PREDICATES: tuple[str, ...] = ("none", "inside", "contains", "overlaps", "left of", "right of", "above", "below")


def spatial_relations(boxes: Tensor, near: float = 1.5, inside: float = 0.9) -> Tensor:
    """The predicate code of every ordered pair ``(i, j)`` of ``xyxy`` boxes ``(N, 4) -> (N, N)`` int64.

    ``inside``: at least ``inside`` of box ``i``'s area lies in box ``j`` (``contains``: the
    reverse); ``overlaps``: any other overlap; otherwise, for centres at most ``near`` times the
    mean of the two boxes' diagonals apart, ``left of``/``right of``/``above``/``below`` along the
    axis of the larger centre offset (image ``y`` grows downwards); else 0 ("none"), and 0 on
    the diagonal.
    """
    boxes = check_boxes(boxes, min_dim=2).float()
    check_real(near, "near", low=0)
    check_real(inside, "inside", low=0, high=1)
    lt = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
    rb = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = (rb - lt).clamp_min(0).prod(dim=-1)                               # (N, N)
    area = (boxes[:, 2:] - boxes[:, :2]).prod(dim=-1)
    frac_i = inter / area[:, None].clamp_min(1e-12)                          # share of i inside j
    frac_j = inter / area[None, :].clamp_min(1e-12)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    offset = centre[None, :, :] - centre[:, None, :]                         # j's centre minus i's
    diagonal = (boxes[:, 2:] - boxes[:, :2]).norm(dim=-1)
    close = offset.norm(dim=-1) <= near * (diagonal[:, None] + diagonal[None, :]) / 2
    horizontal = offset[..., 0].abs() >= offset[..., 1].abs()
    direction = torch.where(horizontal, torch.where(offset[..., 0] > 0, 4, 5), torch.where(offset[..., 1] > 0, 6, 7))
    codes = torch.where(close, direction, 0)
    codes = torch.where(inter > 0, 3, codes)
    codes = torch.where(frac_j >= inside, 2, codes)
    codes = torch.where(frac_i >= inside, 1, codes)
    return codes.fill_diagonal_(0)


def scene_graph(boxes: Tensor, labels: Sequence[str], **kwargs) -> list[tuple[int, str, int]]:
    """Edges ``(i, predicate, j)`` of :func:`spatial_relations`, one per related ordered pair.

    ``labels[i]`` names box ``i`` (used for nothing but the length check; draw them with the edges).
    """
    if len(labels) != len(boxes):
        raise ValueError(f"{len(labels)} labels for {len(boxes)} boxes")
    codes = spatial_relations(boxes, **kwargs)
    i, j = codes.nonzero(as_tuple=True)
    return [(int(a), PREDICATES[int(codes[a, b])], int(b)) for a, b in zip(i, j)]
