"""Pascal VOC 2007 stand-in: ``VOCtrainval_06-Nov-2007.tar`` and ``VOCtest_06-Nov-2007.tar``.

Upstream layout (plain, uncompressed tars that both unpack into ``VOCdevkit/VOC2007/``):

- ``JPEGImages/<id>.jpg``: colour photographs, ids of six digits;
- ``Annotations/<id>.xml``: one ``<annotation>`` per image (folder, filename, source, owner,
  size, segmented, and per object its name, pose, truncated, difficult and ``<bndbox>`` in
  1-based, inclusive pixel indices);
- ``ImageSets/Main/{train,val,trainval}.txt`` (test tar: ``test.txt``) and per class
  ``<class>_<set>.txt`` with ``1``, ``-1`` or ``0`` (difficult only) per image;
- ``ImageSets/Segmentation/<set>.txt``: the images that also have masks, in
  ``SegmentationClass/<id>.png`` (palette PNG, 0 background, ``c + 1`` for class ``c``, 255 on
  object borders) and ``SegmentationObject/<id>.png`` (instance ``k`` as ``k``, 255 borders).

Here: 40 ``trainval`` and 16 ``test`` images of generated shapes, each shape one of ten VOC
classes, cropped from 256×256 to 256×192 or 192×256 (objects cut by the crop are marked
``truncated``); every fifth object is ``difficult``; every second image is segmented.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from _common import encode_image, shapes, write_tar

CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
           "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
           "train", "tvmonitor")
ROOT = "VOCdevkit/VOC2007"


def voc_palette() -> list[int]:
    """VOC's colour map: label ``i``'s colour from the bits of ``i`` (255, the border, is cream)."""
    palette = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    return palette


def borders(instances: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: object pixels with a 4-neighbour of another label (VOC marks them 255)."""
    padded = np.pad(instances, 1, mode="edge")
    centre = padded[1:-1, 1:-1]
    differs = ((padded[:-2, 1:-1] != centre) | (padded[2:, 1:-1] != centre)
               | (padded[1:-1, :-2] != centre) | (padded[1:-1, 2:] != centre))
    return differs & (centre > 0)


def annotation_xml(image_id: str, width: int, height: int, segmented: bool, objects: list[dict]) -> bytes:
    lines = ["<annotation>", "\t<folder>VOC2007</folder>", f"\t<filename>{image_id}.jpg</filename>",
             "\t<source>", "\t\t<database>The VOC2007 Database</database>",
             "\t\t<annotation>PASCAL VOC2007</annotation>", "\t\t<image>flickr</image>",
             f"\t\t<flickrid>{int(image_id) * 7919}</flickrid>", "\t</source>",
             "\t<owner>", "\t\t<flickrid>cvbook</flickrid>", "\t\t<name>cvbook rehearsal</name>", "\t</owner>",
             "\t<size>", f"\t\t<width>{width}</width>", f"\t\t<height>{height}</height>", "\t\t<depth>3</depth>",
             "\t</size>", f"\t<segmented>{int(segmented)}</segmented>"]
    for obj in objects:
        xmin, ymin, xmax, ymax = obj["bndbox"]
        lines += ["\t<object>", f"\t\t<name>{obj['name']}</name>", "\t\t<pose>Unspecified</pose>",
                  f"\t\t<truncated>{int(obj['truncated'])}</truncated>",
                  f"\t\t<difficult>{int(obj['difficult'])}</difficult>", "\t\t<bndbox>",
                  f"\t\t\t<xmin>{xmin}</xmin>", f"\t\t\t<ymin>{ymin}</ymin>",
                  f"\t\t\t<xmax>{xmax}</xmax>", f"\t\t\t<ymax>{ymax}</ymax>", "\t\t</bndbox>", "\t</object>"]
    lines.append("</annotation>")
    return ("\n".join(lines) + "\n").encode()


