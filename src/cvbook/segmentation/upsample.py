"""Upsampling inside a network (chapter 13): "bed of nails", FCN's bilinear kernel, the
matrix of a transposed convolution (one channel, or ``C_in → C_out``), and pixel shuffle.

A transposed convolution with kernel ``k`` maps an input ``x`` of ``H_in × W_in`` to an output
``y`` of ``H_out × W_out`` with ``H_out = (H_in − 1)·stride − 2·padding + k_h`` (plus an
optional ``output_padding``): every input element scales a copy of the kernel, which is added
into the output at ``stride × (i, j)``, overlaps are summed, and ``padding`` rows and columns
are cut from every border. The map is linear, so ``vec(y) = Uᵀ vec(x)`` for a matrix ``U`` of
shape ``(H_in·W_in, H_out·W_out)`` (row-major ``vec``); the same ``U`` maps ``vec(z)`` of an
output-sized ``z`` to ``vec(conv2d(z, k))``: convolution multiplies by ``U``, its transpose by
``Uᵀ``, which is why the forward pass of one is the backward pass of the other.

With channels, a ``ConvTranspose2d`` weight has shape ``(C_in, C_out, k_h, k_w)``: input channel
``c`` scales the ``C_out`` kernels ``weight[c]``. Its matrix (:func:`multichannel_transposed_conv_matrix`)
is a ``C_in × C_out`` grid of single-channel blocks ``U[c, o]``, and the same weight read as a
``Conv2d`` weight (``C_out → C_in``: out channels first) is the matching convolution, whose
matrix is ``Uᵀ``'s transpose, ``U``.

**Pixel shuffle** (sub-pixel convolution, Shi et al., 2016) upsamples by ``r`` without
overlapping kernels: a convolution at low resolution makes ``C·r²`` channels, and
:func:`pixel_shuffle` moves each group of ``r²`` channels into an ``r × r`` block of pixels.

>>> transposed_conv_matrix(torch.tensor([[0.0, 1], [2, 3]]), (2, 2)).T @ torch.tensor([0.0, 1, 2, 3])
tensor([ 0.,  0.,  1.,  0.,  4.,  6.,  4., 12.,  9.])
"""

from __future__ import annotations

import torch
from torch import Tensor

from cvbook._checks import check_image_size, check_positive_int, describe

__all__ = ["bed_of_nails", "bilinear_kernel", "transposed_conv_matrix", "transposed_conv_output_size",
           "multichannel_transposed_conv_matrix", "pixel_shuffle"]


def bed_of_nails(x: Tensor, scale: int) -> Tensor:
    """Upsample by placing each value at the top-left corner of a ``scale × scale`` block of zeros.

    Args:
        x: ``(..., H, W)`` tensor.
        scale: the upsampling factor (a positive integer).

    Returns:
        ``(..., scale·H, scale·W)``, ``out[..., scale·i, scale·j] = x[..., i, j]``, zero elsewhere.

    Example:
        >>> bed_of_nails(torch.tensor([[1, 2], [3, 4]]), 2)
        tensor([[1, 0, 2, 0],
                [0, 0, 0, 0],
                [3, 0, 4, 0],
                [0, 0, 0, 0]])
    """
    if not isinstance(x, Tensor) or x.ndim < 2:
        raise ValueError(f"x must be a tensor of shape (..., H, W), got {describe(x)}.")
    scale = check_positive_int(scale, "scale")
    out = x.new_zeros(*x.shape[:-2], x.shape[-2] * scale, x.shape[-1] * scale)
    out[..., ::scale, ::scale] = x
    return out


def bilinear_kernel(channels: int, kernel_size: int) -> Tensor:
    """FCN's bilinear upsampling filter as a ``ConvTranspose2d`` weight, one per channel.

    With ``kernel_size = 2·f`` (``f`` the factor), ``stride = f`` and ``padding = f / 2``, the
    transposed convolution is bilinear interpolation by ``f`` (``align_corners=False``) away
    from the borders; FCN-32s uses ``64``, ``32``, ``16``. Each 1-D factor is the tent
    ``1 − |i − c| / f'`` with ``f' = ⌈k / 2⌉`` and centre ``c = f' − 1`` (odd ``k``) or
    ``f' − ½`` (even ``k``), as in the FCN authors' ``upsample_filt``.

    Args:
        channels: input and output channels; channel ``c`` is upsampled on its own.
        kernel_size: the side ``k`` of the square kernel.

    Returns:
        ``(channels, channels, k, k)`` float32, zero off the channel diagonal.

    Example:
        >>> bilinear_kernel(1, 4)[0, 0]
        tensor([[0.0625, 0.1875, 0.1875, 0.0625],
                [0.1875, 0.5625, 0.5625, 0.1875],
                [0.1875, 0.5625, 0.5625, 0.1875],
                [0.0625, 0.1875, 0.1875, 0.0625]])
    """
    channels = check_positive_int(channels, "channels")
    k = check_positive_int(kernel_size, "kernel_size")
    factor = (k + 1) // 2
    centre = factor - 1 if k % 2 == 1 else factor - 0.5
    tent = 1 - (torch.arange(k, dtype=torch.float32) - centre).abs() / factor
    weight = torch.zeros(channels, channels, k, k)
    index = torch.arange(channels)
    weight[index, index] = tent[:, None] * tent[None, :]
    return weight


def transposed_conv_output_size(input_size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                                output_padding: int = 0) -> int:
    """Output length along one axis: ``(n − 1)·stride − 2·padding + k + output_padding``."""
    return (input_size - 1) * stride - 2 * padding + kernel_size + output_padding


