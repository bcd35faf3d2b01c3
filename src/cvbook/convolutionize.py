"""Fully convolutional networks: "convolutionize" a classifier and evaluate it densely.

A linear layer that reads a ``(C, h, w)`` feature map (flattened) is a convolution with a
``h × w`` kernel and no padding: on a ``(C, h, w)`` input the two give the same numbers, and on a
larger input the convolution slides, giving one prediction per window position. Linear layers
that follow become 1×1 convolutions (a perceptron applied at every location).

- :func:`linear_to_conv`: one ``nn.Linear`` as an ``nn.Conv2d`` with the same weights.
- :func:`convolutionize`: a whole classifier as an ``nn.Sequential`` of convolutional layers
  whose output is a map of logits ``(B, num_classes, H', W')``.
- :func:`shift_and_stitch`: OverFeat's dense evaluation: apply the last max pooling at every
  offset and interleave the results, which gives the output the network would produce at every
  input shift, at the resolution of the layer before that pooling.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["linear_to_conv", "sequential_layers", "convolutionize", "shift_and_stitch"]


def linear_to_conv(linear: nn.Linear, in_shape: Sequence[int] | None = None) -> nn.Conv2d:
    """The convolution that computes ``linear`` on a flattened ``(C, h, w)`` map, weights copied.

    Args:
        linear: a layer with ``in_features == C * h * w``.
        in_shape: ``(C, h, w)``, the shape of the map that ``linear`` reads once flattened
            (row-major, as ``nn.Flatten``); ``None`` for ``(in_features, 1, 1)``, i.e. a 1×1
            convolution applying ``linear`` at every location.

    Returns:
        ``nn.Conv2d(C, out_features, kernel_size=(h, w))``: ``(B, C, H, W) -> (B, out_features,
        H - h + 1, W - w + 1)``; on ``(B, C, h, w)`` its output flattened equals ``linear``'s.
    """
    c, h, w = (linear.in_features, 1, 1) if in_shape is None else tuple(in_shape)
    if c * h * w != linear.in_features:
        raise ValueError(
            f"in_shape {tuple(in_shape)} has {c * h * w} values but the linear layer reads "
            f"{linear.in_features}; pass the (C, h, w) shape of the map it is applied to."
        )
    # Built on the meta device (no random initialisation to pay for), then given real storage.
    conv = nn.Conv2d(c, linear.out_features, kernel_size=(h, w), bias=linear.bias is not None, device="meta")
    conv = conv.to_empty(device=linear.weight.device).to(dtype=linear.weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(linear.weight.view(linear.out_features, c, h, w))
        if linear.bias is not None:
            conv.bias.copy_(linear.bias)
    return conv


def sequential_layers(model: nn.Module) -> list[nn.Module]:
    """The layers of ``model`` in the order its forward is assumed to run them.

    ``nn.Sequential`` containers are opened recursively; the top-level model's own children are
    listed in registration order (``features`` then ``classifier``, or torchvision's
    ``conv1, bn1, ..., fc``); any other module with sub-modules (a residual block, an
    Inception module) is kept whole. This is the "strong and disputable" assumption that the
    network is a plain chain of its children: :func:`convolutionize` checks it numerically.
    """

    def expand(module: nn.Module) -> list[nn.Module]:
        if isinstance(module, nn.Sequential):
            return [layer for child in module for layer in expand(child)]
        return [module]

    if isinstance(model, nn.Sequential):
        return expand(model)
    children = list(model.children())
    return [layer for child in children for layer in expand(child)] if children else [model]


def convolutionize(model: nn.Module, input_size: Sequence[int], check: bool = True) -> nn.Sequential:
    """Turn a classifier into a fully convolutional network with the same weights.

    The layers of :func:`sequential_layers` are walked on a zero input of ``input_size``:

    - each ``nn.Linear`` becomes the ``nn.Conv2d`` of :func:`linear_to_conv` for the map it reads
      (a ``h × w`` kernel for the first one, then 1×1);
    - ``nn.Flatten`` is dropped (the convolutions read the map directly);
    - an adaptive pooling that is the identity at ``input_size`` (torchvision AlexNet's and VGG's
      ``AdaptiveAvgPool2d(7)``) is dropped; a *global* one (ResNet's ``AdaptiveAvgPool2d(1)``)
      becomes an average (or max) pooling with the training window ``h × w`` and stride 1;
    - every other layer is copied as it is.

    Args:
        model: a classifier ``(B, C, H, W) -> (B, num_classes)`` that runs its children in order.
        input_size: ``(C, H, W)`` of the training images, e.g. ``(3, 224, 224)``.
        check: compare the two networks on a random input of ``input_size`` (in eval mode) and
            raise ``ValueError`` if they differ, i.e. if ``model`` is not a chain of its children
            (skipped on the ``meta`` device, where there are no values to compare).

    Returns:
        ``nn.Sequential`` mapping ``(B, C, H, W)`` to a map of logits ``(B, num_classes, H', W')``,
        with ``H' = W' = 1`` (and the same logits as ``model``) at ``input_size``; in the same
        training mode as ``model`` (call ``.eval()`` to switch dropout off).
    """
    if len(input_size) != 3 or min(input_size) < 1:
        raise ValueError(f"input_size must be (C, H, W) of the training images, got {tuple(input_size)}.")
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    x = torch.zeros(1, *input_size, device=device)
    layers: list[nn.Module] = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for layer in sequential_layers(model):
                if isinstance(layer, nn.Flatten):
                    continue
                if isinstance(layer, nn.Linear):
                    if x.ndim != 4:
                        raise ValueError(f"a Linear layer reads a tensor of shape {tuple(x.shape)}, not a feature map.")
                    new: nn.Module = linear_to_conv(layer, x.shape[1:])
                elif isinstance(layer, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
                    size = layer.output_size
                    out = (size, size) if isinstance(size, int) or size is None else tuple(size)
                    out = tuple(s if o is None else o for o, s in zip(out, x.shape[-2:]))
                    if out == tuple(x.shape[-2:]):
                        continue
                    if out != (1, 1):
                        raise ValueError(
                            f"cannot convolutionize {layer} on a {tuple(x.shape[-2:])} map: only identity or global "
                            "adaptive poolings are supported; change input_size so that it is the identity."
                        )
                    pool = nn.AvgPool2d if isinstance(layer, nn.AdaptiveAvgPool2d) else nn.MaxPool2d
                    new = pool(kernel_size=tuple(x.shape[-2:]), stride=1)
                else:
                    new = copy.deepcopy(layer)
                layers.append(new)
                x = new(x)
        fcn = nn.Sequential(*layers).eval()
        if check and device.type != "meta":
            # A private generator: the check leaves the global random state untouched.
            generator = torch.Generator(device=device).manual_seed(0)
            probe = torch.randn(2, *input_size, device=device, generator=generator)
            with torch.no_grad():
                expected, got = model(probe), fcn(probe)
            if got.shape[-2:] != (1, 1) or not torch.allclose(got.flatten(1), expected, rtol=1e-4, atol=1e-5):
                raise ValueError(
                    "the convolutionized network does not reproduce the model: its forward is not the chain "
                    "of its children (see sequential_layers); build the layer list by hand."
                )
    finally:
        model.train(was_training)
    fcn.train(was_training)
    return fcn


def shift_and_stitch(trunk: nn.Module, pool: int, head: nn.Module, x: Tensor) -> Tensor:
    """OverFeat's dense evaluation of ``head(max_pool(trunk(x), pool))``.

    The network's last max pooling (``pool × pool``, stride ``pool``) throws away all but one
    position in ``pool`` along each axis. Applying it at every offset ``(dy, dx)`` in
    ``{0, …, pool-1}²``, running the (fully convolutional) ``head`` on each of the ``pool²``
    results, and interleaving them gives a map with ``pool`` times the resolution: the outputs
    the whole network would give on the input shifted by ``(dy, dx)`` steps of the trunk's
    stride. The ``pool²`` offsets are run as one batch.

    Args:
        trunk: the layers before the last pooling, ``(B, C_in, H, W) -> (B, C, h, w)``.
        pool: kernel size and stride of the last max pooling.
        head: the fully convolutional layers after it, ``(B, C, h', w') -> (B, K, h'', w'')``.
        x: input images ``(B, C_in, H, W)``.

    Returns:
        ``(B, K, pool * n_y, pool * n_x)``: entry ``[..., i * pool + dy, j * pool + dx]`` is
        ``head(max_pool(f[..., dy:, dx:]))[..., i, j]`` with ``f = trunk(x)``; every offset is cropped
        to the ``n_y × n_x`` outputs they all have.
    """
    if not isinstance(pool, int) or pool < 1:
        raise ValueError(f"pool must be a positive integer (the kernel and stride of the max pooling), got {pool!r}.")
    f = trunk(x)
    b, c, h, w = f.shape
    ny, nx = (h - pool + 1) // pool, (w - pool + 1) // pool
    if ny < 1 or nx < 1:
        raise ValueError(f"the trunk's {h}×{w} output is too small for shift-and-stitch with pool {pool}.")
    crops = torch.stack(
        [f[..., dy : dy + ny * pool, dx : dx + nx * pool] for dy in range(pool) for dx in range(pool)]
    )  # (pool², B, C, ny*pool, nx*pool)
    out = head(F.max_pool2d(crops.flatten(0, 1), pool))  # (pool² B, K, oy, ox)
    k, oy, ox = out.shape[-3:]
    out = out.view(pool, pool, b, k, oy, ox)  # (dy, dx, B, K, i, j)
    return out.permute(2, 3, 4, 0, 5, 1).reshape(b, k, oy * pool, ox * pool)
