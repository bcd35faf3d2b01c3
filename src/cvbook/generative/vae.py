"""Variational autoencoders (Kingma & Welling, 2014) and β-VAE (Higgins et al., 2017).

The encoder maps an image ``x`` to a Gaussian ``q(z|x) = N(μ, diag(σ²))`` over the latent
space, the decoder maps a latent ``z`` to Bernoulli logits of ``p(x|z)``, and training
maximises the evidence lower bound

    ELBO(x) = E_q[log p(x|z)] − KL(q(z|x) ‖ N(0, I))  ≤  log p(x).

Sampling ``z ~ q`` is written ``z = μ + σ·ε`` with ``ε ~ N(0, I)`` (the reparameterisation), so
that the sample is a differentiable function of ``μ`` and ``σ``. β-VAE multiplies the KL term by
``β > 1``; with :func:`cvbook.train.fit` that is ``loss_weights={"kl": β}``.

>>> model = VAE((1, 28, 28), latent_dim=16)
>>> history = fit(model, loader, epochs=10, step=vae_step(binarize=True))   # doctest: +SKIP
>>> history = fit(beta_vae, loader, epochs=10, step=vae_step(), loss_weights={"kl": 4.0})  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvbook._checks import check_image_batch, check_no_nan, check_positive_int, check_real, check_tensor

__all__ = ["gaussian_kl", "reparameterize", "bernoulli_log_likelihood", "VAE", "vae_losses", "vae_step",
           "negative_elbo", "importance_log_likelihood", "kl_per_dimension", "active_units"]


def _check_gaussian(mu: object, logvar: object) -> tuple[Tensor, Tensor]:
    mu, logvar = check_tensor(mu, "mu"), check_tensor(logvar, "logvar")
    if mu.shape != logvar.shape or mu.ndim < 2:
        raise ValueError(f"mu and logvar must have the same shape (B, D), got {tuple(mu.shape)} and "
                         f"{tuple(logvar.shape)}; the encoder returns one of each per latent dimension "
                         "(add a batch dimension to one sample with mu[None]).")
    check_no_nan(mu, "mu", "the encoder diverged: lower the learning rate")
    check_no_nan(logvar, "logvar", "the encoder diverged: lower the learning rate")
    return mu, logvar


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(μ, diag(exp(logvar))) ‖ N(0, I)) per sample, in nats, summed over latent dimensions.

    Closed form, per dimension: ``½ (μ² + σ² − 1 − log σ²)``.

    Shape:
        ``mu, logvar: (B, D)`` (or ``(B, ...)``, summed over all but the first) ``-> (B,)``.
    """
    mu, logvar = _check_gaussian(mu, logvar)
    return kl_per_dimension(mu, logvar).flatten(1).sum(dim=1)


def kl_per_dimension(mu: Tensor, logvar: Tensor) -> Tensor:
    """The closed-form KL of each latent dimension, ``½ (μ² + exp(logvar) − 1 − logvar)``, shape of ``mu``."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """A sample ``z = μ + σ·ε`` of ``N(μ, diag(exp(logvar)))``, differentiable in ``μ`` and ``logvar``.

    ``ε ~ N(0, I)`` carries all the randomness and needs no gradient. Shape: that of ``mu``.
    """
    mu, logvar = _check_gaussian(mu, logvar)
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


def bernoulli_log_likelihood(logits: Tensor, x: Tensor) -> Tensor:
    """``log p(x|z)`` of pixels ``x ∈ [0, 1]`` under independent Bernoullis with ``logits``.

    Shape: ``(B, ...) -> (B,)`` (summed over everything but the batch dimension).
    """
    if logits.shape != x.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and images {tuple(x.shape)} must have the same shape.")
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(dim=1)


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """A fully connected VAE for small images.

    Args:
        image_shape: ``(C, H, W)`` of the images, values in ``[0, 1]``.
        latent_dim: dimension ``D`` of ``z``.
        hidden: widths of the hidden layers of the encoder (the decoder mirrors them).

    ``encode``: ``(B, C, H, W) -> (μ (B, D), logvar (B, D))``; ``decode``: ``(B, D) -> (B, C, H, W)``
    Bernoulli logits; ``forward``: ``x -> (logits, μ, logvar)`` with ``z`` sampled by
    :func:`reparameterize` in training mode and ``z = μ`` in eval mode.
    """

    def __init__(self, image_shape: Sequence[int] = (1, 28, 28), latent_dim: int = 16,
                 hidden: Sequence[int] = (400,)) -> None:
        super().__init__()
        self.image_shape = tuple(check_positive_int(s, "image_shape entry") for s in image_shape)
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        pixels = math.prod(self.image_shape)
        self.encoder = nn.Sequential(nn.Flatten(1), _mlp([pixels, *hidden, 2 * latent_dim]))
        self.decoder = _mlp([latent_dim, *reversed(hidden), pixels])

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, C, H, W) -> (μ, logvar)``, each ``(B, D)``."""
        check_image_batch(x, "x", channels=self.image_shape[0])
        if tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"x has images of shape {tuple(x.shape[1:])}, the model was built for {self.image_shape}.")
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: Tensor) -> Tensor:
        """``(B, D) -> (B, C, H, W)`` logits; ``torch.sigmoid`` of them is the mean image."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}.")
        return self.decoder(z).view(-1, *self.image_shape)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar) if self.training else mu
        return self.decode(z), mu, logvar

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` mean images decoded from ``z ~ N(0, I)``: ``(n, C, H, W)`` in ``[0, 1]``."""
        device = next(self.parameters()).device
        z = torch.randn(check_positive_int(n, "n"), self.latent_dim, generator=generator).to(device)
        return torch.sigmoid(self.decode(z))


