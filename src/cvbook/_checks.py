"""The input checks every module of cvbook uses, with messages that say what to do.

Public functions take tensors from readers and students; a wrong one (a shape that is not
``(..., 4)``, ``x2 < x1``, NaN, logits where labels are expected, tensors on two devices)
must fail at the call with a sentence, not deep inside torch or, worse, silently. Every
check here raises :class:`ValueError`. The value checks are single fused reductions, so
they cost little next to the computation they guard; the precise message is only worked
out once a check has failed.

The module is private (``cvbook._checks``) because readers never call it, but its names are
public: every module imports them from here and nowhere else.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "BOX_FORMATS",
    "describe",
    "check_tensor",
    "check_box_tensor",
    "check_box_values",
    "check_boxes",
    "check_anchors",
    "check_box_format",
    "check_same_device",
    "check_real",
    "check_positive_int",
    "check_no_nan",
    "check_integer_labels",
    "check_class_predictions",
    "check_image_batch",
    "check_rgb_images",
    "check_image_array",
    "check_image_size",
]

BOX_FORMATS: tuple[str, ...] = ("xyxy", "xywh", "cxcywh")


def describe(x: object) -> str:
    """``shape (2, 3)`` for a tensor, the type's name for anything else: for messages."""
    return f"shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__


def _checkable(x: Tensor) -> bool:
    """Values can be inspected: not empty, not on the ``meta`` device (shape-only runs)."""
    return x.numel() > 0 and x.device.type != "meta"


def check_tensor(x: object, name: str) -> Tensor:
    """``x`` is a tensor of real numbers (not complex, not bool)."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}; wrap it with torch.as_tensor.")
    if x.is_complex() or x.dtype == torch.bool:
        raise ValueError(f"{name} must hold real numbers, got dtype {x.dtype}.")
    return x


def check_box_tensor(x: object, name: str = "boxes", min_dim: int = 1) -> Tensor:
    """``x`` is a real tensor of shape ``(..., 4)`` with at least ``min_dim`` dimensions."""
    check_tensor(x, name)
    if x.ndim < min_dim or x.shape[-1] != 4:
        want = "(..., N, 4)" if min_dim >= 2 else "(..., 4)"
        raise ValueError(f"{name} must be a tensor of shape {want} (4 coordinates in the last dimension), "
                         f"got {describe(x)}.")
    return x


def _explain_bad_boxes(boxes: Tensor, name: str, fmt: str) -> None:
    """Called only once the fused check failed: find and describe the first bad box."""
    flat = boxes.detach().reshape(-1, 4)
    if flat.is_floating_point():
        nan_rows = torch.isnan(flat).any(dim=1).nonzero().flatten()
        if nan_rows.numel():
            i = int(nan_rows[0])
            raise ValueError(f"{name} contains NaN ({nan_rows.numel()} box(es), first at flat index {i}: "
                             f"{flat[i].tolist()}); remove or fix those boxes first.")
    if fmt == "xyxy":
        bad = (flat[:, 2:] < flat[:, :2]).any(dim=1).nonzero().flatten()
        i = int(bad[0])
        raise ValueError(
            f"{name} must be 'xyxy' boxes with x1 <= x2 and y1 <= y2, but {bad.numel()} box(es) "
            f"have x2 < x1 or y2 < y1 (first at flat index {i}: {flat[i].tolist()}). "
            "If they are (x, y, w, h) or (cx, cy, w, h), convert them with box_convert first.")
    bad = (flat[:, 2:] < 0).any(dim=1).nonzero().flatten()
    i = int(bad[0])
    raise ValueError(f"{name} in format {fmt!r} must have width >= 0 and height >= 0, but {bad.numel()} box(es) "
                     f"do not (first at flat index {i}: {flat[i].tolist()}).")


def check_box_values(boxes: Tensor, name: str = "boxes", fmt: str = "xyxy") -> Tensor:
    """No NaN, and ``x1 <= x2, y1 <= y2`` (``xyxy``) or ``w, h >= 0`` (other formats).

    One fused comparison: ``x2 >= x1`` is False for ``x2 < x1`` and for NaN alike.
    """
    if _checkable(boxes):
        if fmt == "xyxy":
            ok = (boxes[..., 2:] >= boxes[..., :2]).all()
        else:
            ok = ((boxes[..., 2:] >= 0) & (boxes[..., :2] == boxes[..., :2])).all()
        if not bool(ok):
            _explain_bad_boxes(boxes, name, fmt)
    return boxes


def check_boxes(boxes: object, name: str = "boxes", fmt: str = "xyxy", min_dim: int = 1) -> Tensor:
    """Shape ``(..., 4)`` and valid values: :func:`check_box_tensor` then :func:`check_box_values`."""
    return check_box_values(check_box_tensor(boxes, name, min_dim), name, fmt)


def check_anchors(anchors: object, name: str = "anchors") -> Tensor:
    """``xyxy`` anchors with positive width and height (offsets divide by them)."""
    anchors = check_box_tensor(anchors, name)
    if _checkable(anchors) and not bool((anchors[..., 2:] > anchors[..., :2]).all()):
        check_box_values(anchors, name)  # NaN or x2 < x1: the precise message
        raise ValueError(f"{name} must have positive width and height (x2 > x1 and y2 > y1).")
    return anchors


def check_box_format(fmt: object, name: str = "fmt") -> str:
    """One of :data:`BOX_FORMATS`."""
    if fmt not in BOX_FORMATS:
        raise ValueError(f"{name}={fmt!r} is not a box format; use one of {', '.join(BOX_FORMATS)}.")
    return fmt  # type: ignore[return-value]


def check_same_device(*named: tuple[str, Tensor]) -> None:
    """All tensors on one device."""
    devices = {t.device for _, t in named}
    if len(devices) > 1:
        listing = ", ".join(f"{n} on {t.device}" for n, t in named)
        raise ValueError(f"all tensors must be on the same device, got {listing}; move them with .to(device).")


def check_real(value: object, name: str, low: float | None = None, high: float | None = None) -> float:
    """A real number (not bool, not NaN), optionally inside ``[low, high]``."""
    if isinstance(value, Tensor) and value.numel() == 1 and not value.is_complex():
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real) or math.isnan(float(value)):
        raise ValueError(f"{name} must be a real number, got {value!r}.")
    value = float(value)
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"[{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
        raise ValueError(f"{name} must lie in {span}, got {value}.")
    return value


def check_positive_int(value: object, name: str, minimum: int = 1) -> int:
    """An integer ``>= minimum`` (a float such as ``64.0`` or a bool is refused)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        want = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {want}, got {value!r}.")
    return int(value)


