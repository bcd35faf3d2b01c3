"""LeNet-5 (LeCun et al., 1998) in the form of the lecture: 1×28×28 grey images, 10 classes.

``features``: two 5×5 convolutions (no padding), each followed by ReLU and 2×2 max pooling,
``(B, 1, 28, 28) -> (B, 16, 4, 4)``; ``classifier``: flatten then three linear layers
256 → 120 → 84 → ``num_classes``. 44 426 parameters for 10 classes.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["LeNet5"]


class LeNet5(nn.Module):
    """LeNet-5 for 28×28 images: ``(B, in_channels, 28, 28) -> (B, num_classes)`` logits.

    Args:
        num_classes: number of output logits.
        in_channels: channels of the input (1 for grey digits).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        if num_classes < 1 or in_channels < 1:
            raise ValueError(f"num_classes and in_channels must be positive, got {num_classes}, {in_channels}.")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(1),
            nn.Linear(16 * 4 * 4, 120),
            nn.ReLU(inplace=True),
            nn.Linear(120, 84),
            nn.ReLU(inplace=True),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        """``(B, in_channels, 28, 28) -> (B, num_classes)`` logits."""
        if x.ndim != 4 or x.shape[-2:] != (28, 28):
            raise ValueError(f"LeNet5 expects (B, C, 28, 28) images, got shape {tuple(x.shape)}; resize or pad to 28×28.")
        return self.classifier(self.features(x))
