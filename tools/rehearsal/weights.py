"""Pretrained-weight stand-ins: files with torchvision's exact state-dict keys and shapes.

:func:`used_weights` scans the notebooks and the package for the torchvision weights they
ask for (``ResNet50_Weights.IMAGENET1K_V2``, ``resnet50(weights="DEFAULT")``,
``SomeBackbone("resnet50", weights="DEFAULT")``, ``get_model("alexnet", weights=...)``).
:func:`build` writes, for each, the file ``torch.hub`` looks for,
``$TORCH_HOME/hub/checkpoints/<basename of the weights' URL>``, holding the state dict of
the same architecture built by torchvision's own builder, randomly initialised (seed 0), its
batch norms calibrated on a random image (:func:`calibrate_norms`) so that it can be fine-tuned.
The builder runs with the weights enum itself, so everything that a pretrained build changes
(the number of classes, frozen batch norms, auxiliary heads that are removed after loading) is
as in a real load; its ``load_state_dict`` call is intercepted to capture the state dict the
model expects at that moment. ``torch.hub.load_state_dict_from_url`` loads a cached file
without checking its hash, so ``weights="DEFAULT"`` then works offline.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[2]

ENUM = re.compile(r"\b(\w+_Weights)\.(\w+)\b")
BUILDER_CALL = re.compile(r"\b(\w+)\(\s*weights\s*=\s*[\"'](\w+)[\"']")
NAMED_MODEL = re.compile(r"[\"'](\w+)[\"']\s*,\s*weights\s*=\s*[\"'](\w+)[\"']")


def sources(root: Path = ROOT) -> Iterable[tuple[str, str]]:
    """``(where, code)`` for every notebook code cell of book/ and labs/solutions/ and every package module."""
    for path in sorted([*root.glob("book/*.ipynb"), *root.glob("labs/solutions/*.ipynb")]):
        cells = json.loads(path.read_text())["cells"]
        for i, cell in enumerate(cells):
            if cell["cell_type"] == "code":
                yield f"{path.relative_to(root)} cell {i}", "".join(cell["source"])
    for path in sorted((root / "src").rglob("*.py")):
        yield str(path.relative_to(root)), path.read_text()


def _enum_class(name: str):
    import torchvision.models as models

    for module in (models, models.detection, models.segmentation, models.video, models.optical_flow,
                   models.quantization):
        if hasattr(module, name):
            return getattr(module, name)
    return None


def resolve(code: str) -> set:
    """The torchvision weights enum members that ``code`` names (unknown names are ignored)."""
    from torchvision.models import get_model_weights

    found = set()
    for class_name, member in ENUM.findall(code):
        cls = _enum_class(class_name)
        if cls is not None and (member == "DEFAULT" or member in cls.__members__):
            found.add(cls.DEFAULT if member == "DEFAULT" else cls[member])
    for model, member in BUILDER_CALL.findall(code) + NAMED_MODEL.findall(code):
        try:
            cls = get_model_weights(model)
        except (ValueError, KeyError):
            continue  # not a torchvision builder (a cvbook function, say)
        found.add(cls.DEFAULT if member == "DEFAULT" else cls[member])
    return found


def used_weights(root: Path = ROOT) -> list:
    """Every weights enum member the notebooks and the package use, sorted by file name."""
    found = set()
    for _, code in sources(root):
        found |= resolve(code)
    return sorted(found, key=lambda w: file_name(w))


def file_name(weights) -> str:
    """The file ``torch.hub`` caches ``weights`` under: the basename of its URL."""
    from urllib.parse import urlparse

    return os.path.basename(urlparse(weights.url).path)


def builder_of(weights):
    """torchvision's model builder whose weights enum is ``type(weights)``."""
    from torchvision.models import get_model_builder, get_model_weights, list_models

    for name in list_models():
        try:
            if get_model_weights(name) is type(weights):
                return get_model_builder(name)
        except (ValueError, KeyError):
            continue
    raise LookupError(f"no torchvision builder uses {type(weights).__name__}")


class _Probe(dict):
    """The empty "state dict" handed to a builder in place of a download."""


def calibrate_norms(model) -> None:
    """Set every batch norm's running statistics to those of its own input on a random image.

    A randomly initialised network whose batch norms are frozen at mean 0 and variance 1 (as
    torchvision's pretrained detectors freeze them) amplifies its activations layer after layer;
    fine-tuning it diverges within a few steps. With each norm's statistics taken from what it
    actually receives (one forward pass, each norm calibrated before it runs), the stand-in's
    activations are normalised like a trained network's.
    """
    import torch
    from torch import nn
    from torchvision.ops.misc import FrozenBatchNorm2d

    norms = [m for m in model.modules() if isinstance(m, (nn.BatchNorm2d, FrozenBatchNorm2d))
             and getattr(m, "running_var", None) is not None]

    def set_statistics(module, args):
        x = args[0].detach()
        module.running_mean.copy_(x.mean(dim=(0, 2, 3)))
        module.running_var.copy_(x.var(dim=(0, 2, 3)) + 1e-3)

    handles = [m.register_forward_pre_hook(set_statistics) for m in norms]
    generator = torch.Generator().manual_seed(0)
    # A detector resizes its input to 800 pixels first: 320 are enough for the statistics, and
    # 6 times cheaper (the two R-CNNs took 17 s of the rehearsal's set-up at 800).
    resize = getattr(model, "transform", None)
    sizes = (resize.min_size, resize.max_size) if hasattr(resize, "min_size") else None
    if sizes:
        resize.min_size, resize.max_size = (320,), 320
    try:
        with torch.no_grad():
            model.eval()
            try:  # a classifier or a segmenter takes a batch; a detector, a list of images
                model(torch.rand(2, 3, 224, 224, generator=generator))
            except (TypeError, RuntimeError, ValueError, AssertionError):
                model([torch.rand(3, 320, 320, generator=generator)])
    finally:
        for handle in handles:
            handle.remove()
        if sizes:
            resize.min_size, resize.max_size = sizes


def expected_state_dict(weights) -> dict:
    """The state dict torchvision's builder loads for ``weights``: exact keys and shapes, random values."""
    import torch
    from torch import nn
    from torchvision.models._api import WeightsEnum

    captured = {}
    real_load = nn.Module.load_state_dict

    def load(module, state_dict, *args, **kwargs):
        if isinstance(state_dict, _Probe):
            calibrate_norms(module)
            captured["state"] = {k: v.detach().clone() for k, v in module.state_dict().items()}
            return nn.modules.module._IncompatibleKeys([], [])
        return real_load(module, state_dict, *args, **kwargs)

    torch.manual_seed(0)
    with mock.patch.object(WeightsEnum, "get_state_dict", lambda self, *a, **k: _Probe()), \
            mock.patch.object(nn.Module, "load_state_dict", load):
        builder_of(weights)(weights=weights)
    if "state" not in captured:
        raise RuntimeError(f"the builder of {weights} never loaded a state dict")
    return captured["state"]


def build(torch_home: Path, weights_list: Iterable | None = None) -> list[Path]:
    """Write a stand-in for each weights enum member into ``torch_home/hub/checkpoints/``; reuse existing files."""
    import torch

    folder = Path(torch_home) / "hub" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for weights in (used_weights() if weights_list is None else weights_list):
        path = folder / file_name(weights)
        if not path.exists():
            partial = path.with_suffix(".part")
            torch.save(expected_state_dict(weights), partial)
            partial.replace(path)
        written.append(path)
    return written
