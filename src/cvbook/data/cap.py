"""A cap on the number of items of every dataset, for rehearsing the full profile.

``CVBOOK_MAX_ITEMS`` makes :func:`cvbook.data.registry.load` (and the loaders of the real datasets)
return at most that many items of each downloaded dataset, the first ones, so that a
notebook's full profile runs its real code path, full-size models and inputs included, on a
handful of images. The value is a number, optionally followed by per-dataset numbers::

    CVBOOK_MAX_ITEMS=8                # every downloaded dataset: at most 8 items
    CVBOOK_MAX_ITEMS="8,voc2007=32"   # VOC 2007 keeps 32 (a loader drops incomplete batches of 32)
    CVBOOK_MAX_ITEMS="8,generated=64" # and a generated set is made with at most 64 items

A generated dataset is capped only by ``generated=`` (or its own name), and not by cutting it: the
registry asks its generator for fewer items (:func:`generated_size`), so that the tensors notebooks
use directly (``ShapesDetection.batch``) hold exactly the items.

Unset (the default), datasets are whole. The capped dataset is a :class:`Capped`, a
``torch.utils.data.Subset`` that still answers for the dataset's attributes (``classes``,
``batch``, ...); per-item sequences (``targets``, ``data``, ...) are cut to the same items.

>>> ds = load("cifar10", split="train")   # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

__all__ = ["ENV", "GENERATED", "max_items", "cap", "generated_size", "Capped"]

ENV = "CVBOOK_MAX_ITEMS"
GENERATED = "generated"  # the entry that caps every generated dataset

#: Attributes that hold one entry per item; a capped dataset cuts them to its items.
PER_ITEM = ("data", "targets", "images", "labels", "masks", "annotations", "samples", "imgs")


def max_items(name: str | None = None, generated: bool = False) -> int | None:
    """The cap for dataset ``name`` from ``$CVBOOK_MAX_ITEMS`` (None: no cap).

    A ``generated`` dataset has only its own entry or the ``generated=`` one, not the default.
    """
    value = os.environ.get(ENV, "").strip()
    if not value:
        return None
    default, per_name = None, {}
    for token in value.replace(",", " ").split():
        key, _, number = token.rpartition("=")
        if not number.isdigit() or int(number) < 1:
            raise ValueError(f"{ENV}={value!r}: each entry must be a positive count, optionally "
                             f"'dataset=count' (e.g. {ENV}=8,voc2007=32)")
        if key:
            per_name[key] = int(number)
        else:
            default = int(number)
    if generated:
        return per_name.get(name, per_name.get(GENERATED))
    return per_name.get(name, default) if name is not None else default


class Capped(Subset):
    """The first items of a dataset, answering for the dataset's attributes.

    Attributes the subset does not have come from the dataset; those listed in
    :data:`PER_ITEM` that have one entry per item of the dataset are cut to the subset's items.
    """

    def __getattr__(self, name: str) -> Any:
        if name in ("dataset", "indices") or name.startswith("__"):
            raise AttributeError(name)
        value = getattr(self.dataset, name)
        if name in PER_ITEM and hasattr(value, "__len__") and len(value) == len(self.dataset):
            if torch.is_tensor(value) or isinstance(value, np.ndarray):
                return value[list(self.indices)]
            return [value[i] for i in self.indices]
        return value


def cap(dataset: Dataset, name: str | None = None) -> Dataset:
    """``dataset`` itself, or its first ``max_items(name)`` items when ``$CVBOOK_MAX_ITEMS`` asks for fewer."""
    limit = max_items(name)
    if limit is None or not hasattr(dataset, "__len__") or len(dataset) <= limit:
        return dataset
    return Capped(dataset, range(limit))


def generated_size(name: str, n: int) -> int:
    """How many items to generate when ``n`` of the generated dataset ``name`` are asked for."""
    limit = max_items(name, generated=True)
    return n if limit is None else min(n, limit)
