"""cvbook.detection.anchors and postprocess against d2l 1.0.3 and torchvision, plus hand-worked cases."""

from __future__ import annotations

import doctest
import math

import pytest
import torch
import torchvision.ops as tvops

from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import reference
from strategies import box_lists, random_boxes
from cvbook.detection import anchors as A
from cvbook.detection import offsets as O
from cvbook.detection import postprocess as P
from cvbook.detection.offsets import decode_offsets

# d2l's TinySSD: 5 feature maps of a 256 x 256 image, 4 anchors per cell, 5,444 anchors.
TINY_SSD_MAPS = (32, 16, 8, 4, 1)
TINY_SSD_SIZES = ([0.2, 0.272], [0.37, 0.447], [0.54, 0.619], [0.71, 0.79], [0.88, 0.961])
RATIOS = [1, 2, 0.5]


@pytest.fixture(scope="module")
def d2l():
    return reference("d2l.torch")


def tiny_ssd_anchors() -> torch.Tensor:
    return torch.cat([A.multibox_prior((s, s), sz, RATIOS) for s, sz in zip(TINY_SSD_MAPS, TINY_SSD_SIZES)], dim=1)


def random_labels(batch: int, max_objects: int, seed: int, fixed: bool = False) -> torch.Tensor:
    """(B, K, 5) labels [class, x1, y1, x2, y2], normalised; rows past each image's count are -1."""
    g = torch.Generator().manual_seed(seed)
    count = torch.full((batch,), max_objects) if fixed else torch.randint(1, max_objects + 1, (batch,), generator=g)
    xy = torch.rand(batch, max_objects, 2, generator=g) * 0.7
    wh = torch.rand(batch, max_objects, 2, generator=g) * 0.28 + 0.02
    cls = torch.randint(0, 3, (batch, max_objects, 1), generator=g).float()
    labels = torch.cat([cls, xy, xy + wh], dim=-1)
    labels[torch.arange(max_objects)[None] >= count[:, None]] = -1
    return labels


# ---------------------------------------------------------------- multibox_prior


@pytest.mark.parametrize("hw,sizes,ratios", [
    ((32, 32), [0.2, 0.272], RATIOS),
    ((5, 7), [0.75, 0.5, 0.25], [1, 2, 0.5]),
    ((3, 2), [0.3], [1.5, 1, 3, 0.25]),
    ((1, 1), [0.88, 0.961], RATIOS),
])
def test_multibox_prior_identical_to_d2l(d2l, hw, sizes, ratios):
    feature_map = torch.zeros(2, 8, *hw)
    ours = A.multibox_prior(feature_map, sizes, ratios)
    assert ours.shape == (1, hw[0] * hw[1] * (len(sizes) + len(ratios) - 1), 4)
    assert torch.equal(ours, d2l.multibox_prior(feature_map, sizes, ratios))
    assert torch.equal(ours, A.multibox_prior(hw, sizes, ratios))  # a tuple (H, W) works too


def test_tiny_ssd_anchor_count():
    assert tiny_ssd_anchors().shape == (1, 5444, 4)  # 4 * (32² + 16² + 8² + 4² + 1)


# ------------------------------------------------------------------ assignment


@pytest.mark.parametrize("num_gt", [1, 2, 4])
def test_assign_anchors_identical_to_d2l(d2l, num_gt):
    anchors = A.multibox_prior((8, 8), [0.3, 0.15], RATIOS)[0]
    for seed in range(5):
        gt = random_labels(1, num_gt, seed, fixed=True)[0, :, 1:]
        expected = d2l.assign_anchor_to_bbox(gt, anchors, "cpu")
        assert torch.equal(A.assign_anchors(gt, anchors), expected)


def test_assign_anchors_batched_equals_per_image():
    anchors = A.multibox_prior((8, 8), [0.3, 0.15], RATIOS)[0]
    labels = random_labels(6, 4, seed=11)
    valid = labels[..., 0] >= 0
    batched = A.assign_anchors(labels[..., 1:], anchors, valid=valid)
    for i in range(6):
        alone = A.assign_anchors(labels[i, valid[i], 1:], anchors)
        assert torch.equal(batched[i], alone)
        # every real object has an anchor; padding rows have none
        assert set(batched[i][batched[i] >= 0].tolist()) == set(range(int(valid[i].sum())))


