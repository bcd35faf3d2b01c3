"""One training loop for every model of the book.

:func:`fit` trains any model for a number of epochs or optimiser steps. What one step
computes is the only thing that differs between a classifier, a detector, a segmenter or a
VAE, so that is what a caller passes:

- ``loss_fn=`` for supervised learning: a batch is ``(x, y)``, the loss is
  ``loss_fn(model(x), y)``, and ``metrics`` (accuracy by default with a cross-entropy loss)
  are averaged on the training batches and on ``val_loader``;
- ``step=`` for everything else: ``step(model, batch)`` returns a dict of named scalar losses,
  e.g. ``{"classification": ..., "box": ...}`` for SSD, torchvision's loss dict for Faster
  R-CNN, ``{"reconstruction": ..., "kl": ...}`` for a VAE. The loss minimised is their sum,
  each multiplied by ``loss_weights[name]`` (default 1); every named loss is recorded.

The loop picks the device (:func:`cvbook.profile.device`), moves each batch there, trains
in mixed precision on CUDA (bfloat16 on GPUs of compute capability 8.0 and newer, float16 with
a gradient scaler on older ones such as Colab's T4, whatever ``is_bf16_supported`` says),
follows an optional warm-up and cosine learning-rate schedule, stops early at a time budget,
shows a tqdm bar, refuses to go on when a loss becomes NaN, and returns a
:class:`~cvbook.history.History` of
every named loss and metric with its plot.

>>> history = fit(model, train_loader, epochs=5, val_loader=test_loader)  # doctest: +SKIP
>>> history = fit(detector, loader, steps=2000, step=ssd_step, warmup=10, schedule="cosine")  # doctest: +SKIP
>>> history.plot()                                                         # doctest: +SKIP

The environment variable ``CVBOOK_MAX_STEPS`` caps the number of optimiser steps of every
call (the full-profile rehearsal runs each notebook's real code path for a handful of steps):
at most that many in all. Every epoch (with ``epochs=``) or period (``eval_every``) still ends,
with its validation and ``on_epoch_end`` (which may act at a given epoch): with ``epochs=`` each
is cut to ``max(1, CVBOOK_MAX_STEPS // epochs)`` steps, and those past the cap have no step
(their rows repeat the last training averages). ``CVBOOK_MAX_BATCH`` likewise keeps at most
that many items of every training batch (:func:`first_items`): full-size inputs, fewer of them.
"""

from __future__ import annotations

import itertools
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from cvbook import profile
from cvbook._checks import check_positive_int, check_real
from cvbook.history import History
from cvbook.metrics.classification import accuracy

__all__ = ["fit", "evaluate", "predict", "to_device", "first_items", "amp_dtype", "lr_factor", "SCHEDULES"]

Metric = Callable[[Tensor, Any], float]
Step = Callable[[nn.Module, Any], Mapping[str, Tensor]]
SCHEDULES = ("constant", "cosine")


def to_device(obj: Any, device: torch.device) -> Any:
    """Move a tensor, or the tensors inside lists, tuples and dicts, to ``device``."""
    if torch.is_tensor(obj):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, Mapping):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


def first_items(batch: Any, n: int) -> Any:
    """The first ``n`` items of a batch: each field of an ``(inputs, targets)`` tuple is cut along
    its first dimension (a tensor), as a sequence of items (a list or tuple: detection images and
    targets) or value by value (a dict)."""

    def cut(field: Any) -> Any:
        if torch.is_tensor(field):
            return field[:n] if field.dim() else field
        if isinstance(field, Mapping):
            return {k: cut(v) for k, v in field.items()}
        if isinstance(field, (list, tuple)):
            return type(field)(field[:n])
        return field

    return type(batch)(cut(f) for f in batch) if isinstance(batch, (list, tuple)) else cut(batch)


def _batch_size(batch: Any) -> int:
    first = batch[0] if isinstance(batch, (list, tuple)) else batch
    return first.shape[0] if torch.is_tensor(first) else len(first)


def amp_dtype(device: torch.device, amp: bool = True) -> torch.dtype | None:
    """The autocast dtype :func:`fit` uses on ``device``: None (full precision) off CUDA.

    Decided on the compute capability, not ``torch.cuda.is_bf16_supported()``, which can
    answer True on a T4 (capability 7.5) through slow emulation.
    """
    if not amp or device.type != "cuda":
        return None
    major, _ = torch.cuda.get_device_capability(device)
    return torch.bfloat16 if major >= 8 else torch.float16


