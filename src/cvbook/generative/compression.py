"""Measuring compression: PSNR, JPEG's bytes and quality, and a quantised latent code's bytes.

Chapter 17 plots reconstruction quality against bytes per image for an autoencoder (its latent
code quantised to ``bits`` per dimension) and for JPEG (Pillow), on the same images.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from torch import Tensor

from cvbook._checks import check_positive_int, check_real

__all__ = ["psnr", "jpeg_roundtrip", "quantize", "code_bytes"]

# JPEG markers: start of scan (the entropy-coded data follows it) and end of image.
_SOS, _EOI = b"\xff\xda", b"\xff\xd9"


def psnr(pred: Tensor, target: Tensor, data_range: float = 1.0) -> Tensor:
    """Peak signal-to-noise ratio per image, in dB: ``10 log10(range² / MSE)``.

    Shape: ``(B, ...) -> (B,)``; an exact reconstruction gives ``inf``.
    """
    if pred.shape != target.shape or pred.ndim < 1:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have one shape (B, ...).")
    check_real(data_range, "data_range", low=0)
    mse = (pred.double() - target.double()).pow(2).flatten(1).mean(dim=1)
    return (10 * torch.log10(data_range**2 / mse)).float()


def jpeg_roundtrip(images: np.ndarray, quality: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encode greyscale ``uint8`` images ``(N, H, W)`` as JPEG at ``quality`` (1–95) and decode them.

    Returns ``(decoded (N, H, W) uint8, payload_bytes (N,), file_bytes (N,))``. The payload is
    the entropy-coded scan (from the start-of-scan marker to the end), i.e. the file without
    the quantisation and Huffman tables that every image of a set could share, as an
    autoencoder's decoder is shared; ``file_bytes`` is the whole file.
    """
    from PIL import Image

    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 greyscale (N, H, W), got {images.dtype} {images.shape}; "
                         "use (x * 255).round().astype(np.uint8).")
    if not 1 <= check_positive_int(quality, "quality") <= 95:
        raise ValueError(f"quality must lie in 1..95 (Pillow's useful range), got {quality}.")
    decoded, payload, total = [], [], []
    for image in images:  # one file per image: the codec has no batch interface
        buffer = io.BytesIO()
        Image.fromarray(image, mode="L").save(buffer, format="JPEG", quality=quality)
        data = buffer.getvalue()
        payload.append(len(data) - data.index(_SOS))
        total.append(len(data))
        decoded.append(np.asarray(Image.open(io.BytesIO(data)).convert("L")))
    return np.stack(decoded), np.array(payload), np.array(total)


def quantize(z: Tensor, low: Tensor, high: Tensor, bits: int) -> Tensor:
    """Round each coordinate of ``z`` ``(N, D)`` to one of ``2**bits`` levels spanning ``[low, high]`` ``(D,)``.

    Values outside the range are clipped first. What a decoder receives when a code is stored
    with ``bits`` bits per dimension.
    """
    levels = 2 ** check_positive_int(bits, "bits") - 1
    span = (high - low).clamp_min(1e-12)
    q = torch.round((z.clamp(low, high) - low) / span * levels)
    return low + q / levels * span


def code_bytes(latent_dim: int, bits: int) -> float:
    """Bytes per image of a ``latent_dim``-dimensional code at ``bits`` bits per dimension."""
    return check_positive_int(latent_dim, "latent_dim") * check_positive_int(bits, "bits") / 8
