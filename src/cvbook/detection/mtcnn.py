"""MTCNN, a trained face detector in the book's own code (Zhang et al., 2016).

MTCNN is a cascade of three small networks, and it gathers most of Part II in one model:

1. an **image pyramid**: the image is resized so that a face of ``min_face_size`` pixels
   becomes 12 pixels wide, then shrunk again and again by :data:`PYRAMID_FACTOR`;
2. **P-Net**, a fully convolutional network with a 12×12 receptive field and stride 2, is
   slid over every level (a convolutionized sliding window, chapter 4): each output cell
   scores the 12×12 window under it and regresses a correction of its box; windows above
   ``thresholds[0]`` are kept, with NMS within each level, then across levels;
3. **R-Net** re-scores the surviving boxes, each cropped from the image, made square and
   resized to 24×24, and corrects them again (NMS once more);
4. **O-Net** does the same on 48×48 crops, and a last NMS removes boxes nested in others.

The trained weights are those the ``facenet-pytorch`` wheel ships (``facenet_pytorch/data/
pnet.pt``, ``rnet.pt``, ``onet.pt``); the networks and the pipeline are written here and
reproduce ``facenet_pytorch.MTCNN`` (the tests check boxes within a pixel). Where that
implementation keeps a habit of the original MATLAB code (1-based pixel indices, widths
counted as ``x2 - x1 + 1``), so does this one, and the code says so.

>>> boxes, scores = detect_faces(skimage.data.astronaut())  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import importlib.util
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvbook._checks import check_image_array, check_real
from cvbook.boxes import nms

__all__ = ["PNet", "RNet", "ONet", "weights_folder", "load_mtcnn", "pyramid_scales", "normalise", "pnet_windows",
           "square_boxes", "regress_boxes", "crop_ranges", "integral_image", "resize_crops", "nms_min_overlap",
           "detect_faces",
           "PYRAMID_FACTOR", "INSTALL_HINT"]

#: Each pyramid level is this much smaller than the previous one (about 1 / sqrt(2)).
PYRAMID_FACTOR = 0.709
#: P-Net's receptive field and stride: each output cell scores a 12×12 window, 2 pixels apart.
PNET_WINDOW, PNET_STRIDE = 12, 2
#: Input sizes of R-Net and O-Net.
RNET_SIZE, ONET_SIZE = 24, 48
#: Pixel values ``v`` enter the networks as ``(v - 127.5) / 128``.
PIXEL_MEAN, PIXEL_SCALE = 127.5, 0.0078125
#: NMS thresholds of the reference: within a pyramid level, across levels and after R-Net,
#: and the overlap-of-the-smaller threshold after O-Net.
NMS_LEVEL, NMS_STAGE, NMS_FINAL = 0.5, 0.7, 0.7
INSTALL_HINT = "pip install --no-deps facenet-pytorch==2.6.0"


# ------------------------------------------------------------------------ networks


def _conv_prelu(c_in: int, c_out: int, kernel: int, index: int) -> list[tuple[str, nn.Module]]:
    return [(f"conv{index}", nn.Conv2d(c_in, c_out, kernel)), (f"prelu{index}", nn.PReLU(c_out))]


class PNet(nn.Module):
    """Proposal network: fully convolutional, a 12×12 window every 2 pixels.

    ``forward(x)``: ``x (N, 3, H, W)`` normalised pixels -> face probability
    ``(N, H', W')`` and box offsets ``(N, 4, H', W')`` with ``H' = ceil((H - 2) / 2) - 4``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(OrderedDict(
            _conv_prelu(3, 10, 3, 1) + [("pool1", nn.MaxPool2d(2, 2, ceil_mode=True))]
            + _conv_prelu(10, 16, 3, 2) + _conv_prelu(16, 32, 3, 3)))
        self.conv4_1 = nn.Conv2d(32, 2, 1)  # face / not a face, as two logits
        self.conv4_2 = nn.Conv2d(32, 4, 1)  # offsets of the window's corners

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.features(x)
        return torch.softmax(self.conv4_1(h), dim=1)[:, 1], self.conv4_2(h)


