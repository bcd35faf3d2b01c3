"""Datasets by name: real ones downloaded with checksums, offline ones generated or shipped.

- :mod:`~cvbook.data.registry`: ``load(name, split)``, ``names()``, ``for_profile(quick=, full=)``;
- :mod:`~cvbook.data.sources` and :mod:`~cvbook.data.download`: the one table of URLs and
  checksums, and fetching from it;
- :mod:`~cvbook.data.shapes` (generated images with exact boxes and masks),
  :mod:`~cvbook.data.offline` (photos and digits that installed packages ship),
  :mod:`~cvbook.data.faces` (real faces pasted at known places on real backgrounds),
  :mod:`~cvbook.data.voc`, :mod:`~cvbook.data.pennfudan` (real datasets);
- :mod:`~cvbook.data.transforms` and :mod:`~cvbook.data.collate`: detection samples through
  ``transforms.v2``, and into batches.

>>> from cvbook import data
>>> ds = data.load("shapes", split="test", n=8)
>>> image, target = ds[0]
"""

from .collate import collate_detection, collate_labels, labels_to_targets
from .download import DatasetUnavailableError, data_root
from .faces import FACE_BACKGROUNDS, compose_face_scenes, lfw_faces
from .offline import PHOTOS, TEXTURES, Digits, photo
from .registry import DatasetInfo, for_profile, info, load, names, register
from .shapes import SHAPE_NAMES, ShapesBatch, ShapesClassification, ShapesDetection, generate_shapes
from .voc_annotations import VOC_CLASSES, parse_voc_xml

__all__ = [
    "collate_detection", "collate_labels", "labels_to_targets",
    "DatasetUnavailableError", "data_root", "FACE_BACKGROUNDS", "compose_face_scenes", "lfw_faces", "PHOTOS", "TEXTURES", "Digits", "photo",
    "DatasetInfo", "for_profile", "info", "load", "names", "register",
    "SHAPE_NAMES", "ShapesBatch", "ShapesClassification", "ShapesDetection", "generate_shapes",
    "VOC_CLASSES", "parse_voc_xml",
]
