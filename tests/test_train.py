import math

import matplotlib
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from cvbook import train

matplotlib.use("Agg")


def _blobs(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 2, generator=g) * 0.5 + torch.tensor([[0.0, 3.0], [3.0, 0.0], [-3.0, -3.0]])[y]
    return TensorDataset(x, y)


def test_fit_learns_and_records_history():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    loader = DataLoader(_blobs(), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
    history = train.fit(model, loader, epochs=4, lr=0.05, val_loader=DataLoader(_blobs(seed=1), batch_size=64),
                        progress=False, verbose=False)
    assert len(history) == 4
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history.last["val_accuracy"] > 0.95
    # Independent check of the recorded validation accuracy.
    x, y = _blobs(seed=1).tensors
    assert history.last["val_accuracy"] == pytest.approx((model(x).argmax(1) == y).float().mean().item())
    fig = history.plot()
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    assert all(ax.get_xlabel() == "epoch" for ax in fig.axes)


def test_fit_stops_on_nan_loss_with_a_clear_message():
    model = nn.Linear(2, 3)
    x = torch.full((8, 2), math.nan)
    loader = DataLoader(TensorDataset(x, torch.zeros(8, dtype=torch.long)), batch_size=4)
    with pytest.raises(FloatingPointError, match="learning rate"):
        train.fit(model, loader, epochs=1, progress=False, verbose=False)


def test_on_epoch_end_and_evaluate_predict():
    model = nn.Linear(2, 3)
    seen = []
    loader = DataLoader(_blobs(64), batch_size=16)
    train.fit(model, loader, epochs=2, progress=False, verbose=False, on_epoch_end=lambda e, m: seen.append(e))
    assert seen == [1, 2]
    out, y = train.predict(model, loader)
    assert out.shape == (64, 3) and y.shape == (64,)
    metrics = train.evaluate(model, loader, nn.CrossEntropyLoss(), {"accuracy": train.accuracy})
    assert metrics["loss"] == pytest.approx(nn.functional.cross_entropy(out, y).item(), rel=1e-5)


def test_to_device_handles_detection_targets():
    targets = [{"boxes": torch.zeros(2, 4), "labels": torch.zeros(2)}]
    moved = train.to_device(targets, torch.device("cpu"))
    assert isinstance(moved, list) and moved[0]["boxes"].shape == (2, 4)
