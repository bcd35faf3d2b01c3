"""The T4 estimates (benchmarks/t4_estimates.py): the arithmetic, the 30-minute limit, and each
notebook's one-line statement, which must say what the estimator says."""
import importlib.util
import json
import sys

import pytest

from notebooks import ROOT

spec = importlib.util.spec_from_file_location("t4_estimates", ROOT / "benchmarks" / "t4_estimates.py")
t4 = importlib.util.module_from_spec(spec)
sys.modules["t4_estimates"] = t4  # dataclasses look their module up
spec.loader.exec_module(t4)


def test_compute_time_is_flops_over_throughput_and_the_slowest_part_wins():
    import torchvision

    resnet50 = t4.Work("ResNet-50", lambda: torchvision.models.resnet50(), (3, 224, 224), 1_000)
    macs = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["_ops"] * 1e9  # 4.09 G multiply-adds
    assert resnet50.macs_per_image() == pytest.approx(macs, rel=1e-3)
    assert resnet50.seconds()["compute"] == pytest.approx(macs * 2 * 3 * 1_000 / (t4.AMP_TFLOPS * 1e12), rel=1e-3)
    evaluation = t4.Work("eval", None, (3, 224, 224), 1_000, train=False, amp=False, macs=macs)
    assert evaluation.seconds()["compute"] == pytest.approx(macs * 2 * 1_000 / (t4.FP32_TFLOPS * 1e12))
    tiny = t4.Work("tiny", None, (3, 32, 32), 10_000, steps=500, step_ms=8, pipeline="cifar augment", workers=4, macs=1e6)
    parts = tiny.seconds()
    assert parts["overhead"] == pytest.approx(4.0) and parts["data"] == pytest.approx(10_000 * 0.2e-3 / t4.COLAB_CORES)
    assert parts["total"] == max(parts["compute"], parts["overhead"], parts["data"])


def test_cpu_work_is_items_times_its_measured_cost_and_counts_in_the_total():
    threaded = t4.CpuWork("YOLO on the CPU", "small YOLO training image", 1_000)
    single = t4.CpuWork("cascade", "LBP cascade scene", 10, threaded=False)
    assert threaded.seconds() == pytest.approx(1_000 * t4.CPU_MS["small YOLO training image"] / 1e3 / t4.COLAB_CORES)
    assert single.seconds() == pytest.approx(10 * t4.CPU_MS["LBP cascade scene"] / 1e3)
    notebook = t4.Notebook(cpu_s=5, download_mb=40, cpu_work=[threaded, single])
    parts = notebook.seconds()
    assert parts["cpu cells"] == pytest.approx(5 + threaded.seconds() + single.seconds())
    assert parts["total"] == pytest.approx(t4.SETUP_S + 40 / t4.DOWNLOAD_MB_PER_S * 1.5 + parts["cpu cells"])


def test_every_notebook_has_an_estimate():
    notebooks = {p.stem for folder in ("book", "labs/solutions") for p in (ROOT / folder).glob("*.ipynb")}
    assert notebooks - set(t4.NOTEBOOKS) == set(), "add these notebooks to NOTEBOOKS in benchmarks/t4_estimates.py"
    assert set(t4.NOTEBOOKS) - notebooks == set(), "these entries of NOTEBOOKS name no notebook"


@pytest.mark.parametrize("name", list(t4.NOTEBOOKS))
def test_each_full_profile_fits_a_colab_session(name):
    notebook = t4.NOTEBOOKS[name]
    assert notebook.minutes() <= t4.T4_SESSION_MIN, f"{name}: about {notebook.minutes()} min on a T4"


@pytest.mark.parametrize("name", list(t4.NOTEBOOKS))
def test_each_full_profile_fits_a_colab_session_and_says_so(name):
    notebook = t4.NOTEBOOKS[name]
    assert notebook.minutes() <= t4.T4_SESSION_MIN, f"{name}: about {notebook.minutes()} min on a T4"
    cells = json.loads(t4.notebook_path(name).read_text())["cells"]
    stated = ["".join(c["source"]) for c in cells if c.get("id") == t4.CELL_ID]
    assert stated == [t4.statement(name)], (f"{name}: its '{t4.CELL_ID}' cell must read {t4.statement(name)!r}; "
                                           f"run `python benchmarks/t4_estimates.py --write {name}`")


def test_the_ssd_estimate_counts_the_steps_the_notebook_runs():
    source = "".join("".join(c["source"]) for c in json.loads((ROOT / "book/10_ssd.ipynb").read_text())["cells"])
    assert f"steps={t4.SSD_STEPS:_}" in source and f"batch_size={t4.SSD_BATCH}" in source
