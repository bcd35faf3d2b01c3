"""Real microscopy for the quick profile: the fluorescence image of cell nuclei that the
``stardist`` wheel ships, with its expert instance mask.

``stardist/data/images/img2d.tif`` is a 512×512 uint16 image of stained nuclei and
``mask2d.tif`` labels each of its 125 nuclei with its own id (0 on the background). Only
these two files are used: install the wheel without its dependencies,
``pip install --no-deps stardist==0.9.2`` (the package itself is never imported; the files
are found through its import spec and read with ``tifffile``, a dependency of scikit-image).

The image is split by rows: rows ``0 .. 351`` train, rows ``352 .. 511`` (the bottom 160, with
43 nuclei, a few of them cut by the border) are held out. :class:`NucleiPatches` cuts random
training patches with random flips and quarter turns, and gives the held-out strip whole for testing.

>>> train = NucleiPatches("train", n=64, size=96)   # doctest: +SKIP
>>> image, mask = train[0]                          # (1, 96, 96) float, (96, 96) int64 0/1
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from cvbook._checks import check_positive_int

__all__ = ["TRAIN_ROWS", "nuclei_files", "load_nuclei", "NucleiPatches"]

#: Rows ``[0, TRAIN_ROWS)`` of the 512×512 image train; the rest are held out.
TRAIN_ROWS = 352
INSTALL_HINT = "pip install --no-deps stardist==0.9.2"


def nuclei_files() -> tuple[Path, Path]:
    """Paths of ``img2d.tif`` and ``mask2d.tif`` inside the installed ``stardist`` wheel.

    Raises:
        ValueError: when the wheel is missing, with the command that installs it.
    """
    spec = importlib.util.find_spec("stardist")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"the nuclei image comes with the stardist wheel, which is not installed: "
                         f"run `{INSTALL_HINT}` (only its data files are used).")
    folder = Path(list(spec.submodule_search_locations)[0]) / "data" / "images"
    files = folder / "img2d.tif", folder / "mask2d.tif"
    missing = [p.name for p in files if not p.is_file()]
    if missing:
        raise ValueError(f"{folder} lacks {', '.join(missing)}: reinstall the wheel with `{INSTALL_HINT}`.")
    return files


def load_nuclei() -> tuple[torch.Tensor, torch.Tensor]:
    """The whole image and its instance mask.

    Returns:
        ``image`` ``(512, 512)`` float32 scaled to ``[0, 1]`` by its 1st and 99.8th
        percentiles (clipped), and ``instances`` ``(512, 512)`` int64, ``k`` on nucleus ``k``.
    """
    import tifffile

    image_path, mask_path = nuclei_files()
    image = tifffile.imread(image_path).astype(np.float32)
    low, high = np.percentile(image, [1.0, 99.8])
    image = np.clip((image - low) / (high - low), 0.0, 1.0).astype(np.float32)
    instances = tifffile.imread(mask_path).astype(np.int64)
    return torch.from_numpy(image), torch.from_numpy(instances)


class NucleiPatches(Dataset):
    """The nuclei image as a binary segmentation dataset (nucleus vs background).

    ``split="train"``: ``n`` patches of ``size × size`` at random places of the training rows,
    each randomly flipped and turned by a multiple of 90° (the same ``seed`` gives the same
    patches). ``split="test"``: one item, the held-out bottom strip (``160 × 512``).

    Items are ``(image (1, h, w) float, mask (h, w) int64)``; ``instances`` holds the
    instance ids of the split's rows.
    """

    def __init__(self, split: str = "train", *, n: int = 256, size: int = 96, seed: int = 0) -> None:
        if split not in ("train", "test"):
            raise ValueError(f"split={split!r}: use 'train' or 'test'.")
        image, instances = load_nuclei()
        rows = slice(0, TRAIN_ROWS) if split == "train" else slice(TRAIN_ROWS, None)
        self.image, self.instances = image[rows], instances[rows]
        self.split = split
        self.size = check_positive_int(size, "size")
        if split == "train" and size > TRAIN_ROWS:
            raise ValueError(f"size must be at most {TRAIN_ROWS} (the training rows), got {size}.")
        self.n = check_positive_int(n, "n") if split == "train" else 1
        rng = np.random.default_rng(seed)
        height, width = self.image.shape
        self.corners = np.stack([rng.integers(0, height - size + 1, self.n),
                                 rng.integers(0, width - size + 1, self.n)], axis=1)
        self.flips = rng.integers(0, 2, self.n).astype(bool)
        self.turns = rng.integers(0, 4, self.n)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        mask = (self.instances > 0).long()
        if self.split == "test":
            return self.image[None].clone(), mask
        top, left = self.corners[i]
        window = (slice(top, top + self.size), slice(left, left + self.size))
        image, mask = self.image[window], mask[window]
        if self.flips[i]:
            image, mask = image.flip(-1), mask.flip(-1)
        turns = int(self.turns[i])
        return image.rot90(turns, (0, 1))[None].contiguous(), mask.rot90(turns, (0, 1)).contiguous()
