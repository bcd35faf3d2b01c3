"""cvbook.generative.style: Gram matrix, losses, layer names, pixel optimisation through fit."""
import pytest
import torch
from torchvision.models import vgg19

from cvbook.generative import style


def test_gram_matrix_is_normalised_channel_correlation():
    f = torch.randn(2, 3, 4, 5)
    g = style.gram_matrix(f)
    assert g.shape == (2, 3, 3)
    by_hand = torch.stack([torch.stack([torch.stack([(f[b, i] * f[b, j]).sum() for j in range(3)]) for i in range(3)])
                           for b in range(2)]) / (3 * 4 * 5)
    torch.testing.assert_close(g, by_hand)
    torch.testing.assert_close(style.gram_matrix(f.half()), g, atol=1e-2, rtol=1e-2)  # float32 inside
    with pytest.raises(ValueError, match="B, C, H, W"):
        style.gram_matrix(torch.randn(3, 4, 5))


def test_style_and_content_losses_by_hand():
    a = {"x": torch.randn(1, 4, 6, 6), "y": torch.randn(1, 8, 3, 3)}
    b = {"x": torch.randn(1, 4, 6, 6), "y": torch.randn(1, 8, 3, 3)}
    targets = {k: style.gram_matrix(v) for k, v in b.items()}
    expected = sum(((style.gram_matrix(a[k]) - targets[k]) ** 2).mean() for k in a) / 2
    torch.testing.assert_close(style.style_loss(a, targets), expected)
    weighted = style.style_loss(a, targets, {"x": 3.0, "y": 1.0})
    torch.testing.assert_close(weighted, (3 * ((style.gram_matrix(a["x"]) - targets["x"]) ** 2).mean()
                                          + ((style.gram_matrix(a["y"]) - targets["y"]) ** 2).mean()) / 4)
    assert float(style.style_loss(b, targets)) < 1e-12
    torch.testing.assert_close(style.content_loss(a["x"], b["x"]), ((a["x"] - b["x"]) ** 2).mean())
    with pytest.raises(ValueError, match="style layers"):
        style.style_loss({"x": a["x"]}, targets)


def test_total_variation_by_hand():
    img = torch.tensor([[[[0.0, 1.0], [1.0, 3.0]]]])
    # horizontal |1-0|, |3-1| -> mean 1.5; vertical |1-0|, |3-1| -> mean 1.5
    torch.testing.assert_close(style.total_variation(img), torch.tensor([3.0]))


def test_vgg19_layer_names_match_torchvision_indices():
    names = style.vgg_layer_names(vgg19().features)
    assert [names[n] for n in style.STYLE_LAYERS] == [1, 6, 11, 20, 29]
    assert names["block5_conv2"] == 31 and len(names) == 16
    narrow = style.vgg19_features(width=0.25)
    assert style.vgg_layer_names(narrow) == names
    widths = [m.out_channels for m in narrow if isinstance(m, torch.nn.Conv2d)]
    assert widths == [16] * 2 + [32] * 2 + [64] * 4 + [128] * 8


def test_feature_extractor_is_frozen_and_named():
    extractor = style.FeatureExtractor(style.vgg19_features(width=0.125), ["block1_conv1", "block3_conv1"])
    out = extractor(torch.rand(1, 3, 32, 32))
    assert out["block1_conv1"].shape == (1, 8, 32, 32) and out["block3_conv1"].shape == (1, 32, 8, 8)
    assert not any(p.requires_grad for p in extractor.parameters())
    assert len(extractor.features) == 12  # runs only as deep as needed
    with pytest.raises(ValueError, match="unknown layers"):
        style.FeatureExtractor(style.vgg19_features(width=0.125), ["block9_conv1"])


def test_stylize_lowers_the_loss_and_only_moves_pixels():
    torch.manual_seed(0)
    features = style.vgg19_features(width=0.125)
    before = [p.clone() for p in features.parameters()]
    extractor = style.FeatureExtractor(features, ["block1_conv1", "block2_conv1", "block3_conv2"])
    content, texture = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 1, 32).expand(1, 3, 32, 32).contiguous()
    image, history = style.stylize(content, texture, extractor, steps=60, lr=0.1, style_weight=1e2,
                                   content_layers=["block3_conv2"], style_layers=["block1_conv1", "block2_conv1"],
                                   device="cpu")
    assert image.shape == content.shape and 0 <= image.min() and image.max() <= 1
    assert history.steps["style"][-1] < 0.5 * history.steps["style"][0]
    assert all(torch.equal(a, b) for a, b in zip(before, features.parameters()))


def test_random_multiscale_features_are_a_pyramid_of_fixed_random_filters():
    net = style.RandomMultiScaleFeatures(channels=8, kernel_size=5, scales=3, seed=0)
    images = torch.rand(2, 3, 32, 24)
    out = net(images)
    assert net.layer_names == ("down1", "down2", "down4")
    assert [tuple(out[k].shape) for k in net.layer_names] == [(2, 8, 32, 24), (2, 8, 16, 12), (2, 8, 8, 6)]
    # By hand: scale 2 is the normalised image averaged over 4x4 blocks, then conv (reflect padding) and ReLU.
    x = (images - net.mean) / net.std
    x4 = x.reshape(2, 3, 8, 4, 6, 4).mean(dim=(3, 5))
    conv = net.convs[2]
    by_hand = torch.relu(torch.nn.functional.conv2d(torch.nn.functional.pad(x4, (2, 2, 2, 2), mode="reflect"),
                                                    conv.weight, conv.bias))
    torch.testing.assert_close(out["down4"], by_hand)
    assert not any(p.requires_grad for p in net.parameters()) and not net.train().training
    weight_std = torch.cat([c.weight.flatten() for c in net.convs]).std().item()
    assert abs(weight_std - (1 / 75) ** 0.5) < 0.02  # variance 1 / fan_in, fan_in = 3 * 5 * 5
    again = style.RandomMultiScaleFeatures(channels=8, kernel_size=5, scales=3, seed=0)
    other = style.RandomMultiScaleFeatures(channels=8, kernel_size=5, scales=3, seed=1)
    assert torch.equal(again.convs[0].weight, net.convs[0].weight)
    assert not torch.equal(other.convs[0].weight, net.convs[0].weight)
    with pytest.raises(ValueError, match="too small"):
        net(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="odd"):
        style.RandomMultiScaleFeatures(kernel_size=4)


