"""Item caps of the data registry (the full-profile rehearsal's max_items), and cvbook.data.cap."""
import numpy as np
import pytest
import torch
from torch.utils.data import Subset, TensorDataset

from cvbook import data, profile
from cvbook.data import cap, registry


@pytest.fixture
def online(monkeypatch):
    """A downloaded-style dataset in a private copy of the registry: 12 generated images."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    data.register(data.DatasetInfo("online-shapes", "classification", False,
                                   lambda split, **kw: data.ShapesClassification(n=12, split=split, **kw)))
    return data.ShapesClassification(n=12, split="test")


def test_no_cap_by_default(online):
    with profile.override(max_items=None):
        ds = data.load("online-shapes", split="test")
    assert len(ds) == 12 and isinstance(ds, data.ShapesClassification)


def test_the_cap_keeps_the_first_items_as_a_plain_subset(online):
    with profile.override(max_items=5):
        capped = data.load("online-shapes", split="test")
    assert type(capped) is Subset and len(capped) == 5 and list(capped.indices) == [0, 1, 2, 3, 4]
    assert capped.dataset.classes == online.classes
    for i in range(5):
        assert torch.equal(capped[i][0], online[i][0]) and capped[i][1] == online[i][1]
    assert [y for _, y in capped] == [online[i][1] for i in range(5)]  # iteration stops at the cap


def test_an_explicit_max_items_beats_the_settings(online):
    with profile.override(max_items="5,online-shapes=7"):
        assert len(data.load("online-shapes", split="test")) == 7
        assert len(data.load("online-shapes", split="test", max_items=3)) == 3
        assert len(data.load("online-shapes", split="test", max_items=100)) == 12
    assert len(data.load("online-shapes", split="test", max_items=4)) == 4


def test_generated_datasets_keep_the_size_asked_for():
    with profile.override(max_items=5):
        shapes = data.load("shapes", split="test", n=12)
    assert len(shapes) == 12 and len(shapes.batch) == 12  # notebooks use .batch next to the items


def test_the_generated_entry_makes_fewer_items():
    with profile.override(max_items="5,generated=7,shapes10=3"):
        shapes = data.load("shapes", split="test", n=12)
        assert isinstance(shapes, data.ShapesDetection) and len(shapes) == 7 and len(shapes.batch) == 7
        assert len(data.load("shapes", split="test", n=4)) == 4  # fewer than the cap: as asked
        assert len(data.load("shapes10", split="test", n=12)) == 3  # a set's own entry first
        assert len(data.load("shapes", split="test", n=12, max_items=2)) == 2
        scenes, boxes = data.compose_face_scenes(12, image_size=64, face_size=(16, 24))
        assert len(scenes) == len(boxes) == 7


def test_per_dataset_caps(online):
    with profile.override(max_items="4, online-shapes=7"):
        assert len(data.load("online-shapes", split="test")) == 7
    with profile.override(max_items="cifar10=3"):
        assert len(data.load("online-shapes", split="test")) == 12


def test_cap_refuses_what_is_not_a_dataset():
    painting = np.zeros((384, 512, 3), np.uint8)
    with pytest.raises(TypeError, match="never capped"):
        cap.cap(painting, 16)
    with pytest.raises(TypeError, match="Dataset"):
        cap.cap([1, 2, 3], 2)
    with pytest.raises(ValueError, match="max_items"):
        cap.cap(TensorDataset(torch.arange(3)), 0)


def test_the_painting_is_never_capped(monkeypatch):
    """The style chapter's painting is one (H, W, 3) image: a cap on items must not cut its rows."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    painting = np.arange(40 * 30 * 3, dtype=np.uint8).reshape(40, 30, 3)
    real = registry.info("painting")
    data.register(data.DatasetInfo("painting", real.task, False, lambda split="all": painting, cut=real.cut))
    with profile.override(max_items=16):
        assert data.load("painting") is painting


def test_torchvision_datasets_keep_their_class_and_attributes():
    class Like:  # torchvision's CIFAR10 keeps its items in .data (N, 32, 32, 3) and .targets (a list)
        classes = ["a", "b"]

        def __init__(self):
            self.data, self.targets = np.arange(10 * 4).reshape(10, 2, 2), list(range(10))

        def __len__(self):
            return len(self.data)

    short = cap.cap_torchvision(Like(), 3)
    assert isinstance(short, Like) and len(short) == 3 and short.targets == [0, 1, 2]
    assert np.array_equal(short.data, np.arange(12).reshape(3, 2, 2)) and short.classes == ["a", "b"]
    assert len(cap.cap_torchvision(Like(), None)) == 10 and len(cap.cap_torchvision(Like(), 50)) == 10
    with pytest.raises(TypeError, match="cap\\(\\)"):
        cap.cap_torchvision(TensorDataset(torch.arange(3)), 2)
    assert registry.info("cifar10").cut is cap.cap_torchvision and registry.info("mnist").cut is cap.cap_torchvision
