"""Residual networks (He et al., 2016): blocks, the generic :class:`ResNet`, and constructors.

A residual block computes :math:`y = \\mathrm{ReLU}(F(x) + s(x))` where :math:`F` is a small
stack of convolutions and :math:`s` the *shortcut*: the identity when the shapes agree, else a
1×1 convolution (with batch norm) that matches channels and stride ("projection shortcut").

Every network is ``features`` + ``classifier``:

- ``features``: the stem and the residual stages, ``(B, C_in, H, W) -> (B, C_out, H/32, W/32)``
  in the ImageNet layout (``H/4`` for ``small_input=True`` with three stages);
- ``classifier``: global average pooling, flatten and one ``Linear``, ``(B, C_out, h, w) ->
  (B, num_classes)``.

:func:`resnet18` ... :func:`resnet152` have exactly the parameter counts of
``torchvision.models.resnet18`` ... ``resnet152``. Their bottleneck blocks put the stride on the
3×3 convolution like torchvision ("ResNet v1.5"); ``stride_in_1x1=True`` puts it on the first
1×1 convolution as in the paper, which leaves the parameters unchanged and reproduces the
paper's FLOP counts (3.8/7.6/11.3 G multiply-adds for ResNet-50/101/152).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cvbook._checks import check_positive_int

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnet_small",
]


def _conv_bn(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    groups: int = 1,
    batch_norm: bool = True,
) -> list[nn.Module]:
    """A ``kernel_size`` convolution with "same" padding, then batch norm if asked.

    Without batch norm the convolution gets a bias (with it the bias would be redundant).
    """
    conv = nn.Conv2d(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        padding=kernel_size // 2,
        groups=groups,
        bias=not batch_norm,
    )
    return [conv, nn.BatchNorm2d(out_channels)] if batch_norm else [conv]


def _shortcut(in_channels: int, out_channels: int, stride: int, batch_norm: bool) -> nn.Module:
    """Identity when the shapes agree, else a strided 1×1 projection (+ batch norm)."""
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return nn.Sequential(*_conv_bn(in_channels, out_channels, 1, stride, batch_norm=batch_norm))


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        check_positive_int(value, name)


class BasicBlock(nn.Module):
    """Two 3×3 convolutions and a shortcut: ``ReLU(bn(conv(ReLU(bn(conv(x))))) + s(x))``.

    Shapes: ``(B, in_channels, H, W) -> (B, channels, ceil(H/stride), ceil(W/stride))``.

    With ``batch_norm=False`` the convolutions carry biases instead, and a block with
    ``in_channels == channels == c`` has exactly :math:`2(3\\cdot 3\\cdot c + 1)c` parameters
    (73 856 for ``c = 64``, 1 180 160 for the "wide" ``c = 256``).

    Args:
        in_channels: channels of the input.
        channels: channels of the output (``expansion = 1``).
        stride: stride of the first convolution and of the projection shortcut.
        batch_norm: batch norm after each convolution (the ResNet default).
    """

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1, batch_norm: bool = True) -> None:
        super().__init__()
        _check_positive(in_channels=in_channels, channels=channels, stride=stride)
        self.residual = nn.Sequential(
            *_conv_bn(in_channels, channels, 3, stride, batch_norm=batch_norm),
            nn.ReLU(inplace=True),
            *_conv_bn(channels, channels, 3, batch_norm=batch_norm),
        )
        self.shortcut = _shortcut(in_channels, channels, stride, batch_norm)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        """``ReLU(residual(x) + shortcut(x))``, shapes as in the class docstring."""
        return self.relu(self.residual(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    """1×1 reduce, 3×3, 1×1 expand (×4), and a shortcut.

    Shapes: ``(B, in_channels, H, W) -> (B, 4 * channels, ceil(H/stride), ceil(W/stride))``.
    The inner width is ``channels * width_per_group // 64 * groups``: ``channels`` for a plain
    ResNet, and e.g. ``32 * 4 = 128`` for the first stage of ResNeXt-50 (32×4d), whose 3×3
    convolution is grouped (``groups`` parallel pathways of ``width_per_group`` channels).

    With ``batch_norm=False`` (biases instead) the block 256 → 64 → 64 → 256 has
    :math:`(256+1)64 + (3\\cdot3\\cdot64+1)64 + (64+1)256 = 70\\,016` parameters.

    Args:
        in_channels: channels of the input.
        channels: the "planes" of the block; the output has ``4 * channels``.
        stride: spatial stride of the block.
        groups: number of groups of the 3×3 convolution (ResNeXt's cardinality).
        width_per_group: channels per group, 64 for ResNet.
        stride_in_1x1: put the stride on the first 1×1 convolution (the paper) instead of the
            3×3 one (torchvision, "v1.5"); parameters are the same, FLOPs differ.
        batch_norm: batch norm after each convolution.
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int = 1,
        groups: int = 1,
        width_per_group: int = 64,
        stride_in_1x1: bool = False,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        _check_positive(
            in_channels=in_channels, channels=channels, stride=stride, groups=groups, width_per_group=width_per_group
        )
        inner = channels * width_per_group // 64 * groups
        out = channels * self.expansion
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.residual = nn.Sequential(
            *_conv_bn(in_channels, inner, 1, s1, batch_norm=batch_norm),
            nn.ReLU(inplace=True),
            *_conv_bn(inner, inner, 3, s3, groups=groups, batch_norm=batch_norm),
            nn.ReLU(inplace=True),
            *_conv_bn(inner, out, 1, batch_norm=batch_norm),
        )
        self.shortcut = _shortcut(in_channels, out, stride, batch_norm)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        """``ReLU(residual(x) + shortcut(x))``, shapes as in the class docstring."""
        return self.relu(self.residual(x) + self.shortcut(x))


class ResNet(nn.Module):
    """A residual network: stem, stages of residual blocks, global pooling and a linear layer.

    Stage ``i`` has ``layers[i]`` blocks of ``widths[i]`` "planes" (output channels
    ``widths[i] * block.expansion``); every stage but the first halves the resolution.

    - ImageNet stem (``small_input=False``): 7×7 convolution stride 2, batch norm, ReLU,
      3×3 max pooling stride 2, so ``(B, 3, 224, 224) -> features (B, C, 7, 7)`` with four stages.
    - Small-input stem (``small_input=True``, for 32×32 images): one 3×3 convolution stride 1,
      batch norm, ReLU, no pooling, so ``(B, 3, 32, 32) -> (B, C, 8, 8)`` with three stages.

    ``model.features(x)`` gives the last feature map ``(B, C, h, w)``; ``model.classifier``
    turns it into logits ``(B, num_classes)``; ``model(x)`` does both.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: number of blocks per stage, e.g. ``(2, 2, 2, 2)`` for ResNet-18.
        num_classes: number of output logits.
        width: planes of the first stage; stage ``i`` has ``width * 2**i`` unless ``widths`` is given.
        small_input: use the 32×32 stem described above.
        widths: planes of each stage (overrides ``width``), same length as ``layers``.
        in_channels: channels of the input images.
        groups, width_per_group, stride_in_1x1: passed to :class:`Bottleneck`.
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: Sequence[int],
        num_classes: int = 1000,
        width: int = 64,
        small_input: bool = False,
        widths: Sequence[int] | None = None,
        in_channels: int = 3,
        groups: int = 1,
        width_per_group: int = 64,
        stride_in_1x1: bool = False,
    ) -> None:
        super().__init__()
        if block not in (BasicBlock, Bottleneck):
            raise ValueError(f"block must be BasicBlock or Bottleneck, got {block!r}.")
        if block is BasicBlock and (groups != 1 or width_per_group != 64 or stride_in_1x1):
            raise ValueError("groups, width_per_group and stride_in_1x1 only apply to Bottleneck blocks.")
        layers = list(layers)
        if not layers or any(not isinstance(n, int) or n < 1 for n in layers):
            raise ValueError(f"layers must be a non-empty sequence of positive integers, got {layers!r}.")
        widths = [width * 2**i for i in range(len(layers))] if widths is None else list(widths)
        if len(widths) != len(layers):
            raise ValueError(f"widths {widths} and layers {layers} must have the same length.")
        _check_positive(num_classes=num_classes, in_channels=in_channels, **{f"widths[{i}]": w for i, w in enumerate(widths)})

        stem_channels = widths[0]
        if small_input:
            stem: list[nn.Module] = [*_conv_bn(in_channels, stem_channels, 3), nn.ReLU(inplace=True)]
        else:
            stem = [
                *_conv_bn(in_channels, stem_channels, 7, stride=2),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            ]
        extra = {} if block is BasicBlock else dict(groups=groups, width_per_group=width_per_group, stride_in_1x1=stride_in_1x1)
        stages: list[nn.Module] = []
        channels = stem_channels
        for i, (n_blocks, planes) in enumerate(zip(layers, widths)):
            blocks = []
            for j in range(n_blocks):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(block(channels, planes, stride, **extra))
                channels = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.features = nn.Sequential(nn.Sequential(*stem), *stages)
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(channels, num_classes))
        self.out_channels = channels
        self._init_weights()

    def _init_weights(self) -> None:
        """He (Kaiming) normal initialisation for convolutions, BN to the identity (as torchvision)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, in_channels, H, W) -> (B, num_classes)`` logits."""
        if x.ndim != 4:
            raise ValueError(f"expected a batch of images (B, C, H, W), got shape {tuple(x.shape)}.")
        return self.classifier(self.features(x))


def resnet18(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-18: basic blocks (2, 2, 2, 2); 11 689 512 parameters for 1000 classes."""
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, **kwargs)


