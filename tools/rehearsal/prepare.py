"""Build the stand-ins once per run of the rehearsal, safely from several pytest workers.

Everything lives under ``_build/rehearsal/`` (ignored by git): ``standins/`` (rebuilt when a
stand-in module or the sources table changes), ``torch_home/`` (weight stand-ins, rebuilt for
another torch or torchvision), ``runs/<notebook>/`` (each notebook's working folder and
executed copy) and ``results/<notebook>.json``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import shutil
from pathlib import Path

from rehearsal import datasets, weights

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "_build" / "rehearsal"


@contextlib.contextmanager
def locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fingerprint(parts: list[str]) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def standins(build: Path = BUILD) -> Path:
    """``build/standins``, rebuilt unless its stamp matches the stand-in modules and the table."""
    folder = build / "standins"
    files = sorted(datasets.STANDINS.glob("*.py"))
    stamp = _fingerprint([p.read_text() for p in files] + [json.dumps(datasets.upstream_table(), sort_keys=True)])
    with locked(build / "standins.lock"):
        if (folder / "STAMP").exists() and (folder / "STAMP").read_text() == stamp:
            return folder
        shutil.rmtree(folder, ignore_errors=True)
        datasets.build_all(folder)
        (folder / "STAMP").write_text(stamp)
    return folder


def torch_home(build: Path = BUILD) -> Path:
    """``build/torch_home`` with a stand-in for every weights file the notebooks and package use."""
    import torch
    import torchvision

    folder = build / "torch_home"
    stamp = f"torch {torch.__version__}, torchvision {torchvision.__version__}"
    with locked(build / "torch_home.lock"):
        if not (folder / "STAMP").exists() or (folder / "STAMP").read_text() != stamp:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            (folder / "STAMP").write_text(stamp)
        weights.build(folder)
    return folder
