"""The learning rate over a training run: linear warm-up, then constant or a half cosine.

:func:`cvbook.train.fit` takes an :class:`LRSchedule` as ``lr_schedule=``; :func:`lr_factor` is the
multiplier of the base learning rate at each step.

>>> [round(lr_factor(i, 6, warmup=2, decay="cosine", final=0.0), 2) for i in range(6)]
[0.5, 1.0, 1.0, 0.85, 0.5, 0.15]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cvbook._checks import check_positive_int, check_real

__all__ = ["LRSchedule", "lr_factor", "DECAYS"]

DECAYS = ("constant", "cosine")


def lr_factor(step: int, total: int, *, warmup: int = 0, decay: str = "constant", final: float = 0.05) -> float:
    """The learning-rate multiplier at ``step`` (0-based) of ``total``.

    Linear warm-up from ``1 / warmup`` to 1 over the first ``warmup`` steps, then constant, or
    a half cosine from 1 down to ``final`` at step ``total``.
    """
    if step < warmup:
        return (step + 1) / warmup
    if decay == "constant":
        return 1.0
    progress = min((step - warmup) / max(1, total - warmup), 1.0)
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class LRSchedule:
    """The learning rate over a run of :func:`cvbook.train.fit`, as a multiple of ``lr`` (:func:`lr_factor`).

    ``warmup`` steps of linear warm-up, then ``decay``: ``"constant"`` (stay at ``lr``) or
    ``"cosine"`` (a half cosine down to ``final × lr`` at the last planned step).

    >>> LRSchedule(warmup=2, decay="cosine").factor(0, 10)
    0.5
    """

    warmup: int = 0
    decay: str = "constant"
    final: float = 0.05

    def __post_init__(self) -> None:
        check_positive_int(self.warmup, "LRSchedule.warmup", minimum=0)
        if self.decay not in DECAYS:
            raise ValueError(f"LRSchedule.decay={self.decay!r}: use one of {', '.join(DECAYS)}")
        check_real(self.final, "LRSchedule.final", low=0)

    def factor(self, step: int, total: int) -> float:
        """The multiplier of ``lr`` at ``step`` (0-based) of ``total`` planned steps."""
        return lr_factor(step, total, warmup=self.warmup, decay=self.decay, final=self.final)