# ------------------------------------------------------------------- targets


def test_multibox_target_identical_to_d2l_one_object(d2l):
    anchors = tiny_ssd_anchors()
    labels = random_labels(8, 1, seed=3)
    for ours, theirs in zip(A.multibox_target(anchors, labels), d2l.multibox_target(anchors, labels)):
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        assert torch.equal(ours, theirs)


def test_multibox_target_identical_to_d2l_several_objects_no_padding(d2l):
    # Without padding rows d2l is correct for several objects per image as well.
    anchors = A.multibox_prior((8, 8), [0.3, 0.15], RATIOS)
    labels = random_labels(4, 3, seed=4, fixed=True)
    for ours, theirs in zip(A.multibox_target(anchors, labels), d2l.multibox_target(anchors, labels)):
        assert torch.equal(ours, theirs)


def test_multibox_target_padding_equals_d2l_per_image(d2l):
    # With padding, d2l would match anchors to the padding rows; the reference is d2l run on
    # each image's real objects only.
    anchors = A.multibox_prior((8, 8), [0.3, 0.15], RATIOS)
    labels = random_labels(5, 4, seed=5)
    offsets, mask, classes = A.multibox_target(anchors, labels)
    for i in range(5):
        real = labels[i : i + 1, labels[i, :, 0] >= 0]
        ref = d2l.multibox_target(anchors, real)
        assert torch.equal(offsets[i], ref[0][0]) and torch.equal(mask[i], ref[1][0])
        assert torch.equal(classes[i], ref[2][0])


def test_multibox_target_hand_worked():
    # The two-object example of d2l's anchor section, worked by hand.
    # IoU(anchor 1 = [.15,.2,.4,.4], dog = [.1,.08,.52,.92]): the anchor lies inside the box,
    #   .25 * .2 / (.42 * .84) = .05 / .3528 = .1417
    # IoU(anchor 4 = [.57,.3,.92,.9], cat = [.55,.2,.9,.88]): inter .33 * .58 = .1914,
    #   union .21 + .238 - .1914 = .2566 -> .7459
    # IoU(anchor 2 = [.63,.05,.88,.98], cat): inter .25 * .68 = .17, union .2325 + .238 - .17 -> .5657
    # Greedy: .7459 gives anchor 4 the cat; then the dog's best is anchor 1 (.1417 < 0.5, still taken).
    # Threshold: anchor 2 (.5657 >= .5) also takes the cat; anchors 0 and 3 are background.
    labels = torch.tensor([[[0, 0.1, 0.08, 0.52, 0.92], [1, 0.55, 0.2, 0.9, 0.88], [-1, -1, -1, -1, -1]]])
    anchors = torch.tensor([[0, 0.1, 0.2, 0.3], [0.15, 0.2, 0.4, 0.4], [0.63, 0.05, 0.88, 0.98],
                            [0.66, 0.45, 0.8, 0.8], [0.57, 0.3, 0.92, 0.9]])
    # A second image: one object equal to anchor 3, so anchor 3 alone matches it (IoU 1).
    labels = torch.cat([labels, torch.tensor([[[2, 0.66, 0.45, 0.8, 0.8], [-1] * 5, [-1] * 5]])])
    offsets, mask, classes = A.multibox_target(anchors, labels)
    assert classes.tolist() == [[0, 1, 2, 0, 2], [0, 0, 0, 3, 0]]
    assert mask.tolist() == [[0] * 4 + [1] * 8 + [0] * 4 + [1] * 4, [0] * 12 + [1] * 4 + [0] * 4]
    ln = math.log
    expected = torch.tensor([
        [0, 0, 0, 0,
         # anchor 1 (centre .275, .3; size .25 x .2) -> dog (centre .31, .5; size .42 x .84)
         10 * .035 / .25, 10 * .2 / .2, 5 * ln(.42 / .25), 5 * ln(.84 / .2),
         # anchor 2 (centre .755, .515; size .25 x .93) -> cat (centre .725, .54; size .35 x .68)
         10 * -.03 / .25, 10 * .025 / .93, 5 * ln(.35 / .25), 5 * ln(.68 / .93),
         0, 0, 0, 0,
         # anchor 4 (centre .745, .6; size .35 x .6) -> cat
         10 * -.02 / .35, 10 * -.06 / .6, 5 * ln(1.0), 5 * ln(.68 / .6)],
        [0.0] * 20,
    ])
    torch.testing.assert_close(offsets, expected, atol=2e-5, rtol=1e-4)


