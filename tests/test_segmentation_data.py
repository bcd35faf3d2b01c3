"""Part III's datasets: the stardist nuclei image, generated scenes, and the real datasets read
from their rehearsal stand-ins (served on 127.0.0.1 through CVBOOK_SOURCES), against torchvision."""

from __future__ import annotations

import functools
import hashlib
import http.server
import importlib.util
import json
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from cvbook import data, profile
from cvbook.data import nuclei, pets, shapes_segmentation, voc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools" / "rehearsal" / "standins"))


# ---------------------------------------------------------------- nuclei
def test_nuclei_image_and_split():
    image, instances = nuclei.load_nuclei()
    assert image.dtype == torch.float32 and image.shape == instances.shape == (512, 512) and 0 <= image.min() < image.max() <= 1
    assert len(torch.unique(instances)) - 1 == 125
    train, test = data.load("nuclei", split="train", n=16, size=64), data.load("nuclei", split="test")
    x, y = train[3]
    assert x.shape == (1, 64, 64) and y.shape == (64, 64) and set(torch.unique(y).tolist()) <= {0, 1}
    x, y = test[0]
    assert len(test) == 1 and x.shape == (1, 512 - nuclei.TRAIN_ROWS, 512)
    assert torch.equal(y, (instances[nuclei.TRAIN_ROWS:] > 0).long())  # the held-out rows, never in a training patch
    assert (train.corners[:, 0] + 64 <= nuclei.TRAIN_ROWS).all()
    a, b = data.load("nuclei", n=4, size=32, seed=1), data.load("nuclei", n=4, size=32, seed=1)
    assert all(torch.equal(a[i][0], b[i][0]) for i in range(4))


def test_nuclei_without_the_wheel_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "stardist" else real(name, *a))
    with pytest.raises(ValueError, match=r"pip install --no-deps stardist==0.9.2"):
        data.load("nuclei")


# ---------------------------------------------------------------- generated scenes
def test_scenes_have_touching_objects_of_several_classes():
    ds = data.load("shapes-segmentation", split="test", n=50)
    masks = ds.masks
    assert masks.min() == 0 and masks.max() == 5 and ds.classes[0] == "background" and len(ds.classes) == 6
    # neighbouring pixels of two different object classes: objects touch
    right = (masks[:, :, 1:] != masks[:, :, :-1]) & (masks[:, :, 1:] > 0) & (masks[:, :, :-1] > 0)
    assert right.any(dim=(1, 2)).float().mean() > 0.2
    image, mask = ds[0]
    assert image.shape == (3, 96, 96) and image.dtype == torch.float32 and mask.dtype == torch.int64
    other = data.load("shapes-segmentation", split="train", n=50)
    assert not torch.equal(other.images, ds.images)
    with pytest.raises(ValueError, match="classes"):
        shapes_segmentation.generate_scenes(2, classes=11)


# ---------------------------------------------------------------- real datasets from their stand-ins
@pytest.fixture
def served_standins(tmp_path, monkeypatch):
    """Build stand-ins, serve them on 127.0.0.1, point CVBOOK_SOURCES at a table of their URLs."""
    built = tmp_path / "served"

    def serve(*datasets: str):
        table = {}
        for name in datasets:
            module = __import__(name.replace("-", "_"))
            module.build(built / name)
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(built))
        handler.log_message = lambda *a: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        real = json.loads((ROOT / "src" / "cvbook" / "data" / "sources.json").read_text())
        for name in datasets:
            upstream = ("url", "urls", "md5", "sha1", "sha256")  # the stand-in's own address and checksum instead
            table[name] = {part: [{**{k: v for k, v in f.items() if k not in upstream},
                                   "urls": [f"http://127.0.0.1:{server.server_address[1]}/{name}/{f['file']}"],
                                   "md5": hashlib.md5((built / name / f["file"]).read_bytes()).hexdigest()}
                                  for f in files] for part, files in real[name].items()}
        (tmp_path / "sources.json").write_text(json.dumps(table))
        monkeypatch.setenv("CVBOOK_SOURCES", str(tmp_path / "sources.json"))
        monkeypatch.setenv("CVBOOK_DATA", str(tmp_path / "data"))
        profile.reload()
        return server

    yield serve


def test_voc2012_standin_through_the_registry(served_standins):
    served_standins("voc2012")
    train, val = data.load("voc2012", split="train"), data.load("voc2012", split="val")
    assert (len(train), len(val)) == (24, 16)
    image, mask = train[0]
    labels = np.unique(np.array(mask))
    assert image.mode == "RGB" and mask.mode == "P" and labels[0] == 0 and 255 in labels and labels[-2] <= 20
    transformed = data.load("voc2012", split="train", transforms=voc.voc_segmentation_transforms(96, train=True))
    x, y = transformed[1]
    assert x.shape == (3, 96, 96) and y.shape == (96, 96) and y.dtype == torch.int64
    assert set(torch.unique(y).tolist()) <= set(range(21)) | {255}
    x, y = data.load("voc2012", split="val", transforms=voc.voc_segmentation_transforms(train=False))[0]
    assert x.shape[-2:] == y.shape == (120, 160)


def test_oxford_pets_standin_against_torchvision(served_standins, tmp_path):
    from torchvision.datasets import OxfordIIITPet

    served_standins("oxford-iiit-pet")
    ds = data.load("oxford-iiit-pet", split="test", size=64)
    assert len(ds) == 16 and len(data.load("oxford-iiit-pet", split="trainval")) == 32
    # torchvision reads the same folder (it wants it named oxford-iiit-pet under its root)
    reference = OxfordIIITPet(str(tmp_path / "data"), split="test", target_types="segmentation")
    assert len(reference) == len(ds)
    photo, trimap = reference[3]
    full = pets.OxfordPets(tmp_path / "data" / "oxford-iiit-pet", "test", size=None)[3]
    assert torch.equal(full[1], pets.trimap_to_mask(torch.from_numpy(np.array(trimap))))
    assert torch.equal(full[0], torch.from_numpy(np.array(photo)).permute(2, 0, 1).float() / 255)
    image, mask = ds[3]
    assert image.shape == (3, 64, 64) and set(torch.unique(mask).tolist()) <= {0, 1, 255}
    assert pets.trimap_to_mask(torch.tensor([1, 2, 3])).tolist() == [1, 0, 255]
    with pytest.raises(ValueError, match="1, 2 and 3"):
        pets.trimap_to_mask(torch.tensor([0, 1]))


def test_penn_fudan_standin_masks(served_standins):
    from torchvision.ops import masks_to_boxes

    served_standins("penn-fudan")
    train, test = data.load("penn-fudan", split="train"), data.load("penn-fudan", split="test")
    assert (len(train), len(test)) == (10, 50)
    image, target = test[0]
    assert image.shape[0] == 3 and target["masks"].shape[1:] == image.shape[1:] and target["masks"].any(dim=(1, 2)).all()
    assert torch.equal(target["boxes"], masks_to_boxes(target["masks"]) + torch.tensor([0.0, 0, 1, 1]))


def test_real_segmentation_sets_fail_fast_offline(monkeypatch, tmp_path):
    import socket

    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setenv("CVBOOK_DATA", str(tmp_path))
    monkeypatch.delenv("CVBOOK_SOURCES", raising=False)
    profile.reload()
    for name in ("voc2012", "oxford-iiit-pet"):
        with pytest.raises(data.DatasetUnavailableError, match="quick profile"):
            data.load(name)
        assert data.info(data.info(name).quick).offline
