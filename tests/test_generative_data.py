"""Part IV data: MNIST and the painting through the source table (stand-ins served locally), LFW faces."""
import functools
import http.server
import importlib.util
import json
import threading

import pytest
import torch

from cvbook import data, profile
from cvbook.data.sources import files
from notebooks import ROOT


def _standin(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / "rehearsal" / "standins" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def served(tmp_path, monkeypatch):
    """The MNIST and painting stand-ins served on 127.0.0.1, with a source table pointing at them."""
    from cvbook.data.download import file_digest

    site = tmp_path / "site"
    for name in ("mnist", "painting"):
        _standin(name).build(site / name)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    table = {name: {"all": [dict(file=f.file, url=f"{url}/{name}/{f.file}", md5=file_digest(site / name / f.file))
                            for f in files(name, "all")]} for name in ("mnist", "painting")}
    (tmp_path / "table.json").write_text(json.dumps(table))
    monkeypatch.setenv("CVBOOK_SOURCES", str(tmp_path / "table.json"))
    monkeypatch.setenv("CVBOOK_DATA", str(tmp_path / "cache"))
    profile.reload()
    yield
    server.shutdown()


def test_mnist_and_painting_download_through_the_table(served, tmp_path):
    train, test = data.load("mnist", "train"), data.load("mnist", "test")
    assert (len(train), len(test)) == (64, 32)
    image, label = train[0]
    assert image.size == (28, 28) and 0 <= label <= 9
    assert (tmp_path / "cache" / "mnist" / "MNIST" / "raw" / "train-images-idx3-ubyte").exists()
    painting = data.load("painting")
    assert painting.ndim == 3 and painting.shape[2] == 3 and painting.dtype.name == "uint8"
    with pytest.raises(ValueError, match="split"):
        data.load("mnist", "val")


def test_the_table_lists_torchvision_mnist_checksums():
    from torchvision.datasets import MNIST

    table = {f.file.split("/")[-1]: f.md5 for f in files("mnist", "all")}
    assert table == dict(MNIST.resources)


def test_faces_are_the_lfw_subset_faces():
    import skimage.data as skimage_data

    train, test = data.load("faces", "train"), data.load("faces", "test")
    assert (len(train), len(test)) == (80, 20)
    faces = torch.from_numpy(skimage_data.lfw_subset()[:100]).float()
    torch.testing.assert_close(test[0][0][0], faces[80])
    with pytest.raises(ValueError, match="split"):
        data.load("faces", "val")