def transposed_conv_matrix(kernel: Tensor, input_size: int | tuple[int, int], stride: int = 1, padding: int = 0,
                           output_padding: int = 0) -> Tensor:
    """The matrix ``U`` of a single-channel transposed convolution: ``vec(y) = Uᵀ vec(x)``.

    Row ``q`` of ``U`` (column ``q`` of ``Uᵀ``) is the output for the ``q``-th one-hot input
    (row-major), i.e. the kernel placed at ``stride × (i, j) − padding``, cut at the borders.

    Args:
        kernel: ``(k_h, k_w)`` kernel.
        input_size: ``(H_in, W_in)``, or one number for a square input.
        stride: the stride (``≥ 1``).
        padding: rows and columns removed from every border of the output (``≥ 0``).
        output_padding: extra rows and columns added at the bottom and right (``< stride``),
            as in ``nn.ConvTranspose2d``.

    Returns:
        ``(H_in·W_in, H_out·W_out)``, dtype of ``kernel``, with
        ``H_out = (H_in − 1)·stride − 2·padding + k_h + output_padding``.

    Raises:
        ValueError: a kernel that is not 2-D, a padding that leaves no output, or an
            ``output_padding`` not below the stride.
    """
    if not isinstance(kernel, Tensor) or kernel.ndim != 2:
        raise ValueError(f"kernel must be a 2-D tensor (k_h, k_w), got {describe(kernel)}; "
                         "for a ConvTranspose2d weight (1, 1, k, k) pass weight[0, 0].")
    h_in, w_in = check_image_size(input_size, "input_size")
    stride = check_positive_int(stride, "stride")
    padding = check_positive_int(padding, "padding", minimum=0)
    output_padding = check_positive_int(output_padding, "output_padding", minimum=0)
    if output_padding >= stride:
        raise ValueError(f"output_padding must be smaller than the stride ({stride}), got {output_padding}.")
    k_h, k_w = kernel.shape
    h_out = transposed_conv_output_size(h_in, k_h, stride, padding, output_padding)
    w_out = transposed_conv_output_size(w_in, k_w, stride, padding, output_padding)
    if h_out < 1 or w_out < 1:
        raise ValueError(f"padding {padding} removes the whole {h_out + 2 * padding}×{w_out + 2 * padding} output; "
                         "use a smaller padding.")
    # Every (input element, kernel element) pair lands on one output element (or outside).
    i, j, a, b = torch.meshgrid(torch.arange(h_in), torch.arange(w_in), torch.arange(k_h), torch.arange(k_w),
                                indexing="ij")
    rows, cols = i * stride + a - padding, j * stride + b - padding
    inside = (rows >= 0) & (rows < h_out) & (cols >= 0) & (cols < w_out)
    u = kernel.new_zeros(h_in * w_in, h_out * w_out)
    u[(i * w_in + j)[inside], (rows * w_out + cols)[inside]] = kernel.expand(h_in, w_in, k_h, k_w)[inside]
    return u


def multichannel_transposed_conv_matrix(weight: Tensor, input_size: int | tuple[int, int], stride: int = 1,
                                        padding: int = 0, output_padding: int = 0) -> Tensor:
    """The matrix ``U`` of a transposed convolution from ``C_in`` to ``C_out`` channels.

    ``vec(y) = Uᵀ vec(x)`` for ``x`` of shape ``(C_in, H_in, W_in)`` and ``y`` of shape
    ``(C_out, H_out, W_out)`` (``vec`` reads channel by channel, each row by row), and
    ``vec(conv2d(z, weight)) = U vec(z)``: the convolution from ``C_out`` to ``C_in`` channels
    with the same weight. Block ``(c, o)`` of ``U`` is
    :func:`transposed_conv_matrix` of the kernel ``weight[c, o]``.

    Args:
        weight: ``(C_in, C_out, k_h, k_w)``, the layout of ``nn.ConvTranspose2d.weight``.
        input_size, stride, padding, output_padding: as for :func:`transposed_conv_matrix`.

    Returns:
        ``(C_in·H_in·W_in, C_out·H_out·W_out)``.
    """
    if not isinstance(weight, Tensor) or weight.ndim != 4:
        raise ValueError(f"weight must be (C_in, C_out, k_h, k_w) as in nn.ConvTranspose2d, got {describe(weight)}.")
    rows = [torch.cat([transposed_conv_matrix(weight[c, o], input_size, stride, padding, output_padding)
                       for o in range(weight.shape[1])], dim=1) for c in range(weight.shape[0])]
    return torch.cat(rows, dim=0)


def pixel_shuffle(x: Tensor, factor: int) -> Tensor:
    """Rearrange ``(B, C·r², H, W)`` into ``(B, C, r·H, r·W)``: ``out[b, c, r·i + a, r·j + d] =
    x[b, c·r² + r·a + d, i, j]``, as ``nn.PixelShuffle(r)`` does, written as a reshape.

    Example:
        >>> pixel_shuffle(torch.arange(4.0).reshape(1, 4, 1, 1), 2)[0, 0]
        tensor([[0., 1.],
                [2., 3.]])
    """
    r = check_positive_int(factor, "factor")
    if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1] % (r * r):
        raise ValueError(f"x must be (B, C·r², H, W) with channels divisible by r² = {r * r}, got {describe(x)}.")
    b, channels, h, w = x.shape
    c = channels // (r * r)
    return x.reshape(b, c, r, r, h, w).permute(0, 1, 4, 2, 5, 3).reshape(b, c, h * r, w * r)
