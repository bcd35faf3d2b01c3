"""cvbook.transfer and cvbook.weights: freezing really freezes, counts match closed forms,
the shipped weights are checked and actually solve their source task."""

import dataclasses
from importlib import resources

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from cvbook import weights
from cvbook.data import generate_shapes
from cvbook.train import QUIET, fit
from cvbook.backbones.summary import count_parameters
from cvbook.transfer import (SurgeryNet, changed_parameters, freeze, snapshot, unfreeze,
                             unfreeze_after)


def _tiny_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def _loader(n=24):
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.rand(n, 3, 8, 8, generator=g), torch.randint(0, 3, (n,), generator=g))
    return DataLoader(data, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0))


def test_count_parameters_closed_form():
    net = _tiny_net()
    conv, linear = 3 * 3 * 3 * 4 + 4, 144 * 3 + 3
    assert count_parameters(net) == conv + linear
    freeze(net[0])
    assert count_parameters(net, trainable_only=True) == linear
    assert count_parameters(net) == conv + linear
    unfreeze(net)
    assert count_parameters(net, trainable_only=True) == conv + linear


def test_frozen_parameters_do_not_move_under_adamw_with_weight_decay():
    net = _tiny_net()
    freeze(net[0])
    before = snapshot(net)
    conv_weight = net[0].weight.detach().clone()
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-2, weight_decay=0.1)  # built over ALL parameters
    fit(net, _loader(), epochs=2, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer, device="cpu", report=QUIET)
    assert torch.equal(net[0].weight, conv_weight)  # independent of snapshot()
    assert changed_parameters(net, before) == ["3.weight", "3.bias"]


def test_unfreeze_after_releases_the_layer_at_the_given_epoch():
    net = _tiny_net()
    freeze(net[0])
    trace = []

    def record(epoch, model):
        trace.append((epoch, model[0].weight.detach().clone()))
        callback(epoch, model)

    callback = unfreeze_after(2, lambda m: m[0], log=None)
    start = net[0].weight.detach().clone()
    fit(net, _loader(), epochs=3, loss_fn=nn.CrossEntropyLoss(), device="cpu",
        on_epoch_end=record, report=QUIET)
    assert torch.equal(trace[0][1], start) and torch.equal(trace[1][1], start)  # frozen in epochs 1, 2
    assert not torch.equal(trace[2][1], start)  # moved in epoch 3
    assert net[0].weight.requires_grad


def test_changed_parameters_rejects_a_foreign_snapshot():
    with pytest.raises(ValueError, match="another model"):
        changed_parameters(_tiny_net(), snapshot(nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="positive integer"):
        unfreeze_after(0, lambda m: m)
    with pytest.raises(ValueError, match="nn.Module"):
        freeze([nn.Linear(2, 2), "conv1"])


def test_surgery_net_shapes_and_parameter_count():
    stem = nn.Conv2d(3, 16, 3, padding=1, bias=False)
    net = SurgeryNet(stem, num_classes=5, widths=(16, 32))
    assert isinstance(net.blocks, nn.ModuleList) and len(net.blocks) == 2
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 5)
    assert not any(p.requires_grad for p in net.stem.parameters())
    # Closed form: stem 3*3*3*16; BN 2*16; block 16->16: 2*(9*16*16 + 2*16);
    # block 16->32 stride 2: 9*16*32 + 2*32 + 9*32*32 + 2*32 + projection 16*32 + 2*32; fc 32*5 + 5.
    expected = (27 * 16 + 32 + 2 * (9 * 256 + 32) + (9 * 16 * 32 + 64 + 9 * 32 * 32 + 64 + 16 * 32 + 64)
                + 32 * 5 + 5)
    assert count_parameters(net) == expected
    assert count_parameters(net, trainable_only=True) == expected - 27 * 16
    with pytest.raises(ValueError, match="out_channels"):
        SurgeryNet(nn.ReLU(), num_classes=5)


def test_shipped_weights_are_small_checked_and_solve_the_source_task():
    info = weights.WEIGHTS["shapes5_resnet8"]
    data = resources.files("cvbook.weights").joinpath(info.filename).read_bytes()
    assert len(data) < 2 * 1024 * 1024
    import hashlib
    assert hashlib.sha256(data).hexdigest() == info.sha256
    model = weights.pretrained("shapes5_resnet8")
    b = generate_shapes(300, size=32, classes=info.classes, min_objects=1, max_objects=1,
                        radius=(0.2, 0.45), noise=0.06, seed=999)  # images never seen in pretraining
    with torch.no_grad():
        acc = (model(b.images.float() / 255).argmax(1) == b.labels[:, 0]).float().mean().item()
    assert acc >= 0.95


def test_a_wrong_checksum_is_refused(monkeypatch):
    info = weights.WEIGHTS["shapes5_resnet8"]
    monkeypatch.setitem(weights.WEIGHTS, "shapes5_resnet8", dataclasses.replace(info, sha256="0" * 64))
    with pytest.raises(weights.WeightsChecksumError, match="expected 0000"):
        weights.load_state_dict("shapes5_resnet8")
    with pytest.raises(ValueError, match="no shipped weights"):
        weights.load_state_dict("imagenet")
