"""Figures the chapters share: image grids, boxes with labels, masks over images.

Images may be ``(H, W)``, ``(H, W, 3)`` NumPy arrays or ``(C, H, W)`` tensors, uint8 or float
in ``[0, 1]``. Boxes are ``(N, 4)`` in pixel ``xyxy``.
"""

from __future__ import annotations

import textwrap
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.transforms import Bbox

__all__ = ["to_numpy_image", "show_images", "filter_images", "draw_boxes", "show_boxes", "overlay_mask", "show_masks",
           "grid_columns", "PALETTE", "MAX_WIDTH_IN"]

# Tableau's ten colours: distinct, and readable on photos.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")

# The widest grid figure, in inches. The book's content column is 790 CSS pixels (8.2 in at 96
# px per inch) and a wider image is scaled down to it, so 10-point titles on a figure 9.5 in wide
# are read at 10 * 8.2 / 9.5 = 8.7 pt (tools/figure_text.py measures it; the book asks for 8).
MAX_WIDTH_IN = 9.5


def to_numpy_image(image) -> np.ndarray:
    """An ``(H, W)`` or ``(H, W, 3)`` array for ``imshow`` from a tensor or array image."""
    if torch.is_tensor(image):
        image = image.detach().cpu()
        if image.ndim == 3 and image.shape[0] in (1, 3):
            image = image.permute(1, 2, 0)
        image = image.numpy()
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.dtype != np.uint8:
        image = np.clip(image, 0.0, 1.0)
    return image


def grid_columns(n: int, ncols: int, panel_in: float, max_width: float = MAX_WIDTH_IN) -> int:
    """How many of ``ncols`` asked-for columns of ``panel_in``-inch panels fit in ``max_width`` inches.

    When the asked-for grid is too wide it wraps to more rows: the number of columns becomes
    the largest divisor of ``ncols`` that fits (16 columns become 8, so that each asked-for row
    is two rows and a column still holds the same items), or, where no divisor of at least
    half the room fits, as many columns as fit. At least one column.
    """
    if n < 1 or ncols < 1 or panel_in <= 0 or max_width <= 0:
        raise ValueError(f"need n >= 1, ncols >= 1, panel_in > 0 and max_width > 0; got n={n}, ncols={ncols}, "
                         f"panel_in={panel_in}, max_width={max_width}")
    ncols = min(ncols, n)
    room = max(1, int(max_width / panel_in + 1e-9))
    if ncols <= room:
        return ncols
    divisors = [d for d in range(room, 0, -1) if ncols % d == 0]
    return divisors[0] if divisors and 2 * divisors[0] >= room else room


def _wrapped(text: str, width_in: float, fontsize: float) -> str:
    """``text`` broken into lines that fit ``width_in`` inches at ``fontsize`` points."""
    chars = max(16, int(width_in * 72 / (0.55 * fontsize)))
    return "\n".join(textwrap.fill(line, chars) for line in str(text).split("\n"))


def show_images(images: Sequence, titles: Sequence[str] | None = None, *, ncols: int = 8,
                title: str | None = None, scale: float = 1.6, cmap: str = "gray",
                fontsize: float = 10, max_width: float = MAX_WIDTH_IN) -> Figure:
    """Draw images in a grid, each with an optional title; returns the figure.

    Each panel is ``scale`` inches wide; panel titles are ``fontsize`` points. A grid wider than
    ``max_width`` inches wraps to more rows (see :func:`grid_columns`), so that the titles stay
    readable when the page scales the figure down to its column (8.2 in): 10-pt titles on a
    9.5-in figure read as 8.7 pt. A long ``title`` is broken into lines that fit the figure.
    """
    n = len(images)
    if n == 0:
        raise ValueError("show_images needs at least one image.")
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {n} images but {len(titles)} titles; give one title per image (or '' for none).")
    ncols = grid_columns(n, ncols, scale, max_width)
    nrows = (n + ncols - 1) // ncols
    # constrained layout leaves room for every title (tight_layout let a second row's titles
    # run into the images above them)
    has_titles = titles is not None and any(str(t) for t in titles)
    height = scale * nrows + (0.25 * nrows if has_titles else 0) + (0.4 if title else 0)
    fig, axes = plt.subplots(nrows, ncols, figsize=(scale * ncols, height), squeeze=False, layout="constrained")
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(to_numpy_image(images[i]), cmap=cmap)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=fontsize)
    if title:
        fig.suptitle(_wrapped(title, scale * ncols, 12))  # suptitles are "large": 12 pt
    return fig


