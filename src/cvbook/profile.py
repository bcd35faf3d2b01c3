"""Run profiles: one code path, two sizes.

Every notebook runs in one of two profiles, chosen by the environment variable
``CVBOOK_PROFILE``:

- ``quick``: CPU, offline. Data the project generates or that installed packages
  ship; small enough that the whole book runs on 2 cores in minutes.
- ``full``: a GPU and the internet. Real datasets and pretrained weights.
- ``auto`` (the default): ``full`` when CUDA is available, else ``quick``.

A notebook asks for its sizes with :func:`pick`::

    >>> from cvbook import profile
    >>> epochs = profile.pick(quick=2, full=30)

and makes a run repeatable with :func:`seed_everything`.
"""

from __future__ import annotations

import os
import platform
import random
from typing import TypeVar

import numpy as np
import torch

__all__ = ["name", "is_quick", "is_full", "pick", "device", "seed_everything", "banner"]

PROFILES = ("quick", "full", "auto")
T = TypeVar("T")


def name() -> str:
    """The active profile, ``"quick"`` or ``"full"`` (``auto`` resolved)."""
    requested = os.environ.get("CVBOOK_PROFILE", "auto").strip().lower() or "auto"
    if requested not in PROFILES:
        raise ValueError(
            f"CVBOOK_PROFILE={requested!r} is not a profile; use one of {', '.join(PROFILES)}."
        )
    if requested == "auto":
        return "full" if torch.cuda.is_available() else "quick"
    return requested


def is_quick() -> bool:
    """True in the quick (CPU, offline) profile."""
    return name() == "quick"


def is_full() -> bool:
    """True in the full (GPU, internet) profile."""
    return name() == "full"


def pick(*, quick: T, full: T) -> T:
    """Return the value for the active profile.

    >>> pick(quick=2, full=30)  # doctest: +SKIP
    2
    """
    return quick if is_quick() else full


def device() -> torch.device:
    """The device to compute on: CUDA when present, else Apple's MPS, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0, *, deterministic: bool = True) -> int:
    """Seed Python, NumPy and torch (all devices) so that two runs print the same numbers.

    With ``deterministic=True`` torch is also asked for deterministic kernels where they
    exist (``warn_only``, so an operation without one still runs) and cuDNN benchmarking
    is switched off. Returns the seed.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too
    os.environ["PYTHONHASHSEED"] = str(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return seed


def _versions() -> dict[str, str]:
    import torchvision

    import cvbook

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cvbook": cvbook.__version__,
    }


def banner(seed: int | None = 0) -> None:
    """Print the profile, the device and the library versions.

    When ``seed`` is not ``None`` the run is also seeded with :func:`seed_everything`.
    """
    dev = device()
    detail = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or platform.machine()
    lines = [
        f"profile: {name()}  (set CVBOOK_PROFILE=quick|full|auto to change)",
        f"device:  {dev} ({detail}), {torch.get_num_threads()} CPU threads",
        "versions: " + ", ".join(f"{k} {v}" for k, v in _versions().items()),
    ]
    if seed is not None:
        seed_everything(seed)
        lines.append(f"seed:    {seed}")
    print("\n".join(lines))
