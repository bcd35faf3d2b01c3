"""Tests of the YOLO grid encoding (cvbook.detection.yolo) and the YOLO v1 loss (cvbook.detection.yolo_loss).

The loss is checked against values worked out by hand (the same case as in chapter 11 and
lab 5), grid IoUs against torchvision.ops.box_iou, and the tiny YOLO v2 shapes against the
lecture's table.
"""

from __future__ import annotations

import math

import pytest
import torch
import torchvision

from cvbook.detection import yolo_loss as losses
from cvbook.backbones.summary import layer_shapes
from cvbook.data import generate_shapes
from cvbook.detection import yolo


# ------------------------------------------------------------------ hand-made loss case
def hand_made_case() -> tuple[torch.Tensor, torch.Tensor]:
    """S = 2, B = 2, C = 2; one object of class 1 centred in cell (row 0, col 0).

    Ground truth in that cell: x = y = 0.5, w = h = 0.25 (a square a quarter of the image
    wide). Box 0 predicts the same centre with w = 0.25, h = 0.0625 (IoU 0.25, confidence
    0.5); box 1 predicts w = h = 0.16 (IoU 0.0256 / 0.0625 = 0.4096, confidence 0.8), so box
    1 is responsible. Class probabilities predicted (0.3, 0.7). Cell (1, 1) has box
    confidences (0.2, 0); every other confidence is 0. Class scores of empty cells are
    arbitrary (they must not count).
    """
    target = torch.zeros(1, 2, 2, 12)
    target[0, 0, 0, :10] = torch.tensor([0.5, 0.5, 0.25, 0.25, 1.0] * 2)
    target[0, 0, 0, 10:] = torch.tensor([0.0, 1.0])
    pred = torch.zeros(1, 2, 2, 12)
    pred[0, 0, 0] = torch.tensor([0.5, 0.5, 0.25, 0.0625, 0.5, 0.5, 0.5, 0.16, 0.16, 0.8, 0.3, 0.7])
    pred[0, 1, 1, 4] = 0.2
    pred[..., 10:] += torch.tensor([[0.0, 0.0], [0.9, 0.1]])[None, :, None]  # row 1: empty cells
    return pred, target


def test_loss_terms_match_hand_computation():
    pred, target = hand_made_case()
    terms = losses.yolo_v1_loss_terms(pred, target, num_boxes=2, num_classes=2)
    # coord: (0.5-0.5)² + (0.5-0.5)² + (√0.25-√0.16)² + (√0.25-√0.16)² = 2·0.1² = 0.02
    assert terms["coord"].item() == pytest.approx(0.02, abs=1e-6)
    # obj: (c - ĉ)² with c = IoU = 0.4096 and ĉ = 0.8
    assert terms["obj"].item() == pytest.approx((0.4096 - 0.8) ** 2, abs=1e-6)
    # noobj: box 0 of the object's cell (0.5²) and box 0 of cell (1, 1) (0.2²)
    assert terms["noobj"].item() == pytest.approx(0.25 + 0.04, abs=1e-6)
    # classes: (0 - 0.3)² + (1 - 0.7)²
    assert terms["classes"].item() == pytest.approx(0.18, abs=1e-6)


def test_loss_total_matches_hand_computation():
    pred, target = hand_made_case()
    loss = losses.yolo_v1_loss(pred, target, num_boxes=2, num_classes=2)
    expected = 5 * 0.02 + 1 * (0.4096 - 0.8) ** 2 + 0.5 * 0.29 + 1 * 0.18  # = 0.57741216
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    weighted = losses.yolo_v1_loss(pred, target, num_boxes=2, num_classes=2, lambda_coord=1,
                                   lambda_obj=2, lambda_noobj=3, lambda_classes=4)
    assert weighted.item() == pytest.approx(0.02 + 2 * 0.15241216 + 3 * 0.29 + 4 * 0.18, abs=1e-6)


def test_responsible_box_is_the_one_with_highest_iou():
    pred, target = hand_made_case()
    mask, iou = losses.responsible_boxes(pred, target, num_boxes=2, num_classes=2)
    assert mask[0, 0, 0].tolist() == [0.0, 1.0]
    assert mask.sum().item() == 1
    assert iou[0, 0, 0].tolist() == pytest.approx([0.25, 0.4096], abs=1e-6)
    # make box 0 the better one: it now answers for the object
    pred[0, 0, 0, 3] = 0.25
    mask, _ = losses.responsible_boxes(pred, target, num_boxes=2, num_classes=2)
    assert mask[0, 0, 0].tolist() == [1.0, 0.0]


def test_loss_on_empty_image_is_weighted_sum_of_squared_confidences():
    torch.manual_seed(0)
    pred = torch.rand(3, 7, 7, 30)
    target = torch.zeros(3, 7, 7, 30)
    conf = pred[..., 4:10:5]
    expected = 0.5 * (conf ** 2).sum().item() / 3
    assert losses.yolo_v1_loss(pred, target).item() == pytest.approx(expected, rel=1e-5)


