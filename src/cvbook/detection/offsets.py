"""Offsets of boxes relative to anchors: the regression targets of anchor-based detectors.

An assigned anchor learns to move onto its box. With the anchor's centre ``(xa, ya)`` and size
``(wa, ha)`` and the box's ``(x, y)`` and ``(w, h)``, the offsets are
``(10 (x - xa) / wa, 10 (y - ya) / ha, 5 log(w / wa), 5 log(h / ha))`` (Dive into Deep
Learning's ``offset_boxes``; the factors are the inverse of SSD's "variances" 0.1 and 0.2).
:func:`encode_offsets` computes them, :func:`decode_offsets` inverts them.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cvbook._checks import check_anchors, check_box_tensor, check_boxes, check_no_nan, check_same_device

__all__ = ["encode_offsets", "decode_offsets", "CENTER_SCALE", "SIZE_SCALE"]

#: Scales of the SSD offset parameterisation (centre offsets x10, log-sizes x5), as in
#: Dive into Deep Learning; they act like the "variances" (0.1, 0.2) of the SSD paper.
CENTER_SCALE = 10.0
SIZE_SCALE = 5.0


def _centre_size(boxes: Tensor) -> Tensor:
    """Checked ``xyxy`` boxes as ``(cx, cy, w, h)``."""
    return torch.cat(((boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]), dim=-1)


def encode_offsets(anchors: Tensor, boxes: Tensor, eps: float = 0.0) -> Tensor:
    """Offsets of ``boxes`` relative to ``anchors``, the SSD parameterisation of d2l.

    With anchor centre ``(xa, ya)`` and size ``(wa, ha)``, and box centre ``(x, y)`` and
    size ``(w, h)``::

        t = (10 (x - xa) / wa,  10 (y - ya) / ha,  5 log(eps + w / wa),  5 log(eps + h / ha))

    This is ``offset_boxes`` of Dive into Deep Learning; d2l uses ``eps = 1e-6`` so that
    unassigned anchors (box of all zeros) give a finite value, and
    :func:`cvbook.detection.anchors.multibox_target` passes that. With the default ``eps = 0`` it is
    the exact inverse of :func:`decode_offsets` (a zero-size box gives ``-inf``, which
    decodes back to size 0).

    Args:
        anchors: ``(..., 4)`` anchors, ``xyxy``, with positive width and height.
        boxes: ``(..., 4)`` boxes, ``xyxy``, broadcastable against ``anchors``.
        eps: added to the size ratios before the logarithm.

    Returns:
        ``(..., 4)`` offsets ``(tx, ty, tw, th)``.

    Example:
        >>> a = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
        >>> encode_offsets(a, torch.tensor([[0.5, 0.0, 1.5, 1.0]]))
        tensor([[5., 0., 0., 0.]])
    """
    anchors = check_anchors(anchors)
    boxes = check_boxes(boxes, "boxes")
    check_same_device(("anchors", anchors), ("boxes", boxes))
    anc, box = _centre_size(anchors), _centre_size(boxes)
    offset_xy = CENTER_SCALE * (box[..., :2] - anc[..., :2]) / anc[..., 2:]
    offset_wh = SIZE_SCALE * torch.log(eps + box[..., 2:] / anc[..., 2:])
    return torch.cat((offset_xy, offset_wh), dim=-1)


def decode_offsets(anchors: Tensor, offsets: Tensor) -> Tensor:
    """Boxes from ``anchors`` and predicted offsets: the inverse of :func:`encode_offsets`.

    ``x = xa + tx wa / 10``, ``y = ya + ty ha / 10``, ``w = wa exp(tw / 5)``,
    ``h = ha exp(th / 5)`` (``offset_inverse`` of Dive into Deep Learning).

    Args:
        anchors: ``(..., 4)`` anchors, ``xyxy``, with positive width and height.
        offsets: ``(..., 4)`` offsets ``(tx, ty, tw, th)``, broadcastable against ``anchors``.

    Returns:
        ``(..., 4)`` boxes, ``xyxy``.

    Example:
        >>> a = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
        >>> decode_offsets(a, torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
        tensor([[0.1000, 0.0000, 1.1000, 1.0000]])
    """
    anchors = check_anchors(anchors)
    offsets = check_box_tensor(offsets, "offsets")
    check_same_device(("anchors", anchors), ("offsets", offsets))
    check_no_nan(offsets, "offsets", "check the network's output.")
    anc = _centre_size(anchors)
    xy = (offsets[..., :2] * anc[..., 2:] / CENTER_SCALE) + anc[..., :2]
    wh = torch.exp(offsets[..., 2:] / SIZE_SCALE) * anc[..., 2:]
    return torch.cat((xy - 0.5 * wh, xy + 0.5 * wh), dim=-1)
