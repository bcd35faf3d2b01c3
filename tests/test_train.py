"""The one training loop (cvbook.train): supervised and named-loss steps, schedules, budgets, history."""

import math

import matplotlib
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from cvbook import profile, train
from cvbook.metrics.classification import accuracy

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
    history = train.fit(model, loader, epochs=4, lr=0.05, loss_fn=nn.CrossEntropyLoss(),
                        val_loader=DataLoader(_blobs(seed=1), batch_size=64), report=train.QUIET)
    assert len(history) == 4 and history["epoch"] == [1.0, 2.0, 3.0, 4.0] and history["step"][-1] == 32
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history.last["val_accuracy"] > 0.95
    # Independent check of the recorded validation accuracy.
    x, y = _blobs(seed=1).tensors
    assert history.last["val_accuracy"] == pytest.approx((model(x).argmax(1) == y).float().mean().item())
    assert len(history.steps["loss"]) == history.num_steps == 32
    fig = history.plot()
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    assert all(ax.get_xlabel() == "epoch" for ax in fig.axes)
    assert history.plot(per="step").axes[0].get_xlabel() == "step"


def test_fit_stops_on_nan_loss_with_a_clear_message():
    model = nn.Linear(2, 3)
    x = torch.full((8, 2), math.nan)
    loader = DataLoader(TensorDataset(x, torch.zeros(8, dtype=torch.long)), batch_size=4)
    with pytest.raises(FloatingPointError, match="the loss loss is nan at step 1.*learning rate"):
        train.fit(model, loader, epochs=1, loss_fn=nn.CrossEntropyLoss(), report=train.QUIET)

    def step(model, batch):
        x, _ = batch
        return {"fine": model(x[:, :0].sum(1, keepdim=True).expand(-1, 2)).sum() * 0, "broken": model(x).sum()}

    with pytest.raises(FloatingPointError, match="the loss broken is nan"):
        train.fit(model, loader, epochs=1, step=step, report=train.QUIET)


def test_on_epoch_end_values_are_recorded_and_evaluate_predict():
    model = nn.Linear(2, 3)
    seen = []
    loader = DataLoader(_blobs(64), batch_size=16)

    def on_epoch_end(epoch, m):
        seen.append(epoch)
        return {"weight_norm": m.weight.norm().item()}

    history = train.fit(model, loader, epochs=2, loss_fn=nn.CrossEntropyLoss(),
                        on_epoch_end=on_epoch_end, report=train.QUIET)
    assert seen == [1, 2] and history["weight_norm"][-1] == pytest.approx(model.weight.norm().item())
    out, y = train.predict(model, loader)
    assert out.shape == (64, 3) and y.shape == (64,)
    metrics = train.evaluate(model, loader, nn.CrossEntropyLoss(), {"accuracy": accuracy})
    assert metrics["loss"] == pytest.approx(nn.functional.cross_entropy(out, y).item(), rel=1e-5)
    assert metrics["accuracy"] == pytest.approx((out.argmax(1) == y).double().mean().item())


def test_what_on_epoch_end_prints_follows_its_period_line(capsys):
    """The callback runs before its period's line is printed (what it returns joins that line), but
    what it prints comes after the line, so that the log reads in order; also when it fails."""
    loader = DataLoader(_blobs(64), batch_size=16)  # 4 batches

    def on_epoch_end(epoch, model):
        print(f"end of epoch {epoch}: callback")
        return {"weight_norm": model.weight.norm().item()}

    train.fit(nn.Linear(2, 3), loader, epochs=2, loss_fn=nn.CrossEntropyLoss(), on_epoch_end=on_epoch_end,
              report=train.Report(bar=False))
    lines = capsys.readouterr().out.replace("\n    ", "  ").splitlines()  # a long period line goes on indented
    assert [line.split()[:2] for line in lines] == [["epoch", "1/2"], ["end", "of"], ["epoch", "2/2"], ["end", "of"]]
    assert lines[1] == "end of epoch 1: callback" and lines[3] == "end of epoch 2: callback"
    assert "weight_norm" in lines[0] and "weight_norm" in lines[2]
    train.fit(nn.Linear(2, 3), loader, epochs=1, loss_fn=nn.CrossEntropyLoss(), on_epoch_end=on_epoch_end,
              report=train.QUIET)
    assert capsys.readouterr().out == "end of epoch 1: callback\n"  # no period line: shown all the same

    def failing(epoch, model):
        print("about to fail")
        raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError, match="callback failed"):
        train.fit(nn.Linear(2, 3), loader, epochs=1, loss_fn=nn.CrossEntropyLoss(), on_epoch_end=failing,
                  report=train.Report(bar=False))
    assert capsys.readouterr().out == "about to fail\n"  # not lost with the exception


