"""Receptive fields (chapter 13): how far a stack of convolutions sees, computed and measured.

A stack of layers with kernel sizes ``k_l``, dilations ``d_l`` and strides ``s_l`` gives each
output element a receptive field of

.. math:: r = 1 + \\sum_l d_l (k_l - 1) \\prod_{m < l} s_m

input elements along each axis. Three 3×3 convolutions with dilations 1, 2, 4 see 3, 7, 15
pixels: the field grows exponentially with depth at the cost of a linear number of weights,
without pooling, so the output keeps the input's resolution.

>>> receptive_field([3, 3, 3], dilations=[1, 2, 4])
15
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from cvbook._checks import check_image_size, check_positive_int

__all__ = ["receptive_field", "measured_receptive_field"]


def receptive_field(kernel_sizes: Sequence[int], dilations: Sequence[int] | None = None,
                    strides: Sequence[int] | None = None) -> int:
    """The receptive field (in input elements, along one axis) of a stack of layers.

    Args:
        kernel_sizes: ``k_l`` of each layer, first layer first.
        dilations: ``d_l`` (default all 1).
        strides: ``s_l`` (default all 1).

    Returns:
        ``1 + Σ_l d_l (k_l − 1) Π_{m<l} s_m``.
    """
    n = len(kernel_sizes)
    dilations = [1] * n if dilations is None else list(dilations)
    strides = [1] * n if strides is None else list(strides)
    if len(dilations) != n or len(strides) != n:
        raise ValueError(f"give one dilation and one stride per layer: {n} kernel sizes, "
                         f"{len(dilations)} dilations, {len(strides)} strides.")
    field, jump = 1, 1
    for layer, (k, d, s) in enumerate(zip(kernel_sizes, dilations, strides)):
        k = check_positive_int(k, f"kernel_sizes[{layer}]")
        d = check_positive_int(d, f"dilations[{layer}]")
        field += d * (k - 1) * jump
        jump *= check_positive_int(s, f"strides[{layer}]")
    return field


def measured_receptive_field(model: nn.Module, input_size: int | tuple[int, int], channels: int = 1) -> tuple[int, int]:
    """Measure the receptive field of the centre output element by back-propagation.

    The gradient of the centre output (summed over channels) with respect to the input is
    non-zero exactly on the input elements it depends on (weights are set to one and biases
    to zero on a copy of ``model``, so that no gradient cancels by chance). Pick an input
    larger than the field.

    Args:
        model: a convolutional network ``(1, channels, H, W) -> (1, C', H', W')``.
        input_size: ``(H, W)`` of the probe input.
        channels: the model's input channels.

    Returns:
        ``(height, width)`` of the region of non-zero gradient.
    """
    import copy

    height, width = check_image_size(input_size, "input_size")
    probe = copy.deepcopy(model).eval().double()
    with torch.no_grad():
        for name, parameter in probe.named_parameters():
            parameter.fill_(0.0 if name.endswith("bias") else 1.0)
    x = torch.ones(1, channels, height, width, dtype=torch.float64, requires_grad=True)
    out = probe(x)
    (grad,) = torch.autograd.grad(out[0, :, out.shape[-2] // 2, out.shape[-1] // 2].sum(), x)
    touched = grad[0].abs().sum(dim=0) > 0
    rows, cols = touched.any(dim=1).nonzero(), touched.any(dim=0).nonzero()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