# ----------------------------------------------------------------- detection


def random_predictions(batch: int, num_classes: int, num_anchors: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, num_classes + 1, num_anchors, generator=g) * 2
    return torch.softmax(logits, dim=1), torch.randn(batch, num_anchors * 4, generator=g) * 0.5


def test_multibox_detection_matches_d2l_single_class(d2l):
    # With one foreground class, per-class NMS is d2l's class-agnostic NMS.
    anchors = A.multibox_prior((4, 4), [0.4, 0.2], RATIOS)
    probs, offsets = random_predictions(3, 1, anchors.shape[1], seed=0)
    ours = P.multibox_detection(probs, offsets, anchors, iou_threshold=0.5, score_threshold=0.3)
    theirs = d2l.multibox_detection(probs, offsets, anchors, nms_threshold=0.5, pos_threshold=0.3)
    for det, ref in zip(ours, theirs):
        ref = ref[ref[:, 0] >= 0]
        assert len(det["scores"]) == len(ref) > 0
        assert torch.equal(det["labels"], ref[:, 0].long())
        torch.testing.assert_close(det["scores"], ref[:, 1])
        torch.testing.assert_close(det["boxes"], ref[:, 2:])


def test_multibox_detection_per_class_nms_against_torchvision():
    anchors = A.multibox_prior((6, 6), [0.4, 0.2], RATIOS)
    probs, offsets = random_predictions(4, 3, anchors.shape[1], seed=1)
    ours = P.multibox_detection(probs, offsets, anchors, iou_threshold=0.45, score_threshold=0.2)
    decoded = decode_offsets(anchors[0], offsets.reshape(4, -1, 4))
    for i, det in enumerate(ours):
        scores, classes = probs[i, 1:].max(dim=0)
        rows = []
        for c in range(3):  # reference: torchvision's nms class by class
            idx = torch.nonzero((classes == c) & (scores >= 0.2)).flatten()
            idx = idx[tvops.nms(decoded[i, idx], scores[idx], 0.45)]
            rows += [(float(scores[j]), c, decoded[i, j].tolist()) for j in idx]
        rows.sort(key=lambda r: -r[0])
        assert det["labels"].tolist() == [r[1] for r in rows]
        torch.testing.assert_close(det["scores"], torch.tensor([r[0] for r in rows]))
        torch.testing.assert_close(det["boxes"], torch.tensor([r[2] for r in rows]))
        assert (det["scores"][:-1] >= det["scores"][1:]).all()


def test_multibox_detection_max_and_empty():
    anchors = A.multibox_prior((4, 4), [0.4, 0.2], RATIOS)
    probs, offsets = random_predictions(3, 2, anchors.shape[1], seed=2)
    full = P.multibox_detection(probs, offsets, anchors)
    top = P.multibox_detection(probs, offsets, anchors, max_detections=3)
    for f, t in zip(full, top):
        assert len(t["scores"]) == min(3, len(f["scores"]))
        assert torch.equal(t["boxes"], f["boxes"][:3])
    none = P.multibox_detection(probs, offsets, anchors, score_threshold=1.1)
    assert [d["boxes"].shape for d in none] == [(0, 4)] * 3


# -------------------------------------------------------------------- errors


def test_errors():
    anchors = A.multibox_prior((2, 2), [0.5], [1])
    with pytest.raises(ValueError, match=r"labels must have shape \(B, K, 5\)"):
        A.multibox_target(anchors, torch.zeros(2, 5))
    bad = torch.tensor([[[0, 0.5, 0.5, 0.2, 0.9]]])
    with pytest.raises(ValueError, match="x1 <= x2"):
        A.multibox_target(anchors, bad)
    with pytest.raises(ValueError, match="anchors"):
        P.multibox_detection(torch.rand(1, 3, 5), torch.zeros(1, 20), anchors)
    with pytest.raises(ValueError, match="NaN"):
        P.multibox_detection(torch.full((1, 2, 4), float("nan")), torch.zeros(1, 16), anchors)
    with pytest.raises(ValueError, match="positive numbers"):
        A.multibox_prior((2, 2), [0.5, -1], [1])
    with pytest.raises(ValueError, match="same device"):
        A.multibox_target(anchors, torch.zeros(1, 1, 5, device="meta"))


