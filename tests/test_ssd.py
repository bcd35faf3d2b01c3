"""Tests of the single-shot detector (cvbook.detection.ssd), its training step and collation.

References: d2l's multibox_prior for the anchors, closed forms for counts and losses,
torchvision.ops for NMS and box decoding, hand-made cases for hard negative mining.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from cvbook import data
from cvbook.detection import ssd
from cvbook.detection.evaluate import evaluate_map
from cvbook.train import QUIET, fit


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_feature_maps_and_output_shapes_per_scale():
    model = ssd.tiny_ssd(num_classes=3)
    x = torch.rand(2, 3, 64, 64)
    features = model.backbone(x)
    assert [tuple(f.shape) for f in features] == [(2, 32, 16, 16), (2, 64, 8, 8), (2, 64, 4, 4)]
    anchors, cls_logits, box_preds = model(x)
    per_location = [2 + 3 - 1] * 3  # n + m - 1 with 2 sizes and 3 ratios
    num_anchors = sum(h * w * a for (h, w), a in zip([(16, 16), (8, 8), (4, 4)], per_location))
    assert num_anchors == 1344
    assert anchors.shape == (1, num_anchors, 4)
    assert cls_logits.shape == (2, num_anchors, 3 + 1)
    assert box_preds.shape == (2, num_anchors * 4)
    # Per-scale heads: a_i (C + 1) and 4 a_i output channels.
    assert [h.out_channels for h in model.cls_heads] == [16, 16, 16]
    assert [h.out_channels for h in model.box_heads] == [16, 16, 16]


def _closed_form_anchors(side: int, sizes, ratios) -> torch.Tensor:
    """Anchors of a side × side map, written out: per cell (row-major), sizes with ratios[0], then sizes[0]
    with the other ratios; width s·sqrt(r), height s/sqrt(r), centred on the cell."""
    shapes = [(s, ratios[0]) for s in sizes] + [(sizes[0], r) for r in ratios[1:]]
    rows = []
    for i in range(side):
        for j in range(side):
            cx, cy = (j + 0.5) / side, (i + 0.5) / side
            for s, r in shapes:
                w, h = s * math.sqrt(r), s / math.sqrt(r)
                rows.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    return torch.tensor(rows)


def test_anchors_are_the_per_scale_priors_in_order():
    model = ssd.tiny_ssd(num_classes=2)
    anchors, _, _ = model(torch.rand(1, 3, 64, 64))
    expected = torch.cat([_closed_form_anchors(side, sz, (1.0, 2.0, 0.5)) for side, sz in zip((16, 8, 4), model.sizes)])
    torch.testing.assert_close(anchors[0], expected, atol=1e-6, rtol=0)


class _Probe(nn.Module):
    """A backbone whose one feature map per scale holds, at each cell, a code of the cell."""

    def __init__(self, shapes):
        super().__init__()
        self.shapes = shapes
        self.out_channels = [1] * len(shapes)

    def forward(self, x):
        maps = []
        for s, (h, w) in enumerate(self.shapes):
            rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
            maps.append((1000 * s + 100 * rows + cols).float().expand(x.shape[0], 1, h, w))
        return maps


def test_head_outputs_line_up_with_their_anchors():
    shapes = [(4, 4), (2, 2)]
    model = ssd.SSD(_Probe(shapes), num_classes=1, sizes=[(0.2, 0.3), (0.6,)], ratios=(1.0, 2.0))
    for head in [*model.cls_heads, *model.box_heads]:  # each output channel copies the cell's code
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        head.weight.data[:, 0, 1, 1] = 1.0
    anchors, cls_logits, box_preds = model(torch.zeros(1, 3, 32, 32))
    centres = (anchors[0, :, :2] + anchors[0, :, 2:]) / 2
    # Which scale each anchor belongs to, and the cell its centre falls in.
    counts = [h * w * a for (h, w), a in zip(shapes, model.anchors_per_location)]
    scale = torch.repeat_interleave(torch.arange(len(shapes)), torch.tensor(counts))
    size = torch.tensor([float(shapes[s][0]) for s in scale])
    row, col = (centres[:, 1] * size).floor(), (centres[:, 0] * size).floor()
    code = 1000 * scale + 100 * row + col
    assert torch.equal(cls_logits[0, :, 0], code.float())
    assert torch.equal(box_preds[0].view(-1, 4)[:, 3], code.float())


def test_fpn_keeps_shapes_and_mixes_scales():
    pyramid = ssd.FeaturePyramid([8, 16, 32], out_channels=12)
    feats = [torch.rand(2, 8, 16, 16), torch.rand(2, 16, 8, 8), torch.rand(2, 32, 4, 4)]
    outs = pyramid(feats)
    assert [tuple(o.shape) for o in outs] == [(2, 12, 16, 16), (2, 12, 8, 8), (2, 12, 4, 4)]
    pyramid.eval()
    changed = [f.clone() for f in feats]
    changed[2] += 1.0  # the coarsest map reaches the finest output through the top-down path
    assert not torch.allclose(pyramid(feats)[0], pyramid(changed)[0])
    model = ssd.tiny_ssd(num_classes=3, fpn_channels=24)
    anchors, cls_logits, _ = model(torch.rand(1, 3, 64, 64))
    assert anchors.shape == (1, 1344, 4) and cls_logits.shape == (1, 1344, 4)


def test_resnet_backbone_strides():
    backbone = ssd.ResNetBackbone("resnet18", weights=None, extra=(32, 32)).eval()
    features = backbone(torch.rand(1, 3, 128, 128))
    assert [tuple(f.shape[1:]) for f in features] == [(128, 16, 16), (256, 8, 8), (512, 4, 4), (32, 2, 2),
                                                       (32, 1, 1)]
    assert backbone.out_channels == [128, 256, 512, 32, 32]


def test_hard_negative_mask_keeps_three_negatives_per_positive():
    loss = torch.tensor([[0.9, 0.1, 0.5, 0.7, 0.3, 0.2, 0.8, 0.05],
                         [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
                         [0.4, 0.3, 0.2, 0.1, 0.9, 0.8, 0.7, 0.6]])
    positive = torch.zeros(3, 8, dtype=torch.bool)
    positive[0, 1] = True  # one positive: the 3 hardest negatives are anchors 0, 6, 3
    positive[1, [0, 2, 4, 5, 7]] = True  # 5 positives, only 3 negatives: all kept
    # image 2 has no positive: no negative either
    keep = ssd.hard_negative_mask(loss, positive, neg_pos_ratio=3)
    expected = torch.zeros(3, 8, dtype=torch.bool)
    expected[0, [1, 0, 6, 3]] = True
    expected[1] = True
    assert torch.equal(keep, expected)
    # On a larger random case the ratio holds exactly when there are enough negatives.
    loss = torch.rand(4, 500)
    positive = torch.rand(4, 500) < 0.05
    keep = ssd.hard_negative_mask(loss, positive)
    negatives = (keep & ~positive).sum(1)
    assert torch.equal(negatives, 3 * positive.sum(1))
    # ... and they are the hardest: no dropped negative has a larger loss than a kept one.
    for b in range(4):
        kept, dropped = loss[b][keep[b] & ~positive[b]], loss[b][~keep[b]]
        assert kept.min() >= dropped.max()


def test_ssd_loss_against_hand_computation():
    cls_logits = torch.randn(2, 6, 3)
    box_preds = torch.randn(2, 24)
    classes = torch.tensor([[0, 2, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0]])
    offsets = torch.randn(2, 24)
    mask = (classes > 0).float().repeat_interleave(4, dim=1)
    cls_loss, box_loss = ssd.ssd_loss(cls_logits, box_preds, offsets * mask, mask, classes, neg_pos_ratio=2)
    # Hand: -log softmax of the true class; per image the positive + the 2 negatives with the largest loss.
    nll = -(cls_logits.softmax(-1).gather(2, classes[..., None])[..., 0]).log()
    total = 0.0
    for b in range(2):
        pos = classes[b] > 0
        neg = nll[b][~pos].sort(descending=True).values[:2]
        total += nll[b][pos].sum() + neg.sum()
    assert math.isclose(cls_loss.item(), total.item() / 2, rel_tol=1e-5)
    d = (box_preds - offsets)[mask > 0].abs()
    smooth = torch.where(d < 1, 0.5 * d**2, d - 0.5).sum() / 2
    assert math.isclose(box_loss.item(), smooth.item(), rel_tol=1e-5)


def test_training_through_fit_overfits_a_tiny_batch():
    batch = data.collate_labels([data.load("shapes", split="train", n=8)[i] for i in range(8)])
    model = ssd.tiny_ssd(num_classes=3, stem=(8, 16), stages=(16, 16))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convolutions: one thread is fast, and not slowed by a busy machine
    try:
        history = fit(model, [batch], steps=40, step=ssd.ssd_step, lr=1e-2, weight_decay=0.0, device="cpu",
                      report=QUIET)
    finally:
        torch.set_num_threads(threads)
    assert set(history.steps) == {"classification", "box"}
    losses = [c + b for c, b in zip(history.steps["classification"], history.steps["box"])]
    assert len(losses) == 40 and all(math.isfinite(v) for v in losses)
    assert sum(losses[-5:]) / 5 < 0.4 * sum(losses[:3]) / 3, losses
    # ssd_step's losses are ssd_loss on multibox_target's targets
    model.eval()
    with torch.no_grad():
        named = ssd.ssd_step(model, batch)
        anchors, cls_logits, box_preds = model(batch[0])
        from cvbook.detection.anchors import multibox_target
        expected = ssd.ssd_loss(cls_logits, box_preds, *multibox_target(anchors, batch[1]))
    assert (named["classification"].item(), named["box"].item()) == (expected[0].item(), expected[1].item())
    # the trained model is measured by evaluate_map on a padded-label loader
    result = evaluate_map(model, [batch])
    assert 0.0 <= result.map_50 <= 1.0


class _Fixed(nn.Module):
    """A 'detector' returning fixed anchors, logits and offsets."""

    def __init__(self, anchors, logits, offsets):
        super().__init__()
        self.anchors, self.logits, self.offsets = anchors, logits, offsets
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, images):
        return self.anchors, self.logits, self.offsets


def test_detect_matches_torchvision_reference():
    num_anchors, num_classes, batch = 60, 3, 2
    centres = torch.rand(num_anchors, 2) * 0.8 + 0.1
    half = torch.rand(num_anchors, 2) * 0.1 + 0.05
    anchors = torch.cat([centres - half, centres + half], dim=1)[None]
    logits = torch.randn(batch, num_anchors, num_classes + 1) * 2
    offsets = torch.randn(batch, num_anchors * 4) * 0.5
    # SSD.detect only needs forward(); run it on a stand-in that returns fixed outputs
    found = ssd.SSD.detect(_Fixed(anchors, logits, offsets), torch.zeros(batch, 3, 40, 50), iou_threshold=0.4,
                           score_threshold=0.1, candidates=30, max_detections=100)
    for b in range(batch):
        # Reference: torchvision's decoder (weights 10, 10, 5, 5 = d2l's scaling) and batched NMS.
        coder = torchvision.models.detection._utils.BoxCoder(weights=(10.0, 10.0, 5.0, 5.0))
        boxes = coder.decode_single(offsets[b].view(-1, 4), anchors[0])
        probs = logits[b].softmax(-1)[:, 1:]
        scores, labels = probs.max(1)
        keep = scores >= scores.topk(30).values[-1]
        keep &= scores >= 0.1
        idx = keep.nonzero()[:, 0]
        kept = idx[torchvision.ops.batched_nms(boxes[idx], scores[idx], labels[idx], 0.4)]
        ref_boxes = torchvision.ops.clip_boxes_to_image(boxes[kept] * torch.tensor([50, 40, 50, 40]), (40, 50))
        torch.testing.assert_close(found[b]["scores"], scores[kept])
        torch.testing.assert_close(found[b]["labels"], labels[kept])
        torch.testing.assert_close(found[b]["boxes"], ref_boxes, atol=1e-4, rtol=1e-5)


def test_detect_returns_valid_boxes():
    model = ssd.tiny_ssd(num_classes=3)
    found = model.detect(torch.rand(3, 3, 64, 64), max_detections=20)
    assert len(found) == 3
    for d in found:
        boxes, scores, labels = d["boxes"], d["scores"], d["labels"]
        assert boxes.ndim == 2 and boxes.shape[1] == 4 and len(boxes) == len(scores) == len(labels) <= 20
        assert (boxes[:, 2:] >= boxes[:, :2]).all() and (boxes >= 0).all() and (boxes <= 64).all()
        assert (scores[:-1] >= scores[1:]).all() and (scores >= 0.01).all() and (scores <= 1).all()
        assert labels.dtype == torch.int64 and ((labels >= 0) & (labels < 3)).all()
    assert model.training  # detect restores the mode


def test_collate_and_back():
    items = [(torch.zeros(3, 20, 40), {"boxes": torch.tensor([[0.0, 0, 10, 20], [4, 5, 40, 10]]),
                                        "labels": torch.tensor([2, 0])}),
             (torch.zeros(3, 20, 40), {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)})]
    images, labels = data.collate_labels(items)
    assert images.shape == (2, 3, 20, 40)
    expected = torch.tensor([[[2, 0, 0, 0.25, 1], [0, 0.1, 0.25, 1, 0.5]], [[-1] * 5, [-1] * 5]])
    torch.testing.assert_close(labels, expected)
    back = data.labels_to_targets(labels, (20, 40))
    torch.testing.assert_close(back[0]["boxes"], items[0][1]["boxes"])
    assert back[0]["labels"].tolist() == [2, 0] and back[1]["boxes"].shape == (0, 4)
    with pytest.raises(ValueError, match="different sizes"):
        data.collate_labels([items[0], (torch.zeros(3, 21, 40), items[1][1])])


def test_wrong_inputs_raise_value_error():
    with pytest.raises(ValueError, match="give one per map"):
        ssd.tiny_ssd(num_classes=3, sizes=((0.2,), (0.4,)))
    model = ssd.tiny_ssd(num_classes=3)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.rand(3, 64, 64))
    with pytest.raises(ValueError, match="must both be"):
        ssd.hard_negative_mask(torch.rand(2, 5), torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"\(B, A\*4\)"):
        ssd.ssd_loss(torch.rand(1, 5, 3), torch.rand(1, 16), torch.rand(1, 20), torch.rand(1, 20),
                     torch.zeros(1, 5, dtype=torch.int64))
    with pytest.raises(ValueError, match="score_threshold"):
        model.detect(torch.rand(1, 3, 64, 64), score_threshold=0.0)
