"""CIFAR-10 stand-in: ``cifar-10-python.tar.gz`` in the upstream layout and pickle format.

Upstream: a gzipped tar holding ``cifar-10-batches-py/`` with ``data_batch_1`` … ``data_batch_5``,
``test_batch``, ``batches.meta`` and ``readme.html``. Each batch is a pickle of a dict with
``batch_label`` (str), ``labels`` (list of int), ``data`` (``(N, 3072)`` uint8, the red, green and
blue 32×32 planes of each image in row-major order) and ``filenames``; ``batches.meta`` holds
``label_names``, ``num_cases_per_batch`` and ``num_vis``. Here each batch has 8 images of one
generated shape per image, the class being the shape (10 shapes for 10 classes); the test batch
has 20, the classes in turn (any 10 consecutive test images hold every class, as in the real
balanced test set).
"""

from __future__ import annotations

import pickle
from pathlib import Path

from _common import balanced_shapes, write_tar

LABEL_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
PER_BATCH, TEST = 8, 20


def batch(title: str, seed: int, n: int = PER_BATCH) -> bytes:
    images, _, labels = balanced_shapes(n, 32, 10, seed=seed)
    data = images.transpose(0, 3, 1, 2).reshape(n, 3072)  # planes R, G, B, each row-major
    entry = {"batch_label": title, "labels": [int(c) for c in labels], "data": data,
             "filenames": [f"standin_{seed}_{i}.png" for i in range(n)]}
    return pickle.dumps(entry, protocol=2)


def build(folder: Path) -> None:
    root = "cifar-10-batches-py"
    members = {f"{root}/data_batch_{k}": batch(f"training batch {k} of 5", seed=100 + k) for k in range(1, 6)}
    members[f"{root}/test_batch"] = batch("testing batch 1 of 1", seed=200, n=TEST)
    members[f"{root}/batches.meta"] = pickle.dumps(
        {"num_cases_per_batch": PER_BATCH, "label_names": LABEL_NAMES, "num_vis": 3072}, protocol=2)
    members[f"{root}/readme.html"] = b"<meta HTTP-EQUIV=\"REFRESH\" content=\"0; url=https://www.cs.toronto.edu/~kriz/cifar.html\">\n"
    write_tar(folder / "cifar-10-python.tar.gz", members, mode="w:gz")
