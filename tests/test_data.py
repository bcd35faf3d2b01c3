"""The dataset registry and the shapes generator (downloads: tests/test_download.py)."""
import time

import numpy as np
import pytest
import torch
from torchvision.ops import masks_to_boxes

from cvbook import data


def test_registry():
    assert {"cifar10", "fashion-mnist", "voc2007", "penn-fudan", "digits", "shapes10", "shapes"} <= set(data.names())
    assert set(data.names("detection")) >= {"shapes", "voc2007"}
    with pytest.raises(KeyError, match="registered"):
        data.info("imagenet-22k")


# --- offline datasets ---------------------------------------------------------------------

def test_photos_are_real_rgb_images():
    for name in data.PHOTOS:
        img = data.photo(name)
        assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8 and img.std() > 20
    with pytest.raises(ValueError, match="choose from"):
        data.photo("lena")


def test_digits_split_is_stratified_and_disjoint():
    train, test = data.load("digits", split="train"), data.load("digits", split="test")
    assert len(train) + len(test) == 1797
    assert train[0][0].shape == (1, 28, 28)
    assert torch.bincount(test.targets).min() >= 40


# --- shapes -------------------------------------------------------------------------------

def test_shapes_are_deterministic_by_seed():
    a, b, c = data.generate_shapes(50, seed=7), data.generate_shapes(50, seed=7), data.generate_shapes(50, seed=8)
    assert torch.equal(a.images, b.images) and torch.equal(a.boxes, b.boxes) and torch.equal(a.instances, b.instances)
    assert not torch.equal(a.images, c.images)


def test_shapes_boxes_are_exact_tight_boxes_of_the_masks():
    batch = data.generate_shapes(300, size=64, max_objects=4, seed=1)
    valid = batch.labels >= 0
    assert valid[:, 0].all() and valid.sum(1).float().mean() > 1.8
    counts = valid.sum(1)
    # Padding rows sit after the objects.
    assert torch.equal(valid, torch.arange(4)[None] < counts[:, None])
    masks = batch.instances[:, None] == torch.arange(1, 5, dtype=torch.uint8)[None, :, None, None]
    ref = masks_to_boxes(masks[valid]) + torch.tensor([0.0, 0.0, 1.0, 1.0])  # inclusive -> pixel-edge
    assert torch.equal(batch.boxes[valid], ref)
    assert (batch.boxes[~valid] == 0).all()
    assert (batch.boxes[valid] >= 0).all() and (batch.boxes[valid] <= 64).all()
    # (Overlapping objects would hide pixels of each other and break the equality above.)


def test_semantic_masks_and_d2l_labels():
    batch = data.generate_shapes(20, seed=2)
    sem = batch.semantic_masks()
    for i in range(20):
        for k in range(int((batch.labels[i] >= 0).sum())):
            assert (sem[i][batch.instances[i] == k + 1] == batch.labels[i, k] + 1).all()
    assert (sem[batch.instances == 0] == 0).all()
    lab = batch.d2l_labels()
    assert lab.shape == (20, 4, 5)
    assert torch.equal(lab[..., 0] >= 0, batch.labels >= 0)
    assert torch.allclose(lab[batch.labels >= 0][:, 1:] * 64, batch.boxes[batch.labels >= 0])


def test_shapes_detection_dataset_items():
    ds = data.load("shapes", split="test", n=10)
    image, target = ds[0]
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
    assert target["masks"].shape[0] == target["boxes"].shape[0] == target["labels"].shape[0] >= 1
    assert torch.equal(masks_to_boxes(target["masks"]) + torch.tensor([0.0, 0, 1, 1]), target["boxes"])
    train = data.load("shapes", split="train", n=10)
    assert not torch.equal(train[0][0], image)  # splits never share images
    images, targets = data.collate_detection([ds[0], ds[1]])
    assert images.shape == (2, 3, 64, 64) and len(targets) == 2


def test_shapes10_is_cifar_shaped():
    ds = data.load("shapes10", split="train", n=200)
    image, label = ds[0]
    assert image.shape == (3, 32, 32) and 0 <= label < 10
    assert len(set(ds.targets.tolist())) == 10


def test_shapes_generator_speed():
    """At least 2,000 64×64 images per second on one core (issue: Foundation)."""
    torch_threads = torch.get_num_threads()
    data.generate_shapes(100, seed=0)
    best = min(_timed(lambda: data.generate_shapes(2000, seed=s)) for s in range(5))
    assert torch.get_num_threads() == torch_threads
    assert 2000 / best >= 2000, f"{2000 / best:.0f} images/s"


def _timed(fn) -> float:
    """CPU seconds of this process: the generator is single-threaded NumPy, and CPU time
    does not count the time other processes (a parallel test worker) hold the core."""
    start = time.process_time()
    fn()
    return time.process_time() - start


@pytest.mark.parametrize("kwargs, message", [
    ({"classes": 11}, "between 1 and 10"), ({"classes": ("circle", "blob")}, "unknown shape"),
    ({"min_objects": 3, "max_objects": 2}, "min_objects"),
    ({"size": 16, "radius": (0.2, 0.45)}, "radius=.*fit inside"), ({"size": 0}, "size must be a positive integer"),
])
def test_shapes_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.generate_shapes(2, **kwargs)


def test_pennfudan_reads_an_extracted_folder(tmp_path):
    """A fake PennFudanPed folder with two images: boxes against torchvision.ops.masks_to_boxes."""
    from PIL import Image

    from cvbook.data import pennfudan

    folder = tmp_path / "PennFudanPed"
    (folder / "PNGImages").mkdir(parents=True)
    (folder / "PedMasks").mkdir()
    rng = np.random.default_rng(0)
    for k in range(2):
        Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(folder / "PNGImages" / f"FudanPed{k:05d}.png")
        mask = np.zeros((30, 40), np.uint8)
        mask[2:20, 3:9] = 1
        mask[5:28, 20 + k:35] = 2
        Image.fromarray(mask).save(folder / "PedMasks" / f"FudanPed{k:05d}_mask.png")
    pennfudan.PennFudan.TEST_SIZE = 1
    try:
        train, test = pennfudan.PennFudan(tmp_path, "train"), pennfudan.PennFudan(folder, "test")
    finally:
        pennfudan.PennFudan.TEST_SIZE = 50
    assert len(train) == 1 and len(test) == 1
    image, target = test[0]
    assert image.shape == (3, 30, 40) and image.dtype == torch.float32 and image.max() <= 1
    expected = masks_to_boxes(target["masks"]) + torch.tensor([0.0, 0.0, 1.0, 1.0])
    torch.testing.assert_close(target["boxes"], expected)
    torch.testing.assert_close(target["boxes"], torch.tensor([[3.0, 2, 9, 20], [21, 5, 35, 28]]))
    assert target["labels"].tolist() == [1, 1] and target["masks"].shape == (2, 30, 40)
    with pytest.raises(ValueError, match="PNGImages"):
        pennfudan.PennFudan(tmp_path / "nowhere")
