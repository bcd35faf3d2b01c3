"""Inspect networks: per-layer output shapes, parameter counts and multiply-adds.

>>> from cvbook.backbones.lenet import LeNet5
>>> print(summary(LeNet5(), (1, 1, 28, 28)))  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["LayerInfo", "count_parameters", "count_macs", "describe", "layer_shapes", "summary"]


@dataclass(frozen=True)
class LayerInfo:
    """One row of :func:`layer_shapes`: the layer's dotted name, its :func:`describe`, its output
    shape, its own number of parameters, its type's name, and for convolutions and poolings
    its kernel size and stride ``(h, w)`` (None for other layers)."""

    name: str
    layer: str
    output_shape: tuple[int, ...]
    params: int
    kind: str = ""
    kernel: tuple[int, int] | None = None
    stride: tuple[int, int] | None = None


def _pair(v) -> str:
    v = (v, v) if isinstance(v, int) else tuple(v)
    return f"{v[0]}×{v[1]}"


def describe(module: nn.Module) -> str:
    """A short description of a layer: ``Conv2d 3→64 11×11 /4 pad 2``, ``Linear 9216→4096``, ..."""
    kind = type(module).__name__
    if isinstance(module, nn.Conv2d):
        text = f"{kind} {module.in_channels}→{module.out_channels} {_pair(module.kernel_size)}"
        if module.stride != (1, 1):
            text += f" /{module.stride[0]}" if module.stride[0] == module.stride[1] else f" /{_pair(module.stride)}"
        if module.padding not in ((0, 0), "valid"):
            text += f" pad {module.padding[0]}" if isinstance(module.padding, tuple) else f" pad {module.padding}"
        if module.groups > 1:
            text += f" groups {module.groups}"
        return text
    if isinstance(module, nn.Linear):
        return f"{kind} {module.in_features}→{module.out_features}"
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        stride = module.stride if isinstance(module.stride, int) else module.stride[0]
        return f"{kind} {_pair(module.kernel_size)} /{stride}"
    if isinstance(module, nn.Dropout):
        return f"{kind} p={module.p}"
    return kind


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters (weights and biases) of ``model``, shared tensors counted once.

    With ``trainable_only=True``, only those with ``requires_grad=True``: what an optimiser updates.
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _input(model: nn.Module, input_shape: tuple[int, ...]) -> torch.Tensor:
    if len(input_shape) < 2 or any(s < 1 for s in input_shape):
        raise ValueError(f"input_shape must be a full batch shape such as (1, 3, 224, 224), got {input_shape}.")
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None else torch.float32
    return torch.zeros(input_shape, device=device, dtype=dtype)


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulate operations (MACs) of one forward pass on an input of ``input_shape``.

    Counted with ``torch.utils.flop_counter.FlopCounterMode``, which counts matrix products and
    convolutions only (not activations, pooling or normalisation) and counts **2 FLOPs per
    multiply-add**; the result is divided by 2, so it is in the unit of the ResNet paper's
    "FLOPs" column and of torchvision's ``GFLOPS`` metadata. The input is created on the
    model's device: build the model under ``with torch.device("meta"):`` to count a large
    network without allocating or computing anything.

    Args:
        model: the network (its training flag is left as it is).
        input_shape: the full input shape, batch included, e.g. ``(1, 3, 224, 224)``.
    """
    x = _input(model, input_shape)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() // 2


def layer_shapes(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerInfo]:
    """Run ``model`` on zeros of ``input_shape`` and record every leaf layer's output shape.

    Leaf layers are modules without sub-modules (convolutions, activations, poolings, ...), in
    the order they run. Works on the ``meta`` device too: build the model under
    ``with torch.device("meta"):`` and nothing is allocated or computed.
    """
    names = {m: n for n, m in model.named_modules()}
    rows: list[LayerInfo] = []

    def pair(v) -> tuple[int, int] | None:
        return None if v is None else ((v, v) if isinstance(v, int) else (int(v[0]), int(v[1])))

    def hook(module: nn.Module, _inputs, output) -> None:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else ()
        rows.append(LayerInfo(names[module], describe(module), shape, count_parameters(module),
                              type(module).__name__, pair(getattr(module, "kernel_size", None)),
                              pair(getattr(module, "stride", None))))

    handles = [m.register_forward_hook(hook) for m in model.modules() if next(m.children(), None) is None]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(_input(model, input_shape))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return rows


def summary(model: nn.Module, input_shape: tuple[int, ...]) -> str:
    """A table of :func:`layer_shapes`: name, layer, output shape and parameters, with a total."""
    rows = layer_shapes(model, input_shape)
    table = [("layer", "module", "output shape", "params")]
    table += [(r.name, r.layer, "×".join(map(str, r.output_shape[1:])), f"{r.params:,}") for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in table]
    lines.insert(1, "-" * len(lines[0]))
    lines.append(f"input {'×'.join(map(str, input_shape[1:]))}, total parameters {count_parameters(model):,}")
    return "\n".join(lines)