def test_docstring_examples():
    result = doctest.testmod(A, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 5 and result.failed == 0


# ----------------------------------------------------------------------- offsets


@settings(max_examples=60, deadline=None)
@given(box_lists, box_lists)
def test_encode_decode_round_trip(anchors, boxes):
    n = min(len(anchors), len(boxes))
    anchors, boxes = anchors[:n], boxes[:n]
    offsets = O.encode_offsets(anchors, boxes)
    torch.testing.assert_close(O.decode_offsets(anchors, offsets), boxes, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(O.encode_offsets(anchors, O.decode_offsets(anchors, offsets)), offsets,
                               rtol=1e-7, atol=1e-7)


def test_offsets_hand_computed():
    # Anchor centre (2, 3), size 4 x 2; box centre (3, 3), size 8 x 1:
    # tx = 10 * (3 - 2) / 4 = 2.5, ty = 0, tw = 5 ln 2, th = 5 ln(1/2).
    anchor = torch.tensor([[0.0, 2.0, 4.0, 4.0]], dtype=torch.float64)
    box = torch.tensor([[-1.0, 2.5, 7.0, 3.5]], dtype=torch.float64)
    expected = torch.tensor([[2.5, 0.0, 5 * 0.6931471805599453, -5 * 0.6931471805599453]], dtype=torch.float64)
    torch.testing.assert_close(O.encode_offsets(anchor, box), expected)
    torch.testing.assert_close(O.decode_offsets(anchor, expected), box)


def test_offsets_match_d2l(d2l):
    anchors = random_boxes(50, seed=8, degenerate=False) / 200
    boxes = random_boxes(50, seed=9, degenerate=False) / 200
    ours = O.encode_offsets(anchors, boxes, eps=1e-6)
    assert torch.equal(ours, d2l.offset_boxes(anchors, boxes))
    preds = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(O.decode_offsets(anchors, preds), d2l.offset_inverse(anchors, preds))
    # broadcasting a batch of boxes against one set of anchors
    batch = torch.stack([boxes, boxes.flip(0)])
    torch.testing.assert_close(O.encode_offsets(anchors, batch)[1], O.encode_offsets(anchors, boxes.flip(0)))


# ------------------------------------------------- ties, conflicts and held-out batches


def grid_anchors() -> torch.Tensor:
    """16 squares of side 1/4 on a 4 x 4 grid, plus 16 of side 1/2: exact binary fractions,
    so equal overlaps give exactly equal IoUs."""
    return A.multibox_prior((4, 4), [0.25, 0.5], [1])[0]


TIE_CASES = {
    # a box centred on a grid corner: 4 small anchors with exactly the same IoU
    "corner": [[0.125, 0.125, 0.375, 0.375]],
    # the same box twice: equal IoUs across boxes, and both want the same anchor
    "duplicate": [[0.125, 0.125, 0.375, 0.375], [0.125, 0.125, 0.375, 0.375]],
    # four copies: each takes the next free anchor among equals
    "four copies": [[0.375, 0.375, 0.625, 0.625]] * 4,
    # a box equal to an anchor, a box overlapping no anchor-sized region well, a tiny box
    "mixed": [[0.25, 0.25, 0.5, 0.5], [0.0, 0.0, 1.0, 1.0], [0.6, 0.6, 0.61, 0.61], [0.25, 0.25, 0.5, 0.5]],
    # boxes touching no anchor at all cannot occur inside the image; one outside it can
    "outside": [[1.5, 1.5, 1.75, 1.75], [0.125, 0.125, 0.375, 0.375]],
    # two equal boxes and three anchors above 0.5 (sizes 0.25, 0.3, 0.35 at one centre): the
    # greedy step takes two, and the threshold step breaks the tie for the third
    "threshold tie": [[0.25, 0.25, 0.5, 0.5], [0.25, 0.25, 0.5, 0.5]],
}


@pytest.mark.parametrize("case", sorted(TIE_CASES))
def test_assign_anchors_ties_identical_to_d2l(d2l, case):
    gt = torch.tensor(TIE_CASES[case])
    anchors = A.multibox_prior((4, 4), [0.25, 0.3, 0.35], [1])[0] if case == "threshold tie" else grid_anchors()
    expected = d2l.assign_anchor_to_bbox(gt, anchors, "cpu")
    assert torch.equal(A.assign_anchors(gt, anchors), expected)
    labels = torch.cat([torch.arange(len(gt))[:, None].float(), gt], dim=1)[None]  # one class per box
    for ours, theirs in zip(A.multibox_target(anchors, labels), d2l.multibox_target(anchors, labels)):
        assert torch.equal(ours, theirs)


def test_assign_anchors_dense_conflicts_identical_to_d2l(d2l):
    # many overlapping boxes on few anchors: boxes often want an anchor already taken
    anchors = A.multibox_prior((3, 3), [0.4, 0.2], RATIOS)[0]
    for seed in range(20):
        gt = random_labels(1, 8, seed, fixed=True)[0, :, 1:]
        gt = torch.where(torch.rand(8, 1, generator=torch.Generator().manual_seed(seed)) < 0.3, gt[:1], gt)
        assert torch.equal(A.assign_anchors(gt, anchors), d2l.assign_anchor_to_bbox(gt, anchors, "cpu"))


def test_multibox_target_tiny_ssd_batch_identical_to_d2l(d2l):
    # The benchmark's set-up on held-out inputs: batch 32, 5,444 anchors, 1-4 objects per image.
    anchors = tiny_ssd_anchors()
    labels = random_labels(32, 4, seed=123)
    offsets, mask, classes = A.multibox_target(anchors, labels)
    for i in range(32):
        ref = d2l.multibox_target(anchors, labels[i : i + 1, labels[i, :, 0] >= 0])
        assert torch.equal(offsets[i], ref[0][0]) and torch.equal(mask[i], ref[1][0])
        assert torch.equal(classes[i], ref[2][0])


# The chapter-9 example: IoUs of 7 anchors (rows) with 3 boxes (columns), worked by hand in the chapter.
CHAPTER_IOU = torch.tensor([[0.16, 0.0, 0.0], [0.7875, 0.0, 0.0], [0.7273, 0.0, 0.0], [0.0, 0.625, 0.0],
                            [0.0, 0.2308, 0.0], [0.0, 0.5664, 0.0], [0.0, 0.0, 0.3636]])


def test_match_anchors_hand_worked():
    # greedy: (a1, box 0) 0.7875, (a3, box 1) 0.625, (a6, box 2) 0.3636 although below 0.5;
    # threshold: a2 0.7273 -> box 0, a5 0.5664 -> box 1; a0 and a4 background
    assert A.match_anchors(CHAPTER_IOU, 0.5).tolist() == [-1, 0, 0, 1, -1, 1, 2]
    # a threshold above every IoU leaves the greedy pairs only; a threshold of 0 matches every anchor
    assert A.match_anchors(CHAPTER_IOU, 0.9).tolist() == [-1, 0, -1, 1, -1, -1, 2]
    assert A.match_anchors(CHAPTER_IOU, 0.0).tolist() == [0, 0, 0, 1, 1, 1, 2]
    # the greedy step overrides a better IoU: a1 prefers box 0 (0.8), but box 1 has no other anchor
    assert A.match_anchors(torch.tensor([[0.9, 0.0], [0.8, 0.3], [0.6, 0.0]]), 0.5).tolist() == [0, 1, 0]


def test_match_anchors_fewer_anchors_than_boxes_and_empty():
    # 2 anchors, 3 boxes: the two largest IoUs' boxes get an anchor each, the third none
    iou = torch.tensor([[0.2, 0.9, 0.4], [0.1, 0.3, 0.5]])
    assert A.match_anchors(iou, 0.5).tolist() == [1, 2]
    assert A.match_anchors(torch.zeros(4, 0), 0.5).tolist() == [-1] * 4
    assert A.match_anchors(torch.zeros(0, 3), 0.5).tolist() == []
    left = iou.clone()
    A.match_anchors(iou, 0.5)
    assert torch.equal(iou, left)  # the input is not changed
    with pytest.raises(ValueError, match=r"\(A, K\) tensor.*box_iou"):
        A.match_anchors(torch.zeros(2, 3, 4), 0.5)


@settings(max_examples=80, deadline=None)
@given(num_anchors=st.integers(1, 12), num_boxes=st.integers(1, 6), threshold=st.sampled_from([0.0, 0.3, 0.5, 0.99]),
       data=st.data())
def test_assign_anchors_identical_to_d2l_on_random_grids(d2l, num_anchors, num_boxes, threshold, data):
    # corners on a grid of eighths: equal IoUs (ties) are frequent, and boxes often want the same anchor
    def boxes(n, min_side):
        corners = data.draw(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(min_side, 3),
                                               st.integers(min_side, 3)), min_size=n, max_size=n))
        return torch.tensor([[x, y, x + w, y + h] for x, y, w, h in corners], dtype=torch.float32) / 8
    anchors, gt = boxes(num_anchors, 1), boxes(num_boxes, 0)
    ours = A.assign_anchors(gt, anchors, threshold)
    if num_anchors >= num_boxes:  # d2l's loop runs once per box and assumes an anchor is left for each
        assert torch.equal(ours, d2l.assign_anchor_to_bbox(gt, anchors, "cpu", iou_threshold=threshold))
    # every box has an anchor while anchors last (with fewer anchors, as many boxes as anchors)
    assert len(set(ours[ours >= 0].tolist())) == min(num_boxes, num_anchors)


