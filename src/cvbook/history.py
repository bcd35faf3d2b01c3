"""The record of a training run (:class:`History`) and its plots.

:func:`cvbook.train.fit` fills one: a row of averages per epoch (or period), every step's
named losses, the wall time, and whether a time budget ended the run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["History"]


@dataclass
class History:
    """What :func:`cvbook.train.fit` did.

    ``rows[i]`` summarises one period (an epoch; with ``steps=`` every ``eval_every``
    steps) and maps names to values: ``train_<loss>`` and ``train_<metric>`` averaged over
    the period's batches, ``val_<loss>`` and ``val_<metric>`` on ``val_loader``, anything
    ``on_epoch_end`` returned, ``epoch`` and ``step`` (counts so far), ``lr`` and ``seconds``
    (wall time of the period). ``steps[name]`` lists every step's value of each named loss.
    ``stopped_by_budget`` says whether ``time_budget`` ended the run early, ``stopped_by_cap``
    whether ``max_steps`` did (a rehearsal: the rows hold only the steps that ran).
    """

    rows: list[dict[str, float]] = field(default_factory=list)
    steps: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    stopped_by_budget: bool = False
    stopped_by_cap: bool = False

    def __getitem__(self, name: str) -> list[float]:
        return [row[name] for row in self.rows if name in row]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def last(self) -> dict[str, float]:
        return self.rows[-1] if self.rows else {}

    @property
    def num_steps(self) -> int:
        return max((len(v) for v in self.steps.values()), default=0)

    def plot(self, metrics: Iterable[str] | None = None, title: str = "Training curves", per: str = "epoch",
             smooth: int = 10):
        """Draw the curves; returns the figure.

        ``per="epoch"``: the loss (left) and each metric (one panel each) against the epoch,
        training and validation. ``per="step"``: every named loss against the step, as a
        moving average over ``smooth`` steps.
        """
        import matplotlib.pyplot as plt
        import numpy as np

        if per == "step":
            fig, ax = plt.subplots(figsize=(6, 3.4))
            for name, values in self.steps.items():
                k = max(1, min(smooth, len(values)))
                ax.plot(np.arange(k, len(values) + 1), np.convolve(values, np.ones(k) / k, mode="valid"), label=name)
            ax.set(title=title, xlabel="step", ylabel=f"loss (moving average of {smooth})")
            ax.legend()
            ax.grid(alpha=0.3)
            fig.tight_layout()
            return fig
        names = {k for row in self.rows for k in row}
        splits = ("train", "val")
        if metrics is None:
            metrics = sorted({k.split("_", 1)[1] for k in names if k.split("_", 1)[0] in splits}
                             - {"loss"} - set(self.steps))
        metrics = list(metrics)
        fig, axes = plt.subplots(1, 1 + len(metrics), figsize=(4.5 * (1 + len(metrics)), 3.4), squeeze=False)
        x = [row.get("epoch", i + 1) for i, row in enumerate(self.rows)]
        losses = [n for n in self.steps] if len(self.steps) > 1 else []
        for ax, metric in zip(axes[0], ["loss", *metrics]):
            for split in splits:
                for name in ([metric] if metric != "loss" else ["loss", *losses]):
                    values = [row.get(f"{split}_{name}", math.nan) for row in self.rows]
                    if not all(math.isnan(v) for v in values):
                        ax.plot(x, values, marker="o", label=f"{split} {name}" if name != metric else split)
            ax.set(title=metric, xlabel="epoch", ylabel=metric)
            ax.legend()
            ax.grid(alpha=0.3)
        fig.suptitle(title)
        fig.tight_layout()
        return fig
