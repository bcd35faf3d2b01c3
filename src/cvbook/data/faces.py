"""Face-detection scenes with exact boxes, from photographs that installed packages ship.

scikit-image ships 100 real faces from Labeled Faces in the Wild (``skimage.data.lfw_subset``:
25×25 greyscale crops, tight around the face, followed by 100 crops of non-faces). Pasting
them at known positions and sizes onto real backgrounds (photos and textures) gives scenes
whose ground-truth boxes are exact, so that a face detector's precision, recall and AP can be
measured offline.

>>> images, boxes = compose_face_scenes(2, seed=0)
>>> images.shape, images.dtype
((2, 256, 256, 3), dtype('uint8'))
>>> [b.shape[1] for b in boxes]
[4, 4]
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from cvbook import profile
from cvbook._checks import check_image_size, check_positive_int, check_real
from cvbook.data.cap import generated_size
from cvbook.data.offline import photo

__all__ = ["FACE_BACKGROUNDS", "lfw_faces", "compose_face_scenes"]

#: Backgrounds without human faces, photos and textures shipped by scikit-image and scikit-learn.
FACE_BACKGROUNDS = ("brick", "grass", "gravel", "coffee", "rocket", "china", "flower")


def lfw_faces(kind: str = "faces") -> np.ndarray:
    """scikit-image's LFW crops: ``(100, 25, 25)`` float64 in ``[0, 1]``.

    ``kind="faces"`` gives the 100 faces, ``"non-faces"`` the 100 crops of other things
    (some hold parts of faces: hard negatives).
    """
    import skimage.data

    if kind not in ("faces", "non-faces"):
        raise ValueError(f"kind={kind!r}: choose 'faces' or 'non-faces'.")
    crops = skimage.data.lfw_subset()
    return crops[:100] if kind == "faces" else crops[100:]


@functools.lru_cache(maxsize=len(FACE_BACKGROUNDS))
def _rgb_photo(name: str) -> np.ndarray:
    image = photo(name)
    image = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]
    image.flags.writeable = False  # cached: shared by every call
    return image


def _background(name: str, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A random crop of a background, at least ``size`` (rescaled if the photo is smaller): uint8 (H, W, 3)."""
    from skimage.transform import resize

    image = _rgb_photo(name)
    h, w = size
    zoom = max(h / image.shape[0], w / image.shape[1], 1.0)
    if zoom > 1:
        image = (resize(image, (int(np.ceil(image.shape[0] * zoom)), int(np.ceil(image.shape[1] * zoom))),
                        order=1, anti_aliasing=False) * 255).round().astype(np.uint8)
    top = rng.integers(0, image.shape[0] - h + 1)
    left = rng.integers(0, image.shape[1] - w + 1)
    return image[top:top + h, left:left + w]


