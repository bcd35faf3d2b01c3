"""AlexNet (Krizhevsky et al., 2012), single-tower version as in torchvision and the lecture.

``features``: five convolutions (11×11 stride 4, 5×5, then three 3×3) with ReLU and three
3×3/stride-2 max poolings, ``(B, 3, 224, 224) -> (B, 256, 6, 6)``; ``classifier``: flatten,
then dropout, 9216 → 4096, ReLU, dropout, 4096 → 4096, ReLU, 4096 → ``num_classes``.
61 100 840 parameters for 1000 classes, the same as ``torchvision.models.alexnet``.

Unlike torchvision there is no adaptive pooling between the two parts (at 224×224 torchvision's
``AdaptiveAvgPool2d((6, 6))`` is the identity), so that the network is exactly the lecture's and
:func:`cvbook.convolutionize.convolutionize` can turn it into a fully convolutional one.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["AlexNet"]


class AlexNet(nn.Module):
    """AlexNet: ``(B, 3, 224, 224) -> (B, num_classes)`` logits.

    Args:
        num_classes: number of output logits.
        dropout: dropout probability before the first two linear layers.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(1),
            nn.Dropout(dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        """``(B, 3, H, W) -> (B, num_classes)``; ``H, W`` must give a 6×6 feature map (e.g. 224)."""
        features = self.features(x)
        if features.shape[-2:] != (6, 6):
            raise ValueError(
                f"AlexNet's classifier needs a 6×6 feature map, input {tuple(x.shape)} gives "
                f"{tuple(features.shape[-2:])}; use 224×224 inputs or convolutionize the network."
            )
        return self.classifier(features)
