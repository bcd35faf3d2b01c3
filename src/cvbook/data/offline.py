"""Real images that installed packages ship: no network needed.

- :func:`photo` returns one of scikit-image's or scikit-learn's photographs.
- :class:`Digits` is scikit-learn's handwritten digits as a torch dataset.
- :class:`Faces` is scikit-image's ``lfw_subset``: 100 small greyscale faces.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["PHOTOS", "TEXTURES", "photo", "Digits", "Faces"]

# Colour photographs shipped inside scikit-image (no download) and scikit-learn.
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "china", "flower")
# Greyscale textures and scenes shipped inside scikit-image.
TEXTURES = ("brick", "grass", "gravel", "camera", "moon", "text")


def photo(name: str = "astronaut") -> np.ndarray:
    """A real photograph as an ``(H, W, 3)`` uint8 array (textures: ``(H, W)``).

    ``name`` is one of ``PHOTOS`` or ``TEXTURES``.
    """
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    if name in PHOTOS or name in TEXTURES:
        import skimage.data

        return getattr(skimage.data, name)()
    raise ValueError(f"no photo named {name!r}; choose from {', '.join(PHOTOS + TEXTURES)}")


class Digits(Dataset):
    """scikit-learn's 1,797 handwritten digits (8×8, 17 grey levels), 10 classes.

    Images are upsampled bilinearly to ``size × size`` and scaled to ``[0, 1]``; the split
    is a fixed stratified ``test_fraction``. Items are ``(image (1, size, size), label)``.
    """

    def __init__(self, split: str = "train", *, transform=None, size: int = 28, test_fraction: float = 0.25) -> None:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        if split not in ("train", "test"):
            raise ValueError(f"split={split!r}: Digits has 'train' and 'test'")
        digits = load_digits()
        idx_train, idx_test = train_test_split(
            np.arange(len(digits.target)), test_size=test_fraction, stratify=digits.target, random_state=0
        )
        idx = idx_train if split == "train" else idx_test
        x = torch.from_numpy(digits.images[idx]).float()[:, None] / 16.0
        if size != 8:
            x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        self.data, self.targets = x.clamp(0, 1), torch.from_numpy(digits.target[idx]).long()
        self.classes = tuple(str(d) for d in range(10))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        image = self.data[i]
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.targets[i])


class Faces(Dataset):
    """The 100 faces of scikit-image's ``lfw_subset`` (Labeled Faces in the Wild), 25×25 greyscale.

    Items are ``(image (1, 25, 25) float in [0, 1], 0)``. ``"train"`` holds the first
    ``100 − n_test`` faces, ``"test"`` the last ``n_test`` (different people's photos). The
    subset's other 100 images (non-face patches) are left out.
    """

    def __init__(self, split: str = "train", *, transform=None, n_test: int = 20) -> None:
        import skimage.data

        if split not in ("train", "test"):
            raise ValueError(f"split={split!r}: Faces has 'train' and 'test'")
        if not 0 < n_test < 100:
            raise ValueError(f"n_test must lie in 1..99, got {n_test}")
        faces = torch.from_numpy(skimage.data.lfw_subset()[:100]).float()[:, None]
        self.data = faces[: 100 - n_test] if split == "train" else faces[100 - n_test:]
        self.targets = torch.zeros(len(self.data), dtype=torch.long)
        self.classes = ("face",)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int):
        image = self.data[i]
        if self.transform is not None:
            image = self.transform(image)
        return image, 0
