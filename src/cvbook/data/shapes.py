"""Procedural shapes: images with class labels, exact boxes and exact masks.

The quick profile's stand-in for VOC and COCO. Every object is drawn from a closed-form
region (a disc, a square, a triangle, ...), objects never overlap, and each object's box
is the tight box of its own pixels, so the ground truth is exact, not annotated.

Boxes are in pixel-edge ``xyxy``: an object covering columns 3..7 has ``x1 = 3`` and
``x2 = 8``. Generation is vectorised over images (no Python loop over images), and the
same ``seed`` always gives the same data.

>>> batch = generate_shapes(4, size=64, seed=0)
>>> batch.images.shape, batch.boxes.shape, batch.labels.shape
(torch.Size([4, 3, 64, 64]), torch.Size([4, 4, 4]), torch.Size([4, 4]))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from cvbook._checks import check_positive_int

__all__ = ["SHAPE_NAMES", "ShapesBatch", "generate_shapes", "ShapesDetection", "ShapesClassification"]

# Each shape is a region {(u, v) : inside(u, v)} in coordinates normalised by the
# object's radius, u to the right and v downwards, centred on the object's centre. Every
# region lies inside the unit disc, which is what the placement keeps apart.
_REGIONS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "circle": lambda u, v: u * u + v * v <= 1.0,
    "square": lambda u, v: (np.abs(u) <= 0.7) & (np.abs(v) <= 0.7),
    "triangle": lambda u, v: (v <= 0.5) & (np.abs(u) <= (v + 1.0) * 0.577),
    "diamond": lambda u, v: np.abs(u) + np.abs(v) <= 1.0,
    "plus": lambda u, v: ((np.abs(u) <= 0.3) & (np.abs(v) <= 0.95)) | ((np.abs(v) <= 0.3) & (np.abs(u) <= 0.95)),
    "ring": lambda u, v: (u * u + v * v <= 1.0) & (u * u + v * v >= 0.36),
    "hexagon": lambda u, v: (np.abs(v) <= 0.866) & (1.732 * np.abs(u) + np.abs(v) <= 1.732),
    "ellipse": lambda u, v: u * u + v * v / 0.3 <= 1.0,
    "bar": lambda u, v: (np.abs(u) <= 0.35) & (np.abs(v) <= 0.93),
    "half-disc": lambda u, v: (u * u + v * v <= 1.0) & (v >= 0.0),
}
SHAPE_NAMES: tuple[str, ...] = tuple(_REGIONS)


@dataclass
class ShapesBatch:
    """A generated set of shape images.

    Attributes:
        images: ``(N, 3, H, W)`` uint8.
        boxes: ``(N, K, 4)`` float32, pixel-edge ``xyxy``; padding rows are zeros.
        labels: ``(N, K)`` int64 class index into ``class_names``, ``-1`` for padding.
        instances: ``(N, H, W)`` uint8, ``k + 1`` where object ``k`` is, ``0`` on background.
        class_names: the names of the classes, in label order.
    """

    images: torch.Tensor
    boxes: torch.Tensor
    labels: torch.Tensor
    instances: torch.Tensor
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return self.images.shape[0]

    def semantic_masks(self) -> torch.Tensor:
        """``(N, H, W)`` int64: ``0`` for background, ``label + 1`` on each object."""
        lut = torch.cat([torch.full((len(self), 1), -1), self.labels], dim=1) + 1  # (N, K+1)
        return torch.gather(lut, 1, self.instances.long().flatten(1)).view_as(self.instances)

    def d2l_labels(self) -> torch.Tensor:
        """``(N, K, 5)`` rows ``[class, x1, y1, x2, y2]`` with coordinates divided by the
        image size (the convention of ``cvbook.detection.anchors.multibox_target``), ``-1`` rows
        for padding."""
        size = self.images.shape[-1]
        out = torch.cat([self.labels[..., None].float(), self.boxes / size], dim=-1)
        out[self.labels < 0] = -1.0
        return out


def generate_shapes(
    n: int,
    *,
    size: int = 64,
    classes: tuple[str, ...] | int = 3,
    min_objects: int = 1,
    max_objects: int = 4,
    radius: tuple[float, float] = (0.1, 0.22),
    noise: float = 0.04,
    seed: int = 0,
) -> ShapesBatch:
    """Draw ``n`` images of ``size × size`` pixels with ``min_objects..max_objects`` shapes each.

    Args:
        classes: the shape names to use, or how many of ``SHAPE_NAMES`` (from the first).
        radius: range of object radii as fractions of ``size``.
        noise: standard deviation of the Gaussian pixel noise, on a 0..1 scale.
        seed: the same seed gives the same images, boxes and masks.

    Objects that would come within 1.5 pixels of an earlier object in the same image are
    left out, so an image can hold fewer than it drew, but always at least one; objects
    never overlap, so every mask and box is exact.
    """
    if isinstance(classes, int):
        if not 1 <= classes <= len(SHAPE_NAMES):
            raise ValueError(f"classes={classes}: choose between 1 and {len(SHAPE_NAMES)} shape classes")
        classes = SHAPE_NAMES[:classes]
    unknown = [c for c in classes if c not in _REGIONS]
    if unknown:
        raise ValueError(f"unknown shape(s) {unknown}; available: {', '.join(SHAPE_NAMES)}")
    if not 1 <= min_objects <= max_objects:
        raise ValueError(f"need 1 <= min_objects <= max_objects, got {min_objects}, {max_objects}")
    check_positive_int(n, "n", minimum=0)
    check_positive_int(size, "size")
    largest = (size / 2 - 1) / size  # a disc must fit with a pixel to spare on both sides
    if not 0 < radius[0] <= radius[1] <= largest:
        raise ValueError(f"radius={tuple(radius)} must satisfy 0 < low <= high <= {largest:.3f} for {size}×{size} "
                         "images (the disc and its centre must fit inside); use smaller radii or a larger size.")
    rng = np.random.default_rng(seed)
    k = max_objects

    # Object parameters for every (image, slot), with `tries` candidate centres per slot.
    tries = 8
    r = rng.uniform(radius[0], radius[1], (n, k)) * size
    cand_x = rng.uniform(r[..., None] + 1, size - r[..., None] - 1, (n, k, tries))
    cand_y = rng.uniform(r[..., None] + 1, size - r[..., None] - 1, (n, k, tries))
    cls = rng.integers(0, len(classes), (n, k))
    wanted = np.arange(k)[None, :] < rng.integers(min_objects, max_objects + 1, (n, 1))

    # Place slot by slot: the first candidate centre whose disc stays 1.5 px clear of every
    # earlier placed disc; a slot with no such candidate is left out.
    cx, cy = cand_x[..., 0].copy(), cand_y[..., 0].copy()
    kept = np.zeros((n, k), dtype=bool)
    kept[:, 0] = True
    for s in range(1, k):
        gap = (np.hypot(cand_x[:, s, :, None] - cx[:, None, :s], cand_y[:, s, :, None] - cy[:, None, :s])
               - r[:, None, :s] - r[:, s, None, None])  # (n, tries, s)
        clear = ~np.any(kept[:, None, :s] & (gap < 1.5), axis=2)  # (n, tries)
        first = clear.argmax(axis=1)
        cx[:, s] = cand_x[np.arange(n), s, first]
        cy[:, s] = cand_y[np.arange(n), s, first]
        kept[:, s] = wanted[:, s] & clear.any(axis=1)

    # Kept objects move to the front of each row (slot s becomes position rank[:, s]) so
    # that padding sits at the end.
    rank = np.cumsum(kept, axis=1) - 1
    boxes = np.zeros((n, k, 4), dtype=np.float32)
    labels = np.full((n, k), -1, dtype=np.int64)

    # Background: a random linear gradient, with Gaussian noise.
    coordinate = np.arange(size, dtype=np.float32) / size  # of a pixel's column (x) or row (y)
    base = rng.uniform(0.0, 0.4, (n, 1, 1, 3)).astype(np.float32)
    slope = rng.uniform(-0.15, 0.15, (n, 2, 1, 1, 3)).astype(np.float32)
    # (base + sx·x) + sy·y, as a row of columns plus a column of rows, channels first
    columns = np.ascontiguousarray((base + slope[:, 0] * coordinate[None, None, :, None]).transpose(0, 3, 1, 2))
    rows = np.ascontiguousarray((slope[:, 1] * coordinate[None, :, None, None]).transpose(0, 3, 1, 2))
    img = np.empty((n, 3, size, size), dtype=np.float32)
    # A few images at a time, so that the noise stays in the cache. The noise is drawn
    # channels last, as the generator's stream has always been read.
    chunk = 64
    pixel_noise = np.empty((chunk, size, size, 3), dtype=np.float32)
    for start in range(0, n, chunk):
        part, part_noise = img[start:start + chunk], pixel_noise[:min(chunk, n - start)]
        part[:] = columns[start:start + chunk]  # (chunk, 3, 1, size)
        part += rows[start:start + chunk]  # (chunk, 3, size, 1)
        rng.standard_normal(part_noise.shape, dtype=np.float32, out=part_noise)
        part_noise *= np.float32(noise)
        part += part_noise.transpose(0, 3, 1, 2)
    del pixel_noise
    colour = rng.uniform(0.55, 1.0, (n, k, 3)).astype(np.float32)
    instances = np.zeros((n, size, size), dtype=np.uint8)

    # Draw each slot in a window around its centre (objects fit in 2r + 3 pixels).
    win = min(int(np.ceil(2 * radius[1] * size)) + 3, size)
    grid = np.arange(win, dtype=np.float32)
    for s in range(k):
        idx = np.flatnonzero(kept[:, s])
        ox = np.clip(np.floor(cx[idx, s]).astype(int) - win // 2, 0, size - win)
        oy = np.clip(np.floor(cy[idx, s]).astype(int) - win // 2, 0, size - win)
        # Pixel centres are at integer + 0.5.
        u = (ox[:, None, None] + grid[None, None, :] + 0.5 - cx[idx, s, None, None]) / r[idx, s, None, None]
        v = (oy[:, None, None] + grid[None, :, None] + 0.5 - cy[idx, s, None, None]) / r[idx, s, None, None]
        inside = np.zeros((len(idx), win, win), dtype=bool)
        for c, shape in enumerate(classes):
            sel = cls[idx, s] == c
            if sel.any():
                inside[sel] = _REGIONS[shape](u[sel], v[sel])
        # Exact box: the first and one-past-the-last pixel row and column of the object.
        cols_hit, rows_hit = inside.any(axis=1), inside.any(axis=2)
        pos = rank[idx, s]
        boxes[idx, pos, 0] = ox + cols_hit.argmax(axis=1)
        boxes[idx, pos, 2] = ox + win - cols_hit[:, ::-1].argmax(axis=1)
        boxes[idx, pos, 1] = oy + rows_hit.argmax(axis=1)
        boxes[idx, pos, 3] = oy + win - rows_hit[:, ::-1].argmax(axis=1)
        labels[idx, pos] = cls[idx, s]
        img_i, row_i, col_i = np.nonzero(inside)
        img_n = idx[img_i]
        pixel = (oy[img_i] + row_i) * size + ox[img_i] + col_i  # flat (row, column)
        instances.reshape(n, size * size)[img_n, pixel] = pos[img_i] + 1
        img.reshape(n, 3, size * size)[img_n, :, pixel] = (colour[img_n, s]
                                                  + noise * rng.standard_normal((len(pixel), 3), dtype=np.float32))

    np.clip(img, 0.0, 1.0, out=img)
    img *= 255
    img += 0.5  # then truncated: the nearest of the 256 levels
    return ShapesBatch(
        images=torch.from_numpy(img.astype(np.uint8)),
        boxes=torch.from_numpy(boxes),
        labels=torch.from_numpy(labels),
        instances=torch.from_numpy(instances),
        class_names=tuple(classes),
    )


class ShapesDetection(Dataset):
    """Shapes as a detection and instance-segmentation dataset, torchvision style.

    Item ``i`` is ``(image, target)``: ``image`` a ``(3, H, W)`` float tensor in ``[0, 1]``,
    ``target`` a dict with ``boxes`` ``(k, 4)`` float xyxy, ``labels`` ``(k,)`` int64 and
    ``masks`` ``(k, H, W)`` bool. ``split`` picks a disjoint seed, so ``"train"`` and
    ``"test"`` never share an image.
    """

    SPLIT_SEEDS = {"train": 0, "val": 1, "test": 2}

    def __init__(self, n: int = 1000, split: str = "train", *, seed: int = 0, transform=None, **kwargs) -> None:
        if split not in self.SPLIT_SEEDS:
            raise ValueError(f"split={split!r}: use one of {list(self.SPLIT_SEEDS)}")
        self.batch = generate_shapes(n, seed=1000 * seed + self.SPLIT_SEEDS[split], **kwargs)
        self.classes = self.batch.class_names
        self.transform = transform

    def __len__(self) -> int:
        return len(self.batch)

    def __getitem__(self, i: int):
        b = self.batch
        keep = b.labels[i] >= 0
        count = int(keep.sum())
        target = {
            "boxes": b.boxes[i, :count].clone(),
            "labels": b.labels[i, :count].clone(),
            "masks": b.instances[i][None] == torch.arange(1, count + 1, dtype=torch.uint8)[:, None, None],
        }
        image = b.images[i].float() / 255
        if self.transform is not None:
            image, target = self.transform(image, target)
        return image, target


class ShapesClassification(Dataset):
    """One shape per image: a 10-class, 32×32 RGB classification set shaped like CIFAR-10.

    Item ``i`` is ``(image, label)`` with ``image`` a ``(3, size, size)`` float tensor in
    ``[0, 1]`` (or whatever ``transform`` makes of it).
    """

    SPLIT_SEEDS = {"train": 10, "val": 11, "test": 12}

    def __init__(self, n: int = 5000, split: str = "train", *, size: int = 32, num_classes: int = 10,
                 seed: int = 0, transform=None) -> None:
        if split not in self.SPLIT_SEEDS:
            raise ValueError(f"split={split!r}: use one of {list(self.SPLIT_SEEDS)}")
        b = generate_shapes(n, size=size, classes=num_classes, min_objects=1, max_objects=1,
                            radius=(0.2, 0.45), noise=0.06, seed=1000 * seed + self.SPLIT_SEEDS[split])
        self.images, self.targets, self.classes = b.images, b.labels[:, 0], b.class_names
        self.transform = transform

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int):
        image = self.images[i].float() / 255
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.targets[i])
