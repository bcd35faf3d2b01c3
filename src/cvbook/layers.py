"""Building blocks shared by the book's networks.

- :func:`conv_bn_act`: a convolution, batch normalisation and an activation, the unit most
  detectors and segmenters are stacked from;
- :class:`FeaturePyramid`: FPN's top-down pathway with lateral connections (Lin et al.,
  2017), which gives fine feature maps the semantics of coarse ones (SSD's FPN variant,
  segmentation decoders).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from cvbook._checks import check_positive_int

__all__ = ["ACTIVATIONS", "conv_bn_act", "FeaturePyramid"]

#: The activations :func:`conv_bn_act` knows: ReLU, YOLO's leaky ReLU (slope 0.1), or none.
ACTIVATIONS = ("relu", "leaky", "none")


def conv_bn_act(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, *,
                batch_norm: bool = True, activation: str = "relu", dilation: int = 1) -> nn.Sequential:
    """A ``kernel_size`` convolution with "same" padding, batch norm (optional) and an activation.

    Without batch norm the convolution gets a bias; with it the bias would be redundant (the
    normalisation subtracts the mean). The layers are indexed 0, 1, 2 in that order.

    Shape:
        ``(B, in_channels, H, W) -> (B, out_channels, ⌈H / stride⌉, ⌈W / stride⌉)`` for odd kernels.

    Example:
        >>> conv_bn_act(3, 16, stride=2)
        Sequential(
          (0): Conv2d(3, 16, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)
          (1): BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
          (2): ReLU(inplace=True)
        )
    """
    check_positive_int(in_channels, "in_channels")
    check_positive_int(out_channels, "out_channels")
    check_positive_int(kernel_size, "kernel_size")
    check_positive_int(stride, "stride")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation={activation!r}: use one of {', '.join(ACTIVATIONS)}")
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                                         padding=dilation * (kernel_size // 2), dilation=dilation,
                                         bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    if activation == "relu":
        layers.append(nn.ReLU(inplace=True))
    elif activation == "leaky":
        layers.append(nn.LeakyReLU(0.1))
    return nn.Sequential(*layers)


class FeaturePyramid(nn.Module):
    """Feature pyramid network: a top-down pathway with lateral connections.

    Every input map goes through a 1×1 *lateral* convolution to ``out_channels``; from the
    coarsest map down, each level adds the nearest-neighbour upsampled level above it, and
    a 3×3 :func:`conv_bn_act` smooths the sum. Fine maps thereby see the context of coarse ones.

    Args:
        in_channels: channels of the input maps, fine to coarse.
        out_channels: channels of every output map.

    Shapes:
        ``[(B, in_channels[i], H_i, W_i)] -> [(B, out_channels, H_i, W_i)]``.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int = 64) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in in_channels)
        self.smooth = nn.ModuleList(conv_bn_act(out_channels, out_channels) for _ in in_channels)
        self.out_channels: list[int] = [out_channels] * len(in_channels)

    def forward(self, features: Sequence[Tensor]) -> list[Tensor]:
        if len(features) != len(self.lateral):
            raise ValueError(f"got {len(features)} feature maps, the pyramid was built for {len(self.lateral)}")
        top = self.lateral[-1](features[-1])
        outs = [self.smooth[-1](top)]
        for i in range(len(features) - 2, -1, -1):
            top = self.lateral[i](features[i]) + F.interpolate(top, size=features[i].shape[-2:], mode="nearest")
            outs.append(self.smooth[i](top))
        return outs[::-1]
