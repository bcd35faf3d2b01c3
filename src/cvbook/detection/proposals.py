"""Region proposals by selective search (Uijlings et al., 2013), as used by R-CNN.

Selective search starts from a graph-based over-segmentation of the image
(``skimage.segmentation.felzenszwalb``) and greedily merges the two most similar
adjacent regions until one region is left. Every region met on the way, the small
initial ones and every merge, gives one proposal: its bounding box. The similarity of
two regions ``a`` and ``b`` is the sum of four terms, each in ``[0, 1]``:

- colour: ``Σ min(colour_a, colour_b)`` over L1-normalised colour histograms
  (25 bins per channel);
- texture: the same over histograms of Gaussian-derivative responses (8 orientations ×
  10 bins per channel, σ = 1);
- size: ``1 - (size_a + size_b) / size_image``, which merges small regions first;
- fill: ``1 - (size(box_ab) - size_a - size_b) / size_image``, which merges regions that
  fill each other's bounding-box gaps.

A merged region's histograms are the size-weighted averages of its parts', so nothing is
recomputed from pixels during the grouping.

>>> import numpy as np
>>> image = np.zeros((32, 48, 3), np.uint8); image[:, 24:] = 255
>>> boxes = selective_search(image, scale=50, min_size=20)
>>> bool(((boxes[:, 2:] > boxes[:, :2]).all()))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

from cvbook._checks import check_image_array

__all__ = ["RegionFeatures", "initial_regions", "region_features", "similarity", "selective_search"]

COLOUR_BINS = 25
TEXTURE_BINS = 10
ORIENTATIONS = 8


@dataclass
class RegionFeatures:
    """Per-region statistics of a labelled image (``R`` regions).

    Attributes:
        colour: ``(R, 3·25)`` colour histograms, each channel's part summing to 1/3.
        texture: ``(R, 3·8·10)`` texture histograms, summing to 1 per region.
        size: ``(R,)`` pixel counts.
        box: ``(R, 4)`` pixel-edge ``xyxy`` bounding boxes.
    """

    colour: np.ndarray
    texture: np.ndarray
    size: np.ndarray
    box: np.ndarray


def initial_regions(image: np.ndarray, *, scale: float = 100.0, sigma: float = 0.8,
                    min_size: int = 50) -> np.ndarray:
    """Felzenszwalb–Huttenlocher graph-based segmentation: the starting regions.

    Args:
        image: ``(H, W, 3)`` uint8, or float in ``[0, 1]``.
        scale: larger values give larger (fewer) regions.
        sigma: Gaussian smoothing before segmenting.
        min_size: smallest region, in pixels.

    Returns:
        ``(H, W)`` int64 labels ``0..R-1``.
    """
    from skimage.segmentation import felzenszwalb

    labels = felzenszwalb(check_image_array(image), scale=scale, sigma=sigma, min_size=min_size)
    return np.unique(labels, return_inverse=True)[1].reshape(labels.shape).astype(np.int64)


def _histograms(labels: np.ndarray, values: np.ndarray, bins: int, num_regions: int) -> np.ndarray:
    """``(R, F·bins)`` histograms of ``values`` ``(H, W, F)`` in ``[0, 1]``, per region and
    feature, each region's row L1-normalised (one ``bincount``, no loop over regions)."""
    f = values.shape[-1]
    which_bin = np.minimum((values * bins).astype(np.int64), bins - 1)  # (H, W, F)
    index = (labels[..., None] * f + np.arange(f)) * bins + which_bin
    counts = np.bincount(index.ravel(), minlength=num_regions * f * bins).reshape(num_regions, f * bins)
    return counts / counts.sum(axis=1, keepdims=True)


