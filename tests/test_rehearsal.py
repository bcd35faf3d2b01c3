"""The full-profile rehearsal's machinery: dataset stand-ins, weight stand-ins, the network guard.

The stand-ins are read back by the real dataset classes (torchvision's CIFAR10, FashionMNIST,
VOCDetection, VOCSegmentation and cvbook's PennFudan) after a download through cvbook's
registry from a server on 127.0.0.1, and compared with the images, labels, boxes and masks they
were generated from.
"""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from notebooks import ROOT

sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tools" / "rehearsal" / "standins"))

from rehearsal import datasets, run, weights  # noqa: E402

import _common  # noqa: E402  (the stand-ins' helpers)


def guard_module():
    """guard/sitecustomize.py, imported under another name without installing anything."""
    spec = importlib.util.spec_from_file_location("rehearsal_guard", ROOT / "tools/rehearsal/guard/sitecustomize.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # installs nothing: CVBOOK_REHEARSAL_NETLOG is not set here
    return module


@pytest.fixture(scope="module")
def built() -> Path:
    """The stand-ins the rehearsal serves (_build/rehearsal/standins, built once per change of the
    stand-in modules or the sources table, under a lock shared with the rehearsal's workers)."""
    from rehearsal import prepare

    return prepare.standins()


@pytest.fixture
def served(built, tmp_path, monkeypatch):
    """CVBOOK_SOURCES pointing at the stand-ins on 127.0.0.1, an empty CVBOOK_DATA, torchvision's
    built-in md5s relaxed under it as in the rehearsal."""
    import torchvision.datasets.utils as tv_utils

    monkeypatch.delenv("CVBOOK_MAX_ITEMS", raising=False)
    with datasets.serve(built) as url:
        table = tmp_path / "sources.json"
        table.write_text(json.dumps(datasets.local_table(built, url)))
        monkeypatch.setenv("CVBOOK_SOURCES", str(table))
        monkeypatch.setenv("CVBOOK_DATA", str(tmp_path / "data"))
        monkeypatch.setattr(tv_utils, "check_md5", tv_utils.check_md5)  # restored after the test
        guard_module()._accept_standins_in_torchvision()
        from cvbook import profile  # settings are read once: the environment above is for the guard

        with profile.override(sources_path=table, data_root=tmp_path / "data", max_items=None):
            yield tmp_path / "data"


def test_every_dataset_has_a_standin_and_every_standin_a_dataset():
    table = datasets.upstream_table()
    assert datasets.missing_standins(table) == []
    assert sorted(datasets.builders()) == sorted(name.replace("-", "_") for name in table)


def test_a_dataset_without_standin_fails_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'imaginary-set'.*standins/imaginary_set\.py"):
        datasets.build_all(tmp_path, {"imaginary-set": {"all": [{"file": "x.zip", "url": "u", "md5": None}]}})
    with pytest.raises(FileNotFoundError, match="did not write other.tar"):
        datasets.build_all(tmp_path, {"penn-fudan": {"all": [{"file": "other.tar", "url": "u", "md5": None}]}})


def test_standins_are_small_deterministic_and_listed(built, tmp_path):
    table = datasets.upstream_table()
    again = datasets.build_all(tmp_path, {"cifar10": table["cifar10"], "penn-fudan": table["penn-fudan"]})
    for name, folder in again.items():
        for file in datasets.listed_files(table[name]):
            assert datasets.md5(folder / file) == datasets.md5(built / name / file), f"{name}/{file} differs"
    for name, parts in table.items():
        for file in datasets.listed_files(parts):
            assert (built / name / file).stat().st_size < 4_000_000, f"{name}/{file} is not small"


def test_cifar10_standin_reads_back_through_torchvision(served):
    from cvbook import data
    from cifar10 import LABEL_NAMES, PER_BATCH, TEST

    train, test = data.load("cifar10", "train"), data.load("cifar10", "test")
    assert (len(train), len(test)) == (5 * PER_BATCH, TEST) and train.classes == LABEL_NAMES
    images, _, labels = _common.balanced_shapes(PER_BATCH, 32, 10, seed=101)
    assert np.array_equal(train.data[:PER_BATCH], images)  # (N, 32, 32, 3): the R, G, B planes read back
    assert train.targets[:PER_BATCH] == labels.tolist()
    assert test.targets == [i % 10 for i in range(TEST)]  # every class in any 10 consecutive test images
    image, label = test[0]
    assert image.size == (32, 32) and image.mode == "RGB" and label == 0


def test_fashion_mnist_standin_reads_back_through_torchvision(served):
    from cvbook import data

    train, test = data.load("fashion-mnist", "train"), data.load("fashion-mnist", "test")
    assert (len(train), len(test)) == (32, 16)
    assert train.data.dtype == torch.uint8 and tuple(train.data.shape) == (32, 28, 28)
    images, instances, labels = _common.balanced_shapes(16, 28, 10, seed=301)
    assert torch.equal(test.targets, torch.from_numpy(labels)) and test.targets.tolist() == [i % 10 for i in range(16)]
    assert ((test.data > 0).numpy() <= (instances > 0)).all() and (test.data > 0).any()


def test_voc2007_standin_reads_back_through_torchvision(served):
    from cvbook import data
    from cvbook.data.voc import VOC_CLASSES, voc_target
    from voc2007 import CLASSES

    assert CLASSES == VOC_CLASSES
    trainval, test = data.load("voc2007", "trainval"), data.load("voc2007", "test")
    assert (len(trainval), len(test)) == (40, 16)
    images, instances, labels = _common.shapes(40, 256, 10, seed=400, radius=(0.08, 0.2))
    image, annotation = trainval[0]
    assert image.size == (256, 192) and annotation["annotation"]["size"]["height"] == "192"
    target = voc_target(annotation)
    crop = instances[0, :192, :256]
    expected = []
    for k in np.unique(crop)[1:]:
        ys, xs = np.nonzero(crop == k)
        expected.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])  # pixel edges
    assert torch.equal(target["boxes"], torch.tensor(expected, dtype=torch.float32))
    assert target["labels"].tolist() == [2 * int(c) for c in labels[0] if c >= 0][: len(expected)]
    segmentation = data.load("voc2007", "trainval", task="segmentation")
    assert len(segmentation) == 20
    _, mask = segmentation[0]
    values = set(np.unique(np.array(mask)).tolist())
    assert mask.mode == "P" and values <= {0, 255} | {c + 1 for c in range(20)} and 255 in values
    assert values - {0, 255} == {int(c) + 1 for c in target["labels"]}
    assert len(data.load("voc2007", "test", task="segmentation")) == 8


