"""Datasets by name: real ones downloaded with checksums, offline ones generated or shipped.

>>> from cvbook import data
>>> ds = data.load("shapes", split="test", n=8)
>>> image, target = ds[0]
"""

from .annotations import parse_voc_xml
from .download import DatasetUnavailableError, data_root
from .offline import PHOTOS, TEXTURES, Digits, photo
from .registry import DatasetInfo, for_profile, info, load, names, register
from .shapes import SHAPE_NAMES, ShapesBatch, ShapesClassification, ShapesDetection, collate_detection, generate_shapes

__all__ = [
    "parse_voc_xml", "DatasetUnavailableError", "data_root", "PHOTOS", "TEXTURES", "Digits", "photo",
    "DatasetInfo", "for_profile", "info", "load", "names", "register",
    "SHAPE_NAMES", "ShapesBatch", "ShapesClassification", "ShapesDetection", "collate_detection", "generate_shapes",
]
