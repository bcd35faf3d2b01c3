"""Stand-in for Pascal VOC 2012 (``VOCtrainval_11-May-2012.tar``) for the full-profile rehearsal.

The same archive type and layout as the real one, as far as the book reads it: an uncompressed
tar of ``VOCdevkit/VOC2012/`` with ``JPEGImages/*.jpg`` (RGB JPEG), ``SegmentationClass/*.png``
(palette PNGs: 0 background, 1..20 classes, 255 void on object borders, VOC's colour map),
``ImageSets/Segmentation/{train,val,trainval}.txt`` and, for the detection readers,
``Annotations/*.xml`` and ``ImageSets/Main/{train,val,trainval}.txt``. 24 train and 16 val
images of 160×120 generated scenes (``cvbook.data.shapes_segmentation``), deterministic bytes.
"""

from __future__ import annotations

import io
import pathlib
import tarfile

import numpy as np
from PIL import Image

NAMES = ["2007_%06d" % i for i in range(40)]


def _palette() -> list[int]:
    """VOC's colour map (the bit-interleaving of the label's bits)."""
    colours = []
    for label in range(256):
        r = g = b = 0
        c = label
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        colours += [r, g, b]
    return colours


def _add(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(payload), 0, 0o644
    tar.addfile(info, io.BytesIO(payload))


def _xml(name: str, mask: np.ndarray) -> bytes:
    objects = []
    for label in sorted(set(np.unique(mask).tolist()) - {0, 255}):
        ys, xs = np.nonzero(mask == label)
        from cvbook.data.voc import VOC_CLASSES

        objects.append(f"<object><name>{VOC_CLASSES[label - 1]}</name><truncated>0</truncated><difficult>0</difficult>"
                       f"<bndbox><xmin>{xs.min() + 1}</xmin><ymin>{ys.min() + 1}</ymin><xmax>{xs.max() + 1}</xmax>"
                       f"<ymax>{ys.max() + 1}</ymax></bndbox></object>")
    h, w = mask.shape
    return (f"<annotation><folder>VOC2012</folder><filename>{name}.jpg</filename><size><width>{w}</width>"
            f"<height>{h}</height><depth>3</depth></size><segmented>1</segmented>{''.join(objects)}</annotation>").encode()


def build(folder: pathlib.Path) -> None:
    from scipy import ndimage

    from cvbook.data.shapes_segmentation import generate_scenes

    images, masks = generate_scenes(len(NAMES), size=160, classes=10, seed=2012)
    images, masks = images[:, :, 20:140].numpy(), masks[:, 20:140].numpy()  # 160 wide, 120 high
    base = "VOCdevkit/VOC2012/"
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / "VOCtrainval_11-May-2012.tar", "w", format=tarfile.USTAR_FORMAT) as tar:
        for name, image, mask in zip(NAMES, images, masks):
            mask = (mask * 2 % 21).astype(np.uint8)  # spread the 10 shape classes over VOC's 20
            border = ndimage.binary_dilation(mask > 0) & ~ndimage.binary_erosion(mask > 0)
            mask[border] = 255
            buffer = io.BytesIO()
            Image.fromarray(image.transpose(1, 2, 0)).save(buffer, format="JPEG", quality=90)
            _add(tar, f"{base}JPEGImages/{name}.jpg", buffer.getvalue())
            png = Image.fromarray(mask, mode="P")
            png.putpalette(_palette())
            buffer = io.BytesIO()
            png.save(buffer, format="PNG")
            _add(tar, f"{base}SegmentationClass/{name}.png", buffer.getvalue())
            _add(tar, f"{base}Annotations/{name}.xml", _xml(name, mask))
        splits = {"train": NAMES[:24], "val": NAMES[24:], "trainval": NAMES}
        for split, names in splits.items():
            listing = ("\n".join(names) + "\n").encode()
            _add(tar, f"{base}ImageSets/Segmentation/{split}.txt", listing)
            _add(tar, f"{base}ImageSets/Main/{split}.txt", listing)
