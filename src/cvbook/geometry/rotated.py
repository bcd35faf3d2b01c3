"""Oriented boxes, the boxes of 3-D detection: corners, areas and IoU of rotated rectangles.

A rotated box is ``(cx, cy, w, h, θ)``: centre, width along its own x axis, height, and the angle
``θ`` (radians, counter-clockwise from the image's x axis to the box's). A 3-D detector's box
seen from above (bird's-eye view) is one; with no roll and no pitch, the 3-D box
``(x, y, z, w, l, h, yaw)`` is the bird's-eye rectangle ``(x, y, w, l, yaw)`` extruded over
``[z − h/2, z + h/2]``, and its IoU follows from the rectangles' intersection (:func:`box3d_iou`).

The intersection of two convex polygons is convex; its vertices are the corners of either box
that lie inside the other, and the crossings of their edges. :func:`rotated_box_iou` finds all
of them for every pair at once (no loop over boxes), orders them by angle around their mean and
takes the shoelace area.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cvbook._checks import check_tensor

__all__ = ["rotated_box_corners", "rotated_box_area", "rotated_box_intersection", "rotated_box_iou", "box3d_iou"]

_EPS = 1e-6


def _check_rotated(boxes: object, name: str, width: int = 5) -> Tensor:
    boxes = check_tensor(boxes, name)
    if boxes.ndim != 2 or boxes.shape[-1] != width:
        what = "(cx, cy, w, h, angle)" if width == 5 else "(x, y, z, w, l, h, yaw)"
        raise ValueError(f"{name} must have shape (N, {width}), rows {what}, got {tuple(boxes.shape)}.")
    size = boxes[:, 2:4] if width == 5 else boxes[:, 3:6]
    if boxes.numel() and not bool(((size >= 0) & torch.isfinite(boxes).all(dim=1, keepdim=True)).all()):
        raise ValueError(f"{name} must have finite values and non-negative sizes.")
    return boxes


def rotated_box_corners(boxes: Tensor) -> Tensor:
    """The four corners of each box, counter-clockwise: ``(N, 5) -> (N, 4, 2)``."""
    boxes = _check_rotated(boxes, "boxes")
    cx, cy, w, h, angle = boxes.unbind(-1)
    half = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]], dtype=boxes.dtype, device=boxes.device) / 2
    local = half[None] * torch.stack([w, h], dim=-1)[:, None]                 # (N, 4, 2)
    cos, sin = torch.cos(angle)[:, None], torch.sin(angle)[:, None]
    x = cx[:, None] + local[..., 0] * cos - local[..., 1] * sin
    y = cy[:, None] + local[..., 0] * sin + local[..., 1] * cos
    return torch.stack([x, y], dim=-1)


def rotated_box_area(boxes: Tensor) -> Tensor:
    """``w · h`` per box: ``(N, 5) -> (N,)``."""
    boxes = _check_rotated(boxes, "boxes")
    return boxes[:, 2] * boxes[:, 3]


def _cross(a: Tensor, b: Tensor) -> Tensor:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _inside(points: Tensor, corners: Tensor) -> Tensor:
    """Whether each point lies in (or on) each convex counter-clockwise quadrilateral.

    ``points (N, M, P, 2)``, ``corners (N, M, 4, 2)`` ``-> (N, M, P)``.
    """
    edges = corners.roll(-1, dims=-2) - corners                                # (N, M, 4, 2)
    rel = points[..., :, None, :] - corners[..., None, :, :]                   # (N, M, P, 4, 2)
    scale = edges.norm(dim=-1).amax(dim=-1)[..., None, None].clamp_min(_EPS)
    return (_cross(edges[..., None, :, :], rel) >= -_EPS * scale**2).all(dim=-1)


def rotated_box_intersection(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Area of the intersection of every pair: ``(N, 5), (M, 5) -> (N, M)``."""
    c1 = rotated_box_corners(boxes1)[:, None].expand(-1, len(boxes2), -1, -1)  # (N, M, 4, 2)
    c2 = rotated_box_corners(boxes2)[None].expand(len(boxes1), -1, -1, -1)
    # Corners of one box inside the other.
    in1, in2 = _inside(c1, c2), _inside(c2, c1)                                 # (N, M, 4)
    # Crossings of edge i of box 1 with edge j of box 2: p + t r = q + u s, 0 <= t, u <= 1.
    p, r = c1[..., :, None, :], (c1.roll(-1, dims=-2) - c1)[..., :, None, :]   # (N, M, 4, 1, 2)
    q, s = c2[..., None, :, :], (c2.roll(-1, dims=-2) - c2)[..., None, :, :]   # (N, M, 1, 4, 2)
    denom = _cross(r, s)                                                       # (N, M, 4, 4)
    parallel = denom.abs() < _EPS
    safe = torch.where(parallel, torch.ones_like(denom), denom)
    t, u = _cross(q - p, s) / safe, _cross(q - p, r) / safe
    hit = ~parallel & (t >= -_EPS) & (t <= 1 + _EPS) & (u >= -_EPS) & (u <= 1 + _EPS)
    crossings = (p + t[..., None] * r).flatten(-3, -2)                         # (N, M, 16, 2)
    points = torch.cat([c1, c2, crossings], dim=-2)                            # (N, M, 24, 2)
    valid = torch.cat([in1, in2, hit.flatten(-2)], dim=-1)                     # (N, M, 24)
    # Order the valid points by angle around their mean; invalid ones go last and are replaced
    # by the first valid point, which adds only zero-area triangles to the shoelace sum.
    count = valid.sum(dim=-1, keepdim=True)
    centre = (points * valid[..., None]).sum(dim=-2) / count.clamp_min(1)
    rel = points - centre[..., None, :]
    angle = torch.atan2(rel[..., 1], rel[..., 0]).masked_fill(~valid, float("inf"))
    order = angle.argsort(dim=-1)
    rel = rel.gather(-2, order[..., None].expand(-1, -1, -1, 2))
    valid = valid.gather(-1, order)
    rel = torch.where(valid[..., None], rel, rel[..., :1, :])
    area = 0.5 * _cross(rel, rel.roll(-1, dims=-2)).sum(dim=-1)
    return torch.where(count[..., 0] >= 3, area.clamp_min(0), torch.zeros_like(area))


