"""Stand-in for the Penn-Fudan pedestrian dataset (``PennFudanPed.zip``) for the full-profile rehearsal.

The same archive type and layout as the real one: a zip of ``PennFudanPed/PNGImages/FudanPed000NN.png``
(RGB PNG), ``PennFudanPed/PedMasks/FudanPed000NN_mask.png`` (mode L: 0 background, k on
pedestrian k) and ``PennFudanPed/Annotation/FudanPed000NN.txt``. 60 images of 128×96 generated
scenes (so that the reader's 50-image test split leaves 10 for training), deterministic bytes.
"""

from __future__ import annotations

import io
import pathlib
import zipfile

import numpy as np
from PIL import Image


def build(folder: pathlib.Path) -> None:
    from cvbook.data.shapes import generate_shapes

    batch = generate_shapes(60, size=128, classes=("bar", "ellipse"), min_objects=1, max_objects=3,
                            radius=(0.15, 0.3), seed=170)
    images = batch.images[:, :, 16:112].numpy()
    instances = batch.instances[:, 16:112].numpy()
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "PennFudanPed.zip", "w", zipfile.ZIP_DEFLATED) as z:
        def add(name: str, payload: bytes) -> None:
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), payload)

        for i, (image, inst) in enumerate(zip(images, instances)):
            name = f"FudanPed{i + 1:05d}"
            ids = [k for k in np.unique(inst).tolist() if k > 0]
            relabel = np.zeros(256, dtype=np.uint8)
            relabel[ids] = np.arange(1, len(ids) + 1)
            for kind, array, suffix in (("PNGImages", image.transpose(1, 2, 0), ""), ("PedMasks", relabel[inst], "_mask")):
                buffer = io.BytesIO()
                Image.fromarray(array).save(buffer, format="PNG")
                add(f"PennFudanPed/{kind}/{name}{suffix}.png", buffer.getvalue())
            boxes = "\n".join(f'Bounding box for object {j + 1} "PASpersonWalking" (Xmin, Ymin) - (Xmax, Ymax) : '
                              f"({xs.min() + 1}, {ys.min() + 1}) - ({xs.max() + 1}, {ys.max() + 1})"
                              for j, (ys, xs) in enumerate(np.nonzero(relabel[inst] == k + 1) for k in range(len(ids))))
            add(f"PennFudanPed/Annotation/{name}.txt", f"Image filename : \"PennFudanPed/PNGImages/{name}.png\"\n{boxes}\n".encode())
