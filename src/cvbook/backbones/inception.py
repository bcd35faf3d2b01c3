"""GoogLeNet's Inception modules (Szegedy et al., 2015), naive and with dimension reductions.

Both run several convolutions side by side on the same input and concatenate their outputs
along the channels:

- :class:`NaiveInception`: 1×1, 3×3 and 5×5 convolutions and a 3×3 max pooling of the input;
  the pooling branch keeps all input channels, so the width can only grow.
- :class:`Inception`: 1×1 convolutions reduce the channels before the 3×3 and 5×5
  convolutions and project the pooled branch, which cuts parameters and FLOPs.

:data:`GOOGLENET` lists the channel numbers of the nine modules of GoogLeNet (the paper's
Table 1).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cvbook._checks import check_positive_int
from cvbook.layers import conv_bn_act

__all__ = ["GOOGLENET", "Inception", "NaiveInception"]

GOOGLENET: dict[str, tuple[int, int, int, int, int, int, int]] = {
    #        in   1x1  3x3red 3x3  5x5red 5x5  pool proj
    "3a": (192, 64, 96, 128, 16, 32, 32),
    "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64),
    "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64),
    "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128),
    "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}
"""Arguments of :class:`Inception` for each module of GoogLeNet."""


def _check(**values: int) -> None:
    for name, value in values.items():
        check_positive_int(value, name)


class NaiveInception(nn.Module):
    """1×1, 3×3, 5×5 convolutions and 3×3 max pooling in parallel, concatenated.

    Shapes: ``(B, in_channels, H, W) -> (B, ch1x1 + ch3x3 + ch5x5 + in_channels, H, W)``.
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3: int, ch5x5: int, batch_norm: bool = False) -> None:
        super().__init__()
        _check(in_channels=in_channels, ch1x1=ch1x1, ch3x3=ch3x3, ch5x5=ch5x5)
        self.branches = nn.ModuleList(
            [
                conv_bn_act(in_channels, ch1x1, 1, batch_norm=batch_norm),
                conv_bn_act(in_channels, ch3x3, 3, batch_norm=batch_norm),
                conv_bn_act(in_channels, ch5x5, 5, batch_norm=batch_norm),
                nn.MaxPool2d(3, stride=1, padding=1),
            ]
        )

    def forward(self, x: Tensor) -> Tensor:
        """The branches' outputs concatenated along the channels."""
        return torch.cat([branch(x) for branch in self.branches], dim=1)


class Inception(nn.Module):
    """The Inception module with dimension reductions (GoogLeNet).

    Branches: 1×1; 1×1 reduce then 3×3; 1×1 reduce then 5×5; 3×3 max pooling then 1×1
    projection. Shapes: ``(B, in_channels, H, W) -> (B, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W)``.

    Unlike ``torchvision.models.googlenet`` (whose "5×5" branch is a 3×3 convolution, a bug
    kept for its pretrained weights) the third branch here is a true 5×5 convolution.

    Args:
        in_channels: channels of the input.
        ch1x1: output channels of the 1×1 branch.
        ch3x3red, ch3x3: reduced and output channels of the 3×3 branch.
        ch5x5red, ch5x5: reduced and output channels of the 5×5 branch.
        pool_proj: output channels of the pooling branch.
        batch_norm: batch norm after every convolution (and no conv bias), as torchvision.
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        _check(in_channels=in_channels, ch1x1=ch1x1, ch3x3red=ch3x3red, ch3x3=ch3x3, ch5x5red=ch5x5red,
               ch5x5=ch5x5, pool_proj=pool_proj)
        self.branches = nn.ModuleList(
            [
                conv_bn_act(in_channels, ch1x1, 1, batch_norm=batch_norm),
                nn.Sequential(conv_bn_act(in_channels, ch3x3red, 1, batch_norm=batch_norm), conv_bn_act(ch3x3red, ch3x3, 3, batch_norm=batch_norm)),
                nn.Sequential(conv_bn_act(in_channels, ch5x5red, 1, batch_norm=batch_norm), conv_bn_act(ch5x5red, ch5x5, 5, batch_norm=batch_norm)),
                nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv_bn_act(in_channels, pool_proj, 1, batch_norm=batch_norm)),
            ]
        )

    def forward(self, x: Tensor) -> Tensor:
        """The branches' outputs concatenated along the channels."""
        return torch.cat([branch(x) for branch in self.branches], dim=1)
