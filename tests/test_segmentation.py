"""cvbook.segmentation: upsampling, receptive fields, FCN, U-Net, losses, RoIAlign, Mask R-CNN set-up,
against PyTorch, torchvision and hand computations."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cvbook.segmentation import fcn, losses, mask_rcnn, receptive_field, roi_align, unet, upsample
from cvbook.segmentation.fcn import FCN
from cvbook.segmentation.unet import UNet

LECTURE_U_T = [
    [1, 0, 0, 0], [4, 1, 0, 0], [1, 4, 0, 0], [0, 1, 0, 0],
    [1, 0, 1, 0], [4, 1, 4, 1], [3, 4, 1, 4], [0, 3, 0, 1],
    [3, 0, 1, 0], [3, 3, 4, 1], [1, 3, 3, 4], [0, 1, 0, 3],
    [0, 0, 3, 0], [0, 0, 3, 3], [0, 0, 1, 3], [0, 0, 0, 1],
]


# ---------------------------------------------------------------- upsampling
def test_lecture_examples():
    kernel = torch.tensor([[1.0, 4, 1], [1, 4, 3], [3, 3, 1]])
    u = upsample.transposed_conv_matrix(kernel, (2, 2))
    assert u.shape == (4, 16) and u.T.tolist() == LECTURE_U_T
    assert (u.T @ torch.tensor([2.0, 1, 4, 4])).tolist() == [2, 9, 6, 1, 6, 29, 30, 7, 10, 29, 33, 13, 12, 24, 16, 4]
    u = upsample.transposed_conv_matrix(torch.tensor([[0.0, 1], [2, 3]]), 2)
    assert (u.T @ torch.tensor([0.0, 1, 2, 3])).reshape(3, 3).tolist() == [[0, 0, 1], [0, 4, 6], [4, 12, 9]]


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 5), w=st.integers(1, 5), kh=st.integers(1, 4), kw=st.integers(1, 4),
       stride=st.integers(1, 3), padding=st.integers(0, 2), output_padding=st.integers(0, 2), seed=st.integers(0, 99))
def test_transposed_conv_matrix_equals_torch(h, w, kh, kw, stride, padding, output_padding, seed):
    output_padding = min(output_padding, stride - 1)
    g = torch.Generator().manual_seed(seed)
    x, k = torch.randn(h, w, generator=g, dtype=torch.float64), torch.randn(kh, kw, generator=g, dtype=torch.float64)
    h_out = upsample.transposed_conv_output_size(h, kh, stride, padding, output_padding)
    w_out = upsample.transposed_conv_output_size(w, kw, stride, padding, output_padding)
    if min(h_out, w_out) < 1:
        with pytest.raises(ValueError, match="removes the whole"):
            upsample.transposed_conv_matrix(k, (h, w), stride, padding, output_padding)
        return
    u = upsample.transposed_conv_matrix(k, (h, w), stride, padding, output_padding)
    ref = F.conv_transpose2d(x[None, None], k[None, None], stride=stride, padding=padding, output_padding=output_padding)
    assert u.shape == (h * w, h_out * w_out) and ref.shape[-2:] == (h_out, w_out)
    assert torch.allclose(u.T @ x.flatten(), ref.flatten())
    # U is the matrix of the convolution it transposes: U vec(z) = vec(conv2d(z, k)) (without output_padding)
    if output_padding == 0:
        z = torch.randn(h_out, w_out, generator=g, dtype=torch.float64)
        conv = F.conv2d(z[None, None], k[None, None], stride=stride, padding=padding)[0, 0]
        if conv.shape == (h, w):
            assert torch.allclose(u @ z.flatten(), conv.flatten())


def test_bed_of_nails_and_bilinear_kernel():
    x = torch.tensor([[1.0, 2], [3, 4]])
    assert upsample.bed_of_nails(x, 2).tolist() == [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]
    # max unpooling whose switches all point at the top-left corner is the bed of nails
    pooled, index = F.max_pool2d(torch.arange(16.0).flip(0).reshape(1, 1, 4, 4), 2, return_indices=True)
    assert torch.equal(upsample.bed_of_nails(pooled, 2), F.max_unpool2d(pooled, index, 2))
    g = torch.Generator().manual_seed(0)
    features = torch.randn(2, 3, 5, 6, generator=g)
    for factor in (2, 4, 8, 32):
        up = F.conv_transpose2d(features, upsample.bilinear_kernel(3, 2 * factor), stride=factor, padding=factor // 2)
        ref = F.interpolate(features, scale_factor=factor, mode="bilinear", align_corners=False)
        inner = (..., slice(factor, -factor), slice(factor, -factor))  # zero padding differs at the borders
        assert up.shape == ref.shape and torch.allclose(up[inner], ref[inner], atol=1e-5)
    weight = upsample.bilinear_kernel(4, 3)
    assert weight.shape == (4, 4, 3, 3) and weight[0, 1].abs().sum() == 0
    assert weight[2, 2].tolist() == [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]]


@pytest.mark.parametrize("c_in,c_out,stride,padding", [(3, 2, 2, 0), (2, 4, 1, 1), (1, 3, 3, 1)])
def test_multichannel_transposed_conv_matrix_equals_torch(c_in, c_out, stride, padding):
    g = torch.Generator().manual_seed(c_in * 10 + c_out)
    weight = torch.randn(c_in, c_out, 3, 3, generator=g, dtype=torch.float64)
    x = torch.randn(1, c_in, 4, 5, generator=g, dtype=torch.float64)
    u = upsample.multichannel_transposed_conv_matrix(weight, (4, 5), stride, padding)
    y = F.conv_transpose2d(x, weight, stride=stride, padding=padding)
    assert u.shape == (c_in * 4 * 5, y[0].numel())
    torch.testing.assert_close(u.T @ x.flatten(), y.flatten())
    # the same weight as a Conv2d weight (C_out -> C_in) multiplies by U: its adjoint
    z = torch.randn(1, c_out, *y.shape[-2:], generator=g, dtype=torch.float64)
    torch.testing.assert_close(u @ z.flatten(), F.conv2d(z, weight, stride=stride, padding=padding).flatten())
    # one input channel and one output channel: the single-channel matrix
    torch.testing.assert_close(u[:20, : y.shape[-2] * y.shape[-1]],
                               upsample.transposed_conv_matrix(weight[0, 0], (4, 5), stride, padding))


def test_pixel_shuffle_equals_torch_and_by_hand():
    x = torch.randn(2, 12, 3, 5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(upsample.pixel_shuffle(x, 2), torch.nn.PixelShuffle(2)(x))
    out = upsample.pixel_shuffle(x, 2)
    for c, a, d, i, j in [(0, 0, 0, 0, 0), (1, 1, 0, 2, 4), (2, 1, 1, 1, 3)]:  # out[c, 2i + a, 2j + d] = x[4c + 2a + d, i, j]
        assert out[1, c, 2 * i + a, 2 * j + d] == x[1, 4 * c + 2 * a + d, i, j]
    with pytest.raises(ValueError, match="divisible"):
        upsample.pixel_shuffle(torch.zeros(1, 6, 2, 2), 2)
    with pytest.raises(ValueError, match="C_in, C_out"):
        upsample.multichannel_transposed_conv_matrix(torch.ones(3, 3), 2)


def test_upsample_errors():
    with pytest.raises(ValueError, match="positive integer"):
        upsample.bed_of_nails(torch.ones(2, 2), 0)
    with pytest.raises(ValueError, match=r"\(\.\.\., H, W\)"):
        upsample.bed_of_nails(torch.ones(3), 2)
    with pytest.raises(ValueError, match="2-D"):
        upsample.transposed_conv_matrix(torch.ones(1, 1, 3, 3), 2)
    with pytest.raises(ValueError, match="smaller than the stride"):
        upsample.transposed_conv_matrix(torch.ones(3, 3), 2, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="channels"):
        upsample.bilinear_kernel(0, 4)


# ---------------------------------------------------------------- receptive fields
@pytest.mark.parametrize("dilations, field", [([1], 3), ([1, 2], 7), ([1, 2, 4], 15), ([1, 2, 4, 8], 31)])
def test_dilated_receptive_fields_computed_and_measured(dilations, field):
    assert receptive_field.receptive_field([3] * len(dilations), dilations) == field
    stack = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=d, dilation=d) for d in dilations])
    assert receptive_field.measured_receptive_field(stack, 41) == (field, field)


def test_receptive_field_with_strides():
    # VGG-16's first two blocks: 3×3, 3×3, pool 2/2, 3×3, 3×3, pool 2/2 -> 16 pixels
    kernels, strides = [3, 3, 2, 3, 3, 2], [1, 1, 2, 1, 1, 2]
    assert receptive_field.receptive_field(kernels, strides=strides) == 16
    net = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, padding=1), nn.AvgPool2d(2),
                        nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, padding=1), nn.AvgPool2d(2))
    assert receptive_field.measured_receptive_field(net, 64) == (16, 16)
    with pytest.raises(ValueError, match="one dilation and one stride per layer"):
        receptive_field.receptive_field([3, 3], dilations=[1])


# ---------------------------------------------------------------- models
@settings(max_examples=12, deadline=None)
@given(h=st.integers(16, 70), w=st.integers(16, 70), variant=st.sampled_from(fcn.VARIANTS))
def test_fcn_output_size_equals_input_size(h, w, variant):
    model = FCN(num_classes=4, variant=variant, backbone=fcn.SmallBackbone(3, widths=(4, 4, 4, 4, 4))).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, h, w)).shape == (2, 4, h, w)


@settings(max_examples=12, deadline=None)
@given(h=st.integers(16, 70), w=st.integers(16, 70), depth=st.integers(1, 4), mode=st.sampled_from(unet.UPSAMPLING))
def test_unet_output_size_equals_input_size(h, w, depth, mode):
    model = UNet(in_channels=1, num_classes=3, base_channels=4, depth=depth, upsampling=mode).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, h, w)).shape == (1, 3, h, w)


def test_fcn_starts_as_bilinear_upsampling_of_its_coarse_scores():
    model = FCN(num_classes=3, variant="8s", backbone=fcn.SmallBackbone(3, widths=(4, 4, 4, 4, 4))).eval()
    x = torch.randn(1, 3, 320, 320)
    with torch.no_grad():
        coarse = model.score32(model.backbone(x)[2])  # (1, 3, 10, 10); skip scores start at zero
        ref = F.interpolate(F.interpolate(F.interpolate(coarse, scale_factor=2, mode="bilinear"), scale_factor=2,
                                          mode="bilinear"), scale_factor=8, mode="bilinear")
        out = model(x)
    assert torch.allclose(out[..., 64:-64, 64:-64], ref[..., 64:-64, 64:-64], atol=1e-5)  # away from zero padding
    layer = fcn.bilinear_upsampling(21, 32)
    assert (layer.kernel_size, layer.stride, layer.padding) == ((64, 64), (32, 32), (16, 16))


def test_model_errors():
    with pytest.raises(ValueError, match="variant"):
        FCN(3, variant="4s")
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        UNet(1, 2, base_channels=4)(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="upsampling"):
        UNet(1, 2, upsampling="nearest")
    with pytest.raises(ValueError, match="out_channels"):
        FCN(3, backbone=nn.Conv2d(3, 3, 1))


# ---------------------------------------------------------------- losses
def test_losses_match_their_formulas():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 5, 6, generator=g)
    target = torch.randint(0, 4, (2, 5, 6), generator=g)
    target[0, 0, 0] = 255
    by_hand = -logits.log_softmax(1).gather(1, target.clamp(max=3)[:, None])[:, 0][target != 255].mean()
    assert torch.allclose(losses.segmentation_loss(logits, target), by_hand)
    binary = torch.randint(0, 2, (2, 5, 6), generator=g)
    p = logits[:, :1].sigmoid()[:, 0]
    bce = -(binary * p.log() + (1 - binary) * (1 - p).log()).mean()
    assert torch.allclose(losses.segmentation_loss(logits[:, :1], binary, "binary"), bce, atol=1e-6)
    multi = torch.randint(0, 2, (2, 4, 5, 6), generator=g).float()
    assert torch.allclose(losses.segmentation_loss(logits, multi, "multilabel"),
                          F.binary_cross_entropy(logits.sigmoid(), multi), atol=1e-6)
    # soft Dice on hard predictions equals 1 − the Dice of metrics.segmentation (up to eps)
    from cvbook.metrics.segmentation import dice

    hard = F.one_hot(target.clamp(max=3), 4).permute(0, 3, 1, 2).float() * 1e4
    loss = losses.soft_dice_loss(hard, target.clamp(max=3), eps=1e-9)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    pred = logits.argmax(1)
    sharp = F.one_hot(pred, 4).permute(0, 3, 1, 2).float() * 1e4
    expected = 1 - dice(pred, target.clamp(max=3), 4, per_class=True).mean().item()
    assert losses.soft_dice_loss(sharp, target.clamp(max=3), eps=1e-9).item() == pytest.approx(expected, abs=1e-5)


def test_unet_weight_map_by_hand():
    instances = torch.tensor([[1, 1, 0, 0, 0, 2, 2]])  # two cells, 3 background pixels between them
    w = losses.unet_weight_map(instances, w0=10.0, sigma=5.0)
    bg, fg = 7 / (2 * 3), 7 / (2 * 4)  # N / (C N_c)
    border = lambda d1, d2: 10 * math.exp(-((d1 + d2) ** 2) / (2 * 5**2))  # noqa: E731
    expected = [fg + border(0, 5), fg + border(0, 4), bg + border(1, 3), bg + border(2, 2), bg + border(1, 3),
                fg + border(0, 4), fg + border(0, 5)]
    torch.testing.assert_close(w[0], torch.tensor(expected), rtol=1e-5, atol=1e-5)
    # one cell: no border term, only the class balance
    torch.testing.assert_close(losses.unet_weight_map(torch.tensor([[0, 1, 1, 0]])), torch.tensor([[1.0, 1, 1, 1]]))


def test_unet_weight_map_against_brute_force_distances():
    from sklearn.utils import class_weight as sk

    g = torch.Generator().manual_seed(3)
    instances = torch.zeros(12, 14, dtype=torch.long)
    for cell in range(1, 5):  # four random rectangles, some touching or overlapping (the later one wins)
        top, left = torch.randint(0, 9, (2,), generator=g).tolist()
        instances[top:top + 4, left:left + 5] = cell
    w = losses.unet_weight_map(instances, w0=7.0, sigma=3.0)
    ys, xs = torch.meshgrid(torch.arange(12.0), torch.arange(14.0), indexing="ij")
    distances = []
    for cell in instances.unique()[1:]:
        cy, cx = torch.nonzero(instances == cell, as_tuple=True)
        d = ((ys[..., None] - cy.float()) ** 2 + (xs[..., None] - cx.float()) ** 2).sqrt().min(-1).values
        distances.append(d)
    d = torch.stack(distances).sort(0).values
    target = losses.separate_touching(instances)
    classes = sk.compute_class_weight("balanced", classes=np.array([0, 1]), y=target.flatten().numpy())
    expected = torch.from_numpy(classes).float()[target] + 7.0 * torch.exp(-((d[0] + d[1]) ** 2) / (2 * 9.0))
    torch.testing.assert_close(w, expected, rtol=1e-5, atol=1e-5)


def test_separate_touching_and_weighted_cross_entropy():
    assert losses.separate_touching(torch.tensor([[1, 1, 2, 2, 0, 3]])).tolist() == [[1, 0, 0, 1, 0, 1]]
    diagonal = torch.tensor([[1, 0], [0, 2]])  # 8-neighbours touch
    assert losses.separate_touching(diagonal).tolist() == [[0, 0], [0, 0]]
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 4, 5, generator=g)
    target = torch.randint(0, 3, (2, 4, 5), generator=g)
    weights = torch.rand(2, 4, 5, generator=g)
    log_p = logits.log_softmax(1).gather(1, target[:, None])[:, 0]
    by_hand = -(weights * log_p).sum() / weights.sum()
    torch.testing.assert_close(losses.weighted_cross_entropy(logits, target, weights), by_hand)
    torch.testing.assert_close(losses.weighted_cross_entropy(logits, target, torch.ones(2, 4, 5)),
                               F.cross_entropy(logits, target))
    with pytest.raises(ValueError, match="target's shape"):
        losses.weighted_cross_entropy(logits, target, weights[0])
    with pytest.raises(ValueError, match="non-negative"):
        losses.weighted_cross_entropy(logits, target, -weights)
    with pytest.raises(ValueError, match="instance ids"):
        losses.unet_weight_map(torch.zeros(1, 3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="sigma"):
        losses.unet_weight_map(torch.zeros(3, 3, dtype=torch.long), sigma=0)


def test_loss_errors():
    with pytest.raises(ValueError, match="task"):
        losses.segmentation_loss(torch.zeros(1, 2, 3, 3), torch.zeros(1, 3, 3, dtype=torch.long), "regression")
    with pytest.raises(ValueError, match=r"\(B, H, W\) class indices"):
        losses.segmentation_loss(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="0 and 1"):
        losses.segmentation_loss(torch.zeros(1, 1, 3, 3), torch.full((1, 1, 3, 3), 0.5), "binary")


# ---------------------------------------------------------------- RoIAlign, Mask R-CNN
@pytest.mark.parametrize("sampling_ratio, aligned", [(2, False), (0, False), (-1, True), (3, True)])
def test_roi_align_equals_torchvision(sampling_ratio, aligned):
    g = torch.Generator().manual_seed(sampling_ratio + 10 * aligned)
    features = torch.randn(2, 5, 17, 23, generator=g, dtype=torch.float64)
    corners = torch.rand(30, 2, 2, generator=g, dtype=torch.float64) * torch.tensor([400.0, 300]) - 20
    rois = torch.cat([torch.randint(0, 2, (30, 1), generator=g).double(), corners.min(1).values, corners.max(1).values], 1)
    ours = roi_align.roi_align(features, rois, (7, 6), 1 / 16, sampling_ratio, aligned)
    ref = torchvision.ops.roi_align(features, rois, (7, 6), 1 / 16, sampling_ratio, aligned)
    assert torch.allclose(ours, ref, atol=1e-12)
    with pytest.raises(ValueError, match=r"\(K, 5\)"):
        roi_align.roi_align(features, rois[:, 1:], 7)
    with pytest.raises(ValueError, match="image indices"):
        roi_align.roi_align(features, rois + torch.tensor([5.0, 0, 0, 0, 0]), 7)


def test_bilinear_weights_read_cells_by_distance():
    w = roi_align.bilinear_weights(torch.tensor([0.25, 2.0, -0.5, 3.5, 4.5]), 4)
    assert w.tolist() == [[0.75, 0.25, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]


def test_small_mask_rcnn_trains_one_step_and_predicts_masks():
    from cvbook import data, train

    torch.manual_seed(0)
    ds = data.load("shapes", split="train", n=8)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=data.collate_detection)
    model = mask_rcnn.small_mask_rcnn(num_classes=3)
    history = train.fit(model, loader, steps=2, step=mask_rcnn.mask_rcnn_step, device="cpu", report=train.QUIET)
    assert set(history.steps) >= {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"}
    model.train()
    found = mask_rcnn.predict_instances(model, [ds[i][0] for i in range(2)])
    assert len(found) == 2 and found[0]["masks"].dtype == torch.bool and found[0]["masks"].shape[1:] == (64, 64)
    assert model.training  # predict_instances restores the mode it found
    assert all(set(f) == {"boxes", "scores", "labels", "masks"} for f in found)


def test_docstrings():
    for module in (upsample, receptive_field, fcn, unet):
        result = doctest.testmod(module, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, module.__name__


# ---------------------------------------------------------------- augmentation
def test_elastic_deformation_moves_image_and_mask_together():
    from cvbook.segmentation.augment import elastic_deformation

    g = torch.Generator().manual_seed(0)
    masks = torch.zeros(2, 40, 40, dtype=torch.long)
    masks[:, 10:30, 12:28] = 1
    images = masks[:, None].float() * torch.tensor([0.2, 0.9])[None, :, None, None]  # 2 channels, 0 or value
    warped, warped_masks = elastic_deformation(images, masks, std=4.0, generator=g)
    assert warped.shape == images.shape and warped_masks.dtype == masks.dtype
    assert not torch.equal(warped_masks, masks)  # it moved
    inside = warped_masks == 1  # the image is bright exactly where the mask went (bilinear edges aside)
    assert (warped[:, 1][inside] > 0.45).float().mean() > 0.95 and (warped[:, 1][~inside] < 0.45).float().mean() > 0.95
    same, same_masks = elastic_deformation(images, masks, std=0.0)
    assert torch.allclose(same, images, atol=1e-5) and torch.equal(same_masks, masks)
    with pytest.raises(ValueError, match=r"\(B, H, W\)"):
        elastic_deformation(images, masks[0])


def test_dihedral_average_of_an_equivariant_model_is_the_model():
    from cvbook.segmentation.augment import dihedral_average

    model = nn.Conv2d(1, 3, 3, padding=1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.randn(3, 1, 1, 1).expand(3, 1, 3, 3) * torch.tensor([[0, 1, 0], [1, 1, 1], [0, 1, 0.0]]))
    x = torch.randn(2, 1, 9, 13)
    assert torch.allclose(dihedral_average(model, x), model(x).softmax(1), atol=1e-6)
    lopsided = nn.Conv2d(1, 1, 3, padding=1)
    assert dihedral_average(lopsided, x).shape == (2, 1, 9, 13)


# ---------------------------------------------------------------- pasting masks, panoptic fusion


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([14, 28]), st.sampled_from([0, 1, 2]))
def test_paste_masks_equals_torchvision(seed, size, padding):
    from torchvision.models.detection.roi_heads import paste_masks_in_image

    generator = torch.Generator().manual_seed(seed)
    probabilities = torch.rand(6, size, size, generator=generator, dtype=torch.float64)
    # corners from -5 to 90 in a 60 x 70 image: some boxes cross its border (torchvision fails on a box
    # entirely outside, which the by-hand test covers)
    top_left = torch.rand(6, 2, generator=generator, dtype=torch.float64) * 65 - 5
    boxes = torch.cat([top_left, top_left + 6 + torch.rand(6, 2, generator=generator, dtype=torch.float64) * 24], dim=1)
    ours = mask_rcnn.paste_masks(probabilities, boxes, 60, 70, padding=padding)
    reference = paste_masks_in_image(probabilities[:, None], boxes, (60, 70), padding=padding)[:, 0]
    assert ours.shape == (6, 60, 70)
    assert torch.allclose(ours, reference, atol=1e-12)


def test_paste_masks_by_hand():
    # No padding, a box of 2 x 4 pixels in Detectron's convention (x2 - x1 + 1 = 4 columns): a 2 x 2 mask
    # [[1, 0], [0, 1]] resized to 2 x 4 repeats each column twice.
    mask = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    pasted = mask_rcnn.paste_masks(mask, torch.tensor([[2.0, 1.0, 5.0, 2.0]]), 4, 8, padding=0)[0]
    expected = torch.zeros(4, 8)
    expected[1, 2:6] = torch.tensor([1.0, 0.75, 0.25, 0.0])
    expected[2, 2:6] = torch.tensor([0.0, 0.25, 0.75, 1.0])
    assert torch.equal(pasted, expected)
    outside = mask_rcnn.paste_masks(torch.ones(1, 28, 28), torch.tensor([[20.0, -9.0, 30.0, -3.0]]), 10, 40)
    assert not outside.any()  # a box above the image pastes nothing
    with pytest.raises(ValueError, match="one box per mask"):
        mask_rcnn.paste_masks(torch.zeros(2, 28, 28), torch.zeros(3, 4), 10, 10)
    with pytest.raises(ValueError, match="square grids"):
        mask_rcnn.paste_masks(torch.zeros(2, 28, 14), torch.zeros(2, 4), 10, 10)


def box_mask(rows: tuple[int, int], cols: tuple[int, int], size: int = 8) -> torch.Tensor:
    mask = torch.zeros(size, size, dtype=torch.bool)
    mask[rows[0]:rows[1], cols[0]:cols[1]] = True
    return mask


def test_fuse_panoptic_hand_made_case():
    from cvbook.segmentation.panoptic import fuse_panoptic

    # Stuff: sky (class 0) on rows 0-3, ground (class 1) on rows 4-7. Things: class 2 and 3.
    semantic = torch.zeros(8, 8, dtype=torch.long)
    semantic[4:] = 1
    semantic[0, 7] = 2  # a pixel the semantic segmentation calls a thing, which no instance takes: void
    masks = torch.stack([
        box_mask((1, 5), (1, 5)),   # A, score 0.9, class 2: 16 pixels
        box_mask((1, 5), (1, 4)),   # B, 0.8, class 3: the same object, another class, inside A: dropped
        box_mask((3, 7), (3, 7)),   # C, 0.7, class 2: 16 pixels, 4 taken by A, 12/16 left >= 1/2: kept, cut
        box_mask((6, 8), (0, 2)),   # D, 0.3, class 2: below the score threshold
        box_mask((0, 1), (0, 2)),   # E, 0.6, class 3: 2 pixels, free
    ])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.3, 0.6])
    labels = torch.tensor([2, 3, 2, 2, 3])
    fused = fuse_panoptic(masks, scores, labels, semantic, stuff_classes=[0, 1])
    expected_instances = torch.zeros(8, 8, dtype=torch.long)
    expected_instances[3:7, 3:7] = 2
    expected_instances[1:5, 1:5] = 1
    expected_instances[0, 0:2] = 3
    expected_classes = semantic.clone()
    expected_classes[0, 7] = -1
    expected_classes[expected_instances == 1] = 2
    expected_classes[expected_instances == 2] = 2
    expected_classes[expected_instances == 3] = 3
    assert fused.kept.tolist() == [0, 2, 4]
    assert torch.equal(fused.instances, expected_instances)
    assert torch.equal(fused.classes, expected_classes)
    # Sky keeps 32 - 12 (A, rows 1-3) - 2 (E) - 2 (C, row 3) - 1 (void) = 15 pixels; a threshold of 16 voids it.
    assert int((fused.classes == 0).sum()) == 15
    strict = fuse_panoptic(masks, scores, labels, semantic, stuff_classes=[0, 1], min_stuff_area=16)
    assert int((strict.classes == 0).sum()) == 0 and int((strict.classes == -1).sum()) == 16
    # A higher overlap threshold drops C too (12/16 = 0.75 < 0.8).
    assert fuse_panoptic(masks, scores, labels, semantic, [0, 1], overlap_threshold=0.8).kept.tolist() == [0, 4]


def test_fuse_panoptic_errors():
    from cvbook.segmentation.panoptic import fuse_panoptic

    masks, semantic = torch.zeros(2, 8, 8, dtype=torch.bool), torch.zeros(8, 8, dtype=torch.long)
    with pytest.raises(ValueError, match="bool"):
        fuse_panoptic(masks.float(), torch.ones(2), torch.ones(2, dtype=torch.long), semantic, [0])
    with pytest.raises(ValueError, match="disjoint"):
        fuse_panoptic(masks, torch.ones(2), torch.zeros(2, dtype=torch.long), semantic, [0])
    with pytest.raises(ValueError, match="masks' size"):
        fuse_panoptic(masks, torch.ones(2), torch.ones(2, dtype=torch.long), semantic[:4], [0])