def test_named_losses_are_weighted_summed_and_recorded():
    """One SGD step on two named losses equals the step on their weighted sum, computed by hand."""
    torch.manual_seed(0)
    x = torch.randn(5, 3)
    model = nn.Linear(3, 1, bias=False)
    w0 = model.weight.detach().clone()

    def step(model, batch):
        out = model(batch[0])
        return {"square": (out ** 2).mean(), "linear": out.mean()}

    history = train.fit(model, [(x,)], steps=1, step=step, loss_weights={"linear": 0.5},
                        optimizer=torch.optim.SGD(model.parameters(), lr=0.1), report=train.QUIET)
    # d/dw [mean((x w)^2) + 0.5 mean(x w)] = 2 mean(x (x w)) + 0.5 mean(x)
    grad = 2 * (x * (x @ w0.T)).mean(0) + 0.5 * x.mean(0)
    torch.testing.assert_close(model.weight.detach(), w0 - 0.1 * grad[None])
    square, linear = ((x @ w0.T) ** 2).mean().item(), (x @ w0.T).mean().item()
    assert history.steps["square"] == [pytest.approx(square)] and history.steps["linear"] == [pytest.approx(linear)]
    assert history.last["train_loss"] == pytest.approx(square + 0.5 * linear)


def test_steps_cycle_the_loader_with_warmup_and_cosine():
    model = nn.Linear(2, 3)
    loader = DataLoader(_blobs(64), batch_size=16)  # 4 batches
    history = train.fit(model, loader, steps=10, eval_every=1, lr=0.1, loss_fn=nn.CrossEntropyLoss(),
                        lr_schedule=train.LRSchedule(warmup=3, decay="cosine", final=0.1), report=train.QUIET)
    assert history.num_steps == 10 and len(history) == 10
    # the learning rate after step i is lr * factor(i + 1): warm-up 1/3, 2/3, 1, then a half cosine to 0.1
    expected = [0.1 * train.lr_factor(i + 1, 10, warmup=3, decay="cosine", final=0.1) for i in range(10)]
    assert history["lr"] == pytest.approx(expected)
    assert train.lr_factor(0, 10, warmup=3) == pytest.approx(1 / 3)
    assert train.lr_factor(3 + 7 // 2, 10, warmup=3, decay="cosine", final=0.1) == pytest.approx(
        0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 3 / 7)))
    assert train.lr_factor(10, 10, warmup=3, decay="cosine", final=0.1) == pytest.approx(0.1)


def test_time_budget_and_step_cap():
    loader = DataLoader(_blobs(64), batch_size=16)
    history = train.fit(nn.Linear(2, 3), loader, steps=50, time_budget=0.0, loss_fn=nn.CrossEntropyLoss(),
                        report=train.QUIET)
    assert history.num_steps == 1 and history.stopped_by_budget and not history.stopped_by_cap and len(history) == 1
    capped = train.fit(nn.Linear(2, 3), loader, steps=50, loss_fn=nn.CrossEntropyLoss(), max_steps=3,
                       report=train.QUIET)
    assert capped.num_steps == 3 and capped.stopped_by_cap and not capped.stopped_by_budget
    with profile.override(max_steps=3):  # the default comes from the settings (the rehearsal's caps)
        assert train.fit(nn.Linear(2, 3), loader, steps=50, loss_fn=nn.CrossEntropyLoss(),
                         report=train.QUIET).num_steps == 3
        assert train.fit(nn.Linear(2, 3), loader, steps=50, loss_fn=nn.CrossEntropyLoss(), max_steps=5,
                         report=train.QUIET).num_steps == 5  # an explicit cap wins
    with pytest.raises(ValueError, match="max_steps"):
        train.fit(nn.Linear(2, 3), loader, steps=5, loss_fn=nn.CrossEntropyLoss(), max_steps=0)