def resnet34(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-34: basic blocks (3, 4, 6, 3); 21 797 672 parameters for 1000 classes."""
    return ResNet(BasicBlock, (3, 4, 6, 3), num_classes, **kwargs)


def resnet50(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-50: bottleneck blocks (3, 4, 6, 3); 25 557 032 parameters for 1000 classes."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, **kwargs)


def resnet101(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-101: bottleneck blocks (3, 4, 23, 3); 44 549 160 parameters for 1000 classes."""
    return ResNet(Bottleneck, (3, 4, 23, 3), num_classes, **kwargs)


def resnet152(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-152: bottleneck blocks (3, 8, 36, 3); 60 192 808 parameters for 1000 classes."""
    return ResNet(Bottleneck, (3, 8, 36, 3), num_classes, **kwargs)


def resnet_small(
    num_classes: int = 10,
    widths: Sequence[int] = (32, 64, 128),
    blocks: Sequence[int] = (1, 1, 1),
    in_channels: int = 3,
) -> ResNet:
    """A small ResNet for 32×32 images that trains in minutes on a CPU.

    With the defaults it is a ResNet-8 (one 3×3 stem convolution, three stages of one basic
    block each, the linear layer): ``(B, 3, 32, 32) -> features (B, 128, 8, 8) -> (B, 10)``,
    about 0.31 M parameters and 49 M multiply-adds per image.

    Args:
        num_classes: number of output logits.
        widths: channels of each stage; every stage after the first halves the resolution.
        blocks: basic blocks per stage, same length as ``widths``.
        in_channels: channels of the input images (1 for grey-level digits).
    """
    return ResNet(BasicBlock, blocks, num_classes, small_input=True, widths=widths, in_channels=in_channels)
