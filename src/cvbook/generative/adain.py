"""Adaptive instance normalisation (Huang & Belongie, 2017): style as per-channel mean and std.

- :func:`channel_stats`: the mean and standard deviation of every channel of a feature map,
  over its positions;
- :func:`adain`: ``AdaIN(x, y) = σ(y) · (x − μ(x)) / σ(x) + μ(y)``, channel by channel: the content
  features take the style features' statistics and keep their own layout;
- :func:`adain_step` and :func:`adain_transfer`: the image whose features match AdaIN's output,
  found by optimising its pixels through :func:`cvbook.train.fit` (Huang & Belongie train a
  decoder once instead, so that a transfer is one forward pass; the loss is the same).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvbook._checks import check_image_batch, check_positive_int, check_real

__all__ = ["channel_stats", "adain", "statistics_loss", "adain_step", "adain_transfer"]


def channel_stats(features: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Per-channel mean and standard deviation over positions: ``(B, C, H, W) -> ((B, C), (B, C))``.

    The standard deviation is the population one, ``sqrt(mean((x − μ)²) + eps)``; ``eps`` keeps
    it (and AdaIN's division by it) finite on a constant channel.
    """
    check_image_batch(features, "features")
    flat = features.float().flatten(2)
    mean = flat.mean(dim=2)
    std = (flat.var(dim=2, unbiased=False) + eps).sqrt()
    return mean, std


def adain(content: Tensor, style: Tensor, eps: float = 1e-5) -> Tensor:
    """``σ(style) · (content − μ(content)) / σ(content) + μ(style)``, per channel.

    Shapes: ``content (B, C, H, W)``, ``style (B or 1, C, H', W')`` (its own size: only its
    statistics count) ``-> (B, C, H, W)``, whose channels have the style's mean and (up to
    ``eps``) its standard deviation.
    """
    check_image_batch(content, "content")
    check_image_batch(style, "style")
    if style.shape[1] != content.shape[1] or style.shape[0] not in (1, content.shape[0]):
        raise ValueError(f"style features {tuple(style.shape)} must have content's {content.shape[1]} channels and a "
                         f"batch of 1 or {content.shape[0]}; take both from the same layer of the same network.")
    check_real(eps, "eps", low=0.0)
    c_mean, c_std = channel_stats(content, eps)
    s_mean, s_std = channel_stats(style, eps)
    normalised = (content.float() - c_mean[..., None, None]) / c_std[..., None, None]
    return normalised * s_std[..., None, None] + s_mean[..., None, None]


def statistics_loss(features: Mapping[str, Tensor], style: Mapping[str, Tensor]) -> Tensor:
    """Huang & Belongie's style loss: mean over layers of ``mse(μ) + mse(σ)``, a scalar.

    ``features[name]`` is ``(B, C, H, W)``, ``style[name]`` ``(1 or B, C, H', W')``.
    """
    if not style or set(style) - set(features):
        raise ValueError(f"no features for the style layers {sorted(set(style) - set(features))}; "
                         "ask the extractor for them." if style else "style is empty: give at least one layer.")
    total = 0.0
    for name, target in style.items():
        mean, std = channel_stats(features[name])
        t_mean, t_std = channel_stats(target)
        total = total + F.mse_loss(mean, t_mean.expand_as(mean)) + F.mse_loss(std, t_std.expand_as(std))
    return total / len(style)


def adain_step(extractor: Callable[[Tensor], Mapping[str, Tensor]], content: Tensor, style: Tensor,
               target_layer: str, style_layers: Sequence[str]):
    """The step of :func:`cvbook.train.fit` for a pixel image: ``{"content", "style"}``.

    ``content`` is the mean squared difference between the image's ``target_layer`` features
    and ``adain(F(content), F(style))`` at that layer; ``style`` is :func:`statistics_loss` over
    ``style_layers``. The targets are computed once here; images are ``(1, 3, H, W)``.
    """
    with torch.no_grad():
        content_features, style_features = extractor(content), extractor(style)
        missing = [name for name in (target_layer, *style_layers) if name not in style_features]
        if missing:
            raise ValueError(f"the extractor returns no layers {missing}; it has {sorted(style_features)}")
        target = adain(content_features[target_layer], style_features[target_layer])
        style_targets = {name: style_features[name] for name in style_layers}

    def step(model: nn.Module, batch: Any) -> dict[str, Tensor]:
        features = extractor(model())
        return {"content": F.mse_loss(features[target_layer].float(), target),
                "style": statistics_loss(features, style_targets)}

    return step


def adain_transfer(content: Tensor, style: Tensor, extractor: nn.Module, *, target_layer: str,
                   style_layers: Sequence[str], steps: int = 150, lr: float = 0.05, style_weight: float = 1.0,
                   device=None):
    """AdaIN decoded by optimisation: returns ``(image (1, 3, H, W), history)``.

    Minimises ``content + style_weight · style`` of :func:`adain_step` over the pixels of an
    image started from ``content``, with Adam for ``steps`` steps of :func:`cvbook.train.fit`.
    """
    from cvbook import profile
    from cvbook.generative.style import PixelImage
    from cvbook.train import QUIET, fit

    check_image_batch(content, "content", channels=3)
    check_image_batch(style, "style", channels=3)
    check_positive_int(steps, "steps")
    device = torch.device(device) if device is not None else profile.device()
    extractor = extractor.to(device)
    model = PixelImage(content.to(device))
    step = adain_step(extractor, content.to(device), style.to(device), target_layer, style_layers)
    history = fit(model, [torch.zeros(1)], steps=steps, step=step, optimizer=torch.optim.Adam(model.parameters(), lr=lr),
                  loss_weights={"content": 1.0, "style": style_weight}, eval_every=steps, device=device, amp=False,
                  report=QUIET)
    return model().detach().cpu(), history
