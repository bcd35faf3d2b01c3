"""ResNeXt (Xie et al., 2017): residual bottlenecks split into parallel "aggregated" pathways.

A ResNeXt block is a :class:`~cvbook.backbones.resnet.Bottleneck` whose 3×3 convolution is
*grouped*: with cardinality ``C = groups`` and ``d = width_per_group`` it is ``C`` independent
3×3 convolutions of ``d`` channels each, run side by side, which is the same as ``C`` pathways
1×1 → 3×3 → 1×1 whose outputs are summed. At equal parameter count a block can then be wider:
the first block of ResNeXt-50 (32×4d) has 32 pathways of 4 channels (inner width 128) for about
the parameters of ResNet-50's 64-channel bottleneck.
"""

from __future__ import annotations

from .resnet import Bottleneck, ResNet

__all__ = ["resnext_block", "resnext50_32x4d", "resnext101_32x8d"]


def resnext_block(in_channels: int, channels: int, groups: int = 32, width_per_group: int = 4, stride: int = 1) -> Bottleneck:
    """One ResNeXt block: ``(B, in_channels, H, W) -> (B, 4 * channels, H / stride, W / stride)``.

    The inner width is ``channels * width_per_group // 64 * groups`` (128 for ``channels=64``
    and the 32×4d template).
    """
    return Bottleneck(in_channels, channels, stride, groups=groups, width_per_group=width_per_group)


def resnext50_32x4d(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNeXt-50 (32×4d): 25 028 904 parameters for 1000 classes, as torchvision's."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, groups=32, width_per_group=4, **kwargs)


def resnext101_32x8d(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNeXt-101 (32×8d): 88 791 336 parameters for 1000 classes, as torchvision's."""
    return ResNet(Bottleneck, (3, 4, 23, 3), num_classes, groups=32, width_per_group=8, **kwargs)