def _texture_responses(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3·8)`` Gaussian-derivative responses (σ = 1) in 8 orientations per channel,
    rescaled to ``[0, 1]`` per channel."""
    out = []
    for c in range(3):  # three colour channels
        gx = ndimage.gaussian_filter(image[..., c], sigma=1.0, order=(0, 1))
        gy = ndimage.gaussian_filter(image[..., c], sigma=1.0, order=(1, 0))
        angles = np.arange(ORIENTATIONS) * (2 * np.pi / ORIENTATIONS)
        # A steered derivative; opposite directions differ in sign, keep the positive part.
        resp = np.maximum(gx[..., None] * np.cos(angles) + gy[..., None] * np.sin(angles), 0.0)
        out.append(resp / max(resp.max(), 1e-12))
    return np.concatenate(out, axis=-1)


def region_features(image: np.ndarray, labels: np.ndarray) -> RegionFeatures:
    """Colour and texture histograms, sizes and boxes of every region of ``labels``.

    Args:
        image: ``(H, W, 3)`` uint8, or float in ``[0, 1]``.
        labels: ``(H, W)`` integer labels ``0..R-1`` (e.g. from :func:`initial_regions`).
    """
    image = check_image_array(image)
    labels = np.asarray(labels)
    if labels.shape != image.shape[:2]:
        raise ValueError(f"labels {labels.shape} must have the image's height and width {image.shape[:2]}.")
    r = int(labels.max()) + 1
    rows, cols = np.indices(labels.shape)
    flat = labels.ravel()
    box = np.stack([
        np.full(r, labels.shape[1]), np.full(r, labels.shape[0]), np.zeros(r), np.zeros(r)], axis=1)
    np.minimum.at(box[:, 0], flat, cols.ravel())
    np.minimum.at(box[:, 1], flat, rows.ravel())
    np.maximum.at(box[:, 2], flat, cols.ravel() + 1)
    np.maximum.at(box[:, 3], flat, rows.ravel() + 1)
    return RegionFeatures(
        colour=_histograms(labels, image, COLOUR_BINS, r),
        texture=_histograms(labels, _texture_responses(image), TEXTURE_BINS, r),
        size=np.bincount(flat, minlength=r).astype(np.float64),
        box=box.astype(np.float64),
    )


def similarity(features: RegionFeatures, a: np.ndarray, b: np.ndarray, image_size: float,
               use: tuple[str, ...] = ("colour", "texture", "size", "fill")) -> np.ndarray:
    """Similarity of region pairs ``(a[k], b[k])``: the sum of the chosen terms.

    Args:
        features: the regions' statistics.
        a, b: ``(P,)`` region indices.
        image_size: ``H·W`` in pixels.
        use: which of ``"colour"``, ``"texture"``, ``"size"``, ``"fill"`` to add up.

    Returns:
        ``(P,)`` similarities in ``[0, len(use)]``.
    """
    unknown = set(use) - {"colour", "texture", "size", "fill"}
    if unknown:
        raise ValueError(f"unknown similarity term(s) {sorted(unknown)}; use colour, texture, size, fill.")
    total = np.zeros(len(a))
    if "colour" in use:
        total += np.minimum(features.colour[a], features.colour[b]).sum(axis=1)
    if "texture" in use:
        total += np.minimum(features.texture[a], features.texture[b]).sum(axis=1)
    if "size" in use:
        total += 1 - (features.size[a] + features.size[b]) / image_size
    if "fill" in use:
        ba, bb = features.box[a], features.box[b]
        hull = ((np.maximum(ba[:, 2], bb[:, 2]) - np.minimum(ba[:, 0], bb[:, 0]))
                * (np.maximum(ba[:, 3], bb[:, 3]) - np.minimum(ba[:, 1], bb[:, 1])))
        total += 1 - (hull - features.size[a] - features.size[b]) / image_size
    return total


def _adjacency(labels: np.ndarray, r: int) -> np.ndarray:
    """``(R, R)`` bool: regions that touch horizontally or vertically."""
    adj = np.zeros((r, r), dtype=bool)
    for x, y in ((labels[:, :-1], labels[:, 1:]), (labels[:-1], labels[1:])):
        differ = x != y
        adj[x[differ], y[differ]] = True
    return adj | adj.T


def selective_search(
    image: np.ndarray,
    *,
    scale: float = 100.0,
    sigma: float = 0.8,
    min_size: int = 50,
    use: tuple[str, ...] = ("colour", "texture", "size", "fill"),
) -> Tensor:
    """Region proposals of one image by hierarchical grouping (one diversification strategy).

    Starts from :func:`initial_regions`, then repeats ``R - 1`` times: merge the most
    similar pair of adjacent regions (see :func:`similarity`), and score the merged
    region against its neighbours. Each merge depends on the one before, so this loop is
    sequential, but every step is vectorised over the regions.

    Args:
        image: ``(H, W, 3)`` uint8 RGB, or float in ``[0, 1]``; greyscale ``(H, W)`` works too.
        scale, sigma, min_size: the over-segmentation's parameters (:func:`initial_regions`).
        use: the similarity terms to combine.

    Returns:
        ``(P, 4)`` float32 pixel-edge ``xyxy`` boxes, without duplicates, ordered from the
        last merge (the whole image) back to the initial regions: larger, later regions
        first, as in the hierarchy.
    """
    img = check_image_array(image)
    labels = initial_regions(img, scale=scale, sigma=sigma, min_size=min_size)
    feats = region_features(img, labels)
    r = len(feats.size)
    total = 2 * r - 1  # R initial regions + R - 1 merges
    image_size = float(labels.size)

    def grow(x: np.ndarray) -> np.ndarray:
        return np.concatenate([x, np.zeros((total - r, *x.shape[1:]), dtype=x.dtype)])

    f = RegionFeatures(grow(feats.colour), grow(feats.texture), grow(feats.size), grow(feats.box))
    adj = np.zeros((total, total), dtype=bool)
    adj[:r, :r] = _adjacency(labels, r)
    sim = np.full((total, total), -np.inf)
    i, j = np.nonzero(np.triu(adj))
    sim[i, j] = similarity(f, i, j, image_size, use)

    created = r
    for t in range(r, total):
        a, b = np.unravel_index(np.argmax(sim), sim.shape)
        if not np.isfinite(sim[a, b]):  # no adjacent pair left (cannot happen on one image)
            break
        created = t + 1
        sa, sb = f.size[a], f.size[b]
        f.colour[t] = (sa * f.colour[a] + sb * f.colour[b]) / (sa + sb)
        f.texture[t] = (sa * f.texture[a] + sb * f.texture[b]) / (sa + sb)
        f.size[t] = sa + sb
        f.box[t] = np.concatenate([np.minimum(f.box[a, :2], f.box[b, :2]), np.maximum(f.box[a, 2:], f.box[b, 2:])])
        neighbours = np.flatnonzero(adj[a] | adj[b])
        neighbours = neighbours[(neighbours != a) & (neighbours != b)]
        for gone in (a, b):  # a and b stop existing
            adj[gone, :] = adj[:, gone] = False
            sim[gone, :] = sim[:, gone] = -np.inf
        adj[t, neighbours] = adj[neighbours, t] = True
        sim[neighbours, t] = similarity(f, neighbours, np.full(len(neighbours), t), image_size, use)

    boxes = f.box[:created][::-1]
    _, first = np.unique(boxes, axis=0, return_index=True)
    return torch.from_numpy(boxes[np.sort(first)].astype(np.float32))
