"""U-Net's two data tricks (chapter 15): elastic deformations for training, and averaging the
predictions over the eight flips and quarter turns of the input at test time.

Ronneberger et al. had 30 annotated images; they deformed them elastically: random
displacements on a coarse grid (3×3, standard deviation 10 pixels), interpolated smoothly to
every pixel, applied to the image and its mask alike. At test time they averaged the outputs
of rotated versions of the input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvbook._checks import check_image_batch, check_positive_int, check_real

__all__ = ["elastic_deformation", "dihedral_average"]


def elastic_deformation(images: Tensor, masks: Tensor, *, grid: int = 3, std: float = 10.0,
                        generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Deform each image and its mask by the same smooth random displacement field.

    Displacements (in pixels) are drawn on a ``grid × grid`` lattice from
    ``N(0, std²)``, upsampled bicubically to the image size, and used to resample the image
    (bilinear) and the mask (nearest, so labels stay labels); borders are reflected.

    Args:
        images: ``(B, C, H, W)`` float.
        masks: ``(B, H, W)`` integer labels.
        grid: the lattice side.
        std: the standard deviation of the displacements, in pixels.
        generator: for repeatable deformations.

    Returns:
        The deformed ``images`` and ``masks``, same shapes and dtypes.
    """
    check_image_batch(images, "images")
    if not isinstance(masks, Tensor) or masks.shape != (images.shape[0], *images.shape[2:]):
        raise ValueError(f"masks must have shape (B, H, W) = {(images.shape[0], *images.shape[2:])}.")
    grid = check_positive_int(grid, "grid", minimum=2)
    std = check_real(std, "std", low=0.0)
    batch, _, height, width = images.shape
    coarse = torch.randn(batch, 2, grid, grid, generator=generator) * std
    shift = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=True).to(images)
    ys, xs = torch.meshgrid(torch.arange(height, dtype=images.dtype, device=images.device),
                            torch.arange(width, dtype=images.dtype, device=images.device), indexing="ij")
    x_new = (xs + shift[:, 0]) / max(width - 1, 1) * 2 - 1  # grid_sample's [-1, 1] coordinates
    y_new = (ys + shift[:, 1]) / max(height - 1, 1) * 2 - 1
    sampling = torch.stack([x_new, y_new], dim=-1)
    warped = F.grid_sample(images, sampling, mode="bilinear", padding_mode="reflection", align_corners=True)
    warped_masks = F.grid_sample(masks[:, None].to(images.dtype), sampling, mode="nearest",
                                 padding_mode="reflection", align_corners=True)[:, 0]
    return warped, warped_masks.round().to(masks.dtype)


@torch.no_grad()
def dihedral_average(model: nn.Module, images: Tensor) -> Tensor:
    """The model's class probabilities averaged over the 8 flips and quarter turns of the input.

    Each transformed input's output is transformed back before averaging. Works for square
    and non-square images (a quarter turn swaps ``H`` and ``W``; the model must accept both).

    Returns:
        ``(B, C, H, W)`` probabilities (softmax over ``C``, or a sigmoid for ``C = 1``).
    """
    check_image_batch(images, "images")
    total = None
    for turns in range(4):
        for flip in (False, True):
            x = images.flip(-1) if flip else images
            out = model(x.rot90(turns, (-2, -1)))
            probs = out.softmax(1) if out.shape[1] > 1 else out.sigmoid()
            probs = probs.rot90(-turns, (-2, -1))
            probs = probs.flip(-1) if flip else probs
            total = probs if total is None else total + probs
    return total / 8
