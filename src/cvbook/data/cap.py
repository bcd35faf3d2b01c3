"""Fewer items of a dataset, for rehearsing the full profile on a handful of images.

The caps themselves are settings (``max_items`` of :func:`cvbook.profile.settings`, written
``CVBOOK_MAX_ITEMS="16,voc2007=32,generated=64"``; see :class:`cvbook.profile.ItemCaps`), passed
to :func:`cvbook.data.registry.load` as ``max_items=``. This module only cuts:

- :func:`cap` keeps the first items of any torch ``Dataset`` as a plain ``torch.utils.data.Subset``
  (whose ``dataset`` attribute is the whole one);
- :func:`cap_torchvision` keeps the first items of torchvision's ``CIFAR10``, ``MNIST`` and
  ``FashionMNIST`` by cutting their ``data`` and ``targets``, so that the result is still a
  ``CIFAR10`` (notebooks read its ``classes``, ``data`` and ``targets``);
- :func:`generated_size` is how many items a generator makes when a generated set is capped (not
  cut: fewer are made, so that the tensors notebooks use directly, ``ShapesDetection.batch``,
  hold exactly the items).

Anything that is not a dataset (the style chapter's painting, an ``(H, W, 3)`` array) is never
capped: :func:`cap` refuses it.

>>> from torch.utils.data import TensorDataset
>>> len(cap(TensorDataset(torch.arange(10)), 3))
3
"""

from __future__ import annotations

from typing import Any, TypeVar

import torch
from torch.utils.data import Dataset, Subset

from cvbook._checks import check_positive_int

__all__ = ["cap", "cap_torchvision", "generated_size"]

D = TypeVar("D", bound=Dataset)


def _limit(limit: int | None) -> int | None:
    return None if limit is None else check_positive_int(limit, "max_items")


def cap(dataset: D, limit: int | None) -> D | Subset:
    """``dataset`` itself when ``limit`` is None or not below its length, else its first ``limit``
    items as a ``torch.utils.data.Subset``.

    Raises:
        TypeError: ``dataset`` is not a sized ``torch.utils.data.Dataset`` (an array, an image, a
            list): those are never capped.
    """
    if not isinstance(dataset, Dataset) or not hasattr(dataset, "__len__"):
        raise TypeError(f"cap() cuts a sized torch.utils.data.Dataset, not a {type(dataset).__name__}: "
                        f"arrays and images (the style painting) are never capped; wrap items in a "
                        f"Dataset first if they should be")
    limit = _limit(limit)
    if limit is None or len(dataset) <= limit:
        return dataset
    return Subset(dataset, range(limit))


def cap_torchvision(dataset: Any, limit: int | None) -> Any:
    """torchvision's ``CIFAR10``, ``MNIST`` or ``FashionMNIST`` with only its first ``limit`` items.

    These classes keep every item in ``data`` (an array or tensor of images) and ``targets``; both
    are cut in place, so the dataset keeps its class and its attributes. Returns ``dataset``.
    """
    if not (hasattr(dataset, "data") and hasattr(dataset, "targets") and len(dataset.data) == len(dataset.targets)):
        raise TypeError(f"cap_torchvision() cuts torchvision's CIFAR10, MNIST or FashionMNIST (items in .data "
                        f"and .targets), not a {type(dataset).__name__}; use cap() for other datasets")
    limit = _limit(limit)
    if limit is not None and len(dataset.data) > limit:
        dataset.data, dataset.targets = dataset.data[:limit], dataset.targets[:limit]
    return dataset


def generated_size(n: int, limit: int | None) -> int:
    """How many items to generate when ``n`` are asked for and the cap is ``limit`` (None: ``n``)."""
    limit = _limit(limit)
    return n if limit is None else min(n, limit)