def test_batch_cap_keeps_the_first_items_of_every_training_batch():
    seen = []

    def step(model, batch):
        images, targets = batch
        seen.append((len(images), len(targets), targets[0]["boxes"].shape[0]))
        return {"loss": model(torch.stack(images)).sum()}

    images = [torch.full((2,), float(i)) for i in range(5)]
    targets = [{"boxes": torch.zeros(i + 1, 4)} for i in range(5)]
    train.fit(nn.Linear(2, 1), [(images, targets)], steps=2, step=step, max_batch=2, report=train.QUIET)
    assert seen == [(2, 2, 1), (2, 2, 1)]  # a detection batch: lists of items, each item whole
    assert train.first_items((torch.arange(6).view(3, 2), {"y": torch.arange(3)}, torch.tensor(1.0)), 2)[1]["y"].tolist() \
        == [0, 1]
    loader = DataLoader(_blobs(64), batch_size=16)
    model = nn.Linear(2, 3)
    model.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].shape[0]))
    with profile.override(max_batch=2):
        train.fit(model, loader, steps=3, loss_fn=nn.CrossEntropyLoss(), report=train.QUIET)
    train.fit(model, loader, steps=1, loss_fn=nn.CrossEntropyLoss(), report=train.QUIET)
    assert seen[2:] == [2, 2, 2, 16]  # (x, y) batches of 16 cut to 2; outside the block, whole
    for value in (0, 2.0):
        with pytest.raises(ValueError, match="max_batch"):
            train.fit(nn.Linear(2, 3), loader, steps=1, loss_fn=nn.CrossEntropyLoss(), max_batch=value)


def test_a_capped_run_records_only_what_ran():
    """Capped, a run stops stepping: its history holds the steps that ran, in one last row that is
    validated and passed to on_epoch_end like any other; no row is made up for epochs that did not run."""
    loader = DataLoader(_blobs(64), batch_size=8)  # 8 batches per epoch
    seen = []
    history = train.fit(nn.Linear(2, 3), loader, epochs=3, loss_fn=nn.CrossEntropyLoss(), val_loader=loader,
                        on_epoch_end=lambda epoch, model: seen.append(epoch), max_steps=11, report=train.QUIET)
    assert seen == [1, 2] and history.num_steps == 11 and history["step"] == [8.0, 11.0]
    assert history["epoch"] == [1.0, 11 / 8] and history.stopped_by_cap and "val_loss" in history.rows[-1]
    seen.clear()
    model = nn.Linear(2, 3)
    history = train.fit(model, loader, epochs=5, loss_fn=nn.CrossEntropyLoss(), val_loader=loader,
                        on_epoch_end=lambda epoch, model: seen.append(epoch), max_steps=1, report=train.QUIET)
    assert history.num_steps == 1 and len(history) == 1 and seen == [1] and history["step"] == [1.0]
    x, y = _blobs(64).tensors  # the row's validation is the model after its one step
    assert history.last["val_loss"] == pytest.approx(nn.functional.cross_entropy(model(x), y).item(), rel=1e-5)
    history = train.fit(nn.Linear(2, 3), loader, epochs=2, loss_fn=nn.CrossEntropyLoss(), max_steps=100,
                        report=train.QUIET)  # more than the run needs: no effect
    assert history.num_steps == 16 and len(history) == 2 and not history.stopped_by_cap


def test_a_capped_run_says_so(capsys):
    loader = DataLoader(_blobs(64), batch_size=8)
    train.fit(nn.Linear(2, 3), loader, steps=20, eval_every=5, loss_fn=nn.CrossEntropyLoss(), max_steps=3,
              report=train.Report(bar=False))
    lines = capsys.readouterr().out.replace("\n    ", "  ").splitlines()  # a long period line goes on indented
    assert lines[0].startswith("step     3/20 (epoch 0.38)  train_loss")
    assert lines[1] == "stopped at the cap of 3 of 20 steps (max_steps; a rehearsal)"


