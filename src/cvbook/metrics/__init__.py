"""Measures of the book, by task: ``classification`` (chapter 1), ``detection`` (chapter 8),
``segmentation`` (chapters 1 and 14).

>>> from cvbook.metrics import classification, detection, segmentation
"""

from cvbook.metrics import classification, detection, segmentation

__all__ = ["classification", "detection", "segmentation"]