def filter_images(weight, scale: float | None = None) -> list[np.ndarray]:
    """Convolution filters ``(N, C, k, k)`` (``C`` = 1 or 3) as images for :func:`show_images`.

    Zero is mid-grey; a weight of ``+scale`` is white and ``-scale`` black (per channel, so a
    colour filter shows the colour it responds to). ``scale`` defaults to the largest absolute
    weight of the whole bank, so that filters can be compared with each other.

    Returns:
        ``N`` float arrays ``(k, k, 3)`` (or ``(k, k)`` for ``C = 1``) in ``[0, 1]``.
    """
    w = torch.as_tensor(weight).detach().float().cpu()
    if w.ndim != 4 or w.shape[1] not in (1, 3):
        raise ValueError(f"weight must be a filter bank (N, C, k, k) with C = 1 or 3, got {tuple(w.shape)}; "
                         "show other channels one at a time, e.g. weight[:, :1].")
    scale = float(w.abs().max()) if scale is None else float(scale)
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale} (an all-zero filter bank has nothing to show).")
    images = (0.5 + 0.5 * w / scale).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    return [img[..., 0] if img.shape[-1] == 1 else img for img in images]


def draw_boxes(ax: Axes, boxes, labels: Sequence[str] | None = None, scores: Sequence[float] | None = None,
               colors: Sequence[str] | str | None = None, linewidth: float = 2.0, linestyle: str = "-",
               label_at: str = "top", fontsize: float = 8) -> None:
    """Draw ``(N, 4)`` xyxy boxes on ``ax``, each with an optional label and score.

    ``label_at="top"`` writes the text just above the box's top-left corner (inside the box
    when the box touches the top of the axes, where the text would run into the title);
    ``"bottom"`` writes it inside the box, on its bottom edge, so that two sets of boxes drawn
    on the same axes (ground truth and detections, say) keep their labels apart. The axes are
    assumed to point down, as after ``imshow``.

    Boxes are in pixel-edge coordinates (torchvision's: a box around pixel ``(0, 0)`` alone is
    ``(0, 0, 1, 1)``). ``imshow`` puts pixel centres at integers, so on axes that show an image
    the boxes are drawn ½ pixel up and to the left, around the pixels they cover.

    A label that would cover another label of the axes moves inside its box, to the bottom edge,
    else the top edge (it stays where it was when all three are taken); one that would run past the
    right of the axes ends at the box's right edge instead.

    Labels are ``fontsize`` points: 8 reads as 8 on the page in a figure up to 8.2 in wide (the
    book's column); give 10 for panels side by side in a figure up to 10 in wide.
    """
    if label_at not in ("top", "bottom"):
        raise ValueError(f"label_at must be 'top' or 'bottom', got {label_at!r}")
    boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4).tolist()
    y_low, y_high = sorted(ax.get_ylim())
    room = 0.07 * (y_high - y_low)  # about one line of 8-point text on a plot a few inches high
    shift = -0.5 if ax.images else 0.0
    taken = [text.get_window_extent() for text in ax.texts]  # labels already there (another call's)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        x1, y1, x2, y2 = x1 + shift, y1 + shift, x2 + shift, y2 + shift
        color = colors if isinstance(colors, str) else (colors[i % len(colors)] if colors else PALETTE[i % len(PALETTE)])
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color,
                               linewidth=linewidth, linestyle=linestyle))
        text = []
        if labels is not None:
            text.append(str(labels[i]))
        if scores is not None:
            text.append(f"{float(scores[i]):.2f}")
        if text:
            inside_top = label_at == "top" and y1 - y_low < room
            first = (y1, "top" if inside_top else "bottom") if label_at == "top" else (y2, "bottom")
            label = ax.text(x1, first[0], " ".join(text), color="white", fontsize=fontsize, va=first[1],
                            bbox=dict(facecolor=color, edgecolor="none", pad=1.0, alpha=0.85))
            taken.append(place_label(label, [first, (y2, "bottom"), (y1, "top")], x2, taken))