def image_set(ids: list[str]) -> bytes:
    return "".join(f"{i}\n" for i in ids).encode()


def class_set(ids: list[str], objects: dict[str, list[dict]], name: str) -> bytes:
    """``<class>_<set>.txt``: 1 if the image has a non-difficult object of the class, 0 if only difficult ones, else -1."""
    rows = []
    for i in ids:
        flags = [o["difficult"] for o in objects[i] if o["name"] == name]
        rows.append(f"{i} {(-1 if not flags else 0 if all(flags) else 1):2d}\n")
    return "".join(rows).encode()


def split_members(ids: list[str], seed: int, sets: dict[str, list[str]], first_index: int) -> dict[str, bytes]:
    images, instances, labels = shapes(len(ids), 256, 10, seed=seed, radius=(0.08, 0.2))
    palette = voc_palette()
    members: dict[str, bytes] = {}
    objects: dict[str, list[dict]] = {}
    segmented_ids = []
    for n, image_id in enumerate(ids):
        height, width = (192, 256) if n % 2 == 0 else (256, 192)
        image, inst = images[n, :height, :width], instances[n, :height, :width]
        kept = [k for k in range(labels.shape[1]) if labels[n, k] >= 0 and (inst == k + 1).any()]
        if not kept:  # the crop removed every object: keep the whole square image instead
            height = width = 256
            image, inst = images[n], instances[n]
            kept = [k for k in range(labels.shape[1]) if labels[n, k] >= 0]
        objects[image_id] = []
        semantic = np.zeros(inst.shape, np.uint8)
        instance_map = np.zeros(inst.shape, np.uint8)
        for j, k in enumerate(kept):
            mask = inst == k + 1
            ys, xs = np.nonzero(mask)
            name = CLASSES[2 * int(labels[n, k])]
            objects[image_id].append({
                "name": name, "bndbox": (xs.min() + 1, ys.min() + 1, xs.max() + 1, ys.max() + 1),
                "truncated": bool(mask.sum() < (instances[n] == k + 1).sum()),
                "difficult": (first_index + n + j) % 5 == 4,
            })
            semantic[mask] = CLASSES.index(name) + 1
            instance_map[mask] = j + 1
        segmented = n % 2 == 0
        members[f"{ROOT}/JPEGImages/{image_id}.jpg"] = encode_image(image, "JPEG")
        members[f"{ROOT}/Annotations/{image_id}.xml"] = annotation_xml(image_id, width, height, segmented,
                                                                      objects[image_id])
        if segmented:
            edge = borders(instance_map)
            members[f"{ROOT}/SegmentationClass/{image_id}.png"] = encode_image(np.where(edge, 255, semantic), "PNG", palette)
            members[f"{ROOT}/SegmentationObject/{image_id}.png"] = encode_image(np.where(edge, 255, instance_map), "PNG", palette)
            segmented_ids.append(image_id)
    for set_name, set_ids in sets.items():
        members[f"{ROOT}/ImageSets/Main/{set_name}.txt"] = image_set(set_ids)
        members[f"{ROOT}/ImageSets/Segmentation/{set_name}.txt"] = image_set([i for i in set_ids if i in segmented_ids])
        for name in CLASSES:
            members[f"{ROOT}/ImageSets/Main/{name}_{set_name}.txt"] = class_set(set_ids, objects, name)
    return members


def build(folder: Path) -> None:
    trainval = [f"{i:06d}" for i in range(1, 81, 2)]  # 40 images, odd ids
    test = [f"{i:06d}" for i in range(2, 34, 2)]       # 16 images, even ids
    train, val = trainval[::2], trainval[1::2]
    write_tar(folder / "VOCtrainval_06-Nov-2007.tar",
              split_members(trainval, 400, {"train": train, "val": val, "trainval": trainval}, 0))
    write_tar(folder / "VOCtest_06-Nov-2007.tar", split_members(test, 401, {"test": test}, len(trainval)))
