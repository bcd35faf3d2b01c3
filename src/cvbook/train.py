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
follows an optional learning-rate schedule (:class:`LRSchedule`: warm-up, then constant or
cosine), stops early at a time budget, shows what :class:`Report` asks for, refuses to go on
when a loss becomes NaN, and returns a :class:`~cvbook.history.History` of every named loss and
metric with its plot.

>>> history = fit(model, train_loader, epochs=5, val_loader=test_loader)  # doctest: +SKIP
>>> history = fit(detector, loader, steps=2000, step=ssd_step,
...               lr_schedule=LRSchedule(warmup=10, decay="cosine"))         # doctest: +SKIP
>>> history.plot()                                                         # doctest: +SKIP

``max_steps`` and ``max_batch`` cap a run (the full-profile rehearsal runs each notebook's real
code path on a handful of steps; their defaults come from :func:`cvbook.profile.settings`, normally
no cap): the run stops after ``max_steps`` optimiser steps, like at a time budget, with a last row
of the history (validation and ``on_epoch_end`` included) for the period it stopped in, and
``max_batch`` keeps at most that many items of every training batch (:func:`first_items`):
full-size inputs, fewer of them. The history holds only what really ran.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from cvbook import profile
from cvbook._checks import check_positive_int, check_real
from cvbook.batches import batch_size, first_items, to_device
from cvbook.history import History
from cvbook.lr_schedule import DECAYS, LRSchedule, lr_factor
from cvbook.metrics.classification import accuracy

__all__ = ["fit", "LRSchedule", "Report", "QUIET", "evaluate", "predict", "to_device", "first_items", "amp_dtype",
           "lr_factor", "DECAYS"]

Metric = Callable[[Tensor, Any], float]
Step = Callable[[nn.Module, Any], Mapping[str, Tensor]]
EpochEnd = Callable[[int, nn.Module], Mapping[str, float] | None]


def amp_dtype(device: torch.device, amp: bool = True) -> torch.dtype | None:
    """The autocast dtype :func:`fit` uses on ``device``: None (full precision) off CUDA.

    Decided on the compute capability, not ``torch.cuda.is_bf16_supported()``, which can
    answer True on a T4 (capability 7.5) through slow emulation.
    """
    if not amp or device.type != "cuda":
        return None
    major, _ = torch.cuda.get_device_capability(device)
    return torch.bfloat16 if major >= 8 else torch.float16


@dataclass(frozen=True)
class Report:
    """What :func:`fit` shows while it trains.

    ``bar``: a tqdm bar over the steps; ``summary``: one line per epoch (or period) with its
    averages; ``every_steps``: also a line of the step's losses every so many steps (0: never).
    """

    bar: bool = True
    summary: bool = True
    every_steps: int = 0

    def __post_init__(self) -> None:
        check_positive_int(self.every_steps, "Report.every_steps", minimum=0)


#: Show nothing (tests, and loops that call :func:`fit` many times).
QUIET = Report(bar=False, summary=False)


