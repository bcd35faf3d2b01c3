"""CVBOOK_MAX_ITEMS: the item cap of the data registry (used by the full-profile rehearsal)."""
import pytest
import torch

from cvbook import data
from cvbook.data import cap, registry


@pytest.fixture
def online(monkeypatch):
    """A downloaded-style dataset in a private copy of the registry: 12 generated images."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    data.register(data.DatasetInfo("online-shapes", "classification", False,
                                   lambda split, **kw: data.ShapesClassification(n=12, split=split, **kw)))
    return data.ShapesClassification(n=12, split="test")


def test_no_cap_by_default(monkeypatch, online):
    monkeypatch.delenv("CVBOOK_MAX_ITEMS", raising=False)
    ds = data.load("online-shapes", split="test")
    assert len(ds) == 12 and not isinstance(ds, cap.Capped)


def test_the_cap_keeps_the_first_items_and_the_attributes(monkeypatch, online):
    monkeypatch.setenv("CVBOOK_MAX_ITEMS", "5")
    capped = data.load("online-shapes", split="test")
    assert isinstance(capped, cap.Capped) and len(capped) == 5
    assert capped.classes == online.classes  # forwarded
    assert torch.equal(capped.targets, online.targets[:5]) and torch.equal(capped.images, online.images[:5])
    for i in range(5):
        assert torch.equal(capped[i][0], online[i][0]) and capped[i][1] == online[i][1]
    assert [y for _, y in capped] == [online[i][1] for i in range(5)]  # iteration stops at the cap


def test_generated_datasets_keep_the_size_asked_for(monkeypatch):
    monkeypatch.setenv("CVBOOK_MAX_ITEMS", "5")
    shapes = data.load("shapes", split="test", n=12)
    assert len(shapes) == 12 and len(shapes.batch) == 12  # notebooks use .batch next to the items


def test_the_generated_entry_makes_fewer_items(monkeypatch):
    monkeypatch.setenv("CVBOOK_MAX_ITEMS", "5,generated=7,shapes10=3")
    shapes = data.load("shapes", split="test", n=12)
    assert not isinstance(shapes, cap.Capped) and len(shapes) == 7 and len(shapes.batch) == 7
    assert len(data.load("shapes", split="test", n=4)) == 4  # fewer than the cap: as asked
    assert len(data.load("shapes10", split="test", n=12)) == 3  # a set's own entry first
    assert cap.max_items("shapes", generated=True) == 7 and cap.max_items("shapes") == 5


def test_per_dataset_caps_and_lists(monkeypatch, online):
    monkeypatch.setenv("CVBOOK_MAX_ITEMS", "4, online-shapes=7")
    assert cap.max_items("online-shapes") == 7 and cap.max_items("cifar10") == 4 and cap.max_items() == 4
    assert len(data.load("online-shapes", split="test")) == 7
    monkeypatch.setenv("CVBOOK_MAX_ITEMS", "cifar10=3")
    assert cap.max_items("online-shapes") is None and len(data.load("online-shapes", split="test")) == 12
    listed = cap.Capped(torch.utils.data.TensorDataset(torch.arange(10)), range(3))
    listed.dataset.targets = list(range(10, 20))
    assert listed.targets == [10, 11, 12]


@pytest.mark.parametrize("value", ["0", "-3", "eight", "voc2007=x"])
def test_a_wrong_cap_says_what_to_write(monkeypatch, online, value):
    monkeypatch.setenv("CVBOOK_MAX_ITEMS", value)
    with pytest.raises(ValueError, match="CVBOOK_MAX_ITEMS"):
        data.load("online-shapes", split="test")
