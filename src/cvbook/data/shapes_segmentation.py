"""Generated scenes for semantic segmentation: several classes, touching and overlapping shapes.

The quick profile's stand-in for Pascal VOC segmentation. A scene is ``layers`` sets of
shapes from :func:`cvbook.data.shapes.generate_shapes` painted over each other: shapes of one
layer never touch, but a later layer hides parts of the earlier ones, so objects touch,
overlap and lose parts of their outline, as in photos. The label of a pixel is the class of
the shape visible there plus 1, and 0 on the background; the masks are exact.

>>> ds = ShapesSegmentation(8, size=96, classes=5)
>>> image, mask = ds[0]
>>> image.shape, mask.shape, ds.classes[0]
(torch.Size([3, 96, 96]), torch.Size([96, 96]), 'background')
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from cvbook._checks import check_positive_int
from cvbook.data.shapes import SHAPE_NAMES, generate_shapes

__all__ = ["ShapesSegmentation", "generate_scenes"]


def generate_scenes(n: int, *, size: int = 96, classes: int = 5, layers: int = 2, seed: int = 0,
                    radius: tuple[float, float] = (0.08, 0.2),
                    max_objects: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` scenes of ``size × size`` pixels.

    Returns:
        ``images`` ``(n, 3, size, size)`` uint8 and ``masks`` ``(n, size, size)`` int64 in
        ``0 .. classes`` (0: background, ``c + 1``: shape class ``c``).
    """
    check_positive_int(n, "n")
    layers = check_positive_int(layers, "layers")
    if not 1 <= classes <= len(SHAPE_NAMES):
        raise ValueError(f"classes must lie in 1..{len(SHAPE_NAMES)}, got {classes}.")
    first = generate_shapes(n, size=size, classes=classes, min_objects=2, max_objects=max_objects,
                            radius=radius, seed=seed)
    images, masks = first.images.clone(), first.semantic_masks()
    for layer in range(1, layers):
        more = generate_shapes(n, size=size, classes=classes, min_objects=1, max_objects=max_objects,
                               radius=radius, seed=seed + 7919 * layer)
        on_top = more.instances > 0  # (n, H, W)
        images = torch.where(on_top[:, None], more.images, images)
        masks = torch.where(on_top, more.semantic_masks(), masks)
    return images, masks


class ShapesSegmentation(Dataset):
    """Scenes of :func:`generate_scenes` as a dataset of ``(image (3, H, W) float in [0, 1],
    mask (H, W) int64)`` pairs; ``split`` picks disjoint seeds. ``classes`` names the
    ``classes + 1`` labels, background first."""

    SPLIT_SEEDS = {"train": 100, "val": 101, "test": 102}

    def __init__(self, n: int = 1000, split: str = "train", *, size: int = 96, classes: int = 5, layers: int = 2,
                 seed: int = 0, transform=None) -> None:
        if split not in self.SPLIT_SEEDS:
            raise ValueError(f"split={split!r}: use one of {list(self.SPLIT_SEEDS)}")
        self.images, self.masks = generate_scenes(n, size=size, classes=classes, layers=layers,
                                                  seed=1000 * seed + self.SPLIT_SEEDS[split])
        self.classes: tuple[str, ...] = ("background", *SHAPE_NAMES[:classes])
        self.transform = transform

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self.images[i].float() / 255, self.masks[i]
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        return image, mask
