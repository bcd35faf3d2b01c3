"""Autoencoders: learned compression of images to a small latent code, and back.

An encoder maps an image to ``z`` in a ``latent_dim``-dimensional bottleneck, a decoder maps
``z`` back to an image, and both are trained to reproduce their input. Changing only what goes
in gives two uses beyond compression: a *denoising* autoencoder sees a noisy image and is asked
for the clean one, an *inpainting* one sees an image with a hole. Nothing organises the latent
space, which is why decoding arbitrary points of it gives poor images (chapter 17).

>>> model = Autoencoder((1, 28, 28), latent_dim=8)
>>> history = fit(model, loader, epochs=20, step=reconstruction_step())                     # doctest: +SKIP
>>> history = fit(model, loader, epochs=20, step=reconstruction_step(corrupt=add_noise(0.3)))  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvbook._checks import check_image_batch, check_positive_int, check_real

__all__ = ["Autoencoder", "reconstruction_step", "add_noise", "mask_squares", "square_masks", "encode_all", "interpolate"]


class Autoencoder(nn.Module):
    """A fully connected autoencoder for small images with values in ``[0, 1]``.

    Args:
        image_shape: ``(C, H, W)``.
        latent_dim: size of the bottleneck.
        hidden: widths of the encoder's hidden layers (the decoder mirrors them).

    ``encode``: ``(B, C, H, W) -> (B, latent_dim)``; ``decode``: ``(B, latent_dim) -> (B, C, H, W)``
    in ``[0, 1]`` (a sigmoid); ``forward``: both.
    """

    def __init__(self, image_shape: Sequence[int] = (1, 28, 28), latent_dim: int = 16,
                 hidden: Sequence[int] = (256, 128)) -> None:
        super().__init__()
        self.image_shape = tuple(check_positive_int(s, "image_shape entry") for s in image_shape)
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        sizes = [math.prod(self.image_shape), *hidden, latent_dim]
        self.encoder = nn.Sequential(nn.Flatten(1), *_linear_relu(sizes))
        self.decoder = nn.Sequential(*_linear_relu(sizes[::-1]), nn.Sigmoid())

    def encode(self, x: Tensor) -> Tensor:
        check_image_batch(x, "x", channels=self.image_shape[0])
        if tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"x has images of shape {tuple(x.shape[1:])}, the model was built for {self.image_shape}.")
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}.")
        return self.decoder(z).view(-1, *self.image_shape)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))


def _linear_relu(sizes: Sequence[int]) -> list[nn.Module]:
    """Linear layers between consecutive ``sizes``, ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return layers


Corruption = Callable[[Tensor], Tensor]


def add_noise(sigma: float) -> Corruption:
    """A corruption for denoising: ``x + σ·N(0, 1)``, clipped to ``[0, 1]``."""
    check_real(sigma, "sigma", low=0)

    def corrupt(x: Tensor) -> Tensor:
        return (x + sigma * torch.randn_like(x)).clamp(0, 1)

    return corrupt


def mask_squares(size: int, fill: float = 0.0) -> Corruption:
    """A corruption for inpainting: one ``size × size`` square per image, at a random place, set to ``fill``.

    Vectorised: the square of image ``b`` covers rows ``top[b] : top[b] + size`` and the same
    columns from ``left[b]``.
    """
    check_positive_int(size, "size")

    def corrupt(x: Tensor) -> Tensor:
        return x.masked_fill(square_masks(x.shape, size, x.device), fill)

    return corrupt


def square_masks(shape: Sequence[int], size: int, device=None, generator: torch.Generator | None = None) -> Tensor:
    """Boolean masks ``(B, 1, H, W)``, each True on one random ``size × size`` square inside the image."""
    b, _, h, w = shape
    if size > min(h, w):
        raise ValueError(f"a {size}×{size} square does not fit in {h}×{w} images.")
    top = torch.randint(0, h - size + 1, (b, 1, 1, 1), generator=generator).to(device)
    left = torch.randint(0, w - size + 1, (b, 1, 1, 1), generator=generator).to(device)
    rows = torch.arange(h, device=device).view(1, 1, h, 1)
    cols = torch.arange(w, device=device).view(1, 1, 1, w)
    return (rows >= top) & (rows < top + size) & (cols >= left) & (cols < left + size)


def reconstruction_step(corrupt: Corruption | None = None) -> Callable[[nn.Module, Any], dict[str, Tensor]]:
    """The step of :func:`cvbook.train.fit`: ``{"reconstruction": MSE(model(corrupt(x)), x)}``.

    A batch is ``x`` or ``(x, labels, ...)``. Without ``corrupt`` the model reproduces its
    input (compression); with :func:`add_noise` it denoises, with :func:`mask_squares` it inpaints.
    """

    def step(model: nn.Module, batch: Any) -> dict[str, Tensor]:
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        seen = corrupt(x) if corrupt is not None else x
        return {"reconstruction": F.mse_loss(model(seen), x)}

    return step


@torch.no_grad()
def encode_all(model: nn.Module, images: Tensor, batch_size: int = 512) -> Tensor:
    """Latent codes ``(N, D)`` of ``images`` ``(N, C, H, W)`` with ``model.encode`` (eval mode)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        codes = [model.encode(images[i:i + batch_size].to(device)) for i in range(0, len(images), batch_size)]
    finally:
        model.train(was_training)
    codes = [c[0] if isinstance(c, tuple) else c for c in codes]  # a VAE's encode returns (mu, logvar)
    return torch.cat(codes).cpu()


def interpolate(z0: Tensor, z1: Tensor, steps: int) -> Tensor:
    """``steps`` points on the segment from ``z0`` to ``z1`` (both ``(D,)``), ends included: ``(steps, D)``."""
    t = torch.linspace(0, 1, check_positive_int(steps, "steps", minimum=2), device=z0.device)[:, None]
    return (1 - t) * z0[None] + t * z1[None]