def _flatten_whc(x: Tensor) -> Tensor:
    """``(N, C, H, W)`` flattened in ``(W, H, C)`` order: the order the converted weights expect."""
    return x.permute(0, 3, 2, 1).flatten(1)


class RNet(nn.Module):
    """Refinement network on 24×24 crops: ``(N, 3, 24, 24)`` -> probability ``(N,)``, offsets ``(N, 4)``."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(OrderedDict(
            _conv_prelu(3, 28, 3, 1) + [("pool1", nn.MaxPool2d(3, 2, ceil_mode=True))]
            + _conv_prelu(28, 48, 3, 2) + [("pool2", nn.MaxPool2d(3, 2, ceil_mode=True))]
            + _conv_prelu(48, 64, 2, 3)))
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)  # face / not a face
        self.dense5_2 = nn.Linear(128, 4)  # box offsets

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.prelu4(self.dense4(_flatten_whc(self.features(x))))
        return torch.softmax(self.dense5_1(h), dim=1)[:, 1], self.dense5_2(h)


class ONet(nn.Module):
    """Output network on 48×48 crops: ``(N, 3, 48, 48)`` -> probability ``(N,)``, offsets
    ``(N, 4)`` and five facial landmarks ``(N, 10)`` (unused by :func:`detect_faces`)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(OrderedDict(
            _conv_prelu(3, 32, 3, 1) + [("pool1", nn.MaxPool2d(3, 2, ceil_mode=True))]
            + _conv_prelu(32, 64, 3, 2) + [("pool2", nn.MaxPool2d(3, 2, ceil_mode=True))]
            + _conv_prelu(64, 64, 3, 3) + [("pool3", nn.MaxPool2d(2, 2, ceil_mode=True))]
            + _conv_prelu(64, 128, 2, 4)))
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)  # face / not a face
        self.dense6_2 = nn.Linear(256, 4)  # box offsets
        self.dense6_3 = nn.Linear(256, 10)  # landmarks: 5 x, then 5 y

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        h = self.prelu5(self.dense5(_flatten_whc(self.features(x))))
        return torch.softmax(self.dense6_1(h), dim=1)[:, 1], self.dense6_2(h), self.dense6_3(h)


def weights_folder() -> Path:
    """The folder of the trained weights inside the installed ``facenet-pytorch`` wheel."""
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or spec.origin is None:
        raise ImportError(f"MTCNN's trained weights come with the facenet-pytorch wheel, which is not "
                          f"installed; install it with `{INSTALL_HINT}` (--no-deps: its pins would "
                          "replace your torch).")
    return Path(spec.origin).parent / "data"


def _load(net: nn.Module, path: Path) -> nn.Module:
    """Load a weight file whose keys name the layers (``conv1.weight``); the trunk's layers
    live in ``net.features`` here, so their keys are prefixed."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    own = net.state_dict()
    net.load_state_dict({(f"features.{k}" if f"features.{k}" in own else k): v for k, v in state.items()})
    return net.eval().requires_grad_(False)


@functools.lru_cache(maxsize=4)
def load_mtcnn(device: str = "cpu") -> tuple[PNet, RNet, ONet]:
    """P-Net, R-Net and O-Net with their trained weights, in eval mode, on ``device`` (cached)."""
    folder = weights_folder()
    nets = (_load(PNet(), folder / "pnet.pt"), _load(RNet(), folder / "rnet.pt"), _load(ONet(), folder / "onet.pt"))
    return tuple(net.to(device) for net in nets)  # type: ignore[return-value]


# ------------------------------------------------------------------ stage 1: P-Net


def pyramid_scales(height: int, width: int, min_face_size: float = 20, factor: float = PYRAMID_FACTOR) -> list[float]:
    """Scales of the image pyramid: the first maps a face of ``min_face_size`` pixels to
    P-Net's 12-pixel window; each next one is ``factor`` times smaller, down to the scale
    at which the image's shorter side is 12 pixels.

    >>> [round(s, 3) for s in pyramid_scales(60, 80, min_face_size=20)]
    [0.6, 0.425, 0.302, 0.214]
    """
    first = PNET_WINDOW / min_face_size
    count = 0
    side = min(height, width) * first
    while side >= PNET_WINDOW:  # the same float steps as the reference, hence the same count
        side *= factor
        count += 1
    scales, scale = [], first
    for _ in range(count):
        scales.append(scale)
        scale *= factor
    return scales


def normalise(pixels: Tensor) -> Tensor:
    """Pixel values ``[0, 255]`` -> the networks' input range, about ``[-1, 1]``."""
    return (pixels - PIXEL_MEAN) * PIXEL_SCALE


