"""Network in network (Lin et al., 2013): 1×1 convolutions as per-location perceptrons.

A 1×1 convolution with weight ``W`` of shape ``(C_out, C_in, 1, 1)`` applies the same linear
map ``W[:, :, 0, 0]`` to the ``C_in``-vector at every pixel; stacking 1×1 convolutions with ReLU
gives a small multi-layer perceptron slid over the image (an "mlpconv" layer).
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["nin_block", "NiN"]


def nin_block(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0) -> nn.Sequential:
    """An mlpconv block: a k×k convolution then two 1×1 convolutions, each followed by ReLU.

    Shapes: ``(B, in_channels, H, W) -> (B, out_channels, H', W')`` with
    ``H' = (H + 2 * padding - kernel_size) // stride + 1``.
    """
    if min(in_channels, out_channels, kernel_size, stride) < 1:
        raise ValueError("in_channels, out_channels, kernel_size and stride must be positive.")
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, kernel_size=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, kernel_size=1),
        nn.ReLU(inplace=True),
    )


class NiN(nn.Module):
    """The NiN classifier for 224×224 images: no linear layer at all.

    ``features``: four mlpconv blocks (the last one with ``num_classes`` channels) with max
    poolings and dropout, ``(B, 3, 224, 224) -> (B, num_classes, 5, 5)``; ``classifier``: global
    average pooling and flatten, ``-> (B, num_classes)``.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nin_block(in_channels, 96, kernel_size=11, stride=4),
            nn.MaxPool2d(3, stride=2),
            nin_block(96, 256, kernel_size=5, padding=2),
            nn.MaxPool2d(3, stride=2),
            nin_block(256, 384, kernel_size=3, padding=1),
            nn.MaxPool2d(3, stride=2),
            nn.Dropout(dropout),
            nin_block(384, num_classes, kernel_size=3, padding=1),
        )
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))

    def forward(self, x: Tensor) -> Tensor:
        """``(B, in_channels, H, W) -> (B, num_classes)``."""
        return self.classifier(self.features(x))
