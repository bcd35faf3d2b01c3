"""A small single-shot multibox detector (SSD, Liu et al., 2016), optionally with a feature pyramid.

SSD predicts, in one forward pass, a class distribution and four box offsets for every anchor
box of several feature maps. Early (fine) maps see small objects, late (coarse) maps large
ones; each map has its own 3×3 convolutions (the *heads*) that predict, per location, the
``C + 1`` class scores (background is class 0) and the 4 offsets of each of its anchors.

The pieces, one per function or class:

- :class:`TinyBackbone`: a stack of conv–BatchNorm–ReLU blocks, each halving the resolution;
  it returns the feature maps the heads look at (a 64×64 image gives 16×16, 8×8, 4×4 maps).
- :class:`ResNetBackbone`: the same interface on a torchvision ResNet (the backbone is
  swappable: any module returning a list of feature maps will do).
- :class:`SSD`: backbone (+ :class:`cvbook.layers.FeaturePyramid`) + per-scale heads + anchors
  from :func:`cvbook.detection.anchors.multibox_prior`; :meth:`SSD.detect` turns class
  probabilities and decoded boxes into detections through per-class non-maximum suppression
  (:func:`cvbook.detection.postprocess.multibox_detection`), as torchvision-style dicts.
- :func:`hard_negative_mask` and :func:`ssd_loss`: cross-entropy on the positive anchors and
  on the hardest negatives (3 per positive), smooth-ℓ1 on the positive anchors' offsets;
  :func:`ssd_step` is one training step's named losses, for :func:`cvbook.train.fit`.

Conventions are d2l's (those of :mod:`cvbook.detection.anchors`): anchors are ``(1, A, 4)`` normalised
``xyxy`` (coordinates divided by the image width and height), ordered location by location
(row-major over each map, maps from fine to coarse) with the anchors of one location
consecutive; ground truth is ``(B, K, 5)`` rows ``[class, x1, y1, x2, y2]`` normalised, with
``-1`` rows as padding.

>>> model = tiny_ssd(num_classes=3)
>>> anchors, cls_logits, box_preds = model(torch.zeros(2, 3, 64, 64))
>>> anchors.shape, cls_logits.shape, box_preds.shape
(torch.Size([1, 1344, 4]), torch.Size([2, 1344, 4]), torch.Size([2, 5376]))
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvbook._checks import check_image_batch, check_positive_int, check_real
from cvbook.boxes import clip_boxes
from cvbook.detection.anchors import multibox_prior, multibox_target
from cvbook.detection.postprocess import multibox_detection
from cvbook.layers import FeaturePyramid, conv_bn_act

__all__ = [
    "down_block",
    "TinyBackbone",
    "ResNetBackbone",
    "SSD",
    "tiny_ssd",
    "hard_negative_mask",
    "ssd_loss",
    "ssd_step",
]


def down_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two :func:`~cvbook.layers.conv_bn_act` then a 2×2 max pool: ``(B, in, H, W) -> (B, out, H/2, W/2)``."""
    return nn.Sequential(conv_bn_act(in_channels, out_channels), conv_bn_act(out_channels, out_channels),
                         nn.MaxPool2d(2))


