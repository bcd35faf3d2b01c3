"""Batching detection samples: a list of targets, or the padded label tensor of anchor-based detectors.

A detection dataset yields ``(image, target)`` pairs in torchvision's format
(``target["boxes"]`` ``(k, 4)`` pixel ``xyxy``, ``target["labels"]`` ``(k,)`` 0-based
classes). Two-stage detectors take the targets as a list (:func:`collate_detection`);
anchor-based ones (:mod:`cvbook.detection.anchors`) take one padded tensor of normalised
rows (:func:`collate_labels`), which :func:`labels_to_targets` turns back into dicts.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cvbook._checks import check_box_values, describe

__all__ = ["collate_detection", "collate_labels", "labels_to_targets", "check_padded_labels"]


def _stack_images(images: Sequence[Tensor]) -> Tensor:
    sizes = {tuple(im.shape[-2:]) for im in images}
    if len(sizes) != 1:
        raise ValueError(f"images of different sizes {sorted(sizes)} cannot be stacked; resize them first "
                         "(e.g. transforms.v2.Resize((300, 300)))")
    return torch.stack(list(images))


def collate_detection(items: Sequence[tuple[Tensor, dict]]) -> tuple[Tensor, list[dict]]:
    """``(image, target)`` pairs -> a stacked ``(B, 3, H, W)`` image batch and the list of targets."""
    images, targets = zip(*items)
    return _stack_images(images), list(targets)


def collate_labels(items: Sequence[tuple[Tensor, dict[str, Tensor]]]) -> tuple[Tensor, Tensor]:
    """Batch ``(image, target)`` pairs for an anchor-based detector.

    Args:
        items: pairs of an image ``(3, H, W)`` (all the same size) and a dict with
            ``"boxes"`` ``(k_i, 4)`` pixel ``xyxy`` and ``"labels"`` ``(k_i,)`` 0-based classes.

    Returns:
        ``images`` ``(B, 3, H, W)`` and ``labels`` ``(B, K, 5)`` with ``K = max k_i``, rows
        ``[class, x1, y1, x2, y2]`` with coordinates divided by the image width and height,
        ``-1`` rows as padding (the input of :func:`cvbook.detection.anchors.multibox_target`).
    """
    images, targets = zip(*items)
    images = _stack_images(images)
    height, width = images.shape[-2:]
    scale = torch.tensor([width, height, width, height], dtype=torch.float32)
    rows = [torch.cat([t["labels"].float()[:, None], torch.as_tensor(t["boxes"]).float().reshape(-1, 4) / scale],
                      dim=1) for t in targets]
    labels = nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=-1.0)
    if labels.shape[1] == 0:  # no image has an object: one padding row keeps the shape (B, K, 5) valid
        labels = torch.full((len(rows), 1, 5), -1.0)
    return images, labels


def labels_to_targets(labels: Tensor, size: tuple[int, int]) -> list[dict[str, Tensor]]:
    """Per-image target dicts from padded normalised labels (the inverse of :func:`collate_labels`).

    Args:
        labels: ``(B, K, 5)`` rows ``[class, x1, y1, x2, y2]`` normalised, ``class < 0`` padding.
        size: the image size ``(H, W)`` in pixels.

    Returns:
        ``B`` dicts with ``"boxes"`` ``(k_i, 4)`` pixel ``xyxy`` and ``"labels"`` ``(k_i,)`` int64.
    """
    if not isinstance(labels, Tensor) or labels.ndim != 3 or labels.shape[-1] != 5:
        raise ValueError(f"labels must be (B, K, 5), got {tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__}")
    height, width = size
    scale = labels.new_tensor([width, height, width, height])
    return [{"boxes": rows[rows[:, 0] >= 0, 1:] * scale, "labels": rows[rows[:, 0] >= 0, 0].long()}
            for rows in labels]


def check_padded_labels(labels: object, name: str = "labels") -> Tensor:
    """A padded batch of normalised ground truth ``(B, K, 5)``, rows ``[class, x1, y1, x2, y2]``.

    The format :func:`collate_labels` makes and SSD's targets take
    (:func:`cvbook.detection.anchors.multibox_target`). Coordinates are fractions of the image
    size; a row with class ``< 0`` is padding. Pixel coordinates are recognised (a value beyond 2
    in a real row) and refused with a hint.
    """
    if not isinstance(labels, Tensor) or labels.ndim != 3 or labels.shape[-1] != 5:
        raise ValueError(f"{name} must have shape (B, K, 5), rows [class, x1, y1, x2, y2] (class -1 = padding), "
                         f"got {describe(labels)}.")
    if not labels.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {labels.dtype}; call .float().")
    if labels.numel() and labels.device.type != "meta":  # values to look at
        real = labels[..., 0] >= 0
        coords = labels[..., 1:][real]
        if coords.numel() and bool((coords.abs() > 2).any()):
            raise ValueError(f"{name} hold coordinates up to {float(coords.abs().max()):g}, but they must be "
                             "normalised (fractions of the image width and height, in [0, 1]); divide x by "
                             "the width and y by the height (cvbook.data.collate_labels does).")
        check_box_values(coords, f"{name} boxes")
    return labels
