"""Figures the chapters share: image grids, boxes with labels, masks over images.

Images may be ``(H, W)``, ``(H, W, 3)`` NumPy arrays or ``(C, H, W)`` tensors, uint8 or float
in ``[0, 1]``. Boxes are ``(N, 4)`` in pixel ``xyxy``.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

__all__ = ["to_numpy_image", "show_images", "filter_images", "draw_boxes", "show_boxes", "overlay_mask", "show_masks", "PALETTE"]

# Tableau's ten colours: distinct, and readable on photos.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")


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


def show_images(images: Sequence, titles: Sequence[str] | None = None, *, ncols: int = 8,
                title: str | None = None, scale: float = 1.6, cmap: str = "gray") -> Figure:
    """Draw images in a grid, each with an optional title; returns the figure."""
    n = len(images)
    ncols = min(ncols, n)
    nrows = (n + ncols - 1) // ncols
    # constrained layout leaves room for every title (tight_layout let a second row's titles
    # run into the images above them)
    fig, axes = plt.subplots(nrows, ncols, figsize=(scale * ncols, scale * nrows + (0.4 if title else 0)),
                             squeeze=False, layout="constrained")
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(to_numpy_image(images[i]), cmap=cmap)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=9)
    if title:
        fig.suptitle(title)
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
               label_at: str = "top") -> None:
    """Draw ``(N, 4)`` xyxy boxes on ``ax``, each with an optional label and score.

    ``label_at="top"`` writes the text just above the box's top-left corner (inside the box
    when the box touches the top of the axes, where the text would run into the title);
    ``"bottom"`` writes it inside the box, on its bottom edge, so that two sets of boxes drawn
    on the same axes (ground truth and detections, say) keep their labels apart. The axes are
    assumed to point down, as after ``imshow``.

    Boxes are in pixel-edge coordinates (torchvision's: a box around pixel ``(0, 0)`` alone is
    ``(0, 0, 1, 1)``). ``imshow`` puts pixel centres at integers, so on axes that show an image
    the boxes are drawn ½ pixel up and to the left, around the pixels they cover.
    """
    if label_at not in ("top", "bottom"):
        raise ValueError(f"label_at must be 'top' or 'bottom', got {label_at!r}")
    boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4).tolist()
    y_low, y_high = sorted(ax.get_ylim())
    room = 0.07 * (y_high - y_low)  # about one line of 8-point text on a plot a few inches high
    shift = -0.5 if ax.images else 0.0
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
            ax.text(x1, y1 if label_at == "top" else y2, " ".join(text), color="white", fontsize=8,
                    va="top" if inside_top else "bottom",
                    bbox=dict(facecolor=color, edgecolor="none", pad=1.0, alpha=0.85))


def show_boxes(image, boxes, labels: Sequence[str] | None = None, scores: Sequence[float] | None = None,
               *, title: str = "", ax: Axes | None = None, colors=None) -> Axes:
    """Show ``image`` with its boxes; returns the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(to_numpy_image(image))
    draw_boxes(ax, boxes, labels, scores, colors)
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


def show_masks(image, masks: Sequence, titles: Sequence[str], *, title: str = "") -> Figure:
    """The image, then each label mask over it, side by side."""
    fig, axes = plt.subplots(1, 1 + len(masks), figsize=(3.2 * (1 + len(masks)), 3.4))
    axes[0].imshow(to_numpy_image(image))
    axes[0].set_title("image")
    for ax, mask, name in zip(axes[1:], masks, titles):
        ax.imshow(overlay_mask(image, mask))
        ax.set_title(name)
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return fig
