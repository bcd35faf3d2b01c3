"""Fashion-MNIST stand-in: the four gzipped IDX files, under ``FashionMNIST/raw/`` as in the table.

Upstream IDX format (big-endian): images start with the magic number ``0x00000803`` (unsigned
bytes, 3 dimensions), then the count, 28 and 28 as 32-bit integers, then the pixels, one byte
each, row-major; labels start with ``0x00000801`` and the count, then one byte per label. Here:
32 training and 16 test images of one generated shape each, grey, on a black background (like
the clothing photographs), the class being the shape, the classes in turn.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from _common import balanced_shapes, gzip_bytes


def idx_files(n: int, seed: int) -> tuple[bytes, bytes]:
    images, instances, labels = balanced_shapes(n, 28, 10, seed=seed)
    grey = np.where(instances > 0, images.mean(axis=3), 0).astype(np.uint8)  # (n, 28, 28)
    image_file = struct.pack(">IIII", 0x00000803, n, 28, 28) + grey.tobytes()
    label_file = struct.pack(">II", 0x00000801, n) + labels.astype(np.uint8).tobytes()
    return gzip_bytes(image_file), gzip_bytes(label_file)


def build(folder: Path) -> None:
    raw = folder / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n, seed in (("train", 32, 300), ("t10k", 16, 301)):
        images, labels = idx_files(n, seed)
        (raw / f"{prefix}-images-idx3-ubyte.gz").write_bytes(images)
        (raw / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(labels)