def lr_factor(step: int, total: int, *, warmup: int = 0, schedule: str = "constant", final: float = 0.05) -> float:
    """The learning-rate multiplier at ``step`` (0-based) of ``total``.

    Linear warm-up from ``1 / warmup`` to 1 over the first ``warmup`` steps, then constant, or
    a half cosine from 1 down to ``final`` at step ``total``.
    """
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = min((step - warmup) / max(1, total - warmup), 1.0)
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * progress))


def _supervised(loss_fn: Callable, metrics: Mapping[str, Metric]) -> Callable:
    """The step of supervised learning; it also returns the batch's metric sums."""

    def step(model: nn.Module, batch: Any) -> tuple[dict[str, Tensor], dict[str, float]]:
        x, y = batch
        out = model(x)
        detached = out.detach().float() if torch.is_tensor(out) else out
        return {"loss": loss_fn(out, y)}, {name: metric(detached, y) for name, metric in metrics.items()}

    return step


def _custom(step: Step) -> Callable:
    def run(model: nn.Module, batch: Any) -> tuple[Mapping[str, Tensor], dict[str, float]]:
        losses = step(model, batch)
        if not isinstance(losses, Mapping) or not losses:
            raise ValueError(f"step must return a non-empty dict of named scalar losses, got {type(losses).__name__}")
        return losses, {}

    return run


def _total(losses: Mapping[str, Tensor], weights: Mapping[str, float]) -> Tensor:
    total = None
    for name, value in losses.items():
        if not torch.is_tensor(value) or value.numel() != 1:
            raise ValueError(f"loss {name!r} must be a scalar tensor, got "
                             f"{tuple(value.shape) if torch.is_tensor(value) else type(value).__name__}")
        term = value * weights.get(name, 1.0) if name in weights else value
        total = term if total is None else total + term
    return total


def _defaults(loss_fn: Callable | None, step: Step | None, metrics: Mapping[str, Metric] | None):
    if (loss_fn is None) == (step is None):
        raise ValueError("pass exactly one of loss_fn= (supervised: loss_fn(model(x), y)) and step= "
                         "(step(model, batch) -> {name: loss})")
    if step is not None:
        if metrics:
            raise ValueError("metrics= needs loss_fn=; with step=, measure the model in on_epoch_end")
        return _custom(step), {}
    if metrics is None:
        metrics = {"accuracy": accuracy} if isinstance(loss_fn, nn.CrossEntropyLoss) else {}
    return _supervised(loss_fn, metrics), metrics


def _cap(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise ValueError(f"{name}={value!r}: give a positive number of {'steps' if 'STEPS' in name else 'items'}, "
                         f"or unset it")
    return check_positive_int(int(value), name)


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, loss_fn: Callable | None = None,
             metrics: Mapping[str, Metric] | None = None, device: torch.device | None = None,
             *, step: Step | None = None) -> dict[str, float]:
    """Average every named loss and metric over ``loader`` (weighted by batch size), in eval mode.

    With ``loss_fn``: ``loss`` and each metric of ``metrics`` (the supervised case of
    :func:`fit`; without ``loss_fn`` only the metrics). With ``step``: each named loss it returns.
    """
    device = device or next(model.parameters()).device
    if step is not None:
        run, metrics = _defaults(None, step, None)
    else:
        metrics = metrics or {}
        run = _supervised(loss_fn or (lambda out, y: torch.zeros(())), metrics)
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    count = 0
    try:
        for batch in loader:
            batch = to_device(batch, device)
            losses, values = run(model, batch)
            n = _batch_size(batch)
            count += n
            named = {k: v.item() for k, v in losses.items() if step is not None or loss_fn is not None}
            for name, value in {**named, **values}.items():
                sums[name] = sums.get(name, 0.0) + value * n
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("evaluate() got an empty loader: its dataset has no items (or fewer than one batch with "
                         "drop_last=True); check the split or subset it comes from")
    return {k: v / count for k, v in sums.items()}