def test_random_multiscale_gram_tells_textures_apart():
    """Stripes and checkerboards: two crops of one pattern are nearer in Gram distance than crops of two."""
    net = style.RandomMultiScaleFeatures(channels=16, kernel_size=5, scales=3, seed=0)
    grid = torch.arange(64.0)
    stripes = ((grid[None, :] // 4) % 2).expand(64, 64)
    checks = (((grid[:, None] // 4) + (grid[None, :] // 4)) % 2)
    as_image = lambda t: (0.2 + 0.6 * t)[None, None].expand(1, 3, -1, -1).contiguous()
    a, b = as_image(stripes), as_image(checks)

    def distance(x, y):
        fx, fy = net(x[..., :32, :32]), net(y[..., 32:, 32:])
        return float(style.style_loss(fx, {k: style.gram_matrix(v) for k, v in fy.items()}))

    assert distance(a, a) < 0.1 * distance(a, b) and distance(b, b) < 0.1 * distance(b, a)


def test_lbfgs_pixels_reaches_the_weighted_least_squares_minimum():
    """Two losses pull the image towards a and b with weights 1 and 3: the minimum is (a + 3 b) / 4."""
    from cvbook import profile
    from cvbook.generative.style_lbfgs import lbfgs_pixels

    generator = torch.Generator().manual_seed(0)
    a, b = torch.rand(1, 3, 8, 8, generator=generator) * 0.8 + 0.1, torch.rand(1, 3, 8, 8, generator=generator) * 0.8 + 0.1

    def step(model, batch):
        image = model()
        return {"to_a": ((image - a) ** 2).mean(), "to_b": ((image - b) ** 2).mean(), "ignored": image.mean()}

    image, history = lbfgs_pixels(step, style.PixelImage(torch.full((1, 3, 8, 8), 0.5)), loss_weights={"to_a": 1.0, "to_b": 3.0},
                                  iterations=50, device="cpu")
    torch.testing.assert_close(image, (a + 3 * b) / 4, atol=2e-3, rtol=0)  # the start is 0.1 to 0.4 away
    # The last entry is the returned image's loss; the first, the start's.
    assert abs(history.steps["to_a"][-1] - float(((image - a) ** 2).mean())) < 1e-7
    assert abs(history.steps["to_b"][0] - float(((0.5 - b) ** 2).mean())) < 1e-7
    assert set(history.steps) == {"to_a", "to_b", "ignored"} and history.rows[-1]["train_to_b"] == history.steps["to_b"][-1]
    with profile.override(max_steps=2):  # a rehearsal's cap: 2 iterations (their line searches may evaluate more)
        _, capped = lbfgs_pixels(step, style.PixelImage(torch.full((1, 3, 8, 8), 0.5)),
                                 loss_weights={"to_a": 1.0, "to_b": 3.0},
                                 iterations=50, device="cpu")
    assert capped.stopped_by_cap and not history.stopped_by_cap
    assert len(capped.steps["to_a"]) < len(history.steps["to_a"])
    with pytest.raises(ValueError, match="does not return"):
        lbfgs_pixels(step, style.PixelImage(a), loss_weights={"to_c": 1.0}, device="cpu")
    with pytest.raises(ValueError, match="empty"):
        lbfgs_pixels(step, style.PixelImage(a), loss_weights={}, device="cpu")
    with pytest.raises(ValueError, match="trainable parameters"):
        lbfgs_pixels(step, style.PixelImage(a).requires_grad_(False), loss_weights={"to_a": 1.0}, device="cpu")


def test_stylize_with_lbfgs_goes_further_than_adam_in_as_many_evaluations():
    net = style.RandomMultiScaleFeatures(channels=16, kernel_size=5, scales=3, seed=0)
    before = [p.clone() for p in net.parameters()]
    grid = torch.arange(32.0)
    content = 0.1 + 0.8 * torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    texture = (0.2 + 0.6 * ((grid[None, :] // 4) % 2).expand(32, 32))[None, None].expand(1, 3, -1, -1).contiguous()
    common = dict(style_weight=1e6, content_layers=["down4"], style_layers=list(net.layer_names), device="cpu")
    image, history = style.stylize(content, texture, net, steps=40, optimizer="lbfgs", **common)
    _, adam = style.stylize(content, texture, net, steps=len(history.steps["style"]), lr=0.05, **common)
    assert image.shape == content.shape and 0 <= image.min() and image.max() <= 1
    assert history.steps["content"][0] < 1e-12  # started from the content image
    assert history.steps["style"][-1] < 1e-2 * history.steps["style"][0]
    assert history.steps["style"][-1] < adam.steps["style"][-1]
    assert all(torch.equal(x, y) for x, y in zip(before, net.parameters()))
    with pytest.raises(ValueError, match="optimizer"):
        style.stylize(content, texture, net, optimizer="sgd")
