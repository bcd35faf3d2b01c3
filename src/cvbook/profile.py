"""Run profiles and settings: one code path, two sizes, one place that reads the environment.

Every notebook runs in one of two profiles, chosen by the environment variable
``CVBOOK_PROFILE``:

- ``quick``: CPU, offline. Data the project generates or that installed packages
  ship; small enough that the whole book runs on 2 cores in minutes.
- ``full``: a GPU and the internet. Real datasets and pretrained weights.
- ``auto`` (the default): ``full`` when CUDA is available, else ``quick``.

The profile and the other run-wide choices are one frozen :class:`Settings`, read from the
environment once, at the first call of :func:`settings`. No other module of the library reads the
environment (``cvbook.grade`` builds the environment of its sandboxes, which is another matter):

- ``CVBOOK_PROFILE``: ``profile``, ``quick`` | ``full`` | ``auto`` (default ``auto``);
- ``CVBOOK_DATA``: ``data_root``, where datasets are kept (default ``~/.cache/cvbook``);
- ``CVBOOK_SOURCES``: ``sources_path``, the dataset source table (default the packaged ``sources.json``);
- ``CVBOOK_MAX_STEPS``: ``max_steps``, optimiser steps per ``fit`` (default none: no cap);
- ``CVBOOK_MAX_BATCH``: ``max_batch``, items per training batch (default none);
- ``CVBOOK_MAX_ITEMS``: ``max_items``, items per dataset, an :class:`ItemCaps` (default none).

The three caps exist for the full-profile rehearsal (``tools/rehearsal``), which runs every
notebook's real code path on a handful of items; :func:`banner` prints them, so a capped run says
so in its first cell. Tests and tools change settings inside a block with :func:`override`.

A notebook asks for its sizes with :func:`pick`::

    >>> from cvbook import profile
    >>> epochs = profile.pick(quick=2, full=30)

and makes a run repeatable with :func:`seed_everything`. Python's string hashing is seeded by
``PYTHONHASHSEED``, which only counts when it is set *before* the interpreter starts (the
Makefile and the graders set ``PYTHONHASHSEED=0``); no function here can change it afterwards.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import platform
import random
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

__all__ = ["Settings", "ItemCaps", "settings", "from_environment", "override", "reload",
           "name", "is_quick", "is_full", "pick", "device", "seed_everything", "banner"]

PROFILES = ("quick", "full", "auto")
T = TypeVar("T")

#: The environment variable of each setting.
VARIABLES = {"profile": "CVBOOK_PROFILE", "data_root": "CVBOOK_DATA", "sources_path": "CVBOOK_SOURCES",
             "max_steps": "CVBOOK_MAX_STEPS", "max_batch": "CVBOOK_MAX_BATCH", "max_items": "CVBOOK_MAX_ITEMS"}
GENERATED = "generated"  # the ItemCaps entry that caps every generated dataset


def default_data_root() -> Path:
    """``~/.cache/cvbook``: where datasets live unless ``CVBOOK_DATA`` says otherwise."""
    return Path.home() / ".cache" / "cvbook"


def packaged_sources() -> Path:
    """The dataset source table that ships with the package (``cvbook/data/sources.json``)."""
    return Path(__file__).with_name("data") / "sources.json"


@dataclass(frozen=True)
class ItemCaps:
    """At most how many items each dataset has (``CVBOOK_MAX_ITEMS``); empty: no cap.

    ``default`` caps every downloaded dataset; ``per_dataset`` holds a dataset's own cap, and its
    entry ``"generated"`` the cap of every generated dataset (which has no default cap). The text
    form is a number, optionally followed by ``dataset=count`` entries::

        CVBOOK_MAX_ITEMS=8                # every downloaded dataset: at most 8 items
        CVBOOK_MAX_ITEMS="8,voc2007=32"   # VOC 2007 keeps 32 (a loader drops incomplete batches of 32)
        CVBOOK_MAX_ITEMS="8,generated=64" # and a generated set is made with at most 64 items

    >>> ItemCaps.parse("8,voc2007=32").for_dataset("voc2007")
    32
    """

    default: int | None = None
    per_dataset: tuple[tuple[str, int], ...] = ()

    @classmethod
    def parse(cls, text: str, variable: str = VARIABLES["max_items"]) -> ItemCaps:
        """The caps written as ``"8,voc2007=32,generated=64"`` (commas or spaces between entries)."""
        default, per_dataset = None, {}
        for token in text.replace(",", " ").split():
            key, _, number = token.rpartition("=")
            if not number.isdigit() or int(number) < 1:
                raise ValueError(f"{variable}={text!r}: each entry must be a positive count, optionally "
                                 f"'dataset=count' (e.g. {variable}=8,voc2007=32), or unset it for no cap")
            if key:
                per_dataset[key] = int(number)
            else:
                default = int(number)
        return cls(default, tuple(per_dataset.items()))

    def __bool__(self) -> bool:
        return self.default is not None or bool(self.per_dataset)

    def for_dataset(self, name: str | None = None) -> int | None:
        """The cap of the downloaded dataset ``name`` (its own entry, else the default); None: whole."""
        return dict(self.per_dataset).get(name, self.default) if name is not None else self.default

    def for_generated(self, name: str) -> int | None:
        """The cap of the generated dataset ``name``: its own entry, else the ``generated`` one."""
        own = dict(self.per_dataset)
        return own.get(name, own.get(GENERATED))

    def __str__(self) -> str:
        """The text form, as ``CVBOOK_MAX_ITEMS`` takes it."""
        entries = ([str(self.default)] if self.default is not None else []) + [f"{k}={v}" for k, v in self.per_dataset]
        return ",".join(entries)


@dataclass(frozen=True)
class Settings:
    """The run-wide settings (see the module's table); read by :func:`settings`.

    ``profile`` is resolved (``"quick"`` or ``"full"``, never ``"auto"``). A cap of None means none.
    """

    profile: str
    data_root: Path = field(default_factory=default_data_root)
    sources_path: Path = field(default_factory=packaged_sources)
    max_steps: int | None = None
    max_batch: int | None = None
    max_items: ItemCaps = ItemCaps()

    def __post_init__(self) -> None:
        if self.profile not in ("quick", "full"):
            raise ValueError(f"Settings.profile={self.profile!r}: use 'quick' or 'full' "
                             f"(profile.override resolves 'auto')")
        for name in ("max_steps", "max_batch"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name}={value!r}: give a positive whole number, or None for no cap")
        if not isinstance(self.max_items, ItemCaps):
            raise TypeError(f"max_items must be an ItemCaps, got {type(self.max_items).__name__}; "
                            f"build one with ItemCaps.parse('16,voc2007=32')")

    @property
    def capped(self) -> bool:
        """True when any cap is set (a rehearsal run, not a real one)."""
        return self.max_steps is not None or self.max_batch is not None or bool(self.max_items)

    def describe_caps(self) -> str:
        """The caps in words, e.g. ``at most 1 step per fit, 2 items per batch, 16 items per dataset``."""
        parts = []
        if self.max_steps is not None:
            parts.append(f"{self.max_steps} step{'s' * (self.max_steps != 1)} per fit")
        if self.max_batch is not None:
            parts.append(f"{self.max_batch} item{'s' * (self.max_batch != 1)} per batch")
        if self.max_items.default is not None:
            parts.append(f"{self.max_items.default} items per dataset")
        parts += [f"{n} items of {k}" for k, n in self.max_items.per_dataset]
        return "at most " + ", ".join(parts) if parts else "none"


def _resolve_profile(value: str, variable: str = VARIABLES["profile"]) -> str:
    requested = str(value).strip().lower() or "auto"
    if requested not in PROFILES:
        raise ValueError(f"{variable}={value!r} is not a profile; use one of {', '.join(PROFILES)}.")
    if requested == "auto":
        return "full" if torch.cuda.is_available() else "quick"
    return requested


def _count(text: str, variable: str, unit: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{variable}={text!r}: give a positive number of {unit} (e.g. {variable}=2), "
                         f"or unset it for no cap")
    return int(text)


def from_environment(environ: Mapping[str, str]) -> Settings:
    """The :class:`Settings` that the variables in ``environ`` ask for (missing ones: defaults).

    >>> from_environment({"CVBOOK_PROFILE": "quick", "CVBOOK_MAX_STEPS": "1"}).max_steps
    1
    """
    get = lambda key: environ.get(VARIABLES[key], "")  # noqa: E731
    data_root = Path(get("data_root")).expanduser() if get("data_root").strip() else default_data_root()
    sources = Path(get("sources_path")).expanduser() if get("sources_path").strip() else packaged_sources()
    return Settings(
        profile=_resolve_profile(get("profile")),
        data_root=data_root,
        sources_path=sources,
        max_steps=_count(get("max_steps"), VARIABLES["max_steps"], "optimiser steps"),
        max_batch=_count(get("max_batch"), VARIABLES["max_batch"], "items per batch"),
        max_items=ItemCaps.parse(get("max_items")),
    )


_overrides: list[Settings] = []


@functools.lru_cache(maxsize=1)
def _from_process_environment() -> Settings:
    return from_environment(os.environ)


def settings() -> Settings:
    """The settings of this run: read from the environment at the first call, then kept.

    Inside :func:`override`, the overriding settings.
    """
    return _overrides[-1] if _overrides else _from_process_environment()


def reload() -> Settings:
    """Read the environment again (after a change of ``os.environ``); return the new settings."""
    _from_process_environment.cache_clear()
    return settings()


def _coerce(key: str, value: Any) -> Any:
    """A value given to :func:`override` as the :class:`Settings` field wants it."""
    if key == "profile":
        return _resolve_profile(value, "profile")
    if key in ("data_root", "sources_path"):
        return Path(value).expanduser()
    if key == "max_items":
        if value is None:
            return ItemCaps()
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return ItemCaps.parse(value, "max_items") if isinstance(value, str) else value
    return value


@contextlib.contextmanager
def override(**fields: Any) -> Iterator[Settings]:
    """Replace some settings inside a ``with`` block (tests, tools); yields the settings in force.

    Fields as :class:`Settings` names them; ``profile`` may be ``"auto"``, paths may be strings, and
    ``max_items`` an :class:`ItemCaps`, its text form (``"16,voc2007=32"``), a number or None.

    >>> with override(profile="full", max_steps=1):  # doctest: +SKIP
    ...     history = fit(model, loader, epochs=3)     # one optimiser step in all
    """
    known = {f.name for f in dataclasses.fields(Settings)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise TypeError(f"override() got unknown setting(s) {', '.join(unknown)}; the settings are "
                        f"{', '.join(sorted(known))}")
    changed = dataclasses.replace(settings(), **{k: _coerce(k, v) for k, v in fields.items()})
    _overrides.append(changed)
    try:
        yield changed
    finally:
        _overrides.remove(changed)


def name() -> str:
    """The active profile, ``"quick"`` or ``"full"`` (``auto`` resolved)."""
    return settings().profile


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
    is switched off. Returns the seed. String hashing (``PYTHONHASHSEED``) is not touched:
    it is fixed when the interpreter starts, so set it before (the Makefile sets 0).
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too
    if deterministic:
        _deterministic_kernels()
        torch.backends.cudnn.benchmark = False
        # read by cuBLAS when it makes its first handle, i.e. at the first matrix product on CUDA
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return seed


def _deterministic_kernels() -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=True)``, without importing the compiler.

    That function also sets ``torch._inductor.config.deterministic``, and importing that config
    imports torch's compiler stack (``torch._inductor``, ``torch._dynamo``, sympy, triton): about
    1.2 s of CPU in every kernel, more than seeding itself. The book never calls ``torch.compile``,
    so until something has loaded the compiler only the eager flag is set (the same call's first
    half); once it is loaded, the public function sets both.
    """
    if "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch._C._set_deterministic_algorithms(True, warn_only=True)


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    import cvbook

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        # from the installed metadata: importing torchvision costs ~1.5 s of CPU in a notebook that needs none of it
        "torchvision": version("torchvision"),
        "cvbook": cvbook.__version__,
    }


