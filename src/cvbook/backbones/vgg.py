"""VGG networks (Simonyan & Zisserman, 2014), configurations A–E of the paper's Table 1.

A configuration is a list of layer names in the paper's notation: ``"conv3-64"`` is a 3×3
convolution (padding 1) with 64 output channels followed by ReLU, ``"conv1-256"`` a 1×1
convolution (configuration C only), ``"maxpool"`` a 2×2 max pooling of stride 2.

``features`` maps ``(B, 3, 224, 224) -> (B, 512, 7, 7)``; ``classifier`` is flatten, then
25088 → 4096 → 4096 → ``num_classes`` with ReLU and dropout. Configurations A, B, D, E have
exactly the parameters of ``torchvision.models.vgg11/13/16/19``; torchvision has no C.

============  ======  ===========  ======================
config        depth   torchvision  parameters (1000 cl.)
============  ======  ===========  ======================
A             11      vgg11        132 863 336
B             13      vgg13        133 047 848
C             16      —            133 638 952
D             16      vgg16        138 357 544
E             19      vgg19        143 667 240
============  ======  ===========  ======================
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["CONFIGS", "VGG", "make_features", "vgg"]


def _block(*widths: int | str) -> list[str]:
    """Layer names of one stage: ints are 3×3 convolutions, ``"1-c"`` a 1×1 one, then a max pooling."""
    names = [f"conv3-{w}" if isinstance(w, int) else f"conv{w}" for w in widths]
    return [*names, "maxpool"]


CONFIGS: dict[str, list[str]] = {
    "A": _block(64) + _block(128) + _block(256, 256) + _block(512, 512) + _block(512, 512),
    "B": _block(64, 64) + _block(128, 128) + _block(256, 256) + _block(512, 512) + _block(512, 512),
    "C": _block(64, 64) + _block(128, 128) + _block(256, 256, "1-256") + _block(512, 512, "1-512")
    + _block(512, 512, "1-512"),
    "D": _block(64, 64) + _block(128, 128) + _block(256, 256, 256) + _block(512, 512, 512) + _block(512, 512, 512),
    "E": _block(64, 64) + _block(128, 128) + _block(256, 256, 256, 256) + _block(512, 512, 512, 512)
    + _block(512, 512, 512, 512),
}
"""The five configurations of the VGG paper (A-LRN is A with a normalisation layer, no parameters)."""


def make_features(config: Sequence[str], in_channels: int = 3, batch_norm: bool = False) -> nn.Sequential:
    """The convolutional part of a VGG network from a list of layer names.

    Args:
        config: names ``"conv<k>-<channels>"`` (k×k convolution, "same" padding, then ReLU) and
            ``"maxpool"`` (2×2, stride 2), e.g. ``CONFIGS["D"]``.
        in_channels: channels of the input images.
        batch_norm: insert batch norm after each convolution (torchvision's ``vgg16_bn`` etc.).

    Returns:
        ``nn.Sequential`` mapping ``(B, in_channels, H, W) -> (B, C, H / 2**p, W / 2**p)`` with
        ``p`` the number of poolings.
    """
    layers: list[nn.Module] = []
    channels = in_channels
    for name in config:
        if name == "maxpool":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        kernel, _, width = name.removeprefix("conv").partition("-")
        if not name.startswith("conv") or not kernel.isdigit() or not width.isdigit():
            raise ValueError(f"unknown VGG layer {name!r}; use 'conv<k>-<channels>' (e.g. 'conv3-64') or 'maxpool'.")
        k, width_ = int(kernel), int(width)
        layers.append(nn.Conv2d(channels, width_, kernel_size=k, padding=k // 2))
        if batch_norm:
            layers.append(nn.BatchNorm2d(width_))
        layers.append(nn.ReLU(inplace=True))
        channels = width_
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """A VGG network: ``(B, 3, 224, 224) -> (B, num_classes)`` logits.

    Args:
        config: a key of :data:`CONFIGS` (``"A"`` to ``"E"``) or a list of layer names.
        num_classes: number of output logits.
        batch_norm: batch norm after each convolution.
        dropout: dropout probability after the first two linear layers.
        input_size: side of the (square) training images; the classifier's first layer takes
            ``512 * (input_size / 32) ** 2`` inputs (25 088 for 224).
    """

    def __init__(
        self,
        config: str | Sequence[str] = "D",
        num_classes: int = 1000,
        batch_norm: bool = False,
        dropout: float = 0.5,
        input_size: int = 224,
    ) -> None:
        super().__init__()
        if isinstance(config, str):
            if config not in CONFIGS:
                raise ValueError(f"unknown VGG configuration {config!r}; use one of {', '.join(CONFIGS)}.")
            config = CONFIGS[config]
        n_pool = sum(name == "maxpool" for name in config)
        side = input_size // 2**n_pool
        if side < 1:
            raise ValueError(f"input_size {input_size} is too small for {n_pool} poolings.")
        self.features = make_features(config, batch_norm=batch_norm)
        channels = next(m.out_channels for m in reversed(self.features) if isinstance(m, nn.Conv2d))
        self.classifier = nn.Sequential(
            nn.Flatten(1),
            nn.Linear(channels * side * side, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )
        self._init_weights()

    def _init_weights(self) -> None:
        """As torchvision: He normal for convolutions, N(0, 0.01) for linear layers, zero biases."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, 3, H, W) -> (B, num_classes)``."""
        return self.classifier(self.features(x))


def vgg(config: str = "D", num_classes: int = 1000, batch_norm: bool = False) -> VGG:
    """VGG of configuration ``"A"``–``"E"`` (``"D"`` is VGG-16, ``"E"`` VGG-19)."""
    return VGG(config, num_classes, batch_norm)
