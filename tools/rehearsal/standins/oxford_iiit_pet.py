"""Stand-in for the Oxford-IIIT Pet dataset (``images.tar.gz``, ``annotations.tar.gz``) for the
full-profile rehearsal.

The same archive types and layout as the real ones: gzipped tars holding ``images/<Breed>_<n>.jpg``
(RGB JPEG) and ``annotations/{list,trainval,test}.txt`` (lines ``name class species breed_id``)
with ``annotations/trimaps/<name>.png`` (mode L: 1 pet, 2 background, 3 border). 32 trainval
(chapter 15 trains on batches of 32 and drops incomplete ones) and 16 test images of 128×112
generated scenes, deterministic bytes.
"""

from __future__ import annotations

import gzip
import io
import pathlib
import tarfile

import numpy as np
from PIL import Image

BREEDS = [("Abyssinian", 1, 1), ("american_bulldog", 2, 2), ("Bengal", 6, 1), ("beagle", 4, 2)]


def _targz(path: pathlib.Path, members: dict[str, bytes]) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(payload), 0, 0o644
            tar.addfile(info, io.BytesIO(payload))
    with open(path, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())


def build(folder: pathlib.Path) -> None:
    from scipy import ndimage

    from cvbook.data.shapes_segmentation import generate_scenes

    images, masks = generate_scenes(48, size=128, classes=3, layers=1, seed=37, radius=(0.2, 0.3), max_objects=2)
    images, masks = images[:, :, 8:120].numpy(), masks[:, 8:120].numpy()
    names, lines, image_files, annotation_files = [], [], {}, {}
    for i, (image, mask) in enumerate(zip(images, masks)):
        breed, class_id, species = BREEDS[i % len(BREEDS)]
        name = f"{breed}_{i + 1}"
        names.append(name)
        lines.append(f"{name} {class_id} {species} {i // len(BREEDS) + 1}")
        buffer = io.BytesIO()
        Image.fromarray(image.transpose(1, 2, 0)).save(buffer, format="JPEG", quality=90)
        image_files[f"images/{name}.jpg"] = buffer.getvalue()
        pet = mask > 0
        border = ndimage.binary_dilation(pet) & ~ndimage.binary_erosion(pet)
        trimap = np.where(border, 3, np.where(pet, 1, 2)).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(trimap, mode="L").save(buffer, format="PNG")
        annotation_files[f"annotations/trimaps/{name}.png"] = buffer.getvalue()
    annotation_files["annotations/list.txt"] = ("#Image CLASS-ID SPECIES BREED ID\n" + "\n".join(lines) + "\n").encode()
    annotation_files["annotations/trainval.txt"] = ("\n".join(lines[:32]) + "\n").encode()
    annotation_files["annotations/test.txt"] = ("\n".join(lines[32:]) + "\n").encode()
    folder.mkdir(parents=True, exist_ok=True)
    _targz(folder / "images.tar.gz", image_files)
    _targz(folder / "annotations.tar.gz", annotation_files)
