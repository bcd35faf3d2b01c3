"""cvbook: the library behind the course book *Computer Vision with Deep Learning*.

One module per concept, mirroring the book: ``profile`` (quick/full runs), ``data``
(datasets), ``train`` (the training loop), ``plot`` (figures), ``boxes``, ``anchors``,
``metrics``, ``widgets``, ``models``.
"""

__version__ = "0.1.0"
