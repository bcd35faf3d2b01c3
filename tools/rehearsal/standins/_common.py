"""Helpers shared by the stand-in builders: deterministic archives and generated images.

Every stand-in is built from the ``shapes`` generator of :mod:`cvbook.data.shapes` (exact
boxes and masks, fixed seeds), so two builds write byte-identical files: archives get fixed
timestamps, owners and member order, and gzip streams a zero mtime.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

#: The timestamp every archive member carries (the day VOC 2007's trainval tar was published).
MTIME = 1194307200  # 2007-11-06 00:00:00 UTC


def parents(names) -> list[str]:
    """Every folder above the given member names, outermost first, each once."""
    seen: dict[str, None] = {}
    for name in names:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            seen.setdefault("/".join(parts[:i]), None)
    return sorted(seen, key=lambda d: (d.count("/"), d))


def write_tar(path: Path, members: Mapping[str, bytes], mode: str = "w") -> None:
    """A tar archive (``mode="w"``, or ``"w:gz"``) of ``members`` with their folders, deterministic."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for folder in parents(members):
            info = tarfile.TarInfo(folder)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, MTIME
            tar.addfile(info)
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(members[name]), 0o644, MTIME
            tar.addfile(info, io.BytesIO(members[name]))
    data = raw.getvalue()
    if mode == "w:gz":
        data = gzip_bytes(data)
    elif mode != "w":
        raise ValueError(f"mode={mode!r}: use 'w' or 'w:gz'")
    path.write_bytes(data)


def write_zip(path: Path, members: Mapping[str, bytes]) -> None:
    """A deflated zip archive of ``members`` with their folders, deterministic."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = (2007, 11, 6, 0, 0, 0)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for folder in parents(members):
            z.writestr(zipfile.ZipInfo(folder + "/", date_time=stamp), b"")
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, members[name])


def gzip_bytes(data: bytes) -> bytes:
    """``data`` gzip-compressed with a zero timestamp and no file name (deterministic)."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as f:
        f.write(data)
    return out.getvalue()


def encode_image(array: np.ndarray, fmt: str, palette: list[int] | None = None) -> bytes:
    """An ``(H, W, 3)`` or ``(H, W)`` uint8 array as PNG or JPEG bytes (a palette makes a mode-P PNG)."""
    from PIL import Image

    array = np.ascontiguousarray(array, dtype=np.uint8)
    if palette is not None:
        if array.ndim != 2:
            raise ValueError("a palette image is an (H, W) array of palette indices")
        image = Image.frombytes("P", (array.shape[1], array.shape[0]), array.tobytes())
        image.putpalette(palette)
    else:
        image = Image.fromarray(array)
    out = io.BytesIO()
    image.save(out, format=fmt, **({"quality": 85} if fmt == "JPEG" else {"optimize": False}))
    return out.getvalue()


def shapes(n: int, size: int, classes, *, seed: int, radius=(0.1, 0.22), max_objects: int = 4,
           min_objects: int = 1, noise: float = 0.02):
    """Generated shape images (:func:`cvbook.data.generate_shapes`) as numpy arrays.

    Returns ``(images (n, size, size, 3) uint8, instances (n, size, size) uint8, labels (n, K) int64)``.
    """
    from cvbook.data import generate_shapes

    batch = generate_shapes(n, size=size, classes=classes, min_objects=min_objects, max_objects=max_objects,
                            radius=radius, noise=noise, seed=seed)
    return batch.images.permute(0, 2, 3, 1).numpy(), batch.instances.numpy(), batch.labels.numpy()


def balanced_shapes(n: int, size: int, num_classes: int, *, seed: int, radius=(0.2, 0.45), noise: float = 0.02):
    """``n`` single-shape images whose classes cycle ``0, 1, ..., num_classes - 1, 0, ...``.

    Like a real test set, any ``num_classes`` consecutive items hold every class (a per-class ROC
    curve has positives). Returns ``(images (n, size, size, 3) uint8, instances (n, size, size)
    uint8, labels (n,) int64)``, picked in order from a larger generated pool.
    """
    images, instances, labels = shapes(4 * n + 10 * num_classes, size, num_classes, seed=seed, radius=radius,
                                       min_objects=1, max_objects=1, noise=noise)
    labels = labels[:, 0]
    picked, used = [], set()
    for i in range(n):
        want = i % num_classes
        j = next(k for k in range(len(labels)) if labels[k] == want and k not in used)
        used.add(j)
        picked.append(j)
    return images[picked], instances[picked], labels[picked]