def compose_face_scenes(
    n: int,
    seed: int = 0,
    *,
    image_size: int | tuple[int, int] = 256,
    faces_per_image: tuple[int, int] = (1, 4),
    face_size: tuple[int, int] = (32, 100),
    distractors: int = 0,
    max_rotation: float = 0.0,
    backgrounds: Sequence[str] = FACE_BACKGROUNDS,
    max_items: int | None = None,
) -> tuple[np.ndarray, list[Tensor]]:
    """Scenes of real faces pasted at known places on real backgrounds.

    The image is divided into a 2×2 grid; each face goes into its own cell, so faces never
    overlap, as a square of a random side in ``face_size`` at a random position inside the
    cell. Faces are drawn from :func:`lfw_faces` without repetition within a scene, resized
    bilinearly and pasted in grey. Optional ``distractors`` (non-face crops of the same
    subset, hard negatives) fill cells left empty. With ``max_rotation`` each crop is turned in
    the image plane by a random angle in ``[-max_rotation, max_rotation]`` degrees, about its
    centre (a tilted head; the corners it uncovers show the background), and its box stays
    the square it was pasted in.

    Args:
        n: number of scenes; at most ``max_items`` of them.
        max_items: a cap on ``n`` (default: the settings' cap for generated sets, ``"face-scenes"``
            or ``"generated"``, as for the registry's generated sets; normally none).
        seed: seed of everything random (the same seed gives the same scenes, and the same
            faces, places and backgrounds whatever ``max_rotation``: only the tilt differs).
        image_size: ``(H, W)`` or one number; each side at least ``2 * face_size[1]``.
        faces_per_image: ``(min, max)`` faces per scene, within ``[0, 4]``.
        face_size: ``(min, max)`` side of a face in pixels (at least 12).
        distractors: at most this many non-face crops per scene, in empty cells.
        max_rotation: largest in-plane tilt in degrees, in ``[0, 90]``.
        backgrounds: names for :func:`cvbook.data.offline.photo`, drawn at random per scene.

    Returns:
        ``images`` ``(n, H, W, 3)`` uint8 and ``boxes``: one ``(K, 4)`` float32 tensor per
        scene, ``xyxy`` pixel edges of the faces (a face covering columns ``0..s-1`` has
        ``x1 = 0``, ``x2 = s``).
    """
    from skimage.transform import resize, rotate

    if max_items is None:
        max_items = profile.settings().max_items.for_generated("face-scenes")
    n = generated_size(check_positive_int(n, "n"), max_items)
    height, width = check_image_size(image_size, "image_size")
    low, high = (int(v) for v in faces_per_image)
    if not 0 <= low <= high <= 4:
        raise ValueError(f"faces_per_image must be (min, max) with 0 <= min <= max <= 4 (a 2x2 grid), "
                         f"got {faces_per_image!r}.")
    smallest, largest = (int(v) for v in face_size)
    if not 12 <= smallest <= largest or 2 * largest > min(height, width):
        raise ValueError(f"face_size must be (min, max) with 12 <= min <= max <= half the image's shorter side "
                         f"({min(height, width) // 2}), got {face_size!r}.")
    max_rotation = check_real(max_rotation, "max_rotation", low=0, high=90)
    if not backgrounds or any(not isinstance(b, str) for b in backgrounds):
        raise ValueError("backgrounds must be a non-empty sequence of photo names (see cvbook.data.PHOTOS).")
    rng = np.random.default_rng(seed)
    faces, non_faces = lfw_faces("faces"), lfw_faces("non-faces")
    cell_h, cell_w = height // 2, width // 2
    images = np.empty((n, height, width, 3), np.uint8)
    boxes = []
    for i in range(n):
        images[i] = _background(backgrounds[rng.integers(len(backgrounds))], (height, width), rng)
        count = int(rng.integers(low, high + 1))
        extra = min(int(rng.integers(0, distractors + 1)), 4 - count)
        cells = rng.permutation(4)[:count + extra]
        sides = rng.integers(smallest, largest + 1, size=cells.size)
        x = (cells % 2) * cell_w + (rng.random(cells.size) * (cell_w - sides + 1)).astype(int)
        y = (cells // 2) * cell_h + (rng.random(cells.size) * (cell_h - sides + 1)).astype(int)
        crops = np.concatenate([faces[rng.choice(len(faces), count, replace=False)],
                                non_faces[rng.choice(len(non_faces), extra, replace=False)]])
        angles = rng.uniform(-max_rotation, max_rotation, size=cells.size)
        for crop, side, left, top, angle in zip(crops, sides, x, y, angles):
            patch = resize(crop, (side, side), order=1, anti_aliasing=False)
            covered = np.ones_like(patch)
            if angle:
                patch, covered = rotate(patch, angle, order=1), rotate(covered, angle, order=1)
            region = images[i, top:top + side, left:left + side]  # a view: pasting writes the scene
            region[:] = (covered[..., None] * patch[..., None] * 255 + (1 - covered[..., None]) * region).round()
        boxes.append(torch.tensor(np.stack([x, y, x + sides, y + sides], axis=1)[:count], dtype=torch.float32))
    return images, boxes