@torch.no_grad()
def predict(model: nn.Module, loader: Iterable, device: torch.device | None = None) -> tuple[Tensor, Tensor]:
    """Concatenated model outputs and targets over ``loader`` (``(x, y)`` batches), on the CPU."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    outputs, targets = [], []
    try:
        for x, y in loader:
            outputs.append(model(to_device(x, device)).float().cpu())
            targets.append(y.cpu() if torch.is_tensor(y) else torch.as_tensor(y))
    finally:
        model.train(was_training)
    return torch.cat(outputs), torch.cat(targets)


def fit(
    model: nn.Module,
    train_loader: Iterable,
    *,
    epochs: int | None = None,
    steps: int | None = None,
    loss_fn: Callable | None = None,
    step: Step | None = None,
    loss_weights: Mapping[str, float] | None = None,
    metrics: Mapping[str, Metric] | None = None,
    val_loader: Iterable | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    warmup: int = 0,
    schedule: str = "constant",
    final_lr: float = 0.05,
    scheduler: Any = None,
    time_budget: float | None = None,
    eval_every: int | None = None,
    device: torch.device | str | None = None,
    amp: bool = True,
    progress: bool = True,
    on_epoch_end: Callable[[int, nn.Module], Mapping[str, float] | None] | None = None,
    verbose: bool = True,
    log_every: int = 0,
) -> History:
    """Train ``model`` on ``train_loader`` for ``epochs`` passes or ``steps`` optimiser steps.

    Args:
        epochs: passes over the loader; or
        steps: optimiser steps (the loader is cycled). Give exactly one of the two.
        loss_fn: supervised learning, ``loss_fn(model(x), y)`` on batches ``(x, y)``; or
        step: ``step(model, batch) -> {name: scalar loss}``. Give exactly one of the two.
        loss_weights: multiplies each named loss in the sum that is minimised (default 1).
        metrics: with ``loss_fn``, ``{name: metric(outputs, y) -> float}``; default
            ``{"accuracy": ...}`` when ``loss_fn`` is a ``CrossEntropyLoss``.
        val_loader: evaluated (in eval mode) at the end of every period.
        optimizer: defaults to ``AdamW(model.parameters(), lr, weight_decay)``; frozen
            parameters have no gradient and are left alone, also when unfrozen later.
        warmup, schedule, final_lr: linear warm-up over ``warmup`` steps, then ``"constant"``
            or ``"cosine"`` decay to ``final_lr × lr`` at the last step (:func:`lr_factor`).
        scheduler: instead, a scheduler (or ``scheduler(optimizer)`` factory) stepped every step,
            e.g. ``OneCycleLR``.
        time_budget: stop after the step during which this many seconds of training passed.
        eval_every: with ``steps``, the period in steps (default: the loader's length).
        device: where to train; default :func:`cvbook.profile.device`.
        amp: mixed precision on CUDA (see :func:`amp_dtype`); ignored elsewhere.
        progress: a tqdm bar over the steps.
        on_epoch_end: called as ``on_epoch_end(epoch, model)`` after each period (to unfreeze
            layers halfway, say); a dict it returns is recorded in the period's row.
        verbose: print one summary line per period.
        log_every: also print the losses every so many steps (0: never).

    Raises:
        FloatingPointError: when a loss becomes NaN or infinite, naming the loss, the step and
            the learning rate, instead of training on silently.
    """
    run, metrics = _defaults(loss_fn, step, metrics)
    if (epochs is None) == (steps is None):
        raise ValueError("pass exactly one of epochs= and steps=")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule={schedule!r}: use one of {', '.join(SCHEDULES)}")
    check_real(lr, "lr", low=0)
    warmup = check_positive_int(warmup, "warmup", minimum=0)
    per_epoch = len(train_loader) if hasattr(train_loader, "__len__") else None
    if per_epoch == 0:
        raise ValueError("the loader is empty: its dataset has fewer items than one batch (with drop_last=True) "
                         "or none at all; use a smaller batch_size or more data")
    if epochs is not None:
        check_positive_int(epochs, "epochs")
        if not per_epoch:
            raise ValueError("epochs= needs a loader with a length (got an unsized one); pass steps= instead")
        total, period = epochs * per_epoch, per_epoch
    else:
        total = check_positive_int(steps, "steps")
        period = check_positive_int(eval_every, "eval_every") if eval_every else (per_epoch or total)
    planned, planned_period = total, period
    cap, batch_cap = _cap("CVBOOK_MAX_STEPS"), _cap("CVBOOK_MAX_BATCH")
    if cap and total > cap:
        if epochs is not None:  # every epoch still ends (validation, on_epoch_end), each cut short;
            per_epoch = period = max(1, min(per_epoch, cap // epochs))  # past the cap, without a step
            total = min(epochs * per_epoch, cap)
        else:
            total = cap

    device = torch.device(device) if device is not None else profile.device()
    model.to(device)
    optimizer = optimizer or torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    if scheduler is None and (warmup or schedule != "constant"):
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda i: lr_factor(i, planned, warmup=warmup, schedule=schedule, final=final_lr))
    elif callable(scheduler) and not hasattr(scheduler, "step"):
        scheduler = scheduler(optimizer)
    dtype = amp_dtype(device, amp)
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    weights = dict(loss_weights or {})

    history = History()
    start = time.perf_counter()
    period_start, sums, count = start, {}, 0
    batches = itertools.chain.from_iterable(itertools.repeat(train_loader)) if steps is not None else \
        itertools.chain.from_iterable(itertools.islice(train_loader, per_epoch) for _ in range(epochs))
    bar = tqdm(total=total, disable=not progress, leave=False, file=sys.stdout, mininterval=1.0)

    def end_period(done: int, epoch: float | None = None) -> None:
        """Close an epoch (or ``eval_every`` period) after ``done`` steps: validate, call
        ``on_epoch_end``, record the row, print it."""
        nonlocal period_start, sums, count
        if count:
            row = {f"train_{k}": v / count for k, v in sums.items()}
        else:  # an epoch past CVBOOK_MAX_STEPS, without a step: the last training averages stand
            row = {k: v for k, v in (history.rows[-1] if history.rows else {}).items() if k.startswith("train_")}
        if val_loader is not None:
            row.update({f"val_{k}": v for k, v in evaluate(model, val_loader, loss_fn, metrics, device,
                                                           step=step).items()})
            model.train()
        if epoch is None:
            epoch = done / per_epoch if per_epoch else float(len(history.rows) + 1)
        row.update(epoch=epoch,
                   step=float(done), lr=optimizer.param_groups[0]["lr"], seconds=time.perf_counter() - period_start)
        if on_epoch_end is not None:
            extra = on_epoch_end(len(history.rows) + 1, model)
            if extra:
                row.update({k: float(v) for k, v in extra.items()})
            model.train()
        history.rows.append(row)
        if verbose:
            if epochs:
                label = f"epoch {len(history.rows):>3}/{epochs}"
            else:  # steps=: the period ends at a step; the epoch, where the loader has a length
                label = f"step {done:>5}/{total}" + (f" (epoch {done / per_epoch:.2f})" if per_epoch else "")
            shown = "  ".join(f"{k} {v:.4f}" for k, v in row.items() if k not in ("lr", "seconds", "epoch", "step"))
            print(f"{label}  {shown}  ({row['seconds']:.1f} s)", flush=True)
        period_start, sums, count = time.perf_counter(), {}, 0

    model.train()
    try:
        for i, batch in enumerate(batches):
            if i >= total:
                break
            batch = to_device(batch if batch_cap is None else first_items(batch, batch_cap), device)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                losses, values = run(model, batch)
                loss = _total(losses, weights)
            if not torch.isfinite(loss):
                bad = [k for k, v in losses.items() if not torch.isfinite(v)]
                raise FloatingPointError(
                    f"the loss {', '.join(bad) or 'sum'} is {loss.item()} at step {i + 1} (epoch "
                    f"{i // max(per_epoch or 1, 1) + 1}): lower the learning rate (now "
                    f"{optimizer.param_groups[0]['lr']:.3g}) or check the inputs for NaNs")
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            if scheduler is not None:
                scheduler.step()
            n = _batch_size(batch)
            count += n
            named = {k: v.item() for k, v in losses.items()}
            if len(named) > 1:
                named["loss"] = loss.item()
            for name, value in {**named, **values}.items():
                sums[name] = sums.get(name, 0.0) + value * n
            for name in losses:
                history.steps.setdefault(name, []).append(named[name])
            bar.update(1)
            bar.set_postfix(loss=f"{sums['loss'] / count:.4f}" if "loss" in sums else "")
            history.seconds = time.perf_counter() - start
            if log_every and (i + 1) % log_every == 0:
                shown = "  ".join(f"{k} {v:.3f}" for k, v in named.items())
                print(f"step {i + 1:>5}/{total}  {shown}  ({history.seconds:.0f} s in all)", flush=True)
            out_of_time = time_budget is not None and history.seconds >= time_budget
            if (i + 1) % period == 0 or i + 1 == total or out_of_time:
                end_period(i + 1)
            if out_of_time:
                history.stopped_by_budget = i + 1 < total
                break
        if cap and not history.stopped_by_budget:  # capped: the remaining epochs or periods end untrained
            periods = epochs if epochs is not None else math.ceil(planned / planned_period)
            while len(history.rows) < periods:
                end_period(total, epoch=float(len(history.rows) + 1) if epochs is not None else None)
    finally:
        bar.close()
    history.seconds = time.perf_counter() - start
    return history
