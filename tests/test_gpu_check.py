"""tools/gpu_check.py (`make gpu-check`) without a GPU: its refusal without CUDA, one training pass timed
on the CPU beside the T4 estimate, a device error failing the run, and which notebooks it takes.
The notebook part is the rehearsal's (tests/test_rehearsal.py, tools/rehearsal/test_notebooks.py)."""
import sys

import pytest
import torch

from notebooks import ROOT

sys.path.insert(0, str(ROOT / "tools"))

import gpu_check  # noqa: E402
import t4_estimates  # noqa: E402


def test_without_cuda_it_says_so_and_exits_2(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main(["--skip-notebooks"]) == 2
    message = capsys.readouterr().err
    assert "no CUDA device here" in message and "--device cpu --notebooks 1" in message


def test_a_pass_is_timed_on_the_cpu_beside_its_t4_estimate(capsys):
    (work,) = [w for w in gpu_check.timed_passes("05_augmentation")]
    row = gpu_check.time_pass(work, "cpu", steps=2, warmup=1, max_batch=2)
    assert row["batch"] == 2 and row["amp"] is False and 0 < row["steps_per_s"] < 1e4
    rows = gpu_check.time_all([ROOT / "book" / "05_augmentation.ipynb"], "cpu", 1, 1, 2)
    assert rows[0]["t4_estimate"] == pytest.approx(t4_estimates.steps_per_second("05_augmentation")[work.what])
    assert "05_augmentation" in capsys.readouterr().out


def test_a_detector_pass_trains_on_its_own_losses():
    (work,) = [w for w in gpu_check.timed_passes("12_region_based") if w.what.startswith("Faster R-CNN R50-FPN")]
    small = type(work)(work.what, None, (3, 96, 96), work.images, steps=work.steps, macs=work.macs)
    assert gpu_check.time_pass(small, "cpu", steps=1, warmup=1, max_batch=1)["steps_per_s"] > 0


def test_a_device_error_fails_the_check(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(gpu_check, "time_pass", broken)
    assert gpu_check.main(["--device", "cpu", "--skip-notebooks", "--notebooks", "17_autoencoders"]) == 1
    out = capsys.readouterr().out
    assert "ERROR RuntimeError: CUDA error" in out and "FAILED: 17_autoencoders" in out


def test_which_notebooks():
    every = gpu_check.all_notebooks()
    timed = [p for p in every if gpu_check.timed_passes(p.stem)]
    assert every[:len(timed)] == timed and len(every) > len(timed) > 10  # timed ones first
    assert [p.stem for p in gpu_check.select(["1"])] == [timed[0].stem]
    assert [p.stem for p in gpu_check.select(["lab09_vae", "02_convnets"])] == ["lab09_vae", "02_convnets"]
    with pytest.raises(SystemExit, match="no notebook named 99_nothing"):
        gpu_check.select(["99_nothing"])


def test_nothing_starts_past_the_time_budget(capsys):
    assert gpu_check.main(["--device", "cpu", "--notebooks", "17_autoencoders", "--budget-s", "0"]) == 1
    out = capsys.readouterr().out
    assert "17_autoencoders" in out and "not run: past the time budget" in out and "not timed: past the time budget" in out