def test_loss_of_target_as_prediction_counts_only_second_boxes():
    """pred = target: box 0 is responsible (IoU 1, first on ties) and has zero error; box 1
    of every object cell predicts confidence 1 where 0 is wanted: λnoobj · 1 per object."""
    batch = generate_shapes(6, seed=3)
    target = yolo.encode_grid(batch.boxes, batch.labels, image_size=64, grid_size=8,
                              num_boxes=2, num_classes=3)
    objects = int((batch.labels >= 0).sum())
    loss = losses.yolo_v1_loss(target, target, num_boxes=2, num_classes=3)
    assert loss.item() == pytest.approx(0.5 * objects / 6, abs=1e-5)


def test_loss_gradient_is_finite_for_zero_and_negative_sizes():
    pred, target = hand_made_case()
    pred[0, 0, 0, 7] = 0.0
    pred[0, 0, 0, 8] = -0.01
    pred.requires_grad_(True)
    losses.yolo_v1_loss(pred, target, num_boxes=2, num_classes=2).backward()
    assert torch.isfinite(pred.grad).all()


def test_loss_rejects_mismatched_shapes():
    pred, target = hand_made_case()
    with pytest.raises(ValueError, match="5B \\+ C"):
        losses.yolo_v1_loss(pred, target, num_boxes=2, num_classes=20)
    with pytest.raises(ValueError, match="same S, B and C"):
        losses.yolo_v1_loss(pred, target[:, :1], num_boxes=2, num_classes=2)


# ------------------------------------------------------------------ grid encoding
def test_cell_box_iou_matches_torchvision():
    torch.manual_seed(1)
    s = 7
    a, b = torch.rand(50, 4), torch.rand(50, 4)
    ours = yolo.cell_box_iou(a, b, s)

    def xyxy(t):
        cx, cy = t[:, 0] / s, t[:, 1] / s
        return torch.stack([cx - t[:, 2] / 2, cy - t[:, 3] / 2, cx + t[:, 2] / 2, cy + t[:, 3] / 2], 1)

    reference = torchvision.ops.box_iou(xyxy(a), xyxy(b)).diagonal()
    torch.testing.assert_close(ours, reference)


def test_encode_by_hand():
    # a 16×16 box centred on (x, y) = (40, 20) in a 64×64 image, S = 4 (16-pixel cells):
    # column 2, row 1, offsets (40 - 32) / 16 = 0.5 and (20 - 16) / 16 = 0.25, size 0.25
    boxes = torch.tensor([[[32.0, 12.0, 48.0, 28.0]]])
    target = yolo.encode_grid(boxes, torch.tensor([[2]]), image_size=64, grid_size=4,
                              num_boxes=2, num_classes=3)
    assert target.shape == (1, 4, 4, 13)
    assert target[0, 1, 2].tolist() == [0.5, 0.25, 0.25, 0.25, 1.0] * 2 + [0.0, 0.0, 1.0]
    target[0, 1, 2] = 0
    assert (target == 0).all()


def test_encode_voc_layout_is_7x7x30():
    boxes = torch.tensor([[[10.0, 20.0, 200.0, 300.0], [0, 0, 0, 0]]])
    target = yolo.encode_grid(boxes, torch.tensor([[14, -1]]), image_size=(375, 500))
    assert target.shape == (1, 7, 7, 30)
    assert target[..., 4].sum() == 1 and target[..., 10:].sum() == 1


def test_encode_decode_round_trip_on_shapes():
    batch = generate_shapes(20, seed=5)
    target = yolo.encode_grid(batch.boxes, batch.labels, image_size=64, grid_size=8,
                              num_boxes=2, num_classes=3)
    detections = yolo.postprocess(target, image_size=64, num_boxes=2, num_classes=3,
                                  score_threshold=0.5, iou_threshold=0.5)
    for i, det in enumerate(detections):
        keep = batch.labels[i] >= 0
        truth = sorted(zip(batch.boxes[i][keep].tolist(), batch.labels[i][keep].tolist()))
        got = sorted(zip(det["boxes"].tolist(), det["labels"].tolist()))
        assert len(got) == len(truth)
        for (gb, gl), (tb, tl) in zip(got, truth):
            assert gl == tl
            assert gb == pytest.approx(tb, abs=1e-4)
        assert (det["scores"] == 1).all()


