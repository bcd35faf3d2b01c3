"""The Penn-Fudan pedestrian dataset: 170 street photos, 345 pedestrians with boxes and masks.

The archive (about 53 MB; URL and md5 in the source table, :mod:`cvbook.data.sources`)
unpacks to::

    PennFudanPed/
        PNGImages/FudanPed00001.png ...   colour photos
        PedMasks/FudanPed00001_mask.png   0 = background, k = pedestrian k

It is small enough to fine-tune a COCO-pretrained detector on in minutes on a GPU
(chapter 12). Boxes are the tight pixel-edge ``xyxy`` boxes of the masks, like the
``shapes`` data: a pedestrian covering columns 3..7 has ``x1 = 3`` and ``x2 = 8``.

>>> ds = PennFudan(root)                     # doctest: +SKIP
>>> image, target = ds[0]                     # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import Dataset

from cvbook.data.cap import cap
from cvbook.data.sources import fetch_source

__all__ = ["CLASSES", "PennFudan", "download", "load"]

CLASSES = ("background", "pedestrian")  # torchvision detectors reserve label 0 for background


class PennFudan(Dataset):
    """Penn-Fudan as a torchvision-style detection dataset over the extracted folder.

    Item ``i`` is ``(image, target)``: ``image`` a ``(3, H, W)`` float tensor in ``[0, 1]``,
    ``target`` a dict with ``boxes`` ``(k, 4)`` float pixel-edge ``xyxy``, ``labels``
    ``(k,)`` int64 (all 1, pedestrian), ``masks`` ``(k, H, W)`` bool, ``image_id``, ``area``
    ``(k,)`` and ``iscrowd`` ``(k,)`` (the fields torchvision's reference scripts use).

    Args:
        root: the ``PennFudanPed`` folder, or a folder that contains it.
        split: ``"train"`` (the first 120 images in name order), ``"test"`` (the last 50)
            or ``"all"``.
        transforms: optional ``transforms(image, target) -> (image, target)``.
    """

    TEST_SIZE = 50

    def __init__(self, root: str | Path, split: str = "train",
                 transforms: Callable | None = None) -> None:
        root = Path(root)
        if (root / "PennFudanPed").is_dir():
            root = root / "PennFudanPed"
        if not (root / "PNGImages").is_dir() or not (root / "PedMasks").is_dir():
            raise ValueError(f"{root} has no PNGImages/ and PedMasks/ folders: pass the extracted "
                             f"PennFudanPed folder (download it with cvbook.data.pennfudan.download).")
        if split not in ("train", "test", "all"):
            raise ValueError(f"split={split!r}: use 'train', 'test' or 'all'.")
        images = sorted((root / "PNGImages").glob("*.png"))
        masks = sorted((root / "PedMasks").glob("*_mask.png"))
        if [p.stem for p in images] != [p.stem[: -len("_mask")] for p in masks]:
            raise ValueError(f"{root}: PNGImages/ and PedMasks/ do not hold the same image names.")
        cut = {"train": slice(0, len(images) - self.TEST_SIZE),
               "test": slice(len(images) - self.TEST_SIZE, None), "all": slice(None)}[split]
        self.images, self.masks = images[cut], masks[cut]
        self.transforms = transforms

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        import numpy as np
        from PIL import Image

        with Image.open(self.images[i]) as im:
            image = torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1).float() / 255
        with Image.open(self.masks[i]) as im:
            instances = torch.from_numpy(np.array(im))  # (H, W) uint8: 0, 1, ..., k
        ids = torch.unique(instances)
        ids = ids[ids > 0]
        masks = instances[None] == ids[:, None, None]  # (k, H, W)
        rows, cols = masks.any(dim=2), masks.any(dim=1)  # (k, H), (k, W)
        index_h = torch.arange(instances.shape[0])
        index_w = torch.arange(instances.shape[1])
        boxes = torch.stack([
            torch.where(cols, index_w, instances.shape[1]).min(dim=1).values,
            torch.where(rows, index_h, instances.shape[0]).min(dim=1).values,
            torch.where(cols, index_w, -1).max(dim=1).values + 1,
            torch.where(rows, index_h, -1).max(dim=1).values + 1,
        ], dim=1).float()
        target = {
            "boxes": boxes,
            "labels": torch.ones(len(ids), dtype=torch.int64),
            "masks": masks,
            "image_id": i,
            "area": (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]),
            "iscrowd": torch.zeros(len(ids), dtype=torch.int64),
        }
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target


def download(root: str | Path | None = None) -> Path:
    """Download (checksummed) and extract Penn-Fudan; returns the ``PennFudanPed`` folder.

    ``root`` defaults to ``$CVBOOK_DATA/penn-fudan``. A second call reuses the files.
    Offline it fails within seconds with a :class:`~cvbook.data.download.DatasetUnavailableError`
    that points to the ``shapes`` data instead.
    """
    return fetch_source("penn-fudan", "all", root=root) / "PennFudanPed"


def load(split: str = "train", root: str | Path | None = None, transforms: Callable | None = None,
         *, max_items: int | None = None) -> Dataset:
    """Download if needed, then return the ``split`` of :class:`PennFudan`.

    ``max_items`` keeps only the first images (default: the settings' cap for ``"penn-fudan"``, as
    :func:`cvbook.data.registry.load` does, which builds the dataset through this function).
    """
    from cvbook import profile

    if max_items is None:
        max_items = profile.settings().max_items.for_dataset("penn-fudan")
    return cap(PennFudan(download(root), split=split, transforms=transforms), max_items)