def test_penn_fudan_standin_reads_back_through_cvbook(served):
    from cvbook.data import pennfudan

    train, test = pennfudan.load("train"), pennfudan.load("test")
    assert (len(train), len(test)) == (10, 50)
    folder = served / "penn-fudan" / "PennFudanPed"
    for ds in (train, test):
        image, target = ds[3]
        name = ds.images[3].stem
        text = (folder / "Annotation" / f"{name}.txt").read_text()
        rows = [line.split(" : ")[1] for line in text.splitlines() if line.startswith("Bounding box")]
        one_based = torch.tensor([[float(v) for v in r.replace("(", "").replace(")", "").replace(" - ", ", ").split(", ")]
                                  for r in rows])
        assert torch.equal(target["boxes"], one_based - torch.tensor([1.0, 1.0, 0.0, 0.0]))  # inclusive -> edges
        assert image.shape[0] == 3 and target["masks"].shape[1:] == image.shape[1:]
        assert f"Image size (X x Y x C) : {image.shape[2]} x {image.shape[1]} x 3" in text


def test_weights_are_found_in_notebooks_and_package():
    from torchvision.models import AlexNet_Weights, ResNet18_Weights, ResNet50_Weights
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

    assert weights.resolve('m = resnet50(weights="DEFAULT")') == {ResNet50_Weights.IMAGENET1K_V2}
    assert weights.resolve('b = ssd.ResNetBackbone("resnet18", weights="DEFAULT")') == {ResNet18_Weights.IMAGENET1K_V1}
    assert weights.resolve("w = AlexNet_Weights.IMAGENET1K_V1; tiny_ssd(weights='x')") == {AlexNet_Weights.IMAGENET1K_V1}
    assert weights.file_name(ResNet50_Weights.IMAGENET1K_V2) == "resnet50-11ad3fa6.pth"
    used = set(weights.used_weights())
    assert {ResNet50_Weights.IMAGENET1K_V2, AlexNet_Weights.IMAGENET1K_V1,
            FasterRCNN_ResNet50_FPN_Weights.COCO_V1} <= used