def test_decode_returns_every_box_in_cell_order():
    grid = torch.zeros(2, 3, 3, 5 * 2 + 4)
    boxes, scores, labels = yolo.decode_grid(grid, image_size=30, num_boxes=2, num_classes=4)
    assert boxes.shape == (2, 18, 4) and scores.shape == (2, 18) and labels.shape == (2, 18)
    # a zero-size box at offset (0, 0) sits on its cell's top-left corner
    corners = torch.tensor([[10.0 * c, 10.0 * r] for r in range(3) for c in range(3) for _ in range(2)])
    torch.testing.assert_close(boxes[0, :, :2], corners)


def test_encode_keeps_the_larger_of_two_objects_in_one_cell():
    boxes = torch.tensor([[[0.0, 0.0, 4.0, 4.0], [0.0, 0.0, 6.0, 6.0]]])
    target = yolo.encode_grid(boxes, torch.tensor([[0, 1]]), image_size=64, grid_size=8,
                              num_boxes=1, num_classes=2)
    assert target[0, 0, 0].tolist() == [3 / 8, 3 / 8, 6 / 64, 6 / 64, 1.0, 0.0, 1.0]


def test_encode_rejects_bad_labels():
    boxes = torch.tensor([[[0.0, 0.0, 4.0, 4.0]]])
    with pytest.raises(ValueError, match="labels must lie"):
        yolo.encode_grid(boxes, torch.tensor([[3]]), image_size=64, num_classes=3)
    with pytest.raises(ValueError, match="shape"):
        yolo.encode_grid(boxes, torch.tensor([0]), image_size=64, num_classes=3)
    with pytest.raises(ValueError, match="integer class indices"):
        yolo.encode_grid(boxes, torch.tensor([[0.0]]), image_size=64, num_classes=3)


def test_encode_rejects_boxes_outside_the_image():
    # a box past the right edge would put its centre in no cell (a cell offset of 3.875)
    outside = torch.tensor([[[80.0, 10.0, 100.0, 20.0]]])
    with pytest.raises(ValueError, match="inside the 64×64 image.*clip_boxes"):
        yolo.encode_grid(outside, torch.tensor([[0]]), image_size=64, grid_size=8, num_classes=3)
    padded = torch.tensor([[[8.0, 8.0, 24.0, 24.0], [500.0, 500.0, 600.0, 600.0]]])  # padding rows are ignored
    target = yolo.encode_grid(padded, torch.tensor([[1, -1]]), image_size=64, grid_size=4, num_boxes=1, num_classes=3)
    assert target[..., 4].sum().item() == 1.0 and (target[..., :2] <= 1).all()


# ------------------------------------------------------------------ models
LECTURE_TABLE = [  # layer, kernel, stride, output (H, W, C): the lecture's tiny YOLO v2 table (416×416×3 input)
    ("Convolution", 3, 1, (416, 416, 16)), ("MaxPooling", 2, 2, (208, 208, 16)),
    ("Convolution", 3, 1, (208, 208, 32)), ("MaxPooling", 2, 2, (104, 104, 32)),
    ("Convolution", 3, 1, (104, 104, 64)), ("MaxPooling", 2, 2, (52, 52, 64)),
    ("Convolution", 3, 1, (52, 52, 128)), ("MaxPooling", 2, 2, (26, 26, 128)),
    ("Convolution", 3, 1, (26, 26, 256)), ("MaxPooling", 2, 2, (13, 13, 256)),
    ("Convolution", 3, 1, (13, 13, 512)), ("MaxPooling", 2, 1, (13, 13, 512)),
    ("Convolution", 3, 1, (13, 13, 1024)), ("Convolution", 3, 1, (13, 13, 1024)),
    ("Convolution", 1, 1, (13, 13, 125)),
]


def test_tiny_yolo_v2_matches_lecture_table():
    with torch.device("meta"):
        rows = layer_shapes(yolo.tiny_yolo_v2(), (1, 3, 416, 416))
    names = {"Conv2d": "Convolution", "MaxPool2d": "MaxPooling"}
    table = [(names[r.kind], r.kernel[0], r.stride[0], (*r.output_shape[2:], r.output_shape[1]))
             for r in rows if r.kind in names]
    assert table == LECTURE_TABLE


def test_tiny_yolo_v2_output_has_845_boxes():
    with torch.device("meta"):
        model = yolo.tiny_yolo_v2()
        out = model(torch.empty(2, 3, 416, 416))
    assert tuple(out.shape) == (2, 125, 13, 13)
    assert out.shape[2] * out.shape[3] * 5 == 845  # 13 × 13 cells, 5 boxes each


def test_small_yolo_output_layout():
    model = yolo.SmallYOLO(num_classes=3, num_boxes=2).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 64))
    assert out.shape == (2, 8, 8, 13)
    assert ((out[..., :10] > 0) & (out[..., :10] < 1)).all()
    torch.testing.assert_close(out[..., 10:].sum(-1), torch.ones(2, 8, 8))
    assert math.isfinite(losses.yolo_v1_loss(out, torch.zeros_like(out), num_classes=3).item())
