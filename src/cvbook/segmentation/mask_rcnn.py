"""Mask R-CNN with torchvision (chapter 16): a small one to train from scratch, a COCO-pretrained
one to fine-tune, its training step and its predictions as instance masks.

Mask R-CNN is Faster R-CNN (chapter 12) with RoIAlign instead of RoI pooling and a third
head: a small fully convolutional network that predicts, for every region, one ``28 × 28``
mask per class (a sigmoid per pixel; only the mask of the region's class is trained and
used). torchvision's ``MaskRCNN`` returns its five losses in training mode (the four of
Faster R-CNN and ``loss_mask``), which :func:`mask_rcnn_step` hands to
:func:`cvbook.train.fit`. Labels: torchvision reserves 0 for the background, the datasets of
the book count classes from 0, so the step and :func:`predict_instances` shift them by one.
:func:`paste_masks` puts the head's ``M × M`` masks back into the image, as torchvision does.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvbook._checks import check_boxes, check_positive_int, check_real, check_tensor

__all__ = ["small_mask_rcnn", "pretrained_mask_rcnn", "mask_rcnn_step", "predict_instances", "paste_masks"]


def small_mask_rcnn(num_classes: int, image_size: int = 64, width: int = 64,
                    anchor_sizes: Sequence[int] = (12, 20, 32)):
    """A Mask R-CNN small enough to train on the CPU, for ``image_size × image_size`` images.

    Backbone: four 3×3 convolution blocks with three 2×2 poolings (stride 8, ``width``
    channels out); one feature level, 9 anchors per position (``anchor_sizes`` × ratios ½, 1,
    2); RoIAlign to 7×7 for the box head (a two-layer MLP) and to 14×14 for the mask head
    (two 3×3 convolutions, then a 2×2 up-convolution to 28×28 and one 1×1 convolution per
    class); fewer proposals and sampled regions than torchvision's defaults for photos.

    Args:
        num_classes: object classes, without the background.
        image_size: the images' side; torchvision's transform keeps them at that size.
        width: channels of the backbone's output and of the heads.
        anchor_sizes: anchor sides in pixels.
    """
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
    from torchvision.models.detection.rpn import AnchorGenerator
    from torchvision.ops import MultiScaleRoIAlign

    num_classes = check_positive_int(num_classes, "num_classes")
    width = check_positive_int(width, "width")

    def block(c_in: int, c_out: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())

    backbone = nn.Sequential(block(3, 32), nn.MaxPool2d(2), block(32, 64), nn.MaxPool2d(2),
                             block(64, 96), nn.MaxPool2d(2), block(96, width))
    backbone.out_channels = width
    return MaskRCNN(
        backbone,
        rpn_anchor_generator=AnchorGenerator(sizes=(tuple(anchor_sizes),), aspect_ratios=((0.5, 1.0, 2.0),)),
        box_roi_pool=MultiScaleRoIAlign(["0"], output_size=7, sampling_ratio=2),
        box_head=TwoMLPHead(width * 7 * 7, 128),
        box_predictor=FastRCNNPredictor(128, num_classes + 1),
        mask_roi_pool=MultiScaleRoIAlign(["0"], output_size=14, sampling_ratio=2),
        mask_head=MaskRCNNHeads(width, [width, width], 1),
        mask_predictor=MaskRCNNPredictor(width, width, num_classes + 1),
        min_size=image_size, max_size=image_size,
        rpn_pre_nms_top_n_train=300, rpn_post_nms_top_n_train=100,
        rpn_pre_nms_top_n_test=300, rpn_post_nms_top_n_test=50,
        rpn_batch_size_per_image=64, box_batch_size_per_image=32,
        box_score_thresh=0.01, box_detections_per_img=20,
    )


def pretrained_mask_rcnn(num_classes: int, weights: str | None = "DEFAULT"):
    """torchvision's ``maskrcnn_resnet50_fpn`` (COCO weights by default:
    ``MaskRCNN_ResNet50_FPN_Weights.DEFAULT``) with new box and mask predictors for ``num_classes`` classes (plus the background), ready to fine-tune."""
    from torchvision.models.detection import maskrcnn_resnet50_fpn
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
    from torchvision.models.detection.mask_rcnn import MaskRCNNPredictor

    num_classes = check_positive_int(num_classes, "num_classes")
    model = maskrcnn_resnet50_fpn(weights=weights)
    in_features = model.roi_heads.box_predictor.cls_score.in_features
    model.roi_heads.box_predictor = FastRCNNPredictor(in_features, num_classes + 1)
    hidden = model.roi_heads.mask_predictor.conv5_mask.out_channels
    model.roi_heads.mask_predictor = MaskRCNNPredictor(256, hidden, num_classes + 1)
    return model


def mask_rcnn_step(model: nn.Module, batch, label_offset: int = 1) -> dict[str, Tensor]:
    """One training step's losses, for :func:`cvbook.train.fit` (``step=mask_rcnn_step``).

    Args:
        model: a torchvision ``MaskRCNN`` (put in training mode here).
        batch: ``(images, targets)``: a ``(B, 3, H, W)`` tensor or a list of images, and a
            list of dicts with ``boxes`` ``(k, 4)`` xyxy, ``labels`` ``(k,)`` and ``masks``
            ``(k, H, W)``, as :func:`cvbook.data.collate.collate_detection` makes them.
        label_offset: added to the labels (1: classes counted from 0 become torchvision's
            1..C; 0 for targets that already reserve 0 for the background).

    Returns:
        torchvision's five named losses: ``loss_classifier``, ``loss_box_reg``, ``loss_mask``,
        ``loss_objectness``, ``loss_rpn_box_reg``.
    """
    images, targets = batch
    model.train()
    targets = [{"boxes": t["boxes"], "labels": t["labels"] + label_offset, "masks": t["masks"].to(torch.uint8)}
               for t in targets]
    return model(list(images), targets)


@torch.no_grad()
def predict_instances(model: nn.Module, images: Tensor | Sequence[Tensor], *, label_offset: int = 1,
                      mask_threshold: float = 0.5, batch_size: int = 16) -> list[dict[str, Tensor]]:
    """Instances found by a torchvision Mask R-CNN, one dict per image, on the CPU.

    Returns:
        Dicts with ``boxes`` ``(n, 4)``, ``scores`` ``(n,)``, ``labels`` ``(n,)`` (minus
        ``label_offset``) and ``masks`` ``(n, H, W)`` bool (probability ``≥ mask_threshold``),
        what :func:`cvbook.metrics.detection.mean_average_precision` and
        :func:`cvbook.metrics.segmentation.mask_average_precision` take.
    """
    mask_threshold = check_real(mask_threshold, "mask_threshold", 0.0, 1.0)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    found: list[dict[str, Tensor]] = []
    try:
        for start in range(0, len(images), batch_size):
            chunk = [image.to(device) for image in images[start:start + batch_size]]
            for out in model(chunk):
                found.append({"boxes": out["boxes"].cpu(), "scores": out["scores"].cpu(),
                              "labels": out["labels"].cpu() - label_offset,
                              "masks": out["masks"][:, 0].cpu() >= mask_threshold})
    finally:
        model.train(was_training)
    return found


def paste_masks(masks: Tensor, boxes: Tensor, height: int, width: int, padding: int = 1) -> Tensor:
    """Paste each region's ``M × M`` mask into an ``height × width`` image at its box.

    The mask head predicts a mask on a fixed grid inside the box, whatever the box's size.
    Pasting it back: pad the grid with ``padding`` cells of zeros on every side, widen the
    box by the same factor ``(M + 2·padding) / M`` about its centre (so that the original
    ``M`` cells still cover the box and the padded ones fall outside it), round the widened
    box down to whole pixels, resize the padded mask bilinearly to the box's size, and
    write it into an all-zero image (the part outside the image is cut). The zero border
    lets the mask fall off smoothly at the box's edge instead of ending at a full-strength
    cell. Thresholding the result at ½ gives the instance's pixels. This is what
    torchvision's ``paste_masks_in_image`` computes, including Detectron's convention that
    a box ``[x1, x2]`` spans ``x2 − x1 + 1`` pixels.

    Args:
        masks: ``(N, M, M)`` mask probabilities, one per box (the predicted class's channel
            of the mask head, after the sigmoid).
        boxes: ``(N, 4)`` ``xyxy`` boxes in image pixels.
        height, width: the image's size.
        padding: cells of zeros added around each mask (torchvision uses 1; 0 resizes the
            mask to the box as it is).

    Returns:
        ``(N, height, width)`` probabilities, zero outside each box.
    """
    masks = check_tensor(masks, "masks")
    if masks.ndim != 3 or masks.shape[-1] != masks.shape[-2]:
        raise ValueError(f"masks must be (N, M, M) square grids, one per box; got shape {tuple(masks.shape)} "
                         "(take the predicted class's channel of the mask head: logits[range(N), labels]).")
    boxes = check_boxes(boxes, "boxes")
    if boxes.ndim != 2 or len(boxes) != len(masks):
        raise ValueError(f"boxes must be (N, 4) with one box per mask: {len(masks)} masks, boxes {tuple(boxes.shape)}.")
    height, width = check_positive_int(height, "height"), check_positive_int(width, "width")
    padding = check_positive_int(padding, "padding", minimum=0)
    size = masks.shape[-1]
    scale = (size + 2 * padding) / size
    padded = F.pad(masks, (padding,) * 4)
    centres, halves = (boxes[:, :2] + boxes[:, 2:]) / 2, (boxes[:, 2:] - boxes[:, :2]) / 2 * scale
    widened = torch.cat([centres - halves, centres + halves], dim=1).to(torch.int64)  # rounds toward zero
    pasted = masks.new_zeros(len(masks), height, width)
    for k, (x1, y1, x2, y2) in enumerate(widened.tolist()):
        h, w = max(y2 - y1 + 1, 1), max(x2 - x1 + 1, 1)
        resized = F.interpolate(padded[k][None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
        top, left, bottom, right = max(y1, 0), max(x1, 0), min(y2 + 1, height), min(x2 + 1, width)
        if top < bottom and left < right:
            pasted[k, top:bottom, left:right] = resized[top - y1:bottom - y1, left - x1:right - x1]
    return pasted
