"""Single-image super-resolution: SRCNN (Dong et al., 2014) against bicubic interpolation.

The low-resolution image is first upsampled bicubically to the target size; the network then
predicts what bicubic interpolation missed (a residual, which trains faster than predicting
the whole image, as in VDSR). Everything is greyscale (SRCNN works on the luminance channel).

>>> model = SRCNN()
>>> history = fit(model, patch_loader, steps=1000, loss_fn=nn.MSELoss())   # doctest: +SKIP
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvbook._checks import check_image_batch, check_positive_int

__all__ = ["SRCNN", "bicubic_degrade", "random_patches"]


class SRCNN(nn.Module):
    """Patch extraction (``k1×k1``), non-linear mapping (1×1), reconstruction (``k3×k3``).

    Dong et al.'s 9-1-5 network with 64 and 32 channels by default; ``residual=True`` adds the
    input to the output, and the last layer starts at zero (the untrained network is the identity). Shape: ``(B, 1, H, W) -> (B, 1, H, W)``, both bicubic-upsampled size.
    """

    def __init__(self, channels: tuple[int, int] = (64, 32), kernels: tuple[int, int, int] = (9, 1, 5),
                 residual: bool = True) -> None:
        super().__init__()
        c1, c2 = (check_positive_int(c, "channels") for c in channels)
        k1, k2, k3 = (check_positive_int(k, "kernels") for k in kernels)
        self.body = nn.Sequential(
            nn.Conv2d(1, c1, k1, padding=k1 // 2), nn.ReLU(inplace=True),
            nn.Conv2d(c1, c2, k2, padding=k2 // 2), nn.ReLU(inplace=True),
            nn.Conv2d(c2, 1, k3, padding=k3 // 2),
        )
        self.residual = residual
        if residual:  # start as bicubic interpolation exactly: the network learns only what it adds
            nn.init.zeros_(self.body[-1].weight)
            nn.init.zeros_(self.body[-1].bias)

    def forward(self, x: Tensor) -> Tensor:
        check_image_batch(x, "x", channels=1)
        out = self.body(x)
        return x + out if self.residual else out


def bicubic_degrade(images: Tensor, scale: int) -> Tensor:
    """What a super-resolution network gets: ``images`` shrunk ``scale`` times (area averaging,
    i.e. anti-aliased) then enlarged back bicubically, clipped to ``[0, 1]``.

    Shape: ``(B, C, H, W) -> (B, C, H, W)``; ``H`` and ``W`` must be multiples of ``scale``.
    """
    check_image_batch(images, "images")
    check_positive_int(scale, "scale")
    h, w = images.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"image size {h}×{w} is not a multiple of scale {scale}: crop it first.")
    small = F.avg_pool2d(images, scale)
    return F.interpolate(small, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


def random_patches(images: Tensor, size: int, n: int, generator: torch.Generator | None = None) -> Tensor:
    """``n`` random ``size × size`` crops from ``images`` ``(B, C, H, W)``: ``(n, C, size, size)``.

    Vectorised with ``unfold``-free gathering: one index grid per patch.
    """
    check_image_batch(images, "images")
    b, c, h, w = images.shape
    if size > min(h, w):
        raise ValueError(f"patches of {size} pixels do not fit in {h}×{w} images.")
    which = torch.randint(0, b, (n,), generator=generator)
    top = torch.randint(0, h - size + 1, (n,), generator=generator)
    left = torch.randint(0, w - size + 1, (n,), generator=generator)
    rows = (top[:, None] + torch.arange(size))[:, None, :, None]             # (n, 1, size, 1)
    cols = (left[:, None] + torch.arange(size))[:, None, None, :]            # (n, 1, 1, size)
    chans = torch.arange(c)[None, :, None, None]
    return images[which[:, None, None, None], chans, rows, cols]
