"""What the three widgets share: their JavaScript module, styles and background photo.

Each widget is an ``anywidget.AnyWidget``. Its front end is ONE ES module,
``js/common.js`` followed by the widget's own file (``js/iou.js``, ...), sent to the browser
as the synced ``_esm`` trait. Jupyter (Lab, Notebook 7, Colab) runs it through anywidget's
front end; the static book page runs the same text from the widget state saved in the
notebook, through the ipywidgets HTML manager (see ``book/interactive_figures.ipynb``).
"""

from __future__ import annotations

import base64
import io
from importlib import resources

import numpy as np
import traitlets
from PIL import Image

JS_DIR = resources.files("cvbook.widgets") / "js"


class WidgetStateError(traitlets.TraitError, ValueError):
    """An invalid value for a widget's state: a ``ValueError`` (the message says what to
    do) that is also a ``traitlets.TraitError``, so that traitlets rolls back a group of
    changes (``hold_trait_notifications``) instead of keeping half of them."""


def module_source(name: str) -> str:
    """The ES module of widget ``name``: ``common.js`` then ``<name>.js`` (one text)."""
    common = (JS_DIR / "common.js").read_text(encoding="utf-8")
    own = (JS_DIR / f"{name}.js").read_text(encoding="utf-8")
    return f"{common}\n// ---- {name}.js ----\n{own}"


def stylesheet() -> str:
    """The CSS shared by all widgets."""
    return (JS_DIR / "widgets.css").read_text(encoding="utf-8")


def image_data_url(image: str | np.ndarray, max_side: int = 320) -> tuple[str, list[int]]:
    """Encode a photo for the browser.

    Args:
        image: a name of ``cvbook.data.photo`` or an ``(H, W, 3)`` / ``(H, W)`` uint8 array.
        max_side: the longer side of the JPEG sent to the browser (the boxes keep the
            photo's own pixel coordinates; the browser stretches the JPEG over them).

    Returns:
        ``(data_url, [W, H])`` with ``W, H`` the size of the original photo.
    """
    if isinstance(image, str):
        from cvbook.data import photo

        image = photo(image)
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise ValueError(f"image must be a photo name or an (H, W[, 3]) uint8 array, got {array.dtype} {array.shape}")
    height, width = array.shape[:2]
    pil = Image.fromarray(array).convert("RGB")
    scale = max_side / max(height, width)
    if scale < 1:
        pil = pil.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.BILINEAR)
    buffer = io.BytesIO()
    pil.save(buffer, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"), [width, height]


def check_box(box: object, size: list[int], name: str) -> list[float]:
    """``box`` as four floats ``[x1, y1, x2, y2]`` inside a ``size = [W, H]`` image, else ValueError."""
    values = np.asarray(box, dtype=float).ravel() if np.ndim(box) else np.empty(0)
    if values.shape != (4,) or not np.isfinite(values).all():
        raise WidgetStateError(f"{name} must be four numbers [x1, y1, x2, y2], got {box!r}")
    x1, y1, x2, y2 = values.tolist()
    if x2 < x1 or y2 < y1:
        raise WidgetStateError(f"{name} = {[x1, y1, x2, y2]} has x2 < x1 or y2 < y1; boxes are xyxy: give the top-left corner first")
    width, height = size
    if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
        raise WidgetStateError(f"{name} = {[x1, y1, x2, y2]} leaves the {width}×{height} image; keep 0 ≤ x ≤ {width}, 0 ≤ y ≤ {height}")
    return [x1, y1, x2, y2]
