"""One training loop for every chapter.

:func:`fit` trains a model for some epochs and returns a :class:`History` of losses and
metrics, one row per epoch, which :meth:`History.plot` draws. It picks the device
(:func:`cvbook.profile.device`), shows a tqdm progress bar and, on a CUDA device, trains
in mixed precision (bfloat16 where supported, else float16 with loss scaling).

>>> history = fit(model, train_loader, epochs=5, val_loader=test_loader)  # doctest: +SKIP
>>> history.plot()                                                         # doctest: +SKIP
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import torch
from torch import nn
from tqdm.auto import tqdm

from . import profile

__all__ = ["History", "fit", "evaluate", "predict", "accuracy", "to_device"]

Metric = Callable[[torch.Tensor, Any], float]


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of rows of ``logits`` ``(N, C)`` whose arg-max equals ``targets`` ``(N,)``."""
    return (logits.argmax(dim=1) == targets).float().mean().item()


def to_device(obj: Any, device: torch.device) -> Any:
    """Move a tensor, or the tensors inside lists, tuples and dicts, to ``device``."""
    if torch.is_tensor(obj):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, Mapping):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


def _batch_size(x: Any) -> int:
    return x.shape[0] if torch.is_tensor(x) else len(x)


@dataclass
class History:
    """Per-epoch records of a :func:`fit` run: ``rows[e]`` maps a name to a value.

    Names are ``train_loss``, ``train_<metric>``, ``val_loss``, ``val_<metric>``,
    ``seconds`` (wall time of the epoch) and ``lr``.
    """

    rows: list[dict[str, float]] = field(default_factory=list)

    def __getitem__(self, name: str) -> list[float]:
        return [row[name] for row in self.rows if name in row]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def last(self) -> dict[str, float]:
        return self.rows[-1] if self.rows else {}

    def plot(self, metrics: Iterable[str] | None = None, title: str = "Training curves"):
        """Draw the loss (left) and each metric (right) against the epoch; returns the figure."""
        import matplotlib.pyplot as plt

        names = {k for row in self.rows for k in row}
        metrics = list(metrics) if metrics is not None else sorted(
            {k.split("_", 1)[1] for k in names if "_" in k and k.split("_", 1)[0] in ("train", "val")} - {"loss"})
        fig, axes = plt.subplots(1, 1 + len(metrics), figsize=(4.5 * (1 + len(metrics)), 3.4), squeeze=False)
        epochs = range(1, len(self.rows) + 1)
        for ax, metric in zip(axes[0], ["loss", *metrics]):
            for split in ("train", "val"):
                values = [row.get(f"{split}_{metric}", math.nan) for row in self.rows]
                if not all(math.isnan(v) for v in values):
                    ax.plot(epochs, values, marker="o", label=split)
            ax.set(title=metric, xlabel="epoch", ylabel=metric)
            ax.legend()
            ax.grid(alpha=0.3)
        fig.suptitle(title)
        fig.tight_layout()
        return fig


def _amp_dtype(device: torch.device, amp: bool) -> torch.dtype | None:
    if amp and device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return None


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, loss_fn: Callable | None = None,
             metrics: Mapping[str, Metric] | None = None, device: torch.device | None = None) -> dict[str, float]:
    """Average ``loss_fn`` and each metric over ``loader`` (weighted by batch size)."""
    device = device or next(model.parameters()).device
    metrics = metrics or {}
    model.eval()
    sums: dict[str, float] = {}
    count = 0
    for x, y in loader:
        x, y = to_device(x, device), to_device(y, device)
        out = model(x)
        n = _batch_size(x)
        count += n
        if loss_fn is not None:
            sums["loss"] = sums.get("loss", 0.0) + loss_fn(out, y).item() * n
        for name, metric in metrics.items():
            sums[name] = sums.get(name, 0.0) + metric(out, y) * n
    return {k: v / max(count, 1) for k, v in sums.items()}


