"""The CPU costs that ``tools/t4_estimates.py`` uses, measured on this machine.

    python benchmarks/t4_measure.py            # every cost: about a minute of CPU
    python benchmarks/t4_measure.py pipelines  # only the input pipelines (PIPELINE_MS)

One torch thread (and one BLAS thread: set ``OMP_NUM_THREADS=1`` before Python starts),
``time.process_time`` (CPU time, so other jobs on the machine inflate it little), a handful of
items each. Real images are stand-ins: scikit-image's astronaut resized to 500×375 and saved as
a JPEG (VOC's and Oxford-IIIT Pet's typical size) with a PNG mask or trimap; 32×32 crops of it for
CIFAR-10; scikit-learn's digits, tiled and jittered to MNIST's 60,000×784, for the regression.
Prints ``key: milliseconds`` per item, the keys of ``PIPELINE_MS`` and ``CPU_MS``.
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def per_item(fn: Callable[[], object], n: int, items_per_call: int = 1, warm: int = 1) -> float:
    """CPU milliseconds per item of ``fn`` (``items_per_call`` items per call)."""
    for _ in range(warm):
        fn()
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / (n * items_per_call) * 1e3


def photo_files(folder: Path) -> tuple[Path, Path, Path]:
    """A 500×375 JPEG, a VOC-style palette mask and an Oxford-IIIT Pet-style trimap."""
    from skimage import data as skdata
    from skimage.transform import resize

    image = (resize(skdata.astronaut(), (375, 500), anti_aliasing=True) * 255).astype(np.uint8)
    Image.fromarray(image).save(folder / "image.jpg", quality=90)
    mask = np.zeros((375, 500), np.uint8)
    mask[80:300, 100:350], mask[78:82, 100:350], mask[200:260, 360:450] = 15, 255, 7
    Image.fromarray(mask, mode="P").save(folder / "mask.png")
    trimap = np.full((375, 500), 2, np.uint8)
    trimap[80:300, 100:350], trimap[78:82, 100:350] = 1, 3
    Image.fromarray(trimap).save(folder / "trimap.png")
    return folder / "image.jpg", folder / "mask.png", folder / "trimap.png"


def pipelines(folder: Path) -> dict[str, float]:
    from torch.utils.data import default_collate
    from torchvision.transforms import v2

    from cvbook.data.nuclei import NucleiPatches
    from cvbook.data.pets import OxfordPets
    from cvbook.data.voc import voc_segmentation_transforms
    from cvbook.segmentation.augment import elastic_deformation

    jpeg, mask, trimap = photo_files(folder)
    pixels = np.ascontiguousarray(np.asarray(Image.open(jpeg))[:32, :32])
    plain = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
    train_seg, eval_seg = voc_segmentation_transforms(320, train=True), voc_segmentation_transforms(train=False)
    pets_root = folder / "pets"
    (pets_root / "images").mkdir(parents=True)
    (pets_root / "annotations" / "trimaps").mkdir(parents=True)
    (pets_root / "images" / "cat_1.jpg").write_bytes(jpeg.read_bytes())
    (pets_root / "annotations" / "trimaps" / "cat_1.png").write_bytes(trimap.read_bytes())
    (pets_root / "annotations" / "trainval.txt").write_text("cat_1 1 1 1\n")
    pets = OxfordPets(pets_root, "trainval", size=160, train=True)
    nuclei = NucleiPatches("train", n=64, size=96)
    generator = torch.Generator().manual_seed(0)

    def voc_item():  # what torchvision's VOCSegmentation item reads
        return Image.open(jpeg).convert("RGB"), Image.open(mask)

    def elastic_batch():
        images, masks = default_collate([nuclei[i] for i in range(8)])
        elastic_deformation(images, masks, grid=3, std=10.0, generator=generator)

    return {
        "cifar plain": per_item(lambda: plain(Image.fromarray(pixels)), 2_000),
        "voc seg train": per_item(lambda: train_seg(*voc_item()), 40),
        "voc seg eval": per_item(lambda: eval_seg(*voc_item()), 40),
        "pets 160": per_item(lambda: pets[0], 40),
        "nuclei": per_item(lambda: nuclei[3], 200),
        "nuclei elastic": per_item(elastic_batch, 40, items_per_call=8),
    }


def cpu_work() -> dict[str, float]:
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    from cvbook import boxes, data
    from cvbook.detection import sliding, yolo, yolo_loss
    from cvbook.generative.compression import jpeg_roundtrip
    from cvbook.train import QUIET, fit

    costs = {}
    shapes = data.load("shapes", split="train", n=320)
    grid = yolo.encode_grid(shapes.batch.boxes, shapes.batch.labels, image_size=64, grid_size=8, num_boxes=2,
                            num_classes=3)
    model = yolo.SmallYOLO(num_classes=3, num_boxes=2)
    loader = DataLoader(TensorDataset(shapes.batch.images.float() / 255, grid), batch_size=32, shuffle=True)
    train_yolo = partial(fit, model, loader, epochs=1, lr=2e-3, device="cpu", report=QUIET,
                         loss_fn=partial(yolo_loss.yolo_v1_loss, num_boxes=2, num_classes=3))
    costs["small YOLO training image"] = per_item(train_yolo, 1, items_per_call=320)
    test_images = shapes.batch.images[:200].float() / 255
    costs["small YOLO detection image"] = per_item(lambda: model.detect(test_images, score_threshold=0.01), 3,
                                                   items_per_call=200)

    # chapter 7: the frozen 16×16 feature CNN, the window features, a full-batch linear head
    source = data.generate_shapes(4_000, size=16, classes=3, min_objects=1, max_objects=1, radius=(0.25, 0.4), seed=7)
    features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    net = nn.Sequential(features, nn.Linear(256, 3))
    x, y = source.images.float() / 255, source.labels[:, 0]
    batches = [(x[i], y[i]) for i in torch.randperm(len(x)).split(64)]
    costs["16×16 CNN pretraining image"] = per_item(
        lambda: fit(net, batches, epochs=1, loss_fn=nn.CrossEntropyLoss(), device="cpu", report=QUIET), 1,
        items_per_call=len(x), warm=0)
    windows = sliding.sliding_windows(64, 64, [(16, 16), (24, 24), (32, 32)], stride=4)
    scenes = data.load("shapes", split="train", n=20).batch

    def window_features():
        for i in range(20):
            with torch.no_grad():
                features(sliding.crop_windows(scenes.images[i].float() / 255, windows, 16))
            boxes.box_iou(windows, scenes.boxes[i][scenes.labels[i] >= 0])

    costs["window features image"] = per_item(window_features, 2, items_per_call=20)
    head = nn.Linear(256, 4)
    rows = [(torch.randn(56_000, 256), torch.randint(0, 4, (56_000,)))]
    costs["linear head step"] = per_item(
        lambda: fit(head, rows, steps=20, loss_fn=nn.CrossEntropyLoss(), device="cpu", report=QUIET), 1,
        items_per_call=20)

    # chapter 17: biharmonic inpainting, JPEG round trips, a logistic regression of MNIST's size
    from skimage.restoration import inpaint_biharmonic
    from sklearn.linear_model import LogisticRegression

    digits = data.load("digits", "test")
    grey = np.asarray(digits.data, dtype=np.float64).reshape(len(digits.data), 28, 28)
    grey /= grey.max()
    hole = np.zeros((28, 28), bool)
    hole[7:21, 5:19] = True
    holed = np.where(hole, 0.0, grey[0])
    costs["biharmonic inpainting digit"] = per_item(lambda: inpaint_biharmonic(holed, hole), 10)
    pixels = (grey[:100] * 255).round().astype(np.uint8)
    costs["JPEG round trips digit"] = per_item(lambda: [jpeg_roundtrip(pixels, q) for q in (1, 5, 10, 20, 40, 70, 90)],
                                               2, items_per_call=100)
    reps = 60_000 // len(grey) + 1
    rows_x = np.tile(grey.reshape(len(grey), -1), (reps, 1))[:60_000]
    rows_x = np.clip(rows_x + np.random.default_rng(0).normal(0, 0.05, rows_x.shape), 0, 1)
    labels = np.tile(np.asarray(digits.targets), reps)[:60_000]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 20 iterations do not converge: only their cost matters
        start = time.process_time()
        fitted = LogisticRegression(max_iter=20).fit(rows_x, labels)
        costs["logistic regression iteration"] = (time.process_time() - start) / fitted.n_iter_[0] * 1e3
    return costs


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        costs = pipelines(Path(tmp)) if argv in ([], ["pipelines"]) else {}
    if argv in ([], ["cpu"]):
        costs.update(cpu_work())
    for key, ms in costs.items():
        print(f"{key}: {ms:.3g} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
