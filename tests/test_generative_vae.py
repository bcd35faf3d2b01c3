"""cvbook.generative.vae, autoencoder, compression, disentangle: against independent references."""
import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from cvbook.generative import autoencoder, compression, disentangle, vae
from cvbook.train import QUIET, fit
from conftest import reference


def test_gaussian_kl_equals_torch_distributions_and_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    kl = vae.gaussian_kl(mu, logvar)
    assert kl.shape == (5,)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(dim=1)
    torch.testing.assert_close(kl, expected)
    q = Normal(mu, (0.5 * logvar).exp())
    z = q.sample((20000,))
    mc = (q.log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(-1)
    stderr = mc.std(dim=0) / math.sqrt(len(mc))
    assert bool(((mc.mean(dim=0) - kl).abs() < 4 * stderr).all())
    assert torch.allclose(vae.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2))


def test_gaussian_kl_refuses_wrong_shapes():
    with pytest.raises(ValueError, match="same shape"):
        vae.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="batch dimension"):
        vae.gaussian_kl(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        vae.gaussian_kl(torch.full((1, 2), float("nan")), torch.zeros(1, 2))


def test_reparameterize_has_the_right_moments_and_gradients():
    mu = torch.tensor([[1.5, -2.0]], requires_grad=True)
    logvar = torch.tensor([[0.4, -1.0]], requires_grad=True)
    z = vae.reparameterize(mu.expand(200000, 2), logvar.expand(200000, 2), torch.Generator().manual_seed(1))
    torch.testing.assert_close(z.mean(0), mu[0].detach(), atol=0.01, rtol=0)
    torch.testing.assert_close(z.var(0), logvar[0].detach().exp(), atol=0.01, rtol=0.01)
    z.pow(2).mean(0).sum().backward()  # d/dμ E[z²] = 2μ, d/dlogvar E[z²] = σ²
    torch.testing.assert_close(mu.grad[0], 2 * mu[0].detach(), atol=0.02, rtol=0)
    torch.testing.assert_close(logvar.grad[0], logvar[0].detach().exp(), atol=0.02, rtol=0.02)


def test_bernoulli_log_likelihood_equals_torch_distributions():
    logits, x = torch.randn(3, 1, 4, 4), torch.rand(3, 1, 4, 4).round()
    expected = torch.distributions.Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(vae.bernoulli_log_likelihood(logits, x), expected)


def test_vae_trains_through_fit_and_importance_sampling_bounds_the_elbo():
    torch.manual_seed(0)
    x = (torch.rand(256, 1, 8, 8) > 0.5).float()
    x[:128, :, :4] = 1.0  # two clusters: something to learn
    model = vae.VAE((1, 8, 8), latent_dim=4, hidden=(64,))
    before = vae.negative_elbo(model, x).mean()
    history = fit(model, torch.utils.data.DataLoader(x, batch_size=64), epochs=30, step=vae.vae_step(),
                  loss_weights={"kl": 1.0}, device="cpu", report=QUIET)
    assert set(history.steps) == {"reconstruction", "kl"}
    model.eval()
    after = vae.negative_elbo(model, x, samples=4).mean()
    assert after < before - 5
    log_px = vae.importance_log_likelihood(model, x[:32], samples=200)
    elbo = -vae.negative_elbo(model, x[:32], samples=50)
    assert bool((log_px >= elbo - 0.5).all())  # the K-sample bound is tighter than the ELBO
    assert model.sample(3).shape == (3, 1, 8, 8)


def test_active_units_and_kl_weighting():
    mu = torch.cat([torch.randn(100, 2), torch.zeros(100, 1)], dim=1)
    assert vae.active_units(mu).tolist() == [True, True, False]
    with pytest.raises(ValueError):
        vae.active_units(torch.zeros(5))


def test_autoencoder_learns_and_its_corruptions():
    torch.manual_seed(0)
    x = torch.rand(8, 1, 1, 6).expand(8, 1, 6, 6).contiguous()
    noisy = autoencoder.add_noise(0.3)(x)
    assert noisy.min() >= 0 and noisy.max() <= 1 and not torch.equal(noisy, x)
    masks = autoencoder.square_masks((50, 1, 6, 6), 3, generator=torch.Generator().manual_seed(0))
    assert bool((masks.flatten(1).sum(1) == 9).all())
    model = autoencoder.Autoencoder((1, 6, 6), latent_dim=3, hidden=(32,))
    first = torch.nn.functional.mse_loss(model(x), x)
    fit(model, [x], steps=300, step=autoencoder.reconstruction_step(), lr=1e-2,
        device="cpu", report=QUIET)
    assert torch.nn.functional.mse_loss(model(x), x) < first / 5
    assert autoencoder.encode_all(model, x).shape == (8, 3)
    assert autoencoder.interpolate(torch.zeros(3), torch.ones(3), 5)[2].tolist() == [0.5, 0.5, 0.5]


def test_psnr_equals_scikit_image():
    metrics = reference("skimage.metrics")
    rng = np.random.default_rng(0)
    a, b = rng.random((3, 1, 9, 9)), rng.random((3, 1, 9, 9))
    ours = compression.psnr(torch.from_numpy(a), torch.from_numpy(b))
    for i in range(3):
        assert abs(float(ours[i]) - metrics.peak_signal_noise_ratio(a[i], b[i], data_range=1.0)) < 1e-4


def test_jpeg_roundtrip_counts_bytes_and_improves_with_quality():
    images = (np.random.default_rng(0).random((4, 32, 32)) * 255).astype(np.uint8)
    images = np.sort(images, axis=2)  # smooth ramps: JPEG's home ground
    low, payload_low, total_low = compression.jpeg_roundtrip(images, 10)
    high, payload_high, _ = compression.jpeg_roundtrip(images, 90)
    assert low.shape == images.shape and low.dtype == np.uint8
    assert bool((payload_low < payload_high).all()) and bool((payload_low < total_low).all())
    err = lambda d: np.abs(d.astype(float) - images).mean()  # noqa: E731
    assert err(high) < err(low)
    with pytest.raises(ValueError, match="uint8"):
        compression.jpeg_roundtrip(images.astype(float), 50)


def test_quantize():
    z = torch.tensor([[0.0, 0.26], [1.0, 2.0]])
    q = compression.quantize(z, torch.zeros(2), torch.ones(2), bits=2)
    torch.testing.assert_close(q, torch.tensor([[0.0, 1 / 3], [1.0, 1.0]]))
    assert compression.code_bytes(16, 8) == 16


def test_mutual_information_equals_scikit_learn():
    metrics = reference("sklearn.metrics")
    g = torch.Generator().manual_seed(0)
    factors = torch.randint(0, 4, (500, 2), generator=g)
    latents = torch.stack([factors[:, 0] * 2 + torch.randint(0, 2, (500,), generator=g),
                           torch.randint(0, 5, (500,), generator=g), factors[:, 1]], dim=1)
    mi = disentangle.mutual_information(latents, factors)
    for j in range(3):
        for k in range(2):
            assert abs(float(mi[j, k]) - metrics.mutual_info_score(factors[:, k], latents[:, j])) < 1e-5
    h = disentangle.entropy(factors)
    assert abs(float(h[0]) - metrics.mutual_info_score(factors[:, 0], factors[:, 0])) < 1e-5
    mig = disentangle.mutual_information_gap(mi, h)
    assert float(mig[1]) > 0.95 and float(mig[0]) > 0.9  # each factor held by one dimension


def test_discretize_bins_and_classes():
    values = torch.tensor([[0.0, 1], [0.5, 2], [1.0, 2]])
    assert disentangle.discretize(values, bins=2, method="width").tolist() == [[0, 0], [1, 1], [1, 1]]
    assert disentangle.discretize(torch.tensor([[5.0], [-1.0], [100.0], [2.0]]), bins=2).tolist() == [[1], [0], [1], [0]]
    assert disentangle.discretize(torch.tensor([[3], [7], [3]]), bins=5).tolist() == [[0], [1], [0]]
    with pytest.raises(ValueError, match="discretize"):
        disentangle.mutual_information(values, values)