@torch.no_grad()
def predict(model: nn.Module, loader: Iterable, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenated model outputs and targets over ``loader``, on the CPU."""
    device = device or next(model.parameters()).device
    model.eval()
    outputs, targets = [], []
    for x, y in loader:
        outputs.append(model(to_device(x, device)).float().cpu())
        targets.append(y.cpu() if torch.is_tensor(y) else torch.as_tensor(y))
    return torch.cat(outputs), torch.cat(targets)


def fit(
    model: nn.Module,
    train_loader: Iterable,
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-3,
    loss_fn: Callable = nn.CrossEntropyLoss(),
    metrics: Mapping[str, Metric] | None = None,
    val_loader: Iterable | None = None,
    scheduler: Any = None,
    device: torch.device | str | None = None,
    amp: bool = True,
    progress: bool = True,
    on_epoch_end: Callable[[int, nn.Module], None] | None = None,
    verbose: bool = True,
) -> History:
    """Train ``model`` for ``epochs`` passes over ``train_loader``.

    Args:
        optimizer: defaults to ``AdamW(model.parameters(), lr)``.
        loss_fn: ``loss_fn(model(x), y)`` returns a scalar tensor; ``x`` and ``y`` may be
            tensors or lists/dicts of tensors (detection targets).
        metrics: ``{name: metric(outputs, y) -> float}``; default ``{"accuracy": accuracy}``
            when ``loss_fn`` is a ``CrossEntropyLoss``, else none.
        scheduler: stepped once per batch (e.g. ``OneCycleLR``).
        amp: mixed precision on CUDA; ignored on the CPU.
        on_epoch_end: called as ``on_epoch_end(epoch, model)`` after each epoch (to unfreeze
            layers halfway, say).
        verbose: print one summary line per epoch.

    Raises:
        FloatingPointError: when the training loss becomes NaN or infinite, with the epoch
            and batch, instead of training on silently.
    """
    device = torch.device(device) if device is not None else profile.device()
    model.to(device)
    optimizer = optimizer or torch.optim.AdamW(model.parameters(), lr=lr)
    if metrics is None:
        metrics = {"accuracy": accuracy} if isinstance(loss_fn, nn.CrossEntropyLoss) else {}
    amp_dtype = _amp_dtype(device, amp)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    history = History()
    for epoch in range(1, epochs + 1):
        model.train()
        start = time.perf_counter()
        sums: dict[str, float] = {}
        count = 0
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{epochs}", disable=not progress, leave=False,
                   file=sys.stdout, mininterval=1.0)
        for step, (x, y) in enumerate(bar):
            x, y = to_device(x, device), to_device(y, device)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                out = model(x)
                loss = loss_fn(out, y)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"training loss is {loss.item()} at epoch {epoch}, batch {step}: lower the learning "
                    f"rate (now {optimizer.param_groups[0]['lr']:.3g}) or check the inputs for NaNs")
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
            n = _batch_size(x)
            count += n
            sums["loss"] = sums.get("loss", 0.0) + loss.item() * n
            for name, metric in metrics.items():
                sums[name] = sums.get(name, 0.0) + metric(out.detach().float(), y) * n
            bar.set_postfix(loss=f"{sums['loss'] / count:.4f}")
        row = {f"train_{k}": v / count for k, v in sums.items()}
        if val_loader is not None:
            row.update({f"val_{k}": v for k, v in evaluate(model, val_loader, loss_fn, metrics, device).items()})
        row["lr"] = optimizer.param_groups[0]["lr"]
        row["seconds"] = time.perf_counter() - start
        history.rows.append(row)
        if on_epoch_end is not None:
            on_epoch_end(epoch, model)
        if verbose:
            shown = "  ".join(f"{k} {v:.4f}" for k, v in row.items() if k not in ("lr", "seconds"))
            print(f"epoch {epoch:>3}/{epochs}  {shown}  ({row['seconds']:.1f} s)")
    return history