def test_weights_standin_loads_offline_with_exact_keys(tmp_path):
    """The weight stand-ins the rehearsal uses (prepare.torch_home(): built by weights.build once
    per torch and torchvision, under a lock shared with the rehearsal's workers; a clean clone
    builds them in its first session), not a second build of two of them here."""
    import torchvision
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

    from rehearsal import prepare

    torch_home = prepare.torch_home()
    path, = weights.build(torch_home, [torchvision.models.ResNet50_Weights.DEFAULT])
    assert path == torch_home / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth"
    state = torch.load(path, weights_only=True)
    reference = torchvision.models.resnet50().state_dict()
    assert {k: v.shape for k, v in state.items()} == {k: v.shape for k, v in reference.items()}
    coco_path = torch_home / "hub" / "checkpoints" / weights.file_name(FasterRCNN_ResNet50_FPN_Weights.COCO_V1)
    coco = torch.load(coco_path, weights_only=True)
    assert "backbone.body.bn1.running_var" in coco and "backbone.body.bn1.num_batches_tracked" not in coco  # frozen BN
    assert coco["roi_heads.box_predictor.cls_score.weight"].shape == (91, 1024)
    code = ("import torchvision; m = torchvision.models.resnet50(weights='DEFAULT'); "
            "print(sum(p.numel() for p in m.parameters()))")
    log = tmp_path / "network.jsonl"
    env = {"PATH": "/usr/bin:/bin", "TORCH_HOME": str(torch_home), "CVBOOK_REHEARSAL_NETLOG": str(log),
           "PYTHONPATH": str(ROOT / "tools/rehearsal/guard")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "25557032" and not log.exists()


def test_guard_refuses_and_records_remote_addresses(tmp_path):
    code = """
import json, socket, urllib.request
outcomes = {}
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen()
client = socket.create_connection(server.getsockname(), timeout=5)  # loopback: allowed
outcomes["loopback"] = "ok"
for name, attempt in [("ip", lambda: socket.create_connection(("10.255.255.1", 80), timeout=1)),
                      ("url", lambda: urllib.request.urlopen("http://example.com/file.tar", timeout=1)),
                      ("udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("8.8.8.8", 53)))]:
    try:
        attempt()
        outcomes[name] = "reached"
    except OSError as e:
        outcomes[name] = "refused" if "refused" in str(e) else str(e)
print(json.dumps(outcomes))
"""
    log = tmp_path / "network.jsonl"
    env = {"PATH": "/usr/bin:/bin", "CVBOOK_REHEARSAL_NETLOG": str(log), "PYTHONPATH": str(ROOT / "tools/rehearsal/guard")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"loopback": "ok", "ip": "refused", "url": "refused", "udp": "refused"}
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["what"] for r in records] == ["connection to", "name lookup of", "datagram to"]
    assert "10.255.255.1" in records[0]["target"] and "example.com" in records[1]["target"]


def _notebook(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("netns", [True, False], ids=["namespace", "guard-only"])
def test_a_notebook_that_reaches_out_fails_the_rehearsal(built, tmp_path, netns):
    if netns and not run.netns_available():
        message = "no user network namespaces here (unshare -rn): only the guard is tested"
        (pytest.fail if os.environ.get("CI") else pytest.skip)(message)  # CI enables them (ci.yml)
    notebook = _notebook(tmp_path / "sneaky.ipynb", [
        "import os, time\nprint(os.environ['CVBOOK_PROFILE'], os.environ['CVBOOK_MAX_STEPS'])",
        "start = time.process_time()\nwhile time.process_time() - start < 1.0:\n    pass",
        "import socket\ntry:\n    socket.create_connection(('93.184.215.14', 443), timeout=2)\nexcept OSError:\n"
        "    pass  # a silent download that fails quietly",
        "from cvbook import data\nds = data.load('penn-fudan', split='test')\nprint(len(ds))",
        "assert 0.1 > 0.9, 'a target a capped run cannot reach'",
        "print('after the assertion')",
        "raise ValueError('a real bug')",
        "print('never reached')",
    ])
    torch_home = tmp_path / "torch"
    result = run.rehearse(notebook, tmp_path / "work", built, torch_home, netns=netns)
    assert result["netns"] is netns
    assert len(result["network"]) == 1 and "93.184.215.14" in result["network"][0]["target"]
    assert [a["message"] for a in result["assertions"]] == ["a target a capped run cannot reach"]
    assert "ValueError: a real bug" in result["failed"]
    cells = nbformat.read(tmp_path / "work" / "sneaky.ipynb", as_version=4).cells
    stdout = ["".join(o["text"] for o in c.outputs if o.get("name") == "stdout") for c in cells]
    assert stdout[0] == f"full {run.CAPS['CVBOOK_MAX_STEPS']}\n"
    cap = int(run.CAPS["CVBOOK_MAX_ITEMS"].split("penn-fudan=")[1].split(",")[0])
    assert stdout[3].endswith(f"{cap}\n")  # downloaded from 127.0.0.1 (checksummed), capped
    assert stdout[5] == "after the assertion\n" and not cells[7].outputs
    assert result["cpu_seconds"] >= 1.0  # the kernel's CPU time is counted
    found = run.problems(result)
    assert len(found) == 2 and "tried the network" in found[0] and "a real bug" in found[1]
    assert not (ROOT / "sneaky.ipynb").exists()
