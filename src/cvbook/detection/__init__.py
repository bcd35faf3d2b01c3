"""Detectors of the book, one module per family (``from cvbook.detection import ssd``)."""