def test_lr_schedule_accepts_a_torch_scheduler_or_a_factory():
    model = nn.Linear(2, 3)
    loader = DataLoader(_blobs(64), batch_size=16)
    history = train.fit(model, loader, steps=3, eval_every=1, lr=0.1, loss_fn=nn.CrossEntropyLoss(),
                        lr_schedule=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5),
                        report=train.QUIET)
    assert history["lr"] == pytest.approx([0.05, 0.025, 0.0125])
    with pytest.raises(TypeError, match="lr_schedule must be"):
        train.fit(model, loader, steps=1, loss_fn=nn.CrossEntropyLoss(), lr_schedule="cosine")
    with pytest.raises(TypeError, match="Report"):
        train.fit(model, loader, steps=1, loss_fn=nn.CrossEntropyLoss(), report=False)


def test_evaluating_an_empty_loader_says_so():
    with pytest.raises(ValueError, match="empty loader"):
        train.evaluate(nn.Linear(2, 3), DataLoader(_blobs(8), batch_size=32, drop_last=True), nn.CrossEntropyLoss())


def test_an_empty_loader_is_an_error_not_a_hang():
    loader = DataLoader(_blobs(8), batch_size=32, drop_last=True)  # no complete batch
    for kwargs in ({"steps": 5}, {"epochs": 1}):
        with pytest.raises(ValueError, match="loader is empty"):
            train.fit(nn.Linear(2, 3), loader, loss_fn=nn.CrossEntropyLoss(), report=train.Report(bar=False), **kwargs)


def test_amp_dtype_is_decided_by_compute_capability(monkeypatch):
    assert train.amp_dtype(torch.device("cpu")) is None
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))  # a T4
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # what a T4 may claim
    assert train.amp_dtype(torch.device("cuda")) == torch.float16
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))  # an H100
    assert train.amp_dtype(torch.device("cuda")) == torch.bfloat16
    assert train.amp_dtype(torch.device("cuda"), amp=False) is None


def test_wrong_arguments_say_what_to_do():
    loader = DataLoader(_blobs(16), batch_size=8)
    with pytest.raises(ValueError, match="exactly one of loss_fn"):
        train.fit(nn.Linear(2, 3), loader, epochs=1)
    with pytest.raises(ValueError, match="exactly one of epochs= and steps="):
        train.fit(nn.Linear(2, 3), loader, epochs=1, steps=2, loss_fn=nn.CrossEntropyLoss())
    with pytest.raises(ValueError, match="decay"):
        train.LRSchedule(decay="linear")
    with pytest.raises(ValueError, match="dict of named scalar losses"):
        train.fit(nn.Linear(2, 3), loader, epochs=1, step=lambda m, b: m(b[0]).sum(), report=train.Report(bar=False))


def test_to_device_handles_detection_targets():
    targets = [{"boxes": torch.zeros(2, 4), "labels": torch.zeros(2)}]
    moved = train.to_device(targets, torch.device("cpu"))
    assert isinstance(moved, list) and moved[0]["boxes"].shape == (2, 4)


def test_a_long_log_line_is_packed_into_the_books_column():
    from cvbook.train import log_line

    items = ["train_loss_classifier 0.4034", "train_loss_box_reg 0.4322", "train_loss_objectness 0.1876",
             "train_loss_rpn_box_reg 0.0130", "train_loss 1.0362"]
    text = log_line("epoch   1/1", items, "(16.6 s)")
    lines = text.splitlines()
    assert len(lines) == 3 and all(len(line) <= 80 for line in lines)
    assert lines[0] == "epoch   1/1  train_loss_classifier 0.4034  train_loss_box_reg 0.4322"
    assert all(line.startswith("    ") for line in lines[1:])
    assert " ".join(text.split()) == " ".join(["epoch 1/1", *items, "(16.6 s)"]), "nothing lost, no item split"
    assert log_line("epoch   1/2", ["train_loss 1.6235"], "(8.2 s)") == "epoch   1/2  train_loss 1.6235  (8.2 s)"
    assert log_line("x", ["a" * 90], "(1 s)", width=80) == "x\n    " + "a" * 90 + "\n    (1 s)"
