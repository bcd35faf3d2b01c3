"""U-Net (Ronneberger, Fischer and Brox, 2015): an encoder–decoder with skip concatenations.

The **contracting path** repeats two 3×3 convolutions and a 2×2 max pooling, doubling the
channels at each level; the **expanding path** repeats an up-convolution (a 2×2 transposed
convolution with stride 2 that halves the channels), the **concatenation** with the
contracting path's map of the same level, and two 3×3 convolutions. A 1×1 convolution gives
the class scores. The skips carry fine, low-level detail that a plain encoder–decoder
("conv–deconv") network would have to squeeze through its bottleneck.

The original network uses unpadded convolutions (a 572×572 input gives 388×388 scores, and
large images are segmented tile by tile with overlap); this one pads them, pools with
``ceil`` sizes and cuts every up-sampled map to its skip's size, so that the logits have the
input's height and width, whatever they are.

>>> UNet(in_channels=1, num_classes=2, base_channels=8)(torch.zeros(1, 1, 45, 61)).shape
torch.Size([1, 2, 45, 61])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cvbook._checks import check_image_batch, check_positive_int
from cvbook.layers import conv_bn_act

__all__ = ["UPSAMPLING", "double_conv", "UNet"]

#: How the expanding path upsamples, either U-Net's learnable 2×2 up-convolution, or bilinear
#: interpolation followed by a 1×1 convolution (free of checkerboard artefacts).
UPSAMPLING = ("transposed", "bilinear")


def double_conv(in_channels: int, out_channels: int, batch_norm: bool = True) -> nn.Sequential:
    """Two 3×3 convolutions with ReLU (and batch norm): one U-Net level. Keeps ``H × W``."""
    return nn.Sequential(conv_bn_act(in_channels, out_channels, batch_norm=batch_norm),
                         conv_bn_act(out_channels, out_channels, batch_norm=batch_norm))


def _up(in_channels: int, out_channels: int, mode: str) -> nn.Module:
    if mode == "transposed":
        return nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                         nn.Conv2d(in_channels, out_channels, 1))


class UNet(nn.Module):
    """U-Net with ``depth`` poolings.

    Args:
        in_channels: image channels (1 for microscopy, 3 for photos).
        num_classes: ``C`` output channels (one logit map per class; 1 for a binary
            segmentation trained with a sigmoid).
        base_channels: channels of the first level (64 in the paper); level ``l`` has
            ``base_channels · 2^l``.
        depth: number of poolings (4 in the paper).
        upsampling: ``"transposed"`` (the paper's up-convolution) or ``"bilinear"``.
        batch_norm: batch normalisation after every convolution (not in the 2015 paper).

    Shape:
        ``(B, in_channels, H, W) -> (B, num_classes, H, W)`` logits, for any ``H, W ≥ 1``.
    """

    def __init__(self, in_channels: int, num_classes: int, base_channels: int = 64, depth: int = 4,
                 upsampling: str = "transposed", batch_norm: bool = True) -> None:
        super().__init__()
        if upsampling not in UPSAMPLING:
            raise ValueError(f"upsampling={upsampling!r}: use one of {', '.join(UPSAMPLING)}.")
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.num_classes = check_positive_int(num_classes, "num_classes")
        base = check_positive_int(base_channels, "base_channels")
        self.depth = check_positive_int(depth, "depth")
        widths = [base * 2**level for level in range(depth + 1)]
        self.down = nn.ModuleList([double_conv(in_channels, widths[0], batch_norm)]
                                  + [double_conv(widths[i], widths[i + 1], batch_norm) for i in range(depth)])
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.up = nn.ModuleList(_up(widths[i + 1], widths[i], upsampling) for i in reversed(range(depth)))
        self.merge = nn.ModuleList(double_conv(2 * widths[i], widths[i], batch_norm) for i in reversed(range(depth)))
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        check_image_batch(x, "x", channels=self.in_channels)
        skips = []
        for level, block in enumerate(self.down):
            x = block(x if level == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for up, merge in zip(self.up, self.merge):
            skip = skips.pop()
            x = up(x)[..., : skip.shape[-2], : skip.shape[-1]]
            x = merge(torch.cat([skip, x], dim=1))
        return self.head(x)