def check_no_nan(x: Tensor, name: str, hint: str = "") -> Tensor:
    """No NaN in ``x``."""
    if _checkable(x) and x.is_floating_point() and bool(torch.isnan(x).any()):
        raise ValueError(f"{name} contains NaN{'; ' + hint if hint else '.'}")
    return x


def check_integer_labels(labels: object, name: str = "labels", num_classes: int | None = None,
                         allow: tuple[int, ...] = ()) -> Tensor:
    """Integer class indices in ``[0, num_classes)`` (plus the values in ``allow``, e.g. ``-1`` padding).

    Float labels are refused even when they hold whole numbers: a ``0.5`` would otherwise be
    truncated to class 0 without a word.
    """
    if not isinstance(labels, Tensor):
        raise ValueError(f"{name} must be a tensor of integer class indices, got {type(labels).__name__}.")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer class indices, got dtype {labels.dtype}; "
                         "if they are whole numbers call .long(), if they are scores take .argmax(dim=...).")
    if num_classes is not None and _checkable(labels):
        outside = (labels < 0) | (labels >= num_classes)
        for value in allow:
            outside &= labels != value
        if bool(outside.any()):
            extra = f" (or {', '.join(map(str, allow))})" if allow else ""
            raise ValueError(f"{name} must lie in [0, {num_classes}){extra}, got values in "
                             f"[{int(labels.min())}, {int(labels.max())}].")
    return labels


def check_class_predictions(pred: object, target: object) -> tuple[Tensor, Tensor]:
    """Predictions and labels of a classifier as two 1-D integer tensors of equal length.

    ``pred`` may be labels ``(N,)`` or scores ``(N, C)`` (logits or probabilities), which are
    reduced with ``argmax(dim=1)``; lists and arrays are converted.
    """
    pred, target = torch.as_tensor(pred), torch.as_tensor(target)
    if pred.ndim == 2 and target.ndim == 1:
        if pred.shape[0] != target.shape[0]:
            raise ValueError(f"pred holds scores for {pred.shape[0]} samples (shape {tuple(pred.shape)}) "
                             f"but target has {target.shape[0]} labels.")
        pred = pred.argmax(dim=1)
    if pred.ndim > 1 or target.ndim > 1:
        raise ValueError(f"pred must be labels (N,) or scores (N, C) and target labels (N,), got shapes "
                         f"{tuple(pred.shape)} and {tuple(target.shape)}.")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target differ in length: {pred.numel()} vs {target.numel()}.")
    if pred.numel() == 0:
        raise ValueError("no samples: a measure of an empty set is undefined.")
    if target.is_floating_point() and not bool((target == target.round()).all()):
        raise ValueError("target must hold class labels (whole numbers), got fractional values.")
    return pred, target


