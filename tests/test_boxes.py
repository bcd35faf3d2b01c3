"""cvbook.boxes against torchvision.ops (and d2l for the offsets), plus properties."""

from __future__ import annotations

import doctest
import itertools

import pytest
import torch
import torchvision.ops as tvops
from hypothesis import given, settings
from hypothesis import strategies as st

from cvbook import boxes as B

FORMATS = ("xyxy", "xywh", "cxcywh")


def random_boxes(n: int, seed: int, degenerate: bool = True) -> torch.Tensor:
    """xyxy boxes with duplicates, zero-width, zero-height and point boxes mixed in."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 100
    wh = torch.rand(n, 2, generator=g) * 50 + 0.5
    boxes = torch.cat([xy, xy + wh], dim=1)
    if degenerate and n >= 8:
        boxes[1] = boxes[0]  # duplicate
        boxes[2, 2] = boxes[2, 0]  # zero width
        boxes[3, 3] = boxes[3, 1]  # zero height
        boxes[4, 2:] = boxes[4, :2]  # a point
        boxes[5] = boxes[4]  # the same point twice
        boxes[6] = torch.round(boxes[6])  # integer-valued corners
    return boxes


box_lists = st.lists(
    st.tuples(
        st.floats(-50, 50), st.floats(-50, 50), st.floats(0.01, 30), st.floats(0.01, 30)
    ),
    min_size=1,
    max_size=12,
).map(lambda rows: B.box_convert(torch.tensor(rows, dtype=torch.float64), "xywh", "xyxy"))


# ------------------------------------------------------------------ conversions


@pytest.mark.parametrize("in_fmt,out_fmt", list(itertools.product(FORMATS, FORMATS)))
def test_box_convert_matches_torchvision(in_fmt, out_fmt):
    xyxy = random_boxes(200, seed=1)
    boxes = tvops.box_convert(xyxy, "xyxy", in_fmt)
    torch.testing.assert_close(B.box_convert(boxes, in_fmt, out_fmt), tvops.box_convert(boxes, in_fmt, out_fmt))


def test_box_convert_batched_and_empty():
    boxes = random_boxes(24, seed=2).reshape(2, 3, 4, 4)
    out = B.box_convert(boxes, "xyxy", "cxcywh")
    assert out.shape == boxes.shape
    torch.testing.assert_close(out.reshape(-1, 4), tvops.box_convert(boxes.reshape(-1, 4), "xyxy", "cxcywh"))
    assert B.box_convert(torch.zeros(0, 4), "xyxy", "xywh").shape == (0, 4)


@settings(max_examples=60, deadline=None)
@given(box_lists, st.sampled_from(FORMATS), st.sampled_from(FORMATS))
def test_box_convert_round_trip(boxes, fmt_a, fmt_b):
    there = B.box_convert(B.box_convert(boxes, "xyxy", fmt_a), fmt_a, fmt_b)
    back = B.box_convert(B.box_convert(there, fmt_b, fmt_a), fmt_a, "xyxy")
    torch.testing.assert_close(back, boxes, rtol=1e-9, atol=1e-9)


def test_box_area_and_clip_match_torchvision():
    boxes = random_boxes(100, seed=3) - 20
    torch.testing.assert_close(B.box_area(boxes), tvops.box_area(boxes))
    torch.testing.assert_close(B.clip_boxes(boxes, (60, 90)), tvops.clip_boxes_to_image(boxes, (60, 90)))
    assert B.box_area(torch.zeros(0, 4)).shape == (0,)


# --------------------------------------------------------------------------- IoU


@pytest.mark.parametrize("fn,ref", [(B.box_iou, tvops.box_iou), (B.generalized_box_iou, tvops.generalized_box_iou)])
def test_iou_matches_torchvision(fn, ref):
    a, b = random_boxes(150, seed=4), random_boxes(120, seed=5)
    b[:10] = a[:10]  # identical pairs (IoU exactly 1), incl. the degenerate ones
    expected, got = ref(a, b), fn(a, b)
    defined = ~torch.isnan(expected)  # torchvision gives 0/0 = NaN for two zero-area boxes
    assert (~defined).any(), "the test data should contain pairs torchvision leaves undefined"
    torch.testing.assert_close(got[defined], expected[defined])
    assert not torch.isnan(got).any()
    # Where torchvision divides 0 by 0 both boxes have zero area: IoU 0 (GIoU: 0 too, hull empty
    # or IoU 0 minus a penalty that torchvision would compute the same way).
    if fn is B.box_iou:
        assert (got[~defined] == 0).all()


def test_iou_zero_area_is_zero_not_nan():
    point = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
    line = torch.tensor([[0.0, 1.0, 5.0, 1.0]])
    assert B.box_iou(point, point).item() == 0.0
    assert B.box_iou(line, line).item() == 0.0
    assert B.generalized_box_iou(point, point).item() == 0.0
    assert B.box_iou(torch.zeros(0, 4), torch.ones(3, 4)).shape == (0, 3)
    assert B.generalized_box_iou(torch.ones(2, 4), torch.zeros(0, 4)).shape == (2, 0)


def test_iou_broadcasts_batch_dims():
    a = random_boxes(30, seed=6).reshape(3, 10, 4)
    b = random_boxes(7, seed=7, degenerate=False)
    out = B.box_iou(a, b)
    assert out.shape == (3, 10, 7)
    for i in range(3):
        torch.testing.assert_close(out[i], tvops.box_iou(a[i], b))


def test_iou_hand_computed():
    # [0,2]x[0,2] and [1,3]x[0,2]: intersection 1x2 = 2, union 4 + 4 - 2 = 6 -> 1/3.
    # Hull [0,3]x[0,2] = 6, so GIoU = 1/3 - (6 - 6)/6 = 1/3; far apart boxes: 0 - (6 - 2)/6 = -2/3.
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    assert B.box_iou(a, torch.tensor([[1.0, 0.0, 3.0, 2.0]])).item() == pytest.approx(1 / 3)
    assert B.generalized_box_iou(a, torch.tensor([[1.0, 0.0, 3.0, 2.0]])).item() == pytest.approx(1 / 3)
    assert B.generalized_box_iou(a[:, [0, 1, 0, 1]] * 0 + torch.tensor([[0.0, 0, 1, 1]]),
                                 torch.tensor([[2.0, 0.0, 3.0, 1.0]])).item() == pytest.approx(-1 / 3)


@settings(max_examples=60, deadline=None)
@given(box_lists, box_lists)
def test_iou_properties(a, b):
    iou = B.box_iou(a, b)
    assert ((iou >= 0) & (iou <= 1 + 1e-12)).all()
    torch.testing.assert_close(iou, B.box_iou(b, a).T)
    torch.testing.assert_close(torch.diagonal(B.box_iou(a, a)), torch.ones(len(a), dtype=torch.float64))
    giou = B.generalized_box_iou(a, b)
    assert ((giou >= -1 - 1e-12) & (giou <= iou + 1e-12)).all()
    torch.testing.assert_close(giou, tvops.generalized_box_iou(a, b))


# --------------------------------------------------------------------------- NMS


def nms_data(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    boxes = random_boxes(300, seed=seed) / 3
    g = torch.Generator().manual_seed(seed)
    scores = torch.round(torch.rand(300, generator=g) * 20) / 20  # many ties
    return boxes, scores


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.9])
def test_nms_matches_torchvision(seed, threshold):
    boxes, scores = nms_data(seed)
    keep = B.nms(boxes, scores, threshold)
    assert torch.equal(keep, tvops.nms(boxes, scores, threshold))
    assert (scores[keep][:-1] >= scores[keep][1:]).all()  # by decreasing score
    # The NMS property itself: kept boxes overlap each other at most `threshold`, and every
    # dropped box overlaps some kept box of at least its score by more than `threshold`.
    iou = tvops.box_iou(boxes, boxes).nan_to_num(0)
    kept_iou = iou[keep][:, keep].fill_diagonal_(0)
    assert (kept_iou <= threshold).all()
    dropped = torch.ones(len(boxes), dtype=torch.bool)
    dropped[keep] = False
    overlaps = (iou[dropped][:, keep] > threshold) & (scores[keep][None] >= scores[dropped][:, None])
    assert overlaps.any(dim=1).all()


def test_batched_nms_matches_torchvision():
    boxes, scores = nms_data(3)
    labels = torch.randint(0, 4, (300,), generator=torch.Generator().manual_seed(3))
    keep = B.batched_nms(boxes, scores, labels, 0.5)
    assert torch.equal(keep, tvops.batched_nms(boxes, scores, labels, 0.5))
    assert len(keep) > len(B.nms(boxes, scores, 0.5))  # classes do not suppress each other


def test_nms_empty():
    assert B.nms(torch.zeros(0, 4), torch.zeros(0), 0.5).shape == (0,)
    empty = B.batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5)
    assert empty.shape == (0,) and empty.dtype == torch.long


# ----------------------------------------------------------------------- offsets


@settings(max_examples=60, deadline=None)
@given(box_lists, box_lists)
def test_encode_decode_round_trip(anchors, boxes):
    n = min(len(anchors), len(boxes))
    anchors, boxes = anchors[:n], boxes[:n]
    offsets = B.encode_offsets(anchors, boxes)
    torch.testing.assert_close(B.decode_offsets(anchors, offsets), boxes, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(B.encode_offsets(anchors, B.decode_offsets(anchors, offsets)), offsets,
                               rtol=1e-7, atol=1e-7)


def test_offsets_hand_computed():
    # Anchor centre (2, 3), size 4 x 2; box centre (3, 3), size 8 x 1:
    # tx = 10 * (3 - 2) / 4 = 2.5, ty = 0, tw = 5 ln 2, th = 5 ln(1/2).
    anchor = torch.tensor([[0.0, 2.0, 4.0, 4.0]], dtype=torch.float64)
    box = torch.tensor([[-1.0, 2.5, 7.0, 3.5]], dtype=torch.float64)
    expected = torch.tensor([[2.5, 0.0, 5 * 0.6931471805599453, -5 * 0.6931471805599453]], dtype=torch.float64)
    torch.testing.assert_close(B.encode_offsets(anchor, box), expected)
    torch.testing.assert_close(B.decode_offsets(anchor, expected), box)


def test_offsets_match_d2l():
    d2l = pytest.importorskip("d2l.torch")
    anchors = random_boxes(50, seed=8, degenerate=False) / 200
    boxes = random_boxes(50, seed=9, degenerate=False) / 200
    ours = B.encode_offsets(anchors, boxes, eps=1e-6)
    assert torch.equal(ours, d2l.offset_boxes(anchors, boxes))
    preds = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(B.decode_offsets(anchors, preds), d2l.offset_inverse(anchors, preds))
    # broadcasting a batch of boxes against one set of anchors
    batch = torch.stack([boxes, boxes.flip(0)])
    torch.testing.assert_close(B.encode_offsets(anchors, batch)[1], B.encode_offsets(anchors, boxes.flip(0)))


# ------------------------------------------------------------------------ errors


def test_error_x2_less_than_x1():
    bad = torch.tensor([[0.0, 0.0, 1.0, 1.0], [5.0, 0.0, 2.0, 1.0]])
    for call in (lambda: B.box_iou(bad, bad), lambda: B.box_area(bad), lambda: B.nms(bad, torch.ones(2), 0.5),
                 lambda: B.box_convert(bad, "xyxy", "xywh"), lambda: B.generalized_box_iou(bad, bad[:1]),
                 lambda: B.encode_offsets(bad[:1], bad), lambda: B.clip_boxes(bad, (4, 4))):
        with pytest.raises(ValueError, match=r"x2 < x1.*flat index 1"):
            call()
    with pytest.raises(ValueError, match="width >= 0"):
        B.box_convert(torch.tensor([[0.0, 0.0, -1.0, 1.0]]), "xywh", "xyxy")


def test_error_nan():
    bad = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, float("nan"), 2.0, 1.0]])
    with pytest.raises(ValueError, match="NaN"):
        B.box_iou(bad, bad)
    with pytest.raises(ValueError, match="NaN"):
        B.box_convert(bad, "cxcywh", "xyxy")
    with pytest.raises(ValueError, match="scores contains NaN"):
        B.nms(bad[:1], torch.tensor([float("nan")]), 0.5)
    with pytest.raises(ValueError, match="offsets contains NaN"):
        B.decode_offsets(bad[:1], torch.full((1, 4), float("nan")))


def test_error_shapes_and_arguments():
    with pytest.raises(ValueError, match=r"shape \(\.\.\., N, 4\).*\(5, 3\)"):
        B.box_iou(torch.zeros(5, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="shape"):
        B.box_iou(torch.zeros(4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="scores must have shape"):
        B.nms(torch.zeros(3, 4), torch.zeros(2), 0.5)
    with pytest.raises(ValueError, match="labels must be integers"):
        B.batched_nms(torch.zeros(3, 4), torch.zeros(3), torch.zeros(3), 0.5)
    with pytest.raises(ValueError, match="not a box format"):
        B.box_convert(torch.zeros(1, 4), "xyxy", "yxyx")
    with pytest.raises(ValueError, match="torch.Tensor"):
        B.box_area([[0, 0, 1, 1]])
    with pytest.raises(ValueError, match="positive width"):
        B.encode_offsets(torch.tensor([[0.0, 0.0, 0.0, 1.0]]), torch.tensor([[0.0, 0.0, 1.0, 1.0]]))


def test_error_device_mismatch():
    cpu = torch.zeros(2, 4)
    meta = torch.zeros(3, 4, device="meta")
    with pytest.raises(ValueError, match="same device.*boxes1 on cpu, boxes2 on meta"):
        B.box_iou(cpu, meta)
    with pytest.raises(ValueError, match="same device"):
        B.nms(cpu, torch.zeros(2, device="meta"), 0.5)
    with pytest.raises(ValueError, match="same device"):
        B.encode_offsets(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), meta[:1])


def test_docstring_examples():
    result = doctest.testmod(B, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 5 and result.failed == 0