# ---------------------------------------------------------------- square convention
@pytest.mark.parametrize("fmap, image", [((4, 4), (300, 451)), ((3, 5), (400, 600)), ((8, 2), (64, 64))])
def test_square_convention_gives_ratio_r_in_image_pixels(fmap, image):
    sizes, ratios = [0.6, 0.3], [1.0, 2.0, 0.5]
    (height, width) = image
    pixels = torch.tensor([width, height, width, height], dtype=torch.float64)
    boxes = A.multibox_prior(fmap, sizes, ratios, convention="square", image_size=image)[0].double() * pixels
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    shapes = [(s, ratios[0]) for s in sizes] + [(sizes[0], r) for r in ratios[1:]]
    per_cell = torch.tensor(shapes * (fmap[0] * fmap[1]), dtype=torch.float64)
    torch.testing.assert_close(w / h, per_cell[:, 1], rtol=1e-5, atol=0)  # the ratio, in pixels (float32 anchors)
    torch.testing.assert_close((w * h).sqrt(), per_cell[:, 0] * height, rtol=1e-5, atol=0)  # size relative to the height
    # d2l's convention on the same map: the ratio is off by the map's aspect over the image's
    d2l_boxes = A.multibox_prior(fmap, sizes, ratios)[0].double() * pixels
    d2l_ratio = (d2l_boxes[:, 2] - d2l_boxes[:, 0]) / (d2l_boxes[:, 3] - d2l_boxes[:, 1])
    torch.testing.assert_close(d2l_ratio, per_cell[:, 1] * (fmap[0] / fmap[1]) / (height / width), rtol=1e-5, atol=0)


def test_square_convention_equals_d2l_when_the_map_has_the_image_aspect():
    ours = A.multibox_prior((3, 4), [0.5, 0.2], RATIOS, convention="square", image_size=(300, 400))
    torch.testing.assert_close(ours, A.multibox_prior((3, 4), [0.5, 0.2], RATIOS))
    centres = (ours[..., :2] + ours[..., 2:]) / 2  # the same cell centres as d2l's
    torch.testing.assert_close(centres, (lambda a: (a[..., :2] + a[..., 2:]) / 2)(A.multibox_prior((3, 4), [0.5], [1.0])).repeat_interleave(4, 1))


@pytest.mark.parametrize("kwargs, message", [
    ({"convention": "square"}, "needs image_size"),
    ({"convention": "square", "image_size": (0, 10)}, "needs image_size"),
    ({"convention": "square", "image_size": (10.5, 10)}, "needs image_size"),
    ({"image_size": (10, 10)}, "convention='square' only"),
    ({"convention": "pixels"}, "convention='pixels'"),
])
def test_multibox_prior_convention_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        A.multibox_prior((2, 2), [0.5], [1.0], **kwargs)
