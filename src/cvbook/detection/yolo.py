"""YOLO: a detector that reads every box off one S×S grid in a single forward pass.

YOLO v1 (Redmon et al., 2015) cuts the image into an ``S × S`` grid. The cell that holds
an object's centre is responsible for it and predicts, for each of ``B`` boxes,
``(x, y, w, h, confidence)``, plus ``C`` class probabilities shared by the cell: an
output of shape ``(S, S, 5B + C)`` per image, ``7 × 7 × 30`` for Pascal VOC
(``B = 2``, ``C = 20``).

Grid tensors are channel-last, ``(N, S, S, 5B + C)``. The last dimension holds box ``j``
in ``[5j : 5j + 5]`` as ``(x, y, w, h, c)`` and the class scores in ``[5B : 5B + C]``:

- ``x, y``: the box centre's offset inside its cell, in cell units (``0..1``);
- ``w, h``: the box size as a fraction of the image width and height (``0..1``);
- ``c``: the confidence that box ``j`` holds an object.

Boxes outside this module are in pixel ``xyxy`` (as in :mod:`cvbook.boxes` and the
``shapes`` data).

>>> import torch
>>> boxes = torch.tensor([[[8.0, 8.0, 24.0, 24.0]]])   # one 16-pixel box centred on (16, 16)
>>> target = encode_grid(boxes, torch.tensor([[1]]), image_size=64, grid_size=4,
...                      num_boxes=2, num_classes=3)
>>> target.shape, target[0, 1, 1].tolist()
(torch.Size([1, 4, 4, 13]), [0.0, 0.0, 0.25, 0.25, 1.0, 0.0, 0.0, 0.25, 0.25, 1.0, 0.0, 1.0, 0.0])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cvbook._checks import check_boxes, check_image_size, check_integer_labels, check_real, describe
from cvbook.boxes import clip_boxes, paired_box_iou
from cvbook.detection.postprocess import nms_per_image
from cvbook.layers import conv_bn_act

__all__ = [
    "check_grid",
    "encode_grid",
    "decode_grid",
    "postprocess",
    "cell_box_iou",
    "SmallYOLO",
    "tiny_yolo_v2",
]


def check_grid(grid: object, num_boxes: int, num_classes: int, name: str = "grid") -> tuple[int, int, int]:
    """A YOLO v1 grid ``(N, S, S, 5B + C)`` (a prediction or a target of :func:`encode_grid`);
    returns ``(N, S, 5B + C)``."""
    if not isinstance(grid, Tensor) or grid.ndim != 4 or grid.shape[1] != grid.shape[2]:
        raise ValueError(f"{name} must be a tensor of shape (N, S, S, 5B + C), got {describe(grid)}.")
    if grid.shape[-1] != 5 * num_boxes + num_classes:
        raise ValueError(f"{name} has {grid.shape[-1]} values per cell but num_boxes={num_boxes} and "
                         f"num_classes={num_classes} need 5B + C = {5 * num_boxes + num_classes}; "
                         "pass the B and C the tensor was made with.")
    return grid.shape[0], grid.shape[1], grid.shape[-1]


def encode_grid(
    boxes: Tensor,
    labels: Tensor,
    *,
    image_size: int | tuple[int, int],
    grid_size: int = 7,
    num_boxes: int = 2,
    num_classes: int = 20,
) -> Tensor:
    """Write ground-truth boxes into a YOLO v1 target grid.

    The cell holding a box's centre gets ``(x, y, w, h, 1)`` in each of its ``B`` box
    slots (the loss later picks the slot that predicts it best) and a one-hot class
    vector; every other cell is all zeros. A centre on the right or bottom image edge
    goes to the last cell. When two centres fall in the same cell (YOLO v1 assumes they
    never do) the larger box wins, and on equal areas the later one.

    Args:
        boxes: ``(N, K, 4)`` pixel ``xyxy`` boxes; padding rows are ignored.
        labels: ``(N, K)`` int64 class indices in ``[0, C)``, ``-1`` marks padding.
        image_size: ``H`` (square images) or ``(H, W)`` in pixels.
        grid_size: ``S``.
        num_boxes: ``B``, boxes predicted per cell.
        num_classes: ``C``.

    Returns:
        ``(N, S, S, 5B + C)`` float target, indexed ``[image, row, column]``.
    """
    boxes = check_boxes(boxes, "boxes", min_dim=3)
    if not isinstance(labels, Tensor) or labels.shape != boxes.shape[:-1]:
        raise ValueError(f"labels must have shape (N, K) = {tuple(boxes.shape[:-1])}, matching boxes.")
    check_integer_labels(labels, "labels", num_classes, allow=(-1,))
    height, width = check_image_size(image_size, "image_size")
    n, s, b = boxes.shape[0], grid_size, num_boxes
    boxes = boxes.float()
    valid = labels >= 0
    outside = valid & ((boxes[..., :2] < 0).any(-1) | (boxes[..., 2] > width) | (boxes[..., 3] > height))
    if bool(outside.any()):
        first = outside.nonzero()[0].tolist()
        raise ValueError(f"boxes must lie inside the {height}×{width} image, but {int(outside.sum())} do not "
                         f"(first: image {first[0]}, box {first[1]}: {boxes[first[0], first[1]].tolist()}); "
                         "clip them with cvbook.boxes.clip_boxes, or pass the right image_size.")

    cx = (boxes[..., 0] + boxes[..., 2]) / (2 * width)  # (N, K), fractions of the image
    cy = (boxes[..., 1] + boxes[..., 3]) / (2 * height)
    col = (cx * s).floor().clamp(0, s - 1)
    row = (cy * s).floor().clamp(0, s - 1)
    w = (boxes[..., 2] - boxes[..., 0]) / width
    h = (boxes[..., 3] - boxes[..., 1]) / height
    one_box = torch.stack([cx * s - col, cy * s - row, w, h, torch.ones_like(w)], dim=-1)  # (N, K, 5)
    classes = nn.functional.one_hot(labels.clamp(min=0), num_classes).float()  # (N, K, C)
    cell_values = torch.cat([one_box.repeat(1, 1, b), classes], dim=-1)  # (N, K, 5B + C)

    # One object per cell: among objects sharing a cell keep the largest (then the last).
    cell = (torch.arange(n, device=boxes.device)[:, None] * s + row.long()) * s + col.long()  # (N, K)
    order = torch.arange(labels.shape[1], device=boxes.device).expand_as(labels)
    key = torch.where(valid, (w * h) * (labels.shape[1] + 1) + order / (labels.shape[1] + 1), -1.0)
    best = torch.full((n * s * s,), -1.0, device=boxes.device).scatter_reduce(
        0, cell.flatten(), key.flatten(), reduce="amax")
    winner = valid & (key == best[cell])

    target = boxes.new_zeros(n * s * s, 5 * b + num_classes)
    target[cell[winner]] = cell_values[winner]
    return target.view(n, s, s, 5 * b + num_classes)


def decode_grid(
    grid: Tensor,
    *,
    image_size: int | tuple[int, int],
    num_boxes: int = 2,
    num_classes: int = 20,
) -> tuple[Tensor, Tensor, Tensor]:
    """Read every box of a YOLO v1 grid (a prediction or a target) back in pixels.

    Each of the ``S·S·B`` boxes gets the class its cell finds most likely and the score
    ``confidence × class probability`` (the "class-specific confidence" of YOLO v1).

    Args:
        grid: ``(N, S, S, 5B + C)``, laid out as in :func:`encode_grid`.
        image_size: ``H`` or ``(H, W)`` in pixels.

    Returns:
        ``(boxes, scores, labels)``: ``(N, S·S·B, 4)`` pixel ``xyxy``, ``(N, S·S·B)`` and
        ``(N, S·S·B)`` int64, in the order row, column, box.
    """
    n, s, _ = check_grid(grid, num_boxes, num_classes)
    height, width = check_image_size(image_size, "image_size")
    b = num_boxes
    cells = grid[..., : 5 * b].reshape(n, s, s, b, 5)
    rows = torch.arange(s, dtype=grid.dtype, device=grid.device).view(1, s, 1, 1)
    cols = torch.arange(s, dtype=grid.dtype, device=grid.device).view(1, 1, s, 1)
    cx = (cols + cells[..., 0]) / s * width
    cy = (rows + cells[..., 1]) / s * height
    w, h = cells[..., 2] * width, cells[..., 3] * height
    xyxy = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)
    class_prob, label = grid[..., 5 * b:].max(dim=-1)  # (N, S, S)
    scores = cells[..., 4] * class_prob[..., None]
    labels = label[..., None].expand(n, s, s, b)
    return xyxy.reshape(n, -1, 4), scores.reshape(n, -1), labels.reshape(n, -1)


def postprocess(
    grid: Tensor,
    *,
    image_size: int | tuple[int, int],
    num_boxes: int = 2,
    num_classes: int = 20,
    score_threshold: float = 0.3,
    iou_threshold: float = 0.5,
) -> list[dict[str, Tensor]]:
    """Detections from a grid: decode, keep scores ``≥ score_threshold``, then per-class NMS.

    Args:
        grid: ``(N, S, S, 5B + C)`` network output or target.
        score_threshold: the minimum ``confidence × class probability`` (30 % in the
            lecture's YOLO v2 demo).
        iou_threshold: NMS threshold, per image and class.

    Returns:
        One dict per image with ``boxes`` ``(k, 4)`` pixel ``xyxy`` clipped to the image,
        ``scores`` ``(k,)`` and ``labels`` ``(k,)``, by decreasing score (the format of
        torchvision detectors and :func:`cvbook.metrics.detection.mean_average_precision`).
    """
    boxes, scores, labels = decode_grid(grid, image_size=image_size, num_boxes=num_boxes,
                                        num_classes=num_classes)
    n, per_image = scores.shape
    boxes = clip_boxes(boxes.reshape(-1, 4), check_image_size(image_size, "image_size"))
    scores, labels = scores.reshape(-1), labels.reshape(-1)
    image = torch.arange(n, device=grid.device).repeat_interleave(per_image)
    keep = (scores >= check_real(score_threshold, "score_threshold")).nonzero().flatten()
    return nms_per_image(boxes[keep], scores[keep], labels[keep], image[keep], n, iou_threshold,
                         num_classes=num_classes)


def cell_box_iou(boxes1: Tensor, boxes2: Tensor, grid_size: int) -> Tensor:
    """Element-wise IoU of grid boxes ``(x, y, w, h)`` that sit in the same cell.

    ``x, y`` are offsets in cell units and ``w, h`` fractions of the image (the layout of
    :func:`encode_grid`); both boxes are measured from the same cell's corner, so the
    IoU does not depend on which cell it is.

    Args:
        boxes1: ``(..., 4)`` grid boxes.
        boxes2: ``(..., 4)``, broadcastable against ``boxes1``.
        grid_size: ``S``, to put offsets (cell units) and sizes (image units) on one scale.

    Returns:
        ``(...)`` IoU in ``[0, 1]``; 0 where both boxes are empty (the arithmetic of
        :func:`cvbook.boxes.paired_box_iou`).
    """
    def corners(b: Tensor) -> Tensor:
        cx, cy = b[..., 0] / grid_size, b[..., 1] / grid_size
        w, h = b[..., 2].clamp(min=0), b[..., 3].clamp(min=0)  # a raw prediction may be negative: empty box
        return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)

    return paired_box_iou(corners(boxes1), corners(boxes2))


# ----------------------------------------------------------------------------- models


class SmallYOLO(nn.Module):
    """A small YOLO v1 for small images: a conv backbone down to an ``S × S`` grid.

    Each 2×2 max-pool halves the resolution, so ``image_size / 2**num_pools = S``
    (``64 → 8`` with three pools). A 1×1 convolution then predicts ``5B + C`` numbers per
    cell; unlike YOLO v1's fully connected head it is convolutional, which needs far fewer
    parameters and trains in seconds. Box offsets, sizes and confidences go through a
    sigmoid (they live in ``[0, 1]``), class scores through a softmax.

    Args:
        num_classes: ``C``.
        num_boxes: ``B``.
        widths: channels of the stages; one max-pool follows each stage but the last.

    Shape:
        ``(N, 3, H, W) → (N, S, S, 5B + C)`` with ``S = H / 2**(len(widths) - 1)``.
    """

    def __init__(self, num_classes: int = 3, num_boxes: int = 2,
                 widths: tuple[int, ...] = (32, 64, 128, 256)) -> None:
        super().__init__()
        if len(widths) < 2:
            raise ValueError("widths needs at least two stages (one pooling step).")
        self.num_classes, self.num_boxes = num_classes, num_boxes
        layers: list[nn.Module] = []
        c_in = 3
        for i, c in enumerate(widths):
            layers.append(conv_bn_act(c_in, c, activation="leaky"))
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            c_in = c
        layers += [conv_bn_act(c_in, c_in, activation="leaky"), conv_bn_act(c_in, c_in // 2, 1, activation="leaky")]
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(c_in // 2, 5 * num_boxes + num_classes, 1)
        # Most cells are empty: start every confidence near sigmoid(-4) ≈ 0.02, not 0.5, so
        # the first steps are not spent pushing hundreds of empty-cell confidences down.
        with torch.no_grad():
            self.head.bias[4: 5 * num_boxes: 5] = -4.0

    def forward(self, x: Tensor) -> Tensor:
        out = self.head(self.features(x)).permute(0, 2, 3, 1)  # (N, S, S, 5B + C)
        b = 5 * self.num_boxes
        return torch.cat([out[..., :b].sigmoid(), out[..., b:].softmax(dim=-1)], dim=-1)

    @torch.no_grad()
    def detect(self, images: Tensor, *, score_threshold: float = 0.3, iou_threshold: float = 0.5,
               batch_size: int = 256) -> list[dict[str, Tensor]]:
        """Detections for ``(N, 3, H, W)`` images: forward pass, then :func:`postprocess`.

        Runs in eval mode, ``batch_size`` images at a time; returns one dict per image
        (``boxes`` pixel ``xyxy``, ``scores``, ``labels``).
        """
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        out: list[dict[str, Tensor]] = []
        for chunk in images.split(batch_size):
            grid = self(chunk.to(device)).cpu()
            out += postprocess(grid, image_size=tuple(chunk.shape[-2:]), num_boxes=self.num_boxes,
                               num_classes=self.num_classes, score_threshold=score_threshold,
                               iou_threshold=iou_threshold)
        self.train(was_training)
        return out


def tiny_yolo_v2(num_classes: int = 20, num_anchors: int = 5) -> nn.Sequential:
    """Tiny YOLO v2 (the lecture's table): nine convolutions and six max-pools.

    A ``416 × 416 × 3`` image goes through 3×3 convolutions (batch norm, leaky ReLU) and
    2×2 max-pools of stride 2 down to ``13 × 13``; a last max-pool of stride 1 (padded on
    the right and bottom, as in Darknet) keeps ``13 × 13``; a final 1×1 convolution gives
    ``num_anchors × (4 + 1 + num_classes)`` channels, ``13 × 13 × 125`` for VOC: 5 boxes
    per cell, each with 4 coordinates, a confidence and 20 class scores, 845 boxes in all.

    Shape:
        ``(N, 3, 416, 416) → (N, A·(5 + C), 13, 13)`` (channels first, as in PyTorch).
    """
    layers: list[nn.Module] = []
    c_in = 3
    for c in (16, 32, 64, 128, 256):
        layers += [conv_bn_act(c_in, c, activation="leaky"), nn.MaxPool2d(2, 2)]
        c_in = c
    layers += [conv_bn_act(256, 512, activation="leaky"), nn.ZeroPad2d((0, 1, 0, 1)), nn.MaxPool2d(2, 1)]
    layers += [conv_bn_act(512, 1024, activation="leaky"), conv_bn_act(1024, 1024, activation="leaky"), nn.Conv2d(1024, num_anchors * (5 + num_classes), 1)]
    return nn.Sequential(*layers)
