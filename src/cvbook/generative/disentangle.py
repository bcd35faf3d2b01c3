"""Measuring disentanglement: how much each latent dimension tells about each true factor.

With generated data the factors of variation are known (the shapes of
:func:`cvbook.data.shapes.generate_shapes`: class, x, y, size). Each latent dimension ``z_j`` (the
posterior mean over a test set) and each factor ``v_k`` are discretised into bins and their
mutual information ``I(z_j; v_k)`` is computed from the joint histogram, in nats. A
disentangled code puts each factor into one dimension: the mutual information gap (MIG, Chen et
al., 2018) is, per factor, the difference between the largest and the second largest
``I(z_j; v_k)`` over ``j``, divided by the factor's entropy ``H(v_k)``: 1 when one dimension
holds the factor alone, 0 when two hold it equally.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cvbook._checks import check_positive_int

__all__ = ["discretize", "entropy", "mutual_information", "mutual_information_gap"]


def discretize(values: Tensor, bins: int = 20, method: str = "quantile") -> Tensor:
    """Bin each column: ``(N, D)`` real ``-> (N, D)`` int64 in ``[0, bins)``.

    ``method="quantile"``: equal-frequency bins (by rank, ties broken by order), robust to the
    long tails of latent codes; ``"width"``: equal-width bins between each column's min and max
    (for bounded factors such as positions). Integer columns with at most ``bins`` distinct
    values (a class) are relabelled ``0..k−1`` whatever the method.
    """
    if values.ndim != 2 or values.shape[0] < 2:
        raise ValueError(f"values must be (N, D) with N >= 2, got {tuple(values.shape)}.")
    check_positive_int(bins, "bins")
    if method not in ("quantile", "width"):
        raise ValueError(f"method={method!r}: use 'quantile' or 'width'.")
    if not values.is_floating_point():
        codes = torch.stack([torch.unique(col, return_inverse=True)[1] for col in values.T], dim=1)
        if int(codes.max()) < bins:
            return codes
        values = values.float()
    n = values.shape[0]
    if method == "quantile":
        ranks = values.argsort(dim=0, stable=True).argsort(dim=0)
        return ranks * bins // n
    low, high = values.min(dim=0).values, values.max(dim=0).values
    scaled = (values - low) / (high - low).clamp_min(1e-12)
    return (scaled * bins).long().clamp(0, bins - 1)


def entropy(codes: Tensor) -> Tensor:
    """Entropy in nats of each column of discrete ``codes`` ``(N, K) -> (K,)``."""
    n, k = codes.shape
    counts = torch.zeros(k, int(codes.max()) + 1, dtype=torch.float64)
    counts.scatter_add_(1, codes.T.long(), torch.ones(k, n, dtype=torch.float64))
    p = counts / n
    return -(p * torch.log(p.clamp_min(1e-300))).sum(dim=1)


def mutual_information(latents: Tensor, factors: Tensor) -> Tensor:
    """``I(z_j; v_k)`` in nats for discrete ``latents (N, D)`` and ``factors (N, K)``: ``(D, K)``.

    From the joint histogram of every pair at once: ``Σ p(a, b) log(p(a, b) / (p(a) p(b)))``.
    """
    if latents.ndim != 2 or factors.ndim != 2 or latents.shape[0] != factors.shape[0]:
        raise ValueError(f"latents (N, D) and factors (N, K) must have the same N, got "
                         f"{tuple(latents.shape)} and {tuple(factors.shape)}.")
    if latents.is_floating_point() or factors.is_floating_point():
        raise ValueError("latents and factors must be discrete codes: pass them through discretize() first.")
    n, d = latents.shape
    k = factors.shape[1]
    a_bins, b_bins = int(latents.max()) + 1, int(factors.max()) + 1
    pair = (latents[:, :, None] * b_bins + factors[:, None, :]).reshape(n, d * k)     # joint code per (j, k)
    joint = torch.zeros(d * k, a_bins * b_bins, dtype=torch.float64)
    joint.scatter_add_(1, pair.T.long(), torch.ones(d * k, n, dtype=torch.float64))
    joint = joint.view(d, k, a_bins, b_bins) / n
    pa, pb = joint.sum(dim=3, keepdim=True), joint.sum(dim=2, keepdim=True)
    ratio = joint / (pa * pb).clamp_min(1e-300)
    return (joint * torch.log(ratio.clamp_min(1e-300))).sum(dim=(2, 3)).clamp_min(0).float()


def mutual_information_gap(mi: Tensor, factor_entropy: Tensor) -> Tensor:
    """MIG per factor: ``(top1 − top2 of mi[:, k]) / H(v_k)``; ``mi (D, K)``, ``factor_entropy (K,)`` ``-> (K,)``."""
    if mi.ndim != 2 or mi.shape[0] < 2 or factor_entropy.shape != (mi.shape[1],):
        raise ValueError(f"mi must be (D, K) with D >= 2 and factor_entropy (K,), got {tuple(mi.shape)} and "
                         f"{tuple(factor_entropy.shape)}.")
    top = mi.topk(2, dim=0).values
    return (top[0] - top[1]) / factor_entropy.float().clamp_min(1e-12)
