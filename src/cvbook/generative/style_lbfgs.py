"""Pixel optimisation with L-BFGS, the optimiser of Gatys, Ecker & Bethge (2015).

:func:`lbfgs_pixels` minimises the weighted named losses of a step (the ``step(model, batch)``
of :func:`cvbook.train.fit`, e.g. :func:`cvbook.generative.style.style_transfer_step` or
:func:`cvbook.generative.adain.adain_step`) over the pixels of a
:class:`~cvbook.generative.style.PixelImage` with ``torch.optim.LBFGS`` and a strong-Wolfe line
search (the book's one optimiser loop outside :func:`cvbook.train.fit`, which has no place for
the closure that L-BFGS re-evaluates during its line search). L-BFGS builds a curvature model from the last gradients, so it takes long steps along
directions in which the loss is flat: on a style loss it reaches far lower values than Adam in
the same number of gradient evaluations, where Adam moves every pixel by about its learning
rate per step (its update divides each gradient by its own running size).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from cvbook._checks import check_image_batch, check_positive_int
from cvbook.history import History

__all__ = ["lbfgs_pixels"]


def lbfgs_pixels(step: Callable[[nn.Module, Any], Mapping[str, Tensor]], model: nn.Module, *,
                 loss_weights: Mapping[str, float], iterations: int = 60, history_size: int = 20,
                 device=None) -> tuple[Tensor, History]:
    """L-BFGS on the parameters of ``model``, an image such as a :class:`~cvbook.generative.style.PixelImage`
    (``model() -> (1, 3, H, W)``; its parameters move in place): returns ``(model() (1, 3, H, W) on the
    CPU, history)``.

    Minimises ``Σ_name loss_weights[name] · step(model, None)[name]`` (names without a weight
    count 0) for at most ``iterations`` L-BFGS iterations (``torch.optim.LBFGS`` with
    ``max_iter=iterations``, ``max_eval = 1.25 · iterations``, ``line_search_fn="strong_wolfe"``;
    it stops earlier when the gradient or the change of the loss becomes negligible).
    ``history.steps[name]`` lists each loss, unweighted, at every evaluation of the loss (an
    iteration evaluates it once or more), then once more for the image returned (the last
    value); ``history.rows`` has one row with those final values.
    ``profile.settings().max_steps`` (a rehearsal's cap) caps ``iterations``, as in ``fit``.
    """
    from cvbook import profile

    if not isinstance(model, nn.Module) or not any(p.requires_grad for p in model.parameters()):
        raise ValueError("model must be an nn.Module with trainable parameters, e.g. PixelImage(content_image)")
    check_positive_int(iterations, "iterations")
    check_positive_int(history_size, "history_size")
    if not loss_weights:
        raise ValueError("loss_weights is empty: name the losses to minimise, e.g. {'content': 1.0, 'style': 1e8}")
    cap = profile.settings().max_steps
    planned = iterations
    iterations = iterations if cap is None else min(iterations, cap)
    device = torch.device(device) if device is not None else profile.device()
    model.to(device)
    check_image_batch(model(), "model()", channels=3)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.LBFGS(parameters, lr=1.0, max_iter=iterations,
                                  max_eval=max(1, iterations * 5 // 4), history_size=history_size,
                                  line_search_fn="strong_wolfe")
    history = History(stopped_by_cap=iterations < planned)
    unknown: list[str] = []

    def closure() -> Tensor:
        losses = step(model, None)
        unknown.extend(name for name in loss_weights if name not in losses and name not in unknown)
        if unknown:
            raise ValueError(f"loss_weights names {unknown}, which the step does not return ({sorted(losses)})")
        total = sum(float(loss_weights.get(name, 0.0)) * value for name, value in losses.items())
        # The gradient by torch.autograd.grad, written into .grad for L-BFGS: the closure that
        # L-BFGS re-evaluates during its line search is what cvbook.train.fit has no place for.
        for parameter, gradient in zip(parameters, torch.autograd.grad(total, parameters)):
            parameter.grad = gradient
        for name, value in losses.items():
            history.steps.setdefault(name, []).append(float(value.detach()))
        return total

    start = time.perf_counter()
    optimizer.step(closure)
    with torch.enable_grad():  # the losses of the image returned (the last evaluation may be a rejected trial)
        final = {name: float(value.detach()) for name, value in step(model, None).items()}
    for name, value in final.items():
        history.steps[name].append(value)
    history.seconds = time.perf_counter() - start
    history.rows.append({**{f"train_{name}": values[-1] for name, values in history.steps.items()},
                         "step": len(next(iter(history.steps.values()))), "seconds": history.seconds})
    return model().detach().cpu(), history
