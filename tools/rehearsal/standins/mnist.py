"""Stand-in for MNIST: the four gzipped idx files in torchvision's layout, from scikit-learn's digits.

Same file names and relative paths as the ``mnist`` entry of ``cvbook/data/sources.json``
(``MNIST/raw/*-idx?-ubyte.gz``), same idx format (magic 2051 for images, 2049 for labels,
big-endian sizes, uint8 data), 28×28 images; 64 training and 32 test items.
"""

from __future__ import annotations

import gzip
import pathlib
import struct

import numpy as np

SIZES = {"train": 64, "t10k": 32}


def _digits_28(n: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images[offset:offset + n] / 16.0
    big = np.stack([np.asarray(Image.fromarray((im * 255).astype(np.uint8)).resize((20, 20), Image.BILINEAR))
                    for im in images])
    out = np.zeros((n, 28, 28), dtype=np.uint8)
    out[:, 4:24, 4:24] = big  # MNIST digits sit in a 20×20 box centred in 28×28
    return out, digits.target[offset:offset + n].astype(np.uint8)


def _write_gz(path: pathlib.Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(payload)


def build(folder: pathlib.Path) -> None:
    offset = 0
    for prefix, n in SIZES.items():
        images, labels = _digits_28(n, offset)
        offset += n
        _write_gz(folder / "MNIST" / "raw" / f"{prefix}-images-idx3-ubyte.gz",
                  struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
        _write_gz(folder / "MNIST" / "raw" / f"{prefix}-labels-idx1-ubyte.gz",
                  struct.pack(">II", 2049, n) + labels.tobytes())
