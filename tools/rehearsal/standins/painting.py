"""Stand-in for the style-transfer painting: a small JPEG under the file name of ``sources.json``.

Built from scikit-image's ``hubble_deep_field`` photograph, resized to 384×264 and saved by
Pillow at quality 90 (deterministic bytes).
"""

from __future__ import annotations

import pathlib


def build(folder: pathlib.Path) -> None:
    import skimage.data
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(skimage.data.hubble_deep_field()).resize((384, 264), Image.BICUBIC)
    image.save(folder / "The_Scream.jpg", format="JPEG", quality=90)
