"""Interactive figures of the book, for Jupyter, Colab and the static book page.

* ``IoUWidget``: two boxes, their intersection, union and IoU.
* ``TransposedConvWidget``: a transposed convolution step by step, and its matrix.
* ``AnchorWidget``: anchor boxes of a feature map over a photo, and their assignment.

Each is an ``anywidget.AnyWidget`` whose state Python reads and sets (``w.boxes``,
``w.iou``, ...); the browser computes the same numbers in JavaScript, so the figures stay
interactive in the book's HTML pages without a kernel.
"""

from cvbook.widgets.anchors import AnchorWidget
from cvbook.widgets.iou import IoUWidget
from cvbook.widgets.transposed_conv import TransposedConvWidget

__all__ = ["AnchorWidget", "IoUWidget", "TransposedConvWidget"]
