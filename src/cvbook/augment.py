"""Image augmentation beyond torchvision: AlexNet's PCA colour shift and ten-crop averaging.

Two ideas from Krizhevsky et al. (2012), written as small composable pieces:

- **PCA colour augmentation** ("fancy PCA"). :func:`pca_colour_basis` finds the principal
  components :math:`p_i` and eigenvalues :math:`\\lambda_i` of the 3×3 covariance of RGB
  pixel values over a training set; :class:`PCAColour` adds to every pixel of an image the
  same colour shift :math:`[p_1, p_2, p_3]\\,[\\alpha_1 s_1, \\alpha_2 s_2, \\alpha_3 s_3]^\\top`
  with :math:`\\alpha_i \\sim \\mathcal N(0, \\sigma^2)` drawn once per image. The shift moves
  the image along the directions in which natural colours vary, by amounts proportional to
  how much they vary there.
- **Test-time averaging** over ten views: the four corner crops and the centre crop of an
  image, and their horizontal reflections. :func:`ten_crop` returns the views in the order
  of ``torchvision.transforms.v2.functional.ten_crop``; :func:`ten_crop_predict` averages a
  model's class probabilities over them.

Images are float tensors ``(..., 3, H, W)`` (channels first, as in torchvision).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from cvbook._checks import check_rgb_images

__all__ = ["pca_colour_basis", "PCAColour", "five_crop", "ten_crop", "ten_crop_predict"]


def pca_colour_basis(images: Tensor) -> tuple[Tensor, Tensor]:
    """Eigenvalues and eigenvectors of the covariance of the RGB values of ``images``.

    Args:
        images: ``(..., 3, H, W)`` float; every pixel of every image is one sample of
            a 3-vector.

    Returns:
        ``(eigenvalues (3,), eigenvectors (3, 3))`` with eigenvalues in decreasing order and
        ``eigenvectors[:, i]`` the unit principal component :math:`p_i` (sign as returned by
        ``torch.linalg.eigh``). Computed in float64, returned in the dtype of ``images``.
    """
    check_rgb_images(images)
    pixels = images.movedim(-3, -1).reshape(-1, 3).double()
    if pixels.shape[0] < 2:
        raise ValueError("need at least two pixels to estimate a colour covariance.")
    centred = pixels - pixels.mean(dim=0)
    covariance = centred.T @ centred / (pixels.shape[0] - 1)
    values, vectors = torch.linalg.eigh(covariance)  # ascending
    order = torch.arange(2, -1, -1)
    return values[order].clamp_min(0).to(images.dtype), vectors[:, order].to(images.dtype)


class PCAColour(nn.Module):
    """AlexNet's colour augmentation: add :math:`P\\,(\\alpha \\odot s)` to every pixel.

    ``P`` holds the principal components as columns, :math:`\\alpha \\sim \\mathcal N(0,
    \\sigma^2 I)` is drawn once per image, and ``s`` scales each component. The paper writes
    :math:`s_i = \\lambda_i`, the eigenvalue; since :math:`\\lambda_i` is a variance, in
    squared pixel units, implementations (and this class, ``scale="std"``) use
    :math:`s_i = \\sqrt{\\lambda_i}`, the standard deviation of the pixels along :math:`p_i`, so
    that the shift is in pixel units whatever the image scale. ``scale="eigenvalue"`` follows
    the formula literally.

    Shapes: ``(3, H, W) -> (3, H, W)`` or ``(B, 3, H, W) -> (B, 3, H, W)`` (one shift per image).
    Values are not clipped; follow with a clamp if the model needs ``[0, 1]``.

    Args:
        eigenvalues: ``(3,)`` from :func:`pca_colour_basis`.
        eigenvectors: ``(3, 3)``, principal components as columns.
        sigma: standard deviation of :math:`\\alpha` (0.1 in the paper).
        scale: ``"std"`` (:math:`\\sqrt{\\lambda_i}`) or ``"eigenvalue"`` (:math:`\\lambda_i`).
        generator: optional ``torch.Generator`` for repeatable draws.
    """

    def __init__(self, eigenvalues: Tensor, eigenvectors: Tensor, sigma: float = 0.1, scale: str = "std",
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        eigenvalues, eigenvectors = torch.as_tensor(eigenvalues), torch.as_tensor(eigenvectors)
        if eigenvalues.shape != (3,) or eigenvectors.shape != (3, 3):
            raise ValueError(f"expected eigenvalues (3,) and eigenvectors (3, 3), got {tuple(eigenvalues.shape)} "
                             f"and {tuple(eigenvectors.shape)}; compute them with pca_colour_basis(images).")
        if (eigenvalues < 0).any():
            raise ValueError("eigenvalues of a covariance cannot be negative; use pca_colour_basis(images).")
        if not (isinstance(sigma, (int, float)) and sigma >= 0 and math.isfinite(sigma)):
            raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}.")
        if scale not in ("std", "eigenvalue"):
            raise ValueError(f"scale must be 'std' or 'eigenvalue', got {scale!r}.")
        self.register_buffer("eigenvalues", eigenvalues.float())
        self.register_buffer("eigenvectors", eigenvectors.float())
        self.sigma, self.scale, self.generator = float(sigma), scale, generator

    @property
    def scales(self) -> Tensor:
        """``(3,)`` the factor :math:`s_i` of each principal component."""
        return self.eigenvalues.sqrt() if self.scale == "std" else self.eigenvalues

    def shift(self, alpha: Tensor) -> Tensor:
        """The RGB shifts ``(B, 3)`` for coefficients ``alpha`` ``(B, 3)``: ``P (alpha * s)``."""
        return (alpha * self.scales) @ self.eigenvectors.T

    def forward(self, images: Tensor) -> Tensor:
        check_rgb_images(images)
        batch = images.reshape(-1, *images.shape[-3:])
        alpha = torch.randn(batch.shape[0], 3, generator=self.generator) * self.sigma
        delta = self.shift(alpha.to(self.eigenvalues.device)).to(images.dtype)
        return (batch + delta[:, :, None, None]).reshape(images.shape)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, scale={self.scale!r}"


def five_crop(images: Tensor, size: int | tuple[int, int]) -> Tensor:
    """The four corner crops and the centre crop of ``images``, stacked.

    Args:
        images: ``(..., C, H, W)``.
        size: crop height and width (an int for square crops), at most ``(H, W)``.

    Returns:
        ``(5, ..., C, h, w)``: top-left, top-right, bottom-left, bottom-right, centre (the
        order and the centre rounding of torchvision's ``five_crop``).
    """
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if images.ndim < 3:
        raise ValueError(f"images must be (..., C, H, W), got shape {tuple(images.shape)}.")
    H, W = images.shape[-2:]
    if not (0 < h <= H and 0 < w <= W):
        raise ValueError(f"crop size {(h, w)} must be positive and fit in the image size {(H, W)}.")
    top, left = int(round((H - h) / 2.0)), int(round((W - w) / 2.0))
    corners = [(0, 0), (0, W - w), (H - h, 0), (H - h, W - w), (top, left)]
    return torch.stack([images[..., y:y + h, x:x + w] for y, x in corners])


def ten_crop(images: Tensor, size: int | tuple[int, int]) -> Tensor:
    """:func:`five_crop` of the image and of its left–right reflection: ``(10, ..., C, h, w)``.

    Rows 5..9 are the five crops of the reflected image, as in torchvision's ``ten_crop``
    (so row 5 is the reflection of row 1, the top-right crop, and row 6 that of row 0).
    """
    return torch.cat([five_crop(images, size), five_crop(images.flip(-1), size)])


@torch.no_grad()
def ten_crop_predict(model: nn.Module, images: Tensor, size: int | tuple[int, int]) -> Tensor:
    """Class probabilities averaged over the ten crops of each image.

    Args:
        model: maps ``(N, C, h, w)`` to logits ``(N, K)``; it is put in eval mode.
        images: ``(B, C, H, W)``.
        size: crop size, as in :func:`five_crop`.

    Returns:
        ``(B, K)`` the mean over the ten views of ``softmax(model(view))``.
    """
    if images.ndim != 4:
        raise ValueError(f"images must be a batch (B, C, H, W), got shape {tuple(images.shape)}.")
    views = ten_crop(images, size)  # (10, B, C, h, w)
    model.eval()
    logits = model(views.flatten(0, 1))  # (10 B, K)
    return logits.softmax(dim=-1).view(10, images.shape[0], -1).mean(dim=0)
