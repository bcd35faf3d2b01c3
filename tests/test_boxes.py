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
from cvbook.detection import anchors as A
from cvbook.detection import offsets as O
from strategies import box_lists, random_boxes

FORMATS = ("xyxy", "xywh", "cxcywh")


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


# ----------------------------------------------------------------------- paired IoU


@settings(max_examples=60, deadline=None)
@given(box_lists, box_lists)
def test_paired_box_iou_is_the_diagonal_of_box_iou(boxes1, boxes2):
    n = min(len(boxes1), len(boxes2))
    boxes1, boxes2 = boxes1[:n], boxes2[:n]
    expected = tvops.box_iou(boxes1, boxes2).diagonal() if n else torch.zeros(0, dtype=boxes1.dtype)
    expected = torch.nan_to_num(expected, nan=0.0)  # torchvision gives 0/0 = NaN for two empty boxes
    torch.testing.assert_close(B.paired_box_iou(boxes1, boxes2), expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(B.paired_box_iou(boxes1, boxes2), B.box_iou(boxes1, boxes2).diagonal())


def test_paired_box_iou_broadcasts_and_hand_values():
    a = torch.tensor([[0.0, 0, 2, 2]])
    b = torch.tensor([[1.0, 0, 3, 2], [0, 0, 2, 2], [5, 5, 5, 5]])
    torch.testing.assert_close(B.paired_box_iou(a, b), torch.tensor([1 / 3, 1.0, 0.0]))
    empty = torch.tensor([[1.0, 1, 1, 1]])
    assert B.paired_box_iou(empty, empty).item() == 0.0  # two empty boxes: 0, never NaN


# ------------------------------------------------------------------------ errors


def test_error_x2_less_than_x1():
    bad = torch.tensor([[0.0, 0.0, 1.0, 1.0], [5.0, 0.0, 2.0, 1.0]])
    for call in (lambda: B.box_iou(bad, bad), lambda: B.box_area(bad), lambda: B.nms(bad, torch.ones(2), 0.5),
                 lambda: B.box_convert(bad, "xyxy", "xywh"), lambda: B.generalized_box_iou(bad, bad[:1]),
                 lambda: O.encode_offsets(bad[:1], bad), lambda: B.clip_boxes(bad, (4, 4)),
                 lambda: B.paired_box_iou(bad, bad)):
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
        O.decode_offsets(bad[:1], torch.full((1, 4), float("nan")))


def test_error_shapes_and_arguments():
    with pytest.raises(ValueError, match=r"shape \(\.\.\., N, 4\).*\(5, 3\)"):
        B.box_iou(torch.zeros(5, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="shape"):
        B.box_iou(torch.zeros(4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="scores must have shape"):
        B.nms(torch.zeros(3, 4), torch.zeros(2), 0.5)
    with pytest.raises(ValueError, match="labels must hold integer class indices"):
        B.batched_nms(torch.zeros(3, 4), torch.zeros(3), torch.zeros(3), 0.5)
    with pytest.raises(ValueError, match="not a box format"):
        B.box_convert(torch.zeros(1, 4), "xyxy", "yxyx")
    with pytest.raises(ValueError, match="torch.Tensor"):
        B.box_area([[0, 0, 1, 1]])
    with pytest.raises(ValueError, match="positive width"):
        O.encode_offsets(torch.tensor([[0.0, 0.0, 0.0, 1.0]]), torch.tensor([[0.0, 0.0, 1.0, 1.0]]))
    # a size that is a single number means a square image; anything else is refused with a hint
    torch.testing.assert_close(B.clip_boxes(torch.tensor([[-5.0, 10.0, 80.0, 90.0]]), 64),
                               torch.tensor([[0.0, 10.0, 64.0, 64.0]]))
    with pytest.raises(ValueError, match=r"must be \(H, W\)"):
        B.clip_boxes(torch.zeros(1, 4), (1, 2, 3))
    with pytest.raises(ValueError, match="real number"):
        B.nms(torch.zeros(1, 4), torch.zeros(1), float("nan"))


def test_error_device_mismatch():
    cpu = torch.zeros(2, 4)
    meta = torch.zeros(3, 4, device="meta")
    with pytest.raises(ValueError, match="same device.*boxes1 on cpu, boxes2 on meta"):
        B.box_iou(cpu, meta)
    with pytest.raises(ValueError, match="same device"):
        B.nms(cpu, torch.zeros(2, device="meta"), 0.5)
    with pytest.raises(ValueError, match="same device"):
        O.encode_offsets(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), meta[:1])


def test_docstring_examples():
    result = doctest.testmod(B, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 5 and result.failed == 0
