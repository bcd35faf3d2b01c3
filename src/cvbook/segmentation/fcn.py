"""Fully convolutional networks for semantic segmentation (Long, Shelhamer and Darrell, 2015).

An FCN is a classification backbone without its fully connected layers, a 1×1 convolution
that turns the last feature map into one score map per class, and transposed convolutions,
initialised to bilinear interpolation (:func:`~cvbook.segmentation.upsample.bilinear_kernel`),
that bring the scores back to the input's size:

- **FCN-32s** upsamples the stride-32 scores by 32 in one step (kernel 64, stride 32, padding 16);
- **FCN-16s** upsamples them by 2, adds the scores of the stride-16 features, upsamples by 16;
- **FCN-8s** does the same once more with the stride-8 features, then upsamples by 8.

The skip scores start at zero, as in the paper, so that each variant starts as the coarser
one. Downsampling uses ``ceil`` sizes, and every upsampled map is cut to the size it meets
(top-left aligned, which is where pooling windows start), so the logits have the input's
height and width for any input size.

>>> model = FCN(num_classes=21, variant="8s")
>>> model(torch.zeros(2, 3, 37, 50)).shape
torch.Size([2, 21, 37, 50])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cvbook._checks import check_image_batch, check_positive_int
from cvbook.layers import conv_bn_act
from cvbook.segmentation.upsample import bilinear_kernel

__all__ = ["VARIANTS", "SmallBackbone", "ResNetBackbone", "FCN", "bilinear_upsampling"]

#: The FCN variants by the stride of the finest scores they use.
VARIANTS = ("32s", "16s", "8s")


def bilinear_upsampling(channels: int, factor: int, *, learnable: bool = True) -> nn.ConvTranspose2d:
    """A ``ConvTranspose2d(channels, channels, 2·factor, stride=factor, padding=factor // 2)``
    initialised to bilinear upsampling by ``factor`` (no bias); frozen if not ``learnable``.

    Shape: ``(B, C, h, w) -> (B, C, factor·h, factor·w)`` for even ``factor``.
    """
    factor = check_positive_int(factor, "factor")
    layer = nn.ConvTranspose2d(channels, channels, 2 * factor, stride=factor, padding=factor // 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(bilinear_kernel(channels, 2 * factor))
    layer.weight.requires_grad_(learnable)
    return layer


class SmallBackbone(nn.Module):
    """A small VGG-style backbone to train from scratch: five stages of two 3×3
    :func:`~cvbook.layers.conv_bn_act` each, every stage followed by 2×2 max pooling
    (``ceil_mode``), like VGG-16's five blocks.

    Args:
        in_channels: channels of the input image.
        widths: channels of the five stages.

    Shapes:
        ``(B, in_channels, H, W) -> [(B, widths[2], ⌈H/8⌉, ⌈W/8⌉), (B, widths[3], ⌈H/16⌉, ⌈W/16⌉),
        (B, widths[4], ⌈H/32⌉, ⌈W/32⌉)]``; ``out_channels`` lists the three widths.
    """

    def __init__(self, in_channels: int = 3, widths: Sequence[int] = (16, 32, 64, 96, 128)) -> None:
        super().__init__()
        if len(widths) != 5:
            raise ValueError(f"widths must give the channels of 5 stages, got {len(widths)}.")
        stages, c_in = [], check_positive_int(in_channels, "in_channels")
        for c_out in widths:
            stages.append(nn.Sequential(conv_bn_act(c_in, c_out), conv_bn_act(c_out, c_out),
                                        nn.MaxPool2d(2, ceil_mode=True)))
            c_in = c_out
        self.stages = nn.ModuleList(stages)
        self.out_channels: list[int] = list(widths[2:])

    def forward(self, x: Tensor) -> list[Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features[2:]


class ResNetBackbone(nn.Module):
    """A torchvision ResNet's stages at strides 8 (``layer2``), 16 (``layer3``) and 32 (``layer4``).

    Args:
        name: ``"resnet18"``, ``"resnet34"``, ``"resnet50"``, ``"resnet101"``.
        weights: torchvision weights for it (``"DEFAULT"`` for ImageNet, None for random).
    """

    def __init__(self, name: str = "resnet50", weights: str | None = "DEFAULT") -> None:
        super().__init__()
        import torchvision

        if name not in ("resnet18", "resnet34", "resnet50", "resnet101"):
            raise ValueError(f"name={name!r}: use resnet18, resnet34, resnet50 or resnet101.")
        net = getattr(torchvision.models, name)(weights=weights)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2)
        self.layer3, self.layer4 = net.layer3, net.layer4
        expansion = 4 if name in ("resnet50", "resnet101") else 1
        self.out_channels: list[int] = [128 * expansion, 256 * expansion, 512 * expansion]

    def forward(self, x: Tensor) -> list[Tensor]:
        c3 = self.stem(x)
        c4 = self.layer3(c3)
        return [c3, c4, self.layer4(c4)]


def _crop_to(x: Tensor, like: Tensor | tuple[int, int]) -> Tensor:
    height, width = like.shape[-2:] if isinstance(like, Tensor) else like
    return x[..., :height, :width]


class FCN(nn.Module):
    """FCN-32s, FCN-16s or FCN-8s over a backbone with stride-8, -16 and -32 feature maps.

    Args:
        num_classes: ``C``, output channels (21 for VOC: 20 classes and the background).
        variant: ``"32s"``, ``"16s"`` or ``"8s"``.
        backbone: a module returning the stride-8, -16 and -32 maps with an ``out_channels``
            list (:class:`SmallBackbone`, :class:`ResNetBackbone`); default a
            :class:`SmallBackbone` on ``in_channels``.
        in_channels: image channels for the default backbone.
        learnable_upsampling: train the transposed convolutions (else they stay bilinear).

    Shape:
        ``(B, in_channels, H, W) -> (B, C, H, W)`` logits, for any ``H, W ≥ 1``.
    """

    def __init__(self, num_classes: int, variant: str = "8s", backbone: nn.Module | None = None,
                 in_channels: int = 3, learnable_upsampling: bool = True) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant={variant!r}: use one of {', '.join(VARIANTS)}.")
        num_classes = check_positive_int(num_classes, "num_classes")
        self.backbone = backbone if backbone is not None else SmallBackbone(in_channels)
        channels = getattr(self.backbone, "out_channels", None)
        if not isinstance(channels, (list, tuple)) or len(channels) != 3:
            raise ValueError("backbone must have out_channels = [c8, c16, c32] and return those three maps.")
        self.variant = variant
        self.in_channels = in_channels
        self.score32 = nn.Conv2d(channels[2], num_classes, 1)
        learn = learnable_upsampling
        if variant == "32s":
            self.up_final = bilinear_upsampling(num_classes, 32, learnable=learn)
        else:
            self.score16 = nn.Conv2d(channels[1], num_classes, 1)
            self.up32_to_16 = bilinear_upsampling(num_classes, 2, learnable=learn)
            if variant == "16s":
                self.up_final = bilinear_upsampling(num_classes, 16, learnable=learn)
            else:
                self.score8 = nn.Conv2d(channels[0], num_classes, 1)
                self.up16_to_8 = bilinear_upsampling(num_classes, 2, learnable=learn)
                self.up_final = bilinear_upsampling(num_classes, 8, learnable=learn)
            for skip in (getattr(self, "score16", None), getattr(self, "score8", None)):
                if skip is not None:
                    nn.init.zeros_(skip.weight)
                    nn.init.zeros_(skip.bias)

    def forward(self, x: Tensor) -> Tensor:
        check_image_batch(x, "x", channels=None)
        c8, c16, c32 = self.backbone(x)
        scores = self.score32(c32)
        if self.variant != "32s":
            scores = self.score16(c16) + _crop_to(self.up32_to_16(scores), c16)
            if self.variant == "8s":
                scores = self.score8(c8) + _crop_to(self.up16_to_8(scores), c8)
        return _crop_to(self.up_final(scores), x)
