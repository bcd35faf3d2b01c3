"""Neural style transfer (Gatys, Ecker & Bethge, 2015): optimise the pixels of an image so that
its deep features match a *content* image and its feature correlations (Gram matrices) match a
*style* image.

- :func:`gram_matrix`: ``G[c, c'] = Σ_{h,w} F[c,h,w] F[c',h,w] / (C·H·W)``;
- :func:`content_loss`, :func:`style_loss`, :func:`total_variation`: the three terms;
- :func:`vgg_layer_names`: Keras's VGG layer names (``block5_conv2``...) for the ReLU outputs of
  a torchvision-style ``features`` sequential; :class:`FeatureExtractor` returns them by name;
- :func:`vgg19_features`: torchvision's VGG-19 with ImageNet weights (full profile), or the same
  architecture at a fraction of its width with random He weights (quick profile: random
  multi-scale convolutional features still capture texture statistics, see the chapter);
- :class:`RandomMultiScaleFeatures`: one layer of random filters applied to an image pyramid
  (Ustyuzhaninov et al., 2017; He, Wang & Hopcroft, 2016), the quick profile's network: wide
  and multi-scale, it carries textures far better than a narrow random VGG, with no training;
- :class:`PixelImage` and :func:`stylize`: the image as the only parameter of a module, trained
  by :func:`cvbook.train.fit` (Adam) on a loader that yields one dummy batch, or by L-BFGS
  (:mod:`cvbook.generative.style_lbfgs`, Gatys et al.'s optimiser).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvbook._checks import check_image_batch, check_positive_int, check_real

__all__ = ["CONTENT_LAYERS", "STYLE_LAYERS", "IMAGENET_MEAN", "IMAGENET_STD", "gram_matrix", "content_loss",
           "style_loss", "total_variation", "vgg_layer_names", "vgg19_features", "FeatureExtractor", "RandomMultiScaleFeatures", "PixelImage",
           "style_transfer_step", "stylize"]

#: The lecture's layers (Keras names of VGG-19's ReLU outputs).
CONTENT_LAYERS: tuple[str, ...] = ("block5_conv2",)
STYLE_LAYERS: tuple[str, ...] = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def gram_matrix(features: Tensor) -> Tensor:
    """Channel correlations of feature maps, divided by ``C·H·W``.

    Computed in float32 whatever the input's dtype (a sum over ``H·W`` products overflows
    float16 on large maps). Shape: ``(B, C, H, W) -> (B, C, C)``.
    """
    check_image_batch(features, "features")
    b, c, h, w = features.shape
    flat = features.float().reshape(b, c, h * w)
    with torch.autocast(flat.device.type, enabled=False):
        return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def content_loss(features: Tensor, target: Tensor) -> Tensor:
    """Mean squared difference of two feature maps ``(B, C, H, W)``: a scalar."""
    if features.shape != target.shape:
        raise ValueError(f"features {tuple(features.shape)} and target {tuple(target.shape)} must have one shape; "
                         "compute both with the same layer on images of the same size.")
    return F.mse_loss(features.float(), target.float())


def style_loss(features: Mapping[str, Tensor], target_grams: Mapping[str, Tensor],
               weights: Mapping[str, float] | None = None) -> Tensor:
    """Weighted mean over layers of the mean squared difference of Gram matrices: a scalar.

    ``features[name]`` is ``(B, C, H, W)``, ``target_grams[name]`` ``(1 or B, C, C)``; each layer's
    term is ``mean((G − A)²)``, weighted by ``weights[name]`` (default 1) and divided by the sum of
    the weights.
    """
    missing = set(target_grams) - set(features)
    if missing or not target_grams:
        raise ValueError(f"no features for the style layers {sorted(missing)}; ask the extractor for them."
                         if missing else "target_grams is empty: give at least one style layer.")
    weights = dict(weights or {})
    total = sum(weights.get(name, 1.0) for name in target_grams)
    loss = sum(weights.get(name, 1.0) * F.mse_loss(gram_matrix(features[name]), target.float().expand(
        features[name].shape[0], -1, -1)) for name, target in target_grams.items())
    return loss / total


def total_variation(images: Tensor) -> Tensor:
    """Mean absolute difference between neighbouring pixels, per image.

    ``mean |x[h, w+1] − x[h, w]| + mean |x[h+1, w] − x[h, w]|`` over channels and positions.
    Shape: ``(B, C, H, W) -> (B,)``.
    """
    check_image_batch(images, "images")
    dx = (images[..., :, 1:] - images[..., :, :-1]).abs().flatten(1).mean(dim=1)
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().flatten(1).mean(dim=1)
    return dx + dy


def vgg_layer_names(features: nn.Sequential) -> dict[str, int]:
    """Keras's names of a VGG ``features`` sequential's ReLU outputs, mapped to their indices.

    Keras's ``block{b}_conv{c}`` is the ``c``-th convolution (with its ReLU) after ``b − 1``
    poolings; its output is the ReLU's, at index ``conv + 1`` in torchvision's sequential
    (``conv + 2`` with batch norm). Example: VGG-19's ``block5_conv2`` is ``features[30]``.
    """
    names: dict[str, int] = {}
    block, conv = 1, 0
    for i, layer in enumerate(features):
        if isinstance(layer, nn.MaxPool2d):
            block, conv = block + 1, 0
        elif isinstance(layer, nn.Conv2d):
            conv += 1
        elif isinstance(layer, nn.ReLU):
            names[f"block{block}_conv{conv}"] = i
    return names


def vgg19_features(weights: str | None = None, width: float = 1.0, seed: int = 0) -> nn.Sequential:
    """VGG-19's convolutional part with torchvision's layer indices.

    ``weights="DEFAULT"``: torchvision's ImageNet weights (``VGG19_Weights.DEFAULT``, downloaded
    once). ``weights=None``:
    random He-normal weights (as torchvision initialises VGG, seeded by ``seed``), with every
    layer ``width`` times as wide (``width=0.25``: 16, 32, 64, 128, 128 channels), which keeps
    the layer indices of :func:`vgg_layer_names`.
    """
    from torchvision.models import vgg19

    check_real(width, "width", low=1 / 64, high=1.0)
    if weights is not None:
        if width != 1.0:
            raise ValueError("pretrained weights exist only for the full width: pass width=1.0")
        return vgg19(weights=weights).features
    from cvbook.backbones.vgg import CONFIGS, make_features

    config = [name if name == "maxpool" else f"conv3-{max(1, round(int(name.split('-')[1]) * width))}"
              for name in CONFIGS["E"]]
    features = make_features(config)
    generator = torch.Generator().manual_seed(seed)
    for layer in features:
        if isinstance(layer, nn.Conv2d):
            std = math.sqrt(2.0 / (layer.out_channels * 9))  # kaiming_normal_, mode="fan_out"
            with torch.no_grad():
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * std)
                layer.bias.zero_()
    return features


class FeatureExtractor(nn.Module):
    """Named activations of a frozen VGG-style ``features`` sequential.

    ``forward``: images ``(B, 3, H, W)`` in ``[0, 1]`` (normalised with ImageNet's mean and std
    inside) ``-> {name: (B, C, H', W')}`` for the requested Keras layer names; the network
    runs only as deep as the deepest requested layer.
    """

    def __init__(self, features: nn.Sequential, layers: Sequence[str]) -> None:
        super().__init__()
        available = vgg_layer_names(features)
        unknown = [name for name in layers if name not in available]
        if unknown or not layers:
            raise ValueError(f"unknown layers {unknown}; this network has {', '.join(available)}")
        self.index = {name: available[name] for name in layers}
        self.features = features[: max(self.index.values()) + 1].eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        check_image_batch(images, "images", channels=3)
        wanted = {i: name for name, i in self.index.items()}
        out: dict[str, Tensor] = {}
        x = (images - self.mean) / self.std
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in wanted:
                out[wanted[i]] = x
        return out

    def train(self, mode: bool = True) -> "FeatureExtractor":
        """Stay in evaluation mode whatever ``mode`` says; returns ``self``."""
        return super().train(False)  # always in eval mode: it is a fixed measuring instrument


class RandomMultiScaleFeatures(nn.Module):
    """One layer of random filters on an image pyramid: ``{f"down{2**s}": ReLU(conv_s(x_s))}``.

    ``x_0`` is the image normalised with ImageNet's mean and std, ``x_{s+1}`` is ``x_s`` averaged
    over 2×2 blocks, and each scale has its own ``channels`` random ``kernel_size``-square filters
    (Gaussian, variance ``1 / fan_in``, zero bias, reflect padding, seeded by ``seed``), so that
    the ``scales`` maps see patches of ``k, 2k, 4k, ...`` pixels of the image: the several filter
    sizes of Ustyuzhaninov et al. at a fraction of the cost. Nothing is trained.

    ``forward``: images ``(B, 3, H, W)`` in ``[0, 1]`` ``-> {"down1": (B, channels, H, W),
    "down2": (B, channels, H/2, W/2), ...}`` (floor division); ``layer_names`` lists the keys.
    """

    def __init__(self, channels: int = 64, kernel_size: int = 5, scales: int = 4, seed: int = 0) -> None:
        super().__init__()
        check_positive_int(channels, "channels")
        check_positive_int(scales, "scales")
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be an odd positive int (the filter has a centre), got {kernel_size!r}")
        self.kernel_size = kernel_size
        self.layer_names = tuple(f"down{2 ** s}" for s in range(scales))
        generator = torch.Generator().manual_seed(seed)
        self.convs = nn.ModuleList()
        for _ in range(scales):
            conv = nn.Conv2d(3, channels, kernel_size, padding=kernel_size // 2, padding_mode="reflect")
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) / math.sqrt(3 * kernel_size ** 2))
                conv.bias.zero_()
            self.convs.append(conv)
        self.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        check_image_batch(images, "images", channels=3)
        coarsest = min(images.shape[-2:]) // 2 ** (len(self.convs) - 1)
        if coarsest <= self.kernel_size // 2:
            raise ValueError(f"images of {tuple(images.shape[-2:])} pixels are too small for {len(self.convs)} "
                             f"scales of {self.kernel_size}x{self.kernel_size} filters; use larger images or fewer "
                             "scales.")
        x = (images - self.mean) / self.std
        out: dict[str, Tensor] = {}
        for name, conv in zip(self.layer_names, self.convs):
            out[name] = F.relu(conv(x))
            x = F.avg_pool2d(x, 2)
        return out

    def train(self, mode: bool = True) -> "RandomMultiScaleFeatures":
        """Stay in evaluation mode whatever ``mode`` says; returns ``self``."""
        return super().train(False)


class PixelImage(nn.Module):
    """An image as the only parameter: ``forward() -> sigmoid(logits)``, ``(1, 3, H, W)`` in ``(0, 1)``.

    The sigmoid keeps every pixel a valid intensity while the optimiser moves freely.
    """

    def __init__(self, init: Tensor) -> None:
        super().__init__()
        check_image_batch(init, "init", channels=3)
        self.logits = nn.Parameter(torch.logit(init.detach().float().clamp(1e-3, 1 - 1e-3)))

    def forward(self, batch: Any = None) -> Tensor:
        return torch.sigmoid(self.logits)


def style_transfer_step(extractor: nn.Module, content: Tensor, style: Tensor,
                        content_layers: Sequence[str] = CONTENT_LAYERS,
                        style_layers: Sequence[str] = STYLE_LAYERS):
    """The step of :func:`cvbook.train.fit` for a :class:`PixelImage`: ``{"content", "style", "tv"}``.

    ``extractor`` maps images ``(1, 3, H, W)`` to ``{name: (1, C, H', W')}``: a :class:`FeatureExtractor`
    or :class:`RandomMultiScaleFeatures`. The targets (content features, style Gram matrices) are
    computed once here. Weight the
    terms with ``fit(..., loss_weights={"style": ..., "tv": ...})``.
    """
    with torch.no_grad():
        content_targets = {k: v for k, v in extractor(content).items() if k in content_layers}
        style_targets = {k: gram_matrix(v) for k, v in extractor(style).items() if k in style_layers}

    def step(model: PixelImage, batch: Any) -> dict[str, Tensor]:
        image = model()
        features = extractor(image)
        return {
            "content": sum(content_loss(features[k], t) for k, t in content_targets.items()) / len(content_targets),
            "style": style_loss(features, style_targets),
            "tv": total_variation(image).mean(),
        }

    return step


def stylize(content: Tensor, style: Tensor, extractor: nn.Module, *, steps: int = 200, lr: float = 0.05,
            style_weight: float = 1e3, tv_weight: float = 1e-2, content_layers: Sequence[str] = CONTENT_LAYERS,
            style_layers: Sequence[str] = STYLE_LAYERS, init: Tensor | None = None, device=None,
            optimizer: str = "adam"):
    """Gatys et al.'s optimisation: returns ``(image (1, 3, H, W), history)``.

    Minimises ``content + style_weight · style + tv_weight · tv`` over the pixels of an image
    started from ``init`` (default: the content image). ``optimizer="adam"``: Adam with learning
    rate ``lr`` for ``steps`` steps of :func:`cvbook.train.fit` (full precision: no autocast);
    ``optimizer="lbfgs"``: at most ``steps`` iterations of L-BFGS, as Gatys et al.
    (:func:`cvbook.generative.style_lbfgs.lbfgs_pixels`; ``lr`` is not used, the line search
    sets the step), with ``history.steps`` listing the losses at every evaluation.
    """
    if optimizer not in ("adam", "lbfgs"):
        raise ValueError(f"optimizer={optimizer!r}: choose 'adam' (through fit) or 'lbfgs' (Gatys et al.'s)")
    from cvbook import profile
    from cvbook.train import QUIET, fit

    check_image_batch(content, "content", channels=3)
    check_image_batch(style, "style", channels=3)
    check_positive_int(steps, "steps")
    device = torch.device(device) if device is not None else profile.device()
    extractor = extractor.to(device)
    step = style_transfer_step(extractor, content.to(device), style.to(device), content_layers, style_layers)
    weights = {"content": 1.0, "style": style_weight, "tv": tv_weight}
    model = PixelImage((content if init is None else init).to(device))
    if optimizer == "lbfgs":
        from cvbook.generative.style_lbfgs import lbfgs_pixels

        return lbfgs_pixels(step, model, loss_weights=weights, iterations=steps, device=device)
    history = fit(model, [torch.zeros(1)], steps=steps, step=step, optimizer=torch.optim.Adam(model.parameters(), lr=lr),
                  loss_weights=weights, eval_every=steps,
                  device=device, amp=False, report=QUIET)
    return model().detach().cpu(), history