def pnet_windows(prob: Tensor, offsets: Tensor, scale: float, threshold: float) -> tuple[Tensor, Tensor, Tensor]:
    """The windows of one pyramid level that P-Net scores ``>= threshold``.

    Output cell ``(row, col)`` sees the 12×12 window at ``(2 col, 2 row)`` of the resized
    image, that is ``[(2 col + 1) / scale, (2 col + 12) / scale]`` in the original (the
    ``+ 1`` is MATLAB's first pixel, kept by the reference), rounded down.

    Args:
        prob: ``(H', W')`` face probabilities of one level.
        offsets: ``(4, H', W')`` offsets of the windows' corners.
        scale: the level's scale.
        threshold: minimum probability.

    Returns:
        ``boxes (N, 4)`` xyxy pixels of the original image, ``scores (N,)``, ``offsets (N, 4)``.
    """
    rows, cols = torch.nonzero(prob >= threshold, as_tuple=True)
    cells = torch.stack((cols, rows), dim=1).to(prob.dtype)
    top_left = ((PNET_STRIDE * cells + 1) / scale).floor()
    bottom_right = ((PNET_STRIDE * cells + PNET_WINDOW) / scale).floor()
    return torch.cat((top_left, bottom_right), dim=1), prob[rows, cols], offsets[:, rows, cols].T


# ------------------------------------------------------------ boxes between stages


def regress_boxes(boxes: Tensor, offsets: Tensor, inclusive: bool) -> Tensor:
    """Move each corner by its offset times the box's size: ``x1 + dx1 * w``, ...

    The reference counts the size as ``x2 - x1`` after P-Net and as ``x2 - x1 + 1``
    (``inclusive``, MATLAB's pixel count) after R-Net and O-Net.

    Args:
        boxes: ``(N, 4)`` xyxy.
        offsets: ``(N, 4)`` ``(dx1, dy1, dx2, dy2)`` in units of the box size.
        inclusive: count sizes as ``x2 - x1 + 1``.

    Returns:
        ``(N, 4)`` moved boxes.
    """
    size = boxes[:, 2:] - boxes[:, :2] + (1 if inclusive else 0)
    return boxes + offsets * size.repeat(1, 2)


def square_boxes(boxes: Tensor) -> Tensor:
    """The square with the same centre and the longer side of each box: ``(N, 4)`` -> ``(N, 4)``.

    >>> square_boxes(torch.tensor([[0.0, 0.0, 4.0, 2.0]]))
    tensor([[ 0., -1.,  4.,  3.]])
    """
    size = boxes[:, 2:] - boxes[:, :2]
    side = size.amax(dim=1, keepdim=True)
    top_left = boxes[:, :2] + size * 0.5 - side * 0.5
    return torch.cat((top_left, top_left + side), dim=1)


def crop_ranges(boxes: Tensor, height: int, width: int) -> Tensor:
    """The pixel ranges the refining networks see: ``[left, right) x [top, bottom)`` int64.

    Like the reference, the box's coordinates are truncated to integers, read as 1-based
    pixel indices and clipped to the image (a box past the border is cut, not padded,
    before resizing). Returns ``(N, 4)`` ``(left, top, right, bottom)``; a box wholly
    outside the image gives an empty range (``right <= left`` or ``bottom <= top``).
    """
    corners = boxes.trunc().long()
    top_left = corners[:, :2].clamp(min=1) - 1
    bottom_right = torch.minimum(corners[:, 2:], torch.tensor([width, height], device=boxes.device))
    return torch.cat((top_left, bottom_right), dim=1)