def vae_losses(model: VAE, x: Tensor) -> dict[str, Tensor]:
    """Per-sample ``reconstruction`` (``−log p(x|z)`` for one ``z ~ q``) and ``kl`` (closed form), each ``(B,)``.

    Their sum is the negative ELBO of each image, in nats.
    """
    mu, logvar = model.encode(x)
    logits = model.decode(reparameterize(mu, logvar))
    return {"reconstruction": -bernoulli_log_likelihood(logits, x), "kl": gaussian_kl(mu, logvar)}


def vae_step(binarize: bool = False) -> Callable[[VAE, Any], dict[str, Tensor]]:
    """The step of :func:`cvbook.train.fit` for a VAE: batch-mean ``reconstruction`` and ``kl``.

    A batch is ``x`` or ``(x, labels, ...)``. With ``binarize``, each pixel is replaced by a
    Bernoulli sample of its grey level at every call (dynamic binarisation, the convention of
    the published MNIST log-likelihoods). β-VAE: ``fit(..., loss_weights={"kl": beta})``.
    """

    def step(model: VAE, batch: Any) -> dict[str, Tensor]:
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        if binarize:
            x = torch.bernoulli(x)
        return {name: value.mean() for name, value in vae_losses(model, x).items()}

    return step


@torch.no_grad()
def negative_elbo(model: VAE, x: Tensor, samples: int = 1) -> Tensor:
    """``−ELBO(x)`` per image ``(B,)`` in nats, the reconstruction averaged over ``samples`` draws."""
    check_positive_int(samples, "samples")
    mu, logvar = model.encode(x)
    reconstruction = torch.stack([-bernoulli_log_likelihood(model.decode(reparameterize(mu, logvar)), x)
                                  for _ in range(samples)]).mean(dim=0)
    return reconstruction + gaussian_kl(mu, logvar)


@torch.no_grad()
def importance_log_likelihood(model: VAE, x: Tensor, samples: int = 100, chunk: int = 100) -> Tensor:
    """Importance-sampled estimate of ``log p(x)`` per image ``(B,)``, in nats (Burda et al., 2016).

    ``log (1/K) Σ_k p(x|z_k) p(z_k) / q(z_k|x)`` with ``z_k ~ q(z|x)``: a lower bound on
    ``log p(x)`` that tightens as ``K = samples`` grows (``K = 1`` is the ELBO in expectation).
    """
    check_positive_int(samples, "samples")
    mu, logvar = model.encode(x)
    std = torch.exp(0.5 * logvar)
    log_weights = []
    for start in range(0, samples, check_positive_int(chunk, "chunk")):
        k = min(chunk, samples - start)
        eps = torch.randn(k, *mu.shape, device=mu.device, dtype=mu.dtype)
        z = mu + std * eps                                                     # (k, B, D)
        logits = model.decode(z.flatten(0, 1)).view(k, *x.shape)
        log_px_z = -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").flatten(2).sum(-1)
        log_pz = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_qz = (-0.5 * eps.pow(2) - 0.5 * logvar - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_weights.append(log_px_z + log_pz - log_qz)                         # (k, B)
    return torch.logsumexp(torch.cat(log_weights), dim=0) - math.log(samples)


def active_units(mu: Tensor, threshold: float = 0.01) -> Tensor:
    """Which latent dimensions are used: ``Var_x(μ_j(x)) > threshold`` (Burda et al., 2016).

    ``mu``: ``(N, D)`` posterior means over a data set ``-> (D,)`` bool. A dimension the
    encoder leaves at the prior (``μ ≈ 0`` whatever the image) carries no information.
    """
    check_real(threshold, "threshold", low=0)
    if mu.ndim != 2 or mu.shape[0] < 2:
        raise ValueError(f"mu must be (N, D) posterior means of at least 2 images, got {tuple(mu.shape)}.")
    return mu.var(dim=0) > threshold