def place_label(label: Text, spots: Sequence[tuple[float, str]], x_right: float, taken: list[Bbox]) -> Bbox:
    """Move a box's ``label`` to the first of ``spots`` (``(y, va)`` pairs) where it covers no
    ``taken`` extent, or leave it at the first; then, if it runs past the right of its axes,
    right-align it on ``x_right`` (the box's right edge). Returns its extent on the page."""
    for y, va in dict.fromkeys(spots):
        label.set_y(y)
        label.set_va(va)
        here = label.get_window_extent()
        if not any(overlap(here, other) for other in taken):
            break
    else:
        label.set_y(spots[0][0])
        label.set_va(spots[0][1])
        here = label.get_window_extent()
    if here.x1 > label.axes.get_window_extent().x1:
        label.set_x(x_right)
        label.set_ha("right")
        here = label.get_window_extent()
    return here


def overlap(a: Bbox, b: Bbox) -> bool:
    """Whether two extents on the page overlap by more than a pixel each way (sharing an edge is fine)."""
    common = Bbox.intersection(a, b)
    return common is not None and common.width > 1 and common.height > 1


def show_boxes(image, boxes, labels: Sequence[str] | None = None, scores: Sequence[float] | None = None,
               *, title: str = "", ax: Axes | None = None, colors=None, fontsize: float = 8,
               label_at: str = "top") -> Axes:
    """Show ``image`` with its boxes (labels ``fontsize`` points, see :func:`draw_boxes`); returns the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(to_numpy_image(image))
    draw_boxes(ax, boxes, labels, scores, colors, fontsize=fontsize, label_at=label_at)
    ax.set(title=title, xlabel="x (pixels)", ylabel="y (pixels)")
    return ax


def overlay_mask(image, mask, *, alpha: float = 0.5, num_classes: int | None = None) -> np.ndarray:
    """Blend a label ``mask`` ``(H, W)`` (0 = background, left transparent) over ``image``.

    Returns a float ``(H, W, 3)`` image in ``[0, 1]``.
    """
    raw = to_numpy_image(image)
    img = raw.astype(np.float32) / (255.0 if raw.dtype == np.uint8 else 1.0)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    mask = np.asarray(torch.as_tensor(mask).cpu())
    colours = np.array([matplotlib_rgb(c) for c in PALETTE], dtype=np.float32)
    fill = colours[(mask.astype(np.int64) - 1) % len(colours)]
    on = (mask > 0)[..., None]
    return np.where(on, (1 - alpha) * img + alpha * fill, img)


def matplotlib_rgb(color: str) -> tuple[float, float, float]:
    """An RGB triple in ``[0, 1]`` for a matplotlib colour."""
    from matplotlib.colors import to_rgb

    return to_rgb(color)


def show_masks(image, masks: Sequence, titles: Sequence[str], *, title: str = "", panel: float = 3.2,
               fontsize: float = 10, max_width: float = MAX_WIDTH_IN) -> Figure:
    """The image, then each label mask over it, in panels ``panel`` inches wide; returns the figure.

    The panels stand side by side while they fit in ``max_width`` inches and wrap to more rows
    otherwise (as in :func:`show_images`), so that ``fontsize``-point titles stay readable.
    """
    if len(titles) != len(masks):
        raise ValueError(f"got {len(masks)} masks but {len(titles)} titles; give one title per mask.")
    n = 1 + len(masks)
    ncols = grid_columns(n, n, panel, max_width)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel * ncols, (panel + 0.2) * nrows + (0.4 if title else 0)),
                             squeeze=False, layout="constrained")
    axes = axes.ravel()
    axes[0].imshow(to_numpy_image(image))
    axes[0].set_title("image", fontsize=fontsize)
    for ax, mask, name in zip(axes[1:], masks, titles):
        ax.imshow(overlay_mask(image, mask))
        ax.set_title(name, fontsize=fontsize)
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(_wrapped(title, panel * ncols, 12))
    return fig
