"""Transfer learning: freezing, counting, checking, and the "neuro-surgery" network.

A network trained on one task is a reusable asset: its early layers compute generic features
(edges, colour blobs, textures) that other tasks need too. Three ways to use it:

- **fixed feature extractor**: :func:`freeze` the backbone, train only a new head;
- **fine-tuning**: start from the pretrained weights and train everything (or the top layers);
- **from scratch**: the baseline, random initialisation.

:func:`cvbook.backbones.summary.count_parameters` shows what an optimiser will touch, :func:`snapshot` and
:func:`changed_parameters` prove that frozen weights did not move, and :func:`unfreeze_after`
is an ``on_epoch_end`` callback for :func:`cvbook.train.fit` that releases frozen layers
halfway through training. :class:`SurgeryNet` grafts a borrowed first layer (AlexNet's
``conv1``, say) onto new residual blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor, nn

from cvbook.backbones.resnet import BasicBlock
from cvbook.backbones.summary import count_parameters

__all__ = [
    "freeze",
    "unfreeze",
    "snapshot",
    "changed_parameters",
    "unfreeze_after",
    "SurgeryNet",
]


def _modules(modules: nn.Module | Iterable[nn.Module]) -> list[nn.Module]:
    items = [modules] if isinstance(modules, nn.Module) else list(modules)
    bad = [type(m).__name__ for m in items if not isinstance(m, nn.Module)]
    if bad:
        raise ValueError(f"expected nn.Module(s), got {', '.join(bad)}.")
    return items


def freeze(modules: nn.Module | Iterable[nn.Module]) -> None:
    """Set ``requires_grad=False`` on every parameter of ``modules``.

    Frozen parameters get no gradient (``.grad`` stays ``None``), so optimisers, weight decay
    included, leave them alone. Batch-norm *buffers* (running mean and variance) still update
    in training mode; keep such layers in ``eval()`` mode too if they must not change.
    """
    for module in _modules(modules):
        module.requires_grad_(False)


def unfreeze(modules: nn.Module | Iterable[nn.Module]) -> None:
    """Set ``requires_grad=True`` on every parameter of ``modules``."""
    for module in _modules(modules):
        module.requires_grad_(True)


def snapshot(model: nn.Module) -> dict[str, Tensor]:
    """Detached copies of the parameters of ``model``, by name (for :func:`changed_parameters`)."""
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def changed_parameters(model: nn.Module, before: dict[str, Tensor]) -> list[str]:
    """Names of the parameters of ``model`` that differ (even in one bit) from ``before``.

    Comparison is exact (``torch.equal``). Raises ``ValueError`` when the names do not match
    (a snapshot of another model).
    """
    now = dict(model.named_parameters())
    if now.keys() != before.keys():
        missing, extra = before.keys() - now.keys(), now.keys() - before.keys()
        raise ValueError(f"the snapshot is of another model: missing {sorted(missing)[:3]}, "
                         f"unexpected {sorted(extra)[:3]}; take it with snapshot(model).")
    return [name for name, p in now.items() if not torch.equal(p.detach().cpu(), before[name].cpu())]


def unfreeze_after(epoch: int, modules: Callable[[nn.Module], nn.Module | Iterable[nn.Module]],
                   log: Callable[[str], None] | None = print) -> Callable[[int, nn.Module], None]:
    """An ``on_epoch_end`` callback for :func:`cvbook.train.fit` that unfreezes at ``epoch``.

    Args:
        epoch: after this (1-based) period of ``fit`` (an epoch; with ``steps=``, every
            ``eval_every`` steps) the modules become trainable.
        modules: ``modules(model)`` returns the module(s) to unfreeze, e.g.
            ``lambda m: m.stem``.
        log: called with one line when it unfreezes (``None``: silent).

    The optimiser must have been built over *all* parameters (frozen ones included), as
    ``fit``'s default ``AdamW(model.parameters())`` is; it skips them while their ``.grad`` is
    ``None`` and updates them once they get gradients.
    """
    if not isinstance(epoch, int) or epoch < 1:
        raise ValueError(f"epoch must be a positive integer, got {epoch!r}.")

    def callback(current: int, model: nn.Module) -> None:
        if current == epoch:
            unfreeze(modules(model))
            if log is not None:
                log(f"end of period {current}: unfrozen, now {count_parameters(model, trainable_only=True):,} "
                    "trainable parameters")

    return callback


class SurgeryNet(nn.Module):
    """A borrowed first layer, new residual blocks in a ``ModuleList``, pooling and a linear layer.

    ``stem`` is the pretrained layer (e.g. AlexNet's first convolution, 3 → 64 channels,
    11×11, stride 4); it is followed by batch norm and a ReLU, then one :class:`~cvbook.backbones.resnet.BasicBlock`
    per entry of ``widths`` (stride 2 from the second block on), global average pooling and
    ``Linear(widths[-1], num_classes)``.

    Shapes: ``(B, 3, H, W) -> (B, num_classes)``.

    Args:
        stem: the borrowed layer; a ``nn.Conv2d`` (or any module with ``out_channels``).
        num_classes: number of logits.
        widths: output channels of the residual blocks.
        freeze_stem: start with the stem frozen (``requires_grad=False``).
    """

    def __init__(self, stem: nn.Module, num_classes: int, widths: Sequence[int] = (64, 128),
                 freeze_stem: bool = True) -> None:
        super().__init__()
        channels = getattr(stem, "out_channels", None)
        if not isinstance(channels, int):
            raise ValueError("stem must have an integer attribute out_channels (a Conv2d does); "
                             f"got {type(stem).__name__}.")
        widths = list(widths)
        if not widths or any(not isinstance(w, int) or w < 1 for w in widths):
            raise ValueError(f"widths must be a non-empty sequence of positive integers, got {widths!r}.")
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}.")
        self.stem = stem
        self.norm = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.blocks = nn.ModuleList()
        for i, width in enumerate(widths):
            self.blocks.append(BasicBlock(channels, width, stride=1 if i == 0 else 2))
            channels = width
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        if freeze_stem:
            freeze(self.stem)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, 3, H, W) -> (B, num_classes)`` logits."""
        x = self.norm(self.stem(x))
        for block in self.blocks:
            x = block(x)
        return self.fc(self.pool(x).flatten(1))
