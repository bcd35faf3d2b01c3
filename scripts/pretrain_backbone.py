"""Pretrain the quick profile's backbone on an offline source task and write the weights file.

Source task: 32×32 RGB images of the first five shapes of ``cvbook.data.SHAPE_NAMES``
(circle, square, triangle, diamond, plus), one shape per image, as in ``shapes10``.
Model: ``resnet_small(num_classes=5, widths=(16, 32, 64))`` (a ResNet-8, 78 k parameters).
Training: AdamW with a one-cycle schedule, a few epochs; one CPU thread, fixed seeds, so the
same torch version on the same kind of CPU writes the same bytes.

Usage (from the repository root)::

    python scripts/pretrain_backbone.py            # train, write src/cvbook/weights/shapes5_resnet8.pt
    python scripts/pretrain_backbone.py --check    # train, compare with the shipped file, write nothing

It prints the source-task test accuracy and the file's SHA-256, which must be recorded in
``cvbook.weights.WEIGHTS`` after a deliberate regeneration.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from cvbook import profile, weights
from cvbook.data import SHAPE_NAMES, generate_shapes
from cvbook.backbones.resnet import resnet_small
from cvbook.train import accuracy, evaluate, fit

NAME = "shapes5_resnet8"
OUT = Path(__file__).resolve().parents[1] / "src" / "cvbook" / "weights" / weights.WEIGHTS[NAME].filename


def shapes_task(classes: tuple[str, ...], n: int, seed: int) -> TensorDataset:
    """``n`` 32×32 images of one shape each (the ``shapes10`` look), as a TensorDataset."""
    b = generate_shapes(n, size=32, classes=classes, min_objects=1, max_objects=1,
                        radius=(0.2, 0.45), noise=0.06, seed=seed)
    return TensorDataset(b.images.float() / 255, b.labels[:, 0])


def pretrain(n_train: int = 4000, epochs: int = 3, seed: int = 0) -> tuple[torch.nn.Module, float]:
    """Train the backbone on the source task; returns the model and its source test accuracy."""
    profile.seed_everything(seed)
    info = weights.WEIGHTS[NAME]
    train = shapes_task(info.classes, n_train, seed=100)
    test = shapes_task(info.classes, 1000, seed=101)
    model = resnet_small(**info.arch)
    loader = DataLoader(train, batch_size=128, shuffle=True, generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=epochs * len(loader))
    fit(model, loader, epochs=epochs, optimizer=optimizer, scheduler=scheduler, device="cpu", progress=False)
    acc = evaluate(model, DataLoader(test, batch_size=500), metrics={"accuracy": accuracy})["accuracy"]
    return model.eval(), acc


def serialise(model: torch.nn.Module) -> bytes:
    """The state dict as ``torch.save`` bytes (contiguous float32 tensors)."""
    buffer = io.BytesIO()
    torch.save({k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the shipped file, write nothing")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # one thread: the same summation order on every run
    start = time.perf_counter()
    model, acc = pretrain()
    data = serialise(model)
    digest = weights.sha256(data)
    print(f"source-task test accuracy {acc:.4f}; {len(data) / 1024:.0f} kB; sha256 {digest}; "
          f"{time.perf_counter() - start:.0f} s")
    if args.check:
        shipped = weights.sha256(OUT.read_bytes())
        same = shipped == digest
        print("identical to the shipped file" if same else f"differs from the shipped file ({shipped})")
        return 0 if same else 1
    OUT.write_bytes(data)
    print(f"wrote {OUT}; record sha256={digest!r} in cvbook.weights.WEIGHTS[{NAME!r}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