def rotated_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """IoU of every pair of rotated boxes ``(cx, cy, w, h, angle)``: ``(N, 5), (M, 5) -> (N, M)``.

    For angles of zero it equals :func:`torchvision.ops.box_iou` of the axis-aligned boxes.
    """
    boxes1, boxes2 = _check_rotated(boxes1, "boxes1"), _check_rotated(boxes2, "boxes2")
    inter = rotated_box_intersection(boxes1, boxes2)
    union = rotated_box_area(boxes1)[:, None] + rotated_box_area(boxes2)[None] - inter
    return inter / union.clamp_min(_EPS)


def box3d_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """IoU of 3-D boxes ``(x, y, z, w, l, h, yaw)`` rotated about the vertical axis only.

    ``w`` and ``l`` are the sizes along the box's own x and y axes in the ground plane, ``h``
    the height along z, ``(x, y, z)`` the centre. Shape: ``(N, 7), (M, 7) -> (N, M)``.
    """
    boxes1, boxes2 = _check_rotated(boxes1, "boxes1", 7), _check_rotated(boxes2, "boxes2", 7)
    bev1, bev2 = boxes1[:, [0, 1, 3, 4, 6]], boxes2[:, [0, 1, 3, 4, 6]]
    base = rotated_box_intersection(bev1, bev2)
    z1, h1 = boxes1[:, 2:3], boxes1[:, 5:6]
    z2, h2 = boxes2[:, 2], boxes2[:, 5]
    overlap = (torch.minimum(z1 + h1 / 2, z2 + h2 / 2) - torch.maximum(z1 - h1 / 2, z2 - h2 / 2)).clamp_min(0)
    inter = base * overlap
    volume1 = (boxes1[:, 3] * boxes1[:, 4] * boxes1[:, 5])[:, None]
    volume2 = (boxes2[:, 3] * boxes2[:, 4] * boxes2[:, 5])[None]
    return inter / (volume1 + volume2 - inter).clamp_min(_EPS)
