"""The Oxford-IIIT Pet dataset's trimaps (Parkhi et al., 2012): the full profile's U-Net data.

7,349 photos of 37 cat and dog breeds; each has a *trimap*: 1 on the pet, 2 on the
background, 3 on the uncertain border between them. The two archives (URLs and md5s in the
source table, :mod:`cvbook.data.sources`, as torchvision's ``OxfordIIITPet`` uses them)
unpack to::

    images/Abyssinian_1.jpg ...
    annotations/trainval.txt, annotations/test.txt    "Abyssinian_1 1 1 1" per line
    annotations/trimaps/Abyssinian_1.png ...          uint8 trimaps

:class:`OxfordPets` reads that folder (the same files torchvision's class reads) and gives a
pet-vs-background mask with the border as 255 ("void", left out of the loss and the IoU).

>>> ds = OxfordPets(root, "trainval", size=160)   # doctest: +SKIP
>>> image, mask = ds[0]                            # (3, 160, 160) float, (160, 160) int64 in {0, 1, 255}
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset

from cvbook._checks import check_positive_int
from cvbook.data.sources import fetch_source

__all__ = ["PET_CLASSES", "VOID", "trimap_to_mask", "OxfordPets", "load"]

PET_CLASSES = ("background", "pet")
VOID = 255


def trimap_to_mask(trimap: torch.Tensor) -> torch.Tensor:
    """Trimap values 1 (pet), 2 (background), 3 (border) -> 1, 0, 255 (int64)."""
    lut = torch.tensor([VOID, 1, 0, VOID], dtype=torch.int64)
    if trimap.numel() and (int(trimap.min()) < 1 or int(trimap.max()) > 3):
        raise ValueError(f"a trimap holds 1, 2 and 3, got values in [{int(trimap.min())}, {int(trimap.max())}].")
    return lut[trimap.long()]


class OxfordPets(Dataset):
    """Oxford-IIIT Pet as a binary segmentation dataset over the extracted folder.

    Args:
        root: the folder holding ``images/`` and ``annotations/``.
        split: ``"trainval"`` (3,680 images) or ``"test"`` (3,669).
        size: images are resized to ``size × size`` (bilinear; masks nearest); None keeps their size.
        train: random horizontal flips.
    """

    def __init__(self, root: str | Path, split: str = "trainval", *, size: int | None = 160,
                 train: bool = False) -> None:
        root = Path(root)
        if split not in ("trainval", "test"):
            raise ValueError(f"split={split!r}: use 'trainval' or 'test'.")
        listing = root / "annotations" / f"{split}.txt"
        if not listing.is_file() or not (root / "images").is_dir():
            raise ValueError(f"{root} has no images/ and annotations/{split}.txt: pass the folder the two "
                             "archives unpack into (cvbook.data.load('oxford-iiit-pet') downloads them).")
        self.names = [line.split()[0] for line in listing.read_text().splitlines() if line.strip()]
        self.root, self.train = root, train
        self.size = None if size is None else check_positive_int(size, "size")

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        import numpy as np
        from PIL import Image

        name = self.names[i]
        with Image.open(self.root / "images" / f"{name}.jpg") as im:
            image = im.convert("RGB")
        with Image.open(self.root / "annotations" / "trimaps" / f"{name}.png") as im:
            trimap = im.copy()
        if self.size is not None:
            image = image.resize((self.size, self.size), Image.BILINEAR)
            trimap = trimap.resize((self.size, self.size), Image.NEAREST)
        image = torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255
        mask = trimap_to_mask(torch.from_numpy(np.array(trimap)))
        if self.train and torch.rand(()) < 0.5:
            image, mask = image.flip(-1), mask.flip(-1)
        return image, mask


def load(split: str = "trainval", root: str | Path | None = None, size: int = 160,
         train: bool | None = None) -> OxfordPets:
    """Download if needed (checksummed), then the ``split`` of :class:`OxfordPets` (a registry builder)."""
    split = {"train": "trainval"}.get(split, split)
    folder = fetch_source("oxford-iiit-pet", "all", root=root)
    return OxfordPets(folder, split, size=size, train=split == "trainval" if train is None else train)