def check_image_batch(images: object, name: str = "images", channels: int | None = None,
                      floating: bool = True) -> Tensor:
    """A batch of images ``(B, C, H, W)`` (``C == channels`` if given), floating point if asked."""
    if not isinstance(images, Tensor) or images.ndim != 4 or (channels is not None and images.shape[1] != channels):
        c = "C" if channels is None else str(channels)
        raise ValueError(f"{name} must be a batch of shape (B, {c}, H, W), got {describe(images)}; "
                         "add a batch dimension to one image with image[None].")
    if floating and not images.is_floating_point():
        raise ValueError(f"{name} must be floating point (e.g. scaled to [0, 1]), got {images.dtype}; "
                         "use images.float() / 255.")
    return images


def check_image_size(size: object, name: str = "size", integer: bool = True) -> tuple:
    """``(H, W)``: positive integers, or (``integer=False``) real numbers ``>= 0`` such as
    ``(1, 1)`` for normalised coordinates. A single number means a square image."""
    if isinstance(size, Real) and not isinstance(size, bool):
        size = (size, size)
    kind = "positive integers" if integer else "real numbers >= 0"
    if not isinstance(size, (tuple, list, torch.Size)) or len(size) != 2:
        raise ValueError(f"{name} must be (H, W) of {kind}, or one number for a square image, got {size!r}.")
    try:
        if integer:
            return check_positive_int(size[0], "H"), check_positive_int(size[1], "W")
        return check_real(size[0], "H", low=0), check_real(size[1], "W", low=0)
    except ValueError:
        raise ValueError(f"{name} must be (H, W) of {kind}, got {tuple(size)!r}.") from None


def check_rgb_images(images: object, name: str = "images") -> Tensor:
    """RGB images ``(..., 3, H, W)``, floating point (any number of leading dimensions)."""
    if not isinstance(images, Tensor) or images.ndim < 3 or images.shape[-3] != 3:
        raise ValueError(f"{name} must be a tensor (..., 3, H, W) of RGB images, got {describe(images)}; "
                         "convert greyscale images to three channels first.")
    if not images.is_floating_point():
        raise ValueError(f"{name} must be floating point (e.g. scaled to [0, 1]), got {images.dtype}; "
                         "use images.float() / 255.")
    return images


def check_image_array(image: object, name: str = "image", *, scale: float = 1.0,
                      dtype: type = np.float64) -> np.ndarray:
    """An image as an ``(H, W, 3)`` NumPy array of ``dtype`` with values in ``[0, scale]``.

    ``scale=1``: fractions of full intensity, as scikit-image's algorithms take them
    (:mod:`cvbook.detection.proposals`); ``scale=255``: pixel values, as the face detectors'
    models were trained on (:mod:`cvbook.detection.mtcnn`, :mod:`cvbook.detection.cascade`).

    Accepts what readers hold: a NumPy array or tensor ``(H, W, 3)`` or greyscale ``(H, W)``
    (scikit-image's and PIL's layout), or a tensor ``(3, H, W)`` (torchvision's). ``uint8`` values
    are pixel values ``0..255``; floating-point values must lie in ``[0, 1]``. Greyscale is
    repeated into three channels.
    """
    if isinstance(image, Tensor):
        if image.ndim == 3 and image.shape[0] == 3 and image.shape[-1] != 3:
            image = image.permute(1, 2, 0)
        image = image.detach().cpu().numpy()
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise ValueError(f"{name} must be (H, W, 3) or greyscale (H, W) (or a tensor (3, H, W)), "
                         f"got shape {image.shape}.")
    if image.dtype == np.uint8:
        values = image.astype(dtype)
        return values if scale == 255 else values / 255 * scale
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"{name} must be uint8 (0-255) or floating point in [0, 1], got dtype {image.dtype}.")
    if not (np.all(image >= 0) and np.all(image <= 1)):  # False for NaN too
        raise ValueError(f"{name} is floating point, so its values must lie in [0, 1] (no NaN); "
                         "divide by 255, or pass a uint8 image.")
    return (image * scale).astype(dtype)