class TinyBackbone(nn.Module):
    """A small convolutional backbone that returns several feature maps.

    A stem (a stride-2 convolution, then :func:`down_block` s) brings the image to ``1 / 2**k``
    of its size; every further stage halves it again, and the stem's output and each stage's
    output are the feature maps.

    Args:
        stem: channel widths of the stem: the first is a stride-2 ``conv_bn_act``, each
            further one a :func:`down_block`. The default ``(16, 32)`` divides by 4.
        stages: channel widths of the further scales, one :func:`down_block` each.

    Shapes:
        ``(B, 3, H, W) -> [(B, stem[-1], H/s, W/s), (B, stages[0], H/2s, W/2s), ...]`` with
        ``s = 2 ** len(stem)``.
    """

    def __init__(self, stem: Sequence[int] = (16, 32), stages: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        if not stem:
            raise ValueError("stem needs at least one channel width, e.g. stem=(16, 32, 64)")
        layers: list[nn.Module] = [conv_bn_act(3, stem[0], stride=2)]
        layers += [down_block(a, b) for a, b in zip(stem[:-1], stem[1:])]
        self.stem = nn.Sequential(*layers)
        widths = [stem[-1], *stages]
        self.stages = nn.ModuleList(down_block(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.out_channels: list[int] = widths

    def forward(self, x: Tensor) -> list[Tensor]:
        features = [self.stem(x)]
        for stage in self.stages:
            features.append(stage(features[-1]))
        return features


class ResNetBackbone(nn.Module):
    """Feature maps of a torchvision ResNet (``layer2``, ``layer3``, ``layer4``) plus extra stages.

    The strides are 8, 16, 32, then 64, 128, ... for the ``extra`` stages (each a
    :func:`~cvbook.layers.conv_bn_act` with stride 2), as in SSD's extra layers on VGG. Images come in
    ``[0, 1]``; the backbone normalises them with ImageNet's mean and standard deviation,
    as its pretrained weights expect.

    Args:
        name: a torchvision ResNet constructor, ``"resnet18"``, ``"resnet34"`` or ``"resnet50"``.
        weights: passed to the constructor (``"DEFAULT"`` for ImageNet weights, ``None`` for
            random ones).
        extra: channel widths of the extra stages.
    """

    def __init__(self, name: str = "resnet18", weights: str | None = None, extra: Sequence[int] = (256, 256)) -> None:
        super().__init__()
        import torchvision

        if name not in ("resnet18", "resnet34", "resnet50"):
            raise ValueError(f"name={name!r}: use 'resnet18', 'resnet34' or 'resnet50'")
        net = getattr(torchvision.models, name)(weights=weights)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1)
        self.layers = nn.ModuleList([net.layer2, net.layer3, net.layer4])
        widths = [m[-1].conv3.out_channels if hasattr(m[-1], "conv3") else m[-1].conv2.out_channels
                  for m in self.layers]
        self.extra = nn.ModuleList(conv_bn_act(a, b, stride=2) for a, b in zip([widths[-1], *extra[:-1]], extra))
        self.out_channels: list[int] = [*widths, *extra]
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.stem((x - self.mean) / self.std)
        features = []
        for layer in self.layers:
            x = layer(x)
            features.append(x)
        for layer in self.extra:
            x = layer(x)
            features.append(x)
        return features


class SSD(nn.Module):
    """Single-shot multibox detector: backbone, optional pyramid, one class and one box head per scale.

    Scale ``i`` (feature map ``i`` of the backbone) gets the anchors
    ``multibox_prior(map_i, sizes[i], ratios)``: ``len(sizes[i]) + len(ratios) - 1`` per
    location. Its class head is a 3×3 convolution with ``a_i (C + 1)`` output channels, its
    box head one with ``4 a_i`` channels.

    Args:
        backbone: a module mapping ``(B, 3, H, W)`` to a list of feature maps, fine to coarse,
            with an ``out_channels`` list attribute.
        num_classes: object classes ``C``, background excluded.
        sizes: per scale, the anchor sizes as fractions of the image side.
        ratios: anchor aspect ratios (width / height), shared by all scales.
        fpn_channels: when given, a :class:`~cvbook.layers.FeaturePyramid` with that many channels sits
            between the backbone and the heads.

    Shapes:
        ``forward(images (B, 3, H, W)) -> (anchors (1, A, 4), cls_logits (B, A, C + 1),
        box_preds (B, A * 4))`` with anchors normalised ``xyxy`` and ``box_preds`` the
        offsets in the convention of :func:`cvbook.detection.anchors.multibox_target`.
    """

    def __init__(self, backbone: nn.Module, num_classes: int, sizes: Sequence[Sequence[float]],
                 ratios: Sequence[float] = (1.0, 2.0, 0.5), fpn_channels: int | None = None) -> None:
        super().__init__()
        channels = list(backbone.out_channels)
        if len(sizes) != len(channels):
            raise ValueError(f"sizes has {len(sizes)} scales but the backbone returns {len(channels)} feature maps; "
                             "give one tuple of anchor sizes per feature map")
        if num_classes < 1:
            raise ValueError(f"num_classes={num_classes}: need at least one object class")
        self.backbone = backbone
        self.fpn = FeaturePyramid(channels, fpn_channels) if fpn_channels else None
        if self.fpn is not None:
            channels = self.fpn.out_channels
        self.num_classes = num_classes
        self.sizes = [tuple(float(s) for s in scale) for scale in sizes]
        self.ratios = tuple(float(r) for r in ratios)
        self.anchors_per_location = [len(s) + len(self.ratios) - 1 for s in self.sizes]
        self.cls_heads = nn.ModuleList(nn.Conv2d(c, a * (num_classes + 1), 3, padding=1)
                                       for c, a in zip(channels, self.anchors_per_location))
        self.box_heads = nn.ModuleList(nn.Conv2d(c, a * 4, 3, padding=1)
                                       for c, a in zip(channels, self.anchors_per_location))
        self._anchor_cache: dict[tuple, Tensor] = {}

    def anchors(self, features: Sequence[Tensor]) -> Tensor:
        """The ``(1, A, 4)`` anchors of these feature maps (computed once per set of map sizes)."""
        key = tuple(tuple(f.shape[-2:]) for f in features) + (features[0].device,)
        if key not in self._anchor_cache:
            self._anchor_cache[key] = torch.cat(
                [multibox_prior(f, sizes=s, ratios=self.ratios) for f, s in zip(features, self.sizes)],
                dim=1)
        return self._anchor_cache[key]

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        check_image_batch(images, "images", channels=3)
        features = self.backbone(images)
        if self.fpn is not None:
            features = self.fpn(features)
        batch = images.shape[0]
        # (B, a * k, H, W) -> (B, H, W, a * k) -> (B, H * W * a, k): location-major, like the anchors.
        cls_logits = torch.cat([h(f).permute(0, 2, 3, 1).reshape(batch, -1, self.num_classes + 1)
                                for h, f in zip(self.cls_heads, features)], dim=1)
        box_preds = torch.cat([h(f).permute(0, 2, 3, 1).reshape(batch, -1)
                               for h, f in zip(self.box_heads, features)], dim=1)
        return self.anchors(features), cls_logits, box_preds

    @torch.no_grad()
    def detect(self, images: Tensor, *, iou_threshold: float = 0.45, score_threshold: float = 0.01,
               candidates: int = 200, max_detections: int = 100) -> list[dict[str, Tensor]]:
        """Detections for ``images``, torchvision style (in eval mode; the training flag is restored).

        Class probabilities are the softmax of the logits; each anchor keeps its best object
        class; only the ``candidates`` anchors with the highest such score in each image go on
        (as torchvision's SSD, so that an untrained model does not feed thousands of boxes to
        NMS); boxes are the anchors moved by the predicted offsets, then per-class NMS
        (:func:`cvbook.detection.postprocess.multibox_detection`) removes duplicates.

        Args:
            images: ``(B, 3, H, W)``.
            iou_threshold: IoU above which a lower-scoring box of the same class is dropped.
            score_threshold: detections below this probability (> 0) are dropped.
            candidates: anchors per image that may become detections, the highest-scoring.
            max_detections: at most this many detections per image, the highest-scoring.

        Returns:
            One dict per image with ``boxes`` ``(n, 4)`` pixel ``xyxy`` clipped to the image,
            ``scores`` ``(n,)`` and ``labels`` ``(n,)`` int64 (0-based object classes), sorted
            by decreasing score: the input of :func:`cvbook.metrics.detection.mean_average_precision`.
        """
        check_positive_int(candidates, "candidates")
        check_positive_int(max_detections, "max_detections")
        check_real(score_threshold, "score_threshold")
        if not score_threshold > 0:
            raise ValueError(f"score_threshold={score_threshold} must be > 0 (e.g. 0.01)")
        was_training = self.training
        self.eval()
        try:
            anchors, cls_logits, box_preds = self(images)
        finally:
            self.train(was_training)
        probs = F.softmax(cls_logits.float(), dim=-1).permute(0, 2, 1)  # (B, C + 1, A)
        best = probs[:, 1:].amax(dim=1)  # (B, A): each anchor's best object score
        top = best.topk(min(candidates, best.shape[1]), dim=1).indices
        keep = torch.zeros_like(best, dtype=torch.bool).scatter_(1, top, True)
        probs = torch.cat([probs[:, :1], probs[:, 1:] * keep[:, None, :]], dim=1)  # others score 0: dropped
        found = multibox_detection(probs, box_preds.float(), anchors, iou_threshold=iou_threshold,
                                   score_threshold=score_threshold, max_detections=max_detections)
        height, width = images.shape[-2:]
        scale = probs.new_tensor([width, height, width, height])
        return [dict(d, boxes=clip_boxes(d["boxes"] * scale, (height, width))) for d in found]


def tiny_ssd(num_classes: int = 3, *, sizes: Sequence[Sequence[float]] = ((0.16, 0.22), (0.3, 0.38), (0.5, 0.62)),
             ratios: Sequence[float] = (1.0, 2.0, 0.5), stem: Sequence[int] = (16, 32),
             stages: Sequence[int] = (64, 64), fpn_channels: int | None = None) -> SSD:
    """An :class:`SSD` on a :class:`TinyBackbone`, sized for the 64×64 shapes images.

    The defaults give feature maps of 16×16, 8×8 and 4×4 for a 64×64 image, anchors of
    roughly 10–14, 19–24 and 32–40 pixels (the shapes' objects are 10–28 pixels wide), and
    4 anchors per location: ``16·16·4 + 8·8·4 + 4·4·4 = 1,344`` anchors.
    """
    if len(stages) + 1 != len(sizes):
        raise ValueError(f"{len(stages) + 1} feature maps (stem + {len(stages)} stages) but {len(sizes)} "
                         "tuples of anchor sizes; give one per map")
    return SSD(TinyBackbone(stem, stages), num_classes, sizes, ratios, fpn_channels)


def hard_negative_mask(cls_loss: Tensor, positive: Tensor, neg_pos_ratio: float = 3.0) -> Tensor:
    """Which anchors the classification loss keeps: every positive, plus the hardest negatives.

    In each image, the negatives (background anchors) are ranked by their loss and the
    ``neg_pos_ratio × (number of positives)`` highest are kept (all of them when there are
    fewer), so that the easy background does not swamp the loss.

    Args:
        cls_loss: ``(B, A)`` per-anchor classification loss (its values only rank negatives).
        positive: ``(B, A)`` bool, True on anchors assigned to an object.
        neg_pos_ratio: negatives kept per positive.

    Returns:
        ``(B, A)`` bool: positives and the kept negatives.
    """
    if cls_loss.shape != positive.shape or cls_loss.ndim != 2:
        raise ValueError(f"cls_loss {tuple(cls_loss.shape)} and positive {tuple(positive.shape)} must both be (B, A)")
    if neg_pos_ratio < 0:
        raise ValueError(f"neg_pos_ratio={neg_pos_ratio} must be >= 0")
    positive = positive.bool()
    num_neg = (positive.sum(dim=1, keepdim=True) * neg_pos_ratio).floor().long()  # (B, 1)
    # Positives rank last: their loss is replaced by -inf before sorting.
    neg_loss = cls_loss.detach().masked_fill(positive, float("-inf"))
    order = neg_loss.argsort(dim=1, descending=True)
    rank = order.argsort(dim=1)  # rank[b, a]: position of anchor a in the descending order
    return positive | ((rank < num_neg) & ~positive)


def ssd_loss(cls_logits: Tensor, box_preds: Tensor, offsets: Tensor, offset_mask: Tensor, classes: Tensor,
             neg_pos_ratio: float = 3.0) -> tuple[Tensor, Tensor]:
    """SSD's two losses, each divided by the number of positive anchors in the batch.

    Classification: cross-entropy over the anchors kept by :func:`hard_negative_mask`.
    Localisation: smooth-ℓ1 between predicted and target offsets of the positive anchors.

    Args:
        cls_logits: ``(B, A, C + 1)`` class scores, background first.
        box_preds: ``(B, A * 4)`` predicted offsets.
        offsets, offset_mask, classes: the targets of :func:`cvbook.detection.anchors.multibox_target`,
            ``(B, A * 4)``, ``(B, A * 4)`` and ``(B, A)`` (0 is background).
        neg_pos_ratio: hard negatives kept per positive.

    Returns:
        ``(classification loss, box loss)``, two scalars; train on their sum.
    """
    batch, num_anchors, _ = cls_logits.shape
    if classes.shape != (batch, num_anchors):
        raise ValueError(f"classes must be (B, A) = {(batch, num_anchors)}, got {tuple(classes.shape)}")
    if not (box_preds.shape == offsets.shape == offset_mask.shape == (batch, num_anchors * 4)):
        raise ValueError(f"box_preds, offsets and offset_mask must be (B, A*4) = {(batch, num_anchors * 4)}, got "
                         f"{tuple(box_preds.shape)}, {tuple(offsets.shape)}, {tuple(offset_mask.shape)}")
    classes = classes.long()
    ce = F.cross_entropy(cls_logits.reshape(-1, cls_logits.shape[-1]), classes.reshape(-1),
                         reduction="none").view(batch, num_anchors)
    positive = classes > 0
    keep = hard_negative_mask(ce, positive, neg_pos_ratio)
    num_pos = positive.sum().clamp(min=1)
    cls_loss = (ce * keep).sum() / num_pos
    box_loss = F.smooth_l1_loss(box_preds * offset_mask, offsets * offset_mask, reduction="sum") / num_pos
    return cls_loss, box_loss


def ssd_step(model: SSD, batch: tuple[Tensor, Tensor], neg_pos_ratio: float = 3.0) -> dict[str, Tensor]:
    """One SSD training step's losses, for :func:`cvbook.train.fit` (``step=ssd_step``).

    Args:
        model: the detector.
        batch: ``(images (B, 3, H, W), labels (B, K, 5))`` as
            :func:`cvbook.data.collate.collate_labels` makes them.

    Returns:
        ``{"classification": ..., "box": ...}``, the two scalar losses of :func:`ssd_loss`
        (the training loop minimises their sum).
    """
    images, labels = batch
    anchors, cls_logits, box_preds = model(images)
    offsets, mask, classes = multibox_target(anchors, labels)
    cls_loss, box_loss = ssd_loss(cls_logits, box_preds, offsets, mask, classes, neg_pos_ratio)
    return {"classification": cls_loss, "box": box_loss}