def integral_image(pixels: Tensor) -> Tensor:
    """``(C, H, W)`` -> ``(C, H + 1, W + 1)`` float64 sums: ``out[:, y, x] = pixels[:, :y, :x].sum()``."""
    return F.pad(pixels.double().cumsum(1).cumsum(2), (1, 0, 1, 0))


def resize_crops(integral: Tensor, ranges: Tensor, size: int) -> Tensor:
    """Crop every range and resize it to ``size x size`` by area averaging, all at once.

    Each output pixel is the mean of the input pixels of its cell, the cells being those of
    adaptive average pooling (``F.interpolate(..., mode="area")`` of each crop): cell ``i``
    of a side of length ``L`` covers ``[floor(i L / size), ceil((i + 1) L / size))``. Such a
    mean is four look-ups in the integral image, so crops of different sizes need no loop.

    Args:
        integral: ``(C, H + 1, W + 1)`` from :func:`integral_image`.
        ranges: ``(N, 4)`` int64 non-empty ``(left, top, right, bottom)`` from :func:`crop_ranges`.
        size: output side.

    Returns:
        ``(N, C, size, size)`` float32.
    """
    k = torch.arange(size + 1, device=ranges.device)

    def cell_edges(start: Tensor, stop: Tensor) -> tuple[Tensor, Tensor]:
        length = (stop - start)[:, None]
        return start[:, None] + k[:-1] * length // size, start[:, None] - (-k[1:] * length // size)

    y0, y1 = cell_edges(ranges[:, 1], ranges[:, 3])  # (N, size) each
    x0, x1 = cell_edges(ranges[:, 0], ranges[:, 2])

    def at(y: Tensor, x: Tensor) -> Tensor:
        return integral[:, y[:, :, None], x[:, None, :]]  # (C, N, size, size)

    sums = at(y1, x1) - at(y0, x1) - at(y1, x0) + at(y0, x0)
    areas = (y1 - y0)[:, :, None] * (x1 - x0)[:, None, :]
    return (sums / areas).movedim(0, 1).float()


def nms_min_overlap(boxes: Tensor, scores: Tensor, threshold: float) -> Tensor:
    """Greedy NMS whose overlap is the intersection over the *smaller* box's area.

    MTCNN's last step: a small box inside a larger one has a low IoU but an overlap of 1
    here, so it is removed. Areas count pixels inclusively (``(x2 - x1 + 1) (y2 - y1 + 1)``)
    as in the reference. Greedy NMS keeps box ``j`` (in decreasing score) unless a kept
    better box overlaps it by more than ``threshold``; this is computed from the overlap
    matrix by repeating that rule until nothing changes (at most ``N`` rounds, usually 1-2),
    whose only fixed point is the greedy answer.

    Args:
        boxes: ``(N, 4)`` xyxy.
        scores: ``(N,)``.
        threshold: overlap above which the lower-scoring box goes.

    Returns:
        ``(K,)`` int64 indices of the kept boxes, by decreasing score (ties: the earlier box
        first; two boxes whose crops are clipped to the same pixels by the image border get
        exactly the same score).
    """
    order = torch.argsort(scores, descending=True, stable=True)
    b = boxes[order]
    wh = (torch.minimum(b[:, None, 2:], b[None, :, 2:]) - torch.maximum(b[:, None, :2], b[None, :, :2]) + 1)
    inter = wh.clamp(min=0).prod(dim=2)
    area = (b[:, 2:] - b[:, :2] + 1).prod(dim=1)
    overlap = inter / torch.minimum(area[:, None], area[None, :])
    suppresses = torch.triu(overlap > threshold, diagonal=1)  # [i, j]: better box i removes j
    keep = torch.ones(len(b), dtype=torch.bool, device=b.device)
    while True:
        new_keep = ~(suppresses & keep[:, None]).any(dim=0)
        if torch.equal(new_keep, keep):
            return order[keep]
        keep = new_keep


# -------------------------------------------------------------------- the cascade