def banner(seed: int | None = 0) -> None:
    """Print the profile, the device, the library versions and any setting that differs from its default.

    A capped run (the rehearsal) says so: ``caps: at most 1 step per fit, 2 items per batch, ...``.
    The full profile also names where datasets are kept. When ``seed`` is not ``None`` the run is
    also seeded with :func:`seed_everything`.
    """
    now = settings()
    dev = device()
    detail = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or platform.machine()
    lines = [
        f"profile: {now.profile}  (set CVBOOK_PROFILE=quick|full|auto to change)",
        *([f"caps:    {now.describe_caps()}  (a rehearsal: CVBOOK_MAX_STEPS, _BATCH, _ITEMS)"] if now.capped else []),
        f"device:  {dev} ({detail}), {torch.get_num_threads()} CPU threads",
        "versions: " + ", ".join(f"{k} {v}" for k, v in _versions().items()),
    ]
    if now.profile == "full" or now.data_root != default_data_root():
        lines.append(f"data:    {now.data_root}  (CVBOOK_DATA)")
    if now.sources_path != packaged_sources():
        lines.append(f"sources: {now.sources_path}  (CVBOOK_SOURCES)")
    if seed is not None:
        seed_everything(seed)
        lines.append(f"seed:    {seed}")
    print("\n".join(lines))
