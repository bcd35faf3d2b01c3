"""From raw predictions to detections: per-class non-maximum suppression, one image at a time.

Every detector of the book ends the same way: candidate boxes of a whole batch, with scores
and classes, go through NMS per image and per class, and come out as one dict per image in
torchvision's format (``boxes``, ``scores``, ``labels``, by decreasing score), the input of
:func:`cvbook.metrics.detection.mean_average_precision`. :func:`nms_per_image` does that
for any detector; :func:`multibox_detection` first decodes an anchor-based detector's
outputs (SSD, d2l's ``multibox_detection``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from cvbook._checks import check_integer_labels, check_no_nan, check_positive_int, check_real, check_same_device
from cvbook.boxes import batched_nms
from cvbook.detection.anchors import anchors_2d
from cvbook.detection.offsets import decode_offsets

__all__ = ["nms_per_image", "multibox_detection"]


def nms_per_image(
    boxes: Tensor,
    scores: Tensor,
    labels: Tensor,
    images: Tensor,
    num_images: int,
    iou_threshold: float,
    *,
    num_classes: int | None = None,
    max_detections: int | None = None,
) -> list[dict[str, Tensor]]:
    """Per-class NMS inside each image, for a whole batch in one call, then one dict per image.

    Boxes of different images or classes never suppress each other (one call of
    :func:`cvbook.boxes.batched_nms` with a group per image and class).

    Args:
        boxes: ``(N, 4)`` candidate boxes of the batch, ``xyxy``.
        scores: ``(N,)`` their scores.
        labels: ``(N,)`` int64 classes.
        images: ``(N,)`` int64 index of the image each candidate belongs to.
        num_images: ``B``, the batch size (images without detections get empty tensors).
        iou_threshold: IoU above which a lower-scoring box of the same image and class is dropped.
        num_classes: ``C`` (labels lie in ``0 .. C - 1``); default ``labels.max() + 1``.
        max_detections: keep at most this many detections per image (the best).

    Returns:
        ``B`` dicts with ``"boxes"`` ``(n_i, 4)``, ``"scores"`` ``(n_i,)`` and ``"labels"``
        ``(n_i,)``, by decreasing score.

    Example:
        >>> b = torch.tensor([[0.0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10]])
        >>> out = nms_per_image(b, torch.tensor([0.9, 0.8, 0.7]), torch.tensor([0, 0, 0]),
        ...                     torch.tensor([0, 0, 1]), 2, iou_threshold=0.5)
        >>> [len(d["scores"]) for d in out]
        [1, 1]
    """
    num_images = check_positive_int(num_images, "num_images", minimum=0)
    check_integer_labels(labels, "labels")
    check_integer_labels(images, "images", num_images)
    if max_detections is not None:
        check_positive_int(max_detections, "max_detections")
    if not (labels.shape == images.shape == scores.shape):
        raise ValueError(f"scores, labels and images must all have shape (N,), got {tuple(scores.shape)}, "
                         f"{tuple(labels.shape)} and {tuple(images.shape)}.")
    check_same_device(("boxes", boxes), ("labels", labels), ("images", images))
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.numel() else 1
    check_integer_labels(labels, "labels", num_classes)
    keep = batched_nms(boxes, scores, images * num_classes + labels, iou_threshold)
    keep = keep[torch.sort(images[keep], stable=True).indices]  # by image, by score within
    counts = torch.bincount(images[keep], minlength=num_images)
    if max_detections is not None:
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.arange(keep.numel(), device=keep.device) - starts[images[keep]]
        keep = keep[rank < max_detections]
        counts = counts.clamp(max=max_detections)
    sizes = counts.tolist()
    return [
        {"boxes": b, "scores": s, "labels": c}
        for b, s, c in zip(boxes[keep].split(sizes), scores[keep].split(sizes), labels[keep].split(sizes))
    ]


def multibox_detection(
    cls_probs: Tensor,
    offset_preds: Tensor,
    anchors: Tensor,
    iou_threshold: float = 0.5,
    score_threshold: float = 0.01,
    *,
    max_detections: int | None = None,
) -> list[dict[str, Tensor]]:
    """Detections from class probabilities and offsets, with per-class NMS, per image.

    For every anchor the predicted box is :func:`cvbook.detection.offsets.decode_offsets` of its
    offsets, its class the most probable non-background class and its score that
    probability (as in d2l). Anchors scoring below ``score_threshold`` are dropped, then
    NMS runs per image and per class (one call of torchvision's ``batched_nms`` for the
    whole batch; d2l instead runs one class-agnostic NMS per image). Boxes are not
    clipped to the image (use :func:`cvbook.boxes.clip_boxes`).

    Args:
        cls_probs: ``(B, C + 1, A)`` class probabilities, row 0 the background.
        offset_preds: ``(B, A * 4)`` (or ``(B, A, 4)``) predicted offsets.
        anchors: ``(1, A, 4)`` or ``(A, 4)`` anchors, normalised ``xyxy``.
        iou_threshold: IoU above which a lower-scoring box of the same class is dropped
            (d2l calls it ``nms_threshold``).
        score_threshold: minimum score of a detection.
        max_detections: keep at most this many detections per image (the best).

    Returns:
        A list of ``B`` dicts (torchvision's detection format, what
        :func:`cvbook.metrics.detection.mean_average_precision` takes), one per image:
        ``"boxes"``: ``(N_i, 4)`` normalised ``xyxy``; ``"scores"``: ``(N_i,)``;
        ``"labels"``: ``(N_i,)`` int64 class in ``0 .. C - 1`` (background excluded,
        i.e. the class of :func:`~cvbook.detection.anchors.multibox_target` minus 1); sorted by decreasing score.

    Example:
        >>> anchors = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.05, 0.0, 0.55, 0.5]])
        >>> probs = torch.tensor([[[0.1, 0.3], [0.9, 0.7]]])  # B=1, C+1=2, A=2
        >>> out = multibox_detection(probs, torch.zeros(1, 8), anchors)
        >>> out[0]["scores"], out[0]["labels"]
        (tensor([0.9000]), tensor([0]))
    """
    anchors = anchors_2d(anchors)
    if not isinstance(cls_probs, Tensor) or cls_probs.ndim != 3 or cls_probs.shape[1] < 2:
        got = tuple(cls_probs.shape) if isinstance(cls_probs, Tensor) else type(cls_probs).__name__
        raise ValueError(f"cls_probs must have shape (B, C + 1, A) with C >= 1, got {got}.")
    batch, num_classes, num_anchors = cls_probs.shape[0], cls_probs.shape[1] - 1, cls_probs.shape[2]
    if num_anchors != anchors.shape[0]:
        raise ValueError(f"cls_probs has {num_anchors} anchors but anchors has {anchors.shape[0]}.")
    if not isinstance(offset_preds, Tensor) or offset_preds.numel() != batch * num_anchors * 4:
        got = tuple(offset_preds.shape) if isinstance(offset_preds, Tensor) else type(offset_preds).__name__
        raise ValueError(f"offset_preds must have shape (B, A * 4) = ({batch}, {num_anchors * 4}), got {got}.")
    check_same_device(("cls_probs", cls_probs), ("offset_preds", offset_preds), ("anchors", anchors))
    check_no_nan(cls_probs, "cls_probs")
    score_threshold = check_real(score_threshold, "score_threshold")
    scores, classes = torch.max(cls_probs[:, 1:], dim=1)  # (B, A)
    image, anchor = (scores >= score_threshold).nonzero(as_tuple=True)
    offsets = offset_preds.reshape(batch, num_anchors, 4)[image, anchor]
    boxes = decode_offsets(anchors[anchor], offsets)
    scores, classes = scores[image, anchor], classes[image, anchor]
    return nms_per_image(boxes, scores, classes, image, batch, iou_threshold, num_classes=num_classes,
                         max_detections=max_detections)