def _refine(net: nn.Module, integral: Tensor, boxes: Tensor, size: int, threshold: float) -> tuple[Tensor, ...]:
    """R-Net or O-Net on the crops of ``boxes``: the boxes scoring ``> threshold``, their
    scores and offsets. Boxes wholly outside the image are dropped."""
    ranges = crop_ranges(boxes, integral.shape[1] - 1, integral.shape[2] - 1)
    inside = (ranges[:, 2:] > ranges[:, :2]).all(dim=1)
    boxes, ranges = boxes[inside], ranges[inside]
    prob, offsets = net(normalise(resize_crops(integral, ranges, size)))[:2]
    passed = prob > threshold
    return boxes[passed], prob[passed], offsets[passed]


@torch.no_grad()
def detect_faces(image: object, min_face_size: float = 20,
                 thresholds: Sequence[float] = (0.6, 0.7, 0.7),
                 factor: float = PYRAMID_FACTOR) -> tuple[Tensor, Tensor]:
    """Detect faces with MTCNN: image pyramid, P-Net, R-Net, O-Net, NMS after each stage.

    Args:
        image: ``(H, W, 3)`` or greyscale ``(H, W)`` uint8 (or float in ``[0, 1]``), a NumPy
            array or a tensor; or a tensor ``(3, H, W)``.
        min_face_size: smallest face searched for, in pixels (at least 12).
        thresholds: minimum probabilities of P-Net, R-Net and O-Net.
        factor: scale ratio of consecutive pyramid levels, in ``(0, 1)``.

    Returns:
        ``boxes (N, 4)`` xyxy pixels and ``scores (N,)`` (O-Net's face probability),
        float32, by decreasing score.

    Raises:
        ImportError: ``facenet-pytorch`` (the trained weights) is not installed.
    """
    pixels = check_image_array(image, scale=255, dtype=np.float32)  # (H, W, 3) pixel values in [0, 255]
    pixels = torch.from_numpy(pixels).permute(2, 0, 1)  # (3, H, W)
    min_face_size = check_real(min_face_size, "min_face_size", low=PNET_WINDOW)
    factor = check_real(factor, "factor", low=0.1, high=0.95)
    if not isinstance(thresholds, Sequence) or len(thresholds) != 3:
        raise ValueError(f"thresholds must be three probabilities (P-Net, R-Net, O-Net), got {thresholds!r}.")
    t_pnet, t_rnet, t_onet = (check_real(t, "each threshold", low=0, high=1) for t in thresholds)
    pnet, rnet, onet = load_mtcnn()
    height, width = pixels.shape[1:]
    empty = torch.zeros(0, 4), torch.zeros(0)

    # Stage 1: P-Net slid over every pyramid level; NMS within the level.
    found = []
    for scale in pyramid_scales(height, width, min_face_size, factor):
        size = (int(height * scale + 1), int(width * scale + 1))
        level = F.interpolate(pixels[None], size=size, mode="area")
        prob, offsets = pnet(normalise(level))
        boxes, scores, offsets = pnet_windows(prob[0], offsets[0], scale, t_pnet)
        keep = nms(boxes, scores, NMS_LEVEL)
        found.append((boxes[keep], scores[keep], offsets[keep]))
    if not found:
        return empty
    boxes, scores, offsets = (torch.cat(parts) for parts in zip(*found))
    keep = nms(boxes, scores, NMS_STAGE)  # across levels
    boxes = square_boxes(regress_boxes(boxes[keep], offsets[keep], inclusive=False))

    # Stage 2: R-Net on 24x24 crops; NMS; correct and square the survivors.
    integral = integral_image(pixels)
    if len(boxes):
        boxes, scores, offsets = _refine(rnet, integral, boxes, RNET_SIZE, t_rnet)
        keep = nms(boxes, scores, NMS_STAGE)
        boxes = square_boxes(regress_boxes(boxes[keep], offsets[keep], inclusive=True))

    # Stage 3: O-Net on 48x48 crops; correct; remove boxes nested in better ones.
    if not len(boxes):
        return empty
    boxes, scores, offsets = _refine(onet, integral, boxes, ONET_SIZE, t_onet)
    boxes = regress_boxes(boxes, offsets, inclusive=True)
    keep = nms_min_overlap(boxes, scores, NMS_FINAL)
    return boxes[keep], scores[keep]
