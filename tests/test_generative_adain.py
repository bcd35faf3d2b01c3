"""cvbook.generative.adain: channel statistics, AdaIN against a hand computation, decoding through fit."""
import numpy as np
import pytest
import torch

from cvbook.generative import adain as A
from cvbook.generative.style import RandomMultiScaleFeatures


def test_channel_stats_match_numpy():
    x = torch.randn(2, 3, 5, 4) * 3 + 1
    mean, std = A.channel_stats(x, eps=0.0)
    flat = x.numpy().reshape(2, 3, -1)
    np.testing.assert_allclose(mean.numpy(), flat.mean(axis=2), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std.numpy(), flat.std(axis=2), rtol=1e-5)  # population std (ddof=0)
    with pytest.raises(ValueError, match="B, C, H, W"):
        A.channel_stats(torch.randn(3, 5, 4))


def test_adain_by_hand_and_takes_the_styles_statistics():
    generator = torch.Generator().manual_seed(0)
    content = torch.randn(2, 4, 6, 5, generator=generator) * 2 + 3
    style = torch.randn(1, 4, 7, 9, generator=generator) * 0.5 - 1
    out = A.adain(content, style, eps=0.0)
    assert out.shape == content.shape
    c, s = content.numpy(), style.numpy()
    cm, cs = c.mean(axis=(2, 3), keepdims=True), c.std(axis=(2, 3), keepdims=True)
    sm, ss = s.mean(axis=(2, 3), keepdims=True), s.std(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(out.numpy(), ss * (c - cm) / cs + sm, rtol=1e-4, atol=1e-5)
    mean, std = A.channel_stats(out, eps=0.0)
    np.testing.assert_allclose(mean.numpy(), np.broadcast_to(sm[..., 0, 0], (2, 4)), atol=1e-5)
    np.testing.assert_allclose(std.numpy(), np.broadcast_to(ss[..., 0, 0], (2, 4)), rtol=1e-4)
    # layout kept: within each channel, AdaIN is an increasing affine map of the content
    assert torch.equal(out[0, 0].flatten().argsort(), content[0, 0].flatten().argsort())
    with pytest.raises(ValueError, match="channels"):
        A.adain(content, torch.randn(1, 3, 4, 4))
    with pytest.raises(ValueError, match="batch of 1 or 2"):
        A.adain(content, torch.randn(3, 4, 4, 4))


def test_statistics_loss_by_hand():
    x = {"a": torch.randn(1, 3, 4, 4), "b": torch.randn(1, 2, 2, 2)}
    y = {"a": torch.randn(1, 3, 5, 5), "b": torch.randn(1, 2, 3, 3)}
    expected = 0.0
    for k in x:
        (mx, sx), (my, sy) = A.channel_stats(x[k]), A.channel_stats(y[k])
        expected += ((mx - my) ** 2).mean() + ((sx - sy) ** 2).mean()
    torch.testing.assert_close(A.statistics_loss(x, y), expected / 2)
    assert float(A.statistics_loss(y, y)) < 1e-12
    with pytest.raises(ValueError, match="style layers"):
        A.statistics_loss({"a": x["a"]}, y)


def test_adain_transfer_moves_the_images_statistics_towards_the_style():
    torch.manual_seed(0)
    net = RandomMultiScaleFeatures(channels=8, kernel_size=3, scales=2, seed=0)
    content = torch.rand(1, 3, 32, 32) * 0.3 + 0.6
    style = torch.rand(1, 3, 1, 32).expand(1, 3, 32, 32).contiguous() * 0.5
    image, history = A.adain_transfer(content, style, net, target_layer="down2", style_layers=net.layer_names,
                                      steps=40, lr=0.1, device="cpu")
    assert image.shape == content.shape and 0 <= image.min() and image.max() <= 1
    assert history.steps["style"][-1] < 0.2 * history.steps["style"][0]
    assert history.steps["content"][-1] < 0.5 * history.steps["content"][0]
    with pytest.raises(ValueError, match="no layers"):
        A.adain_step(net, content, style, target_layer="block4_conv1", style_layers=net.layer_names)