def log_line(label: str, items: Sequence[str], tail: str, width: int = 80) -> str:
    """``label  item  item ...  tail`` on one line, or, when that is wider than ``width``, packed
    on as many lines as it takes, the later ones indented (the book's output column shows about
    81 characters). An item is never split."""
    lines = [label]
    for part in [*items, tail]:
        if len(lines[-1]) + 2 + len(part) > width:
            lines.append("    " + part)
        else:
            lines[-1] += "  " + part
    return "\n".join(lines)


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
            n = batch_size(batch)
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
    """Concatenated model outputs ``(N, ...)`` and targets ``(N, ...)`` over ``loader`` (``(x, y)``
    batches), on the CPU. (A detector's boxes over a loader: :func:`cvbook.detection.evaluate.collect_detections`.)"""
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
    # how long: exactly one of epochs= and steps=
    epochs: int | None = None, steps: int | None = None,
    # what is minimised: exactly one of loss_fn= and step=
    loss_fn: Callable | None = None, step: Step | None = None,
    loss_weights: Mapping[str, float] | None = None, metrics: Mapping[str, Metric] | None = None,
    # at the end of each epoch (or of each eval_every steps)
    val_loader: Iterable | None = None, eval_every: int | None = None, on_epoch_end: EpochEnd | None = None,
    # the optimiser and its learning rate over time
    optimizer: torch.optim.Optimizer | None = None, lr: float = 1e-3, weight_decay: float = 0.01,
    lr_schedule: LRSchedule | Any = None,
    # where, in what precision, what is shown
    device: torch.device | str | None = None, amp: bool = True, report: Report = Report(),
    # when to stop early
    time_budget: float | None = None, max_steps: int | None = None, max_batch: int | None = None,
) -> History:
    """Train ``model`` on ``train_loader`` for ``epochs`` passes or ``steps`` optimiser steps.

    How long:
        - ``epochs``: passes over the loader; or
        - ``steps``: optimiser steps (the loader is cycled). Give exactly one of the two.

    What is minimised:
        - ``loss_fn``: supervised learning, ``loss_fn(model(x), y)`` on batches ``(x, y)``; or
        - ``step``: ``step(model, batch) -> {name: scalar loss}``. Give exactly one of the two.
        - ``loss_weights``: multiplies each named loss in the sum that is minimised (default 1).
        - ``metrics``: with ``loss_fn``, ``{name: metric(outputs, y) -> float}``; default
          ``{"accuracy": ...}`` when ``loss_fn`` is a ``CrossEntropyLoss``.

    At the end of each period (an epoch, or ``eval_every`` steps):
        - ``val_loader``: evaluated (in eval mode); its averages are recorded as ``val_<name>``.
        - ``eval_every``: with ``steps``, the period in steps (default: the loader's length).
        - ``on_epoch_end``: called as ``on_epoch_end(epoch, model)`` (to unfreeze layers halfway,
          say); a dict it returns is recorded in the period's row (and shown in its line). What it
          prints is shown after the period's line, so that the log reads in order.

    The optimiser and its learning rate:
        - ``optimizer``: defaults to ``AdamW(model.parameters(), lr, weight_decay)``; frozen
          parameters have no gradient and are left alone, also when unfrozen later.
        - ``lr_schedule``: an :class:`LRSchedule` (warm-up, then constant or cosine decay, planned
          over the whole run), or a torch scheduler (or ``scheduler(optimizer)`` factory) stepped
          every step, e.g. ``OneCycleLR``; default: ``lr`` throughout.

    Where, in what precision, what is shown:
        - ``device``: where to train; default :func:`cvbook.profile.device`.
        - ``amp``: mixed precision on CUDA (see :func:`amp_dtype`); ignored elsewhere.
        - ``report``: a :class:`Report` (bar, one summary line per period, a line every few steps);
          :data:`QUIET` shows nothing.

    When to stop early:
        - ``time_budget``: stop after the step during which this many seconds of training passed.
        - ``max_steps``: stop after this many optimiser steps; ``max_batch``: keep at most this many items
          of every training batch. Both default to the settings (:func:`cvbook.profile.settings`,
          no cap unless the rehearsal sets one); a run stopped early records
          ``stopped_by_budget`` or ``stopped_by_cap`` in its history.

    Shapes: whatever ``model`` and ``loss_fn``/``step`` agree on; a batch's first field has the
    batch size along its first dimension (``(B, ...)`` tensor) or as its length (a list of ``B``
    items, as detection batches are).

    Raises:
        FloatingPointError: when a loss becomes NaN or infinite, naming the loss, the step and
            the learning rate, instead of training on silently.
    """
    run, metrics = _defaults(loss_fn, step, metrics)
    if (epochs is None) == (steps is None):
        raise ValueError("pass exactly one of epochs= and steps=")
    if not isinstance(report, Report):
        raise TypeError(f"report must be a Report (e.g. Report(bar=False) or QUIET), got {type(report).__name__}")
    check_real(lr, "lr", low=0)
    settings = profile.settings()
    max_steps = settings.max_steps if max_steps is None else check_positive_int(max_steps, "max_steps")
    max_batch = settings.max_batch if max_batch is None else check_positive_int(max_batch, "max_batch")
    per_epoch = len(train_loader) if hasattr(train_loader, "__len__") else None
    if per_epoch == 0:
        raise ValueError("the loader is empty: its dataset has fewer items than one batch (with drop_last=True) "
                         "or none at all; use a smaller batch_size or more data")
    if epochs is not None:
        check_positive_int(epochs, "epochs")
        if not per_epoch:
            raise ValueError("epochs= needs a loader with a length (got an unsized one); pass steps= instead")
        planned, period = epochs * per_epoch, per_epoch
    else:
        planned = check_positive_int(steps, "steps")
        period = check_positive_int(eval_every, "eval_every") if eval_every else (per_epoch or planned)
    total = planned if max_steps is None else min(planned, max_steps)

    device = torch.device(device) if device is not None else profile.device()
    model.to(device)
    optimizer = optimizer or torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = _scheduler(lr_schedule, optimizer, planned)
    dtype = amp_dtype(device, amp)
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    weights = dict(loss_weights or {})

    history = History()
    start = time.perf_counter()
    period_start, sums, count = start, {}, 0
    passes = itertools.repeat(train_loader) if steps is not None else \
        (itertools.islice(train_loader, per_epoch) for _ in range(epochs))  # an epoch is len(loader) batches
    batches = itertools.islice(itertools.chain.from_iterable(passes), total)  # not one batch more
    bar = tqdm(total=total, disable=not report.bar, leave=False, file=sys.stdout, mininterval=1.0)

    def end_period(done: int) -> None:
        """Close an epoch (or ``eval_every`` period, or the run's last part) after ``done`` steps:
        validate, call ``on_epoch_end``, record the row, print it, then what ``on_epoch_end`` printed."""
        nonlocal period_start, sums, count
        said = io.StringIO()  # what on_epoch_end prints: shown after the row's line, which its values join
        row = {f"train_{k}": v / count for k, v in sums.items()}
        if val_loader is not None:
            row.update({f"val_{k}": v for k, v in evaluate(model, val_loader, loss_fn, metrics, device,
                                                           step=step).items()})
            model.train()
        epoch = done / per_epoch if per_epoch else float(len(history.rows) + 1)
        row.update(epoch=epoch, step=float(done), lr=optimizer.param_groups[0]["lr"],
                   seconds=time.perf_counter() - period_start)
        if on_epoch_end is not None:
            try:
                with contextlib.redirect_stdout(said):
                    extra = on_epoch_end(len(history.rows) + 1, model)
            except BaseException:
                print(said.getvalue(), end="", flush=True)  # what it said before it failed
                raise
            if extra:
                row.update({k: float(v) for k, v in extra.items()})
            model.train()
        history.rows.append(row)
        if report.summary:
            if epochs:
                label = f"epoch {len(history.rows):>3}/{epochs}" + (f" ({epoch:.2f})" if done % per_epoch else "")
            else:  # steps=: the period ends at a step; the epoch, where the loader has a length
                label = f"step {done:>5}/{planned}" + (f" (epoch {epoch:.2f})" if per_epoch else "")
            shown = [f"{k} {v:.4f}" for k, v in row.items() if k not in ("lr", "seconds", "epoch", "step")]
            print(log_line(label, shown, f"({row['seconds']:.1f} s)"), flush=True)
        if said.getvalue():
            print(said.getvalue(), end="", flush=True)
        period_start, sums, count = time.perf_counter(), {}, 0

    model.train()
    try:
        for i, batch in enumerate(batches):
            batch = to_device(batch if max_batch is None else first_items(batch, max_batch), device)
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
            n = batch_size(batch)
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
            if report.every_steps and (i + 1) % report.every_steps == 0:
                shown = [f"{k} {v:.3f}" for k, v in named.items()]
                print(log_line(f"step {i + 1:>5}/{total}", shown, f"({history.seconds:.0f} s in all)"), flush=True)
            out_of_time = time_budget is not None and history.seconds >= time_budget
            if (i + 1) % period == 0 or i + 1 == total or out_of_time:
                end_period(i + 1)
            if out_of_time:
                history.stopped_by_budget = i + 1 < total
                break
    finally:
        bar.close()
    history.stopped_by_cap = total < planned and not history.stopped_by_budget
    if history.stopped_by_cap and report.summary:
        print(f"stopped at the cap of {total} of {planned} steps (max_steps; a rehearsal)", flush=True)
    history.seconds = time.perf_counter() - start
    return history


def _scheduler(lr_schedule: LRSchedule | Any, optimizer: torch.optim.Optimizer, planned: int) -> Any:
    """The torch scheduler that :func:`fit` steps every step (None: a constant learning rate)."""
    if lr_schedule is None:
        return None
    if isinstance(lr_schedule, LRSchedule):
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: lr_schedule.factor(i, planned))
    if hasattr(lr_schedule, "step"):
        return lr_schedule
    if callable(lr_schedule):
        return lr_schedule(optimizer)
    raise TypeError(f"lr_schedule must be an LRSchedule, a torch scheduler or a scheduler(optimizer) factory, "
                    f"got {type(lr_schedule).__name__}")
