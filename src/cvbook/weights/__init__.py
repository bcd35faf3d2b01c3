"""Small pretrained weights shipped with the package, checked by SHA-256 when loaded.

The quick profile cannot download ImageNet weights, so the project pretrains its own
backbone on an offline *source* task and ships the result (a few hundred kB):

- ``shapes5_resnet8``: :func:`cvbook.backbones.resnet.resnet_small` with widths ``(16, 32, 64)``
  trained to classify 32×32 images of the first five shapes of
  :data:`cvbook.data.SHAPE_NAMES` (circle, square, triangle, diamond, plus). The book's
  transfer-learning chapter reuses it on the *other* five shapes. ``scripts/pretrain_backbone.py``
  reproduces the file.

>>> from cvbook import weights
>>> model = weights.pretrained("shapes5_resnet8")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import torch
from torch import nn

__all__ = ["WeightsInfo", "WEIGHTS", "sha256", "load_state_dict", "pretrained", "WeightsChecksumError"]


class WeightsChecksumError(RuntimeError):
    """The bytes of a weights file do not have the SHA-256 recorded in :data:`WEIGHTS`."""


@dataclass(frozen=True)
class WeightsInfo:
    """A shipped weights file: its name in this package, its SHA-256, how to build the model.

    ``arch`` holds the keyword arguments of :func:`cvbook.backbones.resnet.resnet_small`;
    ``classes`` the class names of the source task, in label order.
    """

    filename: str
    sha256: str
    arch: dict[str, Any] = field(default_factory=dict)
    classes: tuple[str, ...] = ()
    description: str = ""


WEIGHTS: dict[str, WeightsInfo] = {
    "shapes5_resnet8": WeightsInfo(
        filename="shapes5_resnet8.pt",
        sha256="61a9d0e46257b19337c00d0e47ef32aca61c88970f3a9e94b26bf06cb76389b0",
        arch={"num_classes": 5, "widths": (16, 32, 64), "blocks": (1, 1, 1)},
        classes=("circle", "square", "triangle", "diamond", "plus"),
        description="ResNet-8 (16/32/64) pretrained on shapes 0-4, 32×32 RGB in [0, 1], "
                    "by scripts/pretrain_backbone.py",
    ),
}


def _info(name: str) -> WeightsInfo:
    try:
        return WEIGHTS[name]
    except KeyError:
        raise ValueError(f"no shipped weights named {name!r}; available: {', '.join(sorted(WEIGHTS))}") from None


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def load_state_dict(name: str) -> dict[str, torch.Tensor]:
    """The state dict of the shipped weights ``name``, after checking the file's SHA-256.

    Raises:
        ValueError: for an unknown name.
        WeightsChecksumError: when the file's bytes are not the recorded ones (a corrupted
            or regenerated file: rerun ``scripts/pretrain_backbone.py`` and update the hash).
    """
    info = _info(name)
    data = resources.files(__name__).joinpath(info.filename).read_bytes()
    digest = sha256(data)
    if digest != info.sha256:
        raise WeightsChecksumError(f"{info.filename} has SHA-256 {digest}, expected {info.sha256}: the file "
                                   "is corrupted or was regenerated; reinstall cvbook or update WEIGHTS.")
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def pretrained(name: str = "shapes5_resnet8") -> nn.Module:
    """The model of :data:`WEIGHTS` ``[name]`` with its checked weights loaded, in eval mode."""
    from ..backbones.resnet import resnet_small

    info = _info(name)
    model = resnet_small(**info.arch)
    model.load_state_dict(load_state_dict(name))
    return model.eval()
