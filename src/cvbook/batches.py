"""Batches as :func:`cvbook.train.fit` sees them: moved to a device, cut to their first items, counted.

A batch is a tensor, or a tuple/list of fields (``(images, targets)``), where a field is a
``(B, ...)`` tensor, a list of ``B`` items (detection images and target dicts), or a dict of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["to_device", "first_items", "batch_size"]


def to_device(obj: Any, device: torch.device) -> Any:
    """Move a tensor, or the tensors inside lists, tuples and dicts, to ``device``."""
    if torch.is_tensor(obj):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, Mapping):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


def first_items(batch: Any, n: int) -> Any:
    """The first ``n`` items of a batch: each field of an ``(inputs, targets)`` tuple is cut along
    its first dimension (a tensor), as a sequence of items (a list or tuple: detection images and
    targets) or value by value (a dict)."""

    def cut(field: Any) -> Any:
        if torch.is_tensor(field):
            return field[:n] if field.dim() else field
        if isinstance(field, Mapping):
            return {k: cut(v) for k, v in field.items()}
        if isinstance(field, (list, tuple)):
            return type(field)(field[:n])
        return field

    return type(batch)(cut(f) for f in batch) if isinstance(batch, (list, tuple)) else cut(batch)


def batch_size(batch: Any) -> int:
    """The number of items ``B`` of a batch: the first dimension (or length) of its first field."""
    first = batch[0] if isinstance(batch, (list, tuple)) else batch
    return first.shape[0] if torch.is_tensor(first) else len(first)
