"""The T4 estimates (tools/t4_estimates.py): what they must satisfy, not a re-derivation of their arithmetic.

Every notebook has an estimate and carries it on its page; none exceeds a Colab session; more work never
takes less time; and the compute of a training pass agrees with an independent FLOP count of one real
step (``torch.utils.flop_counter``) over the stated T4 rate.
"""
import dataclasses
import json
import re
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from notebooks import BRANCH, REPOSITORY, ROOT

sys.path.insert(0, str(ROOT / "tools"))
import t4_estimates as t4  # noqa: E402

NOTEBOOK_NAMES = sorted(p.stem for folder in ("book", "labs/solutions") for p in (ROOT / folder).glob("*.ipynb"))


def test_every_notebook_has_an_estimate_and_no_other():
    assert set(NOTEBOOK_NAMES) - set(t4.NOTEBOOKS) == set(), "add these notebooks to NOTEBOOKS in tools/t4_estimates.py"
    assert set(t4.NOTEBOOKS) - set(NOTEBOOK_NAMES) == set(), "these entries of NOTEBOOKS name no notebook"


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_each_page_states_its_estimate_which_fits_a_colab_session(name):
    minutes = t4.NOTEBOOKS[name].minutes()
    assert 1 <= minutes <= 30, f"{name}: about {minutes} min on a T4, over a 30-minute Colab session"
    cells = json.loads(t4.notebook_path(name).read_text())["cells"]
    stated = ["".join(c["source"]) for c in cells if c.get("id") == t4.CELL_ID]
    assert stated == [t4.statement(name)], (f"{name}: its '{t4.CELL_ID}' cell must read {t4.statement(name)!r}; "
                                           f"run `python tools/t4_estimates.py --write {name}`")
    aim = r"its results are the quick profile's \(\S" if t4.NOTEBOOKS[name].same else r"it aims at \S"
    source = re.escape(f"[tools/t4_estimates.py](https://github.com/{REPOSITORY}/blob/{BRANCH}/tools/t4_estimates.py)")
    assert re.search(rf"about {minutes} min \(estimated .*, not measured on a T4: {source}\); {aim}", stated[0])
    assert bool(t4.NOTEBOOKS[name].same) != bool(t4.NOTEBOOKS[name].reaches), f"{name}: give reaches or same, not both"


def test_the_line_links_the_estimator_on_github_where_a_fork_rewrites_it():
    """Colab has no tools/ beside a notebook: the line links the file on the repository's GitHub, with
    the address that tools/repository.py checks and that a fork's rewrite changes."""
    import repository

    line = t4.statement("lab14_training_well")
    (link,) = re.findall(r"\]\((https://[^)\s]+)\)", line)
    assert link == repository.github_url("tools/t4_estimates.py") == (
        f"https://github.com/{REPOSITORY}/blob/{BRANCH}/tools/t4_estimates.py")
    assert (ROOT / link.split(f"/blob/{BRANCH}/", 1)[1]).is_file()
    (found,) = repository._find(line, "the line")
    assert (found.what, found.repository, found.branch) == ("GitHub file link", REPOSITORY, BRANCH)
    assert "https://github.com/someone/cv-course/blob/dev/tools/t4_estimates.py" in repository._replace(
        line, "someone/cv-course", "dev")


@settings(max_examples=60, deadline=None)
@given(images=st.integers(0, 10**6), steps=st.integers(0, 10**5), macs=st.floats(0, 1e11),
       pipeline=st.sampled_from(sorted(t4.PIPELINE_MS)), train=st.booleans(), amp=st.booleans(),
       more=st.sampled_from(["images", "steps", "macs"]))
def test_more_work_never_takes_less_time(images, steps, macs, pipeline, train, amp, more):
    work = t4.Work("w", None, (3, 32, 32), images, train=train, steps=steps, pipeline=pipeline, amp=amp, macs=macs)
    bigger = dataclasses.replace(work, **{more: getattr(work, more) * 2 + 1})
    assert bigger.seconds()["total"] >= work.seconds()["total"]
    notebook = t4.Notebook([work])
    assert t4.Notebook([work, bigger]).minutes() >= notebook.minutes() >= t4.Notebook().minutes()


def test_training_costs_more_than_evaluating_and_float32_more_than_float16():
    work = t4.Work("w", None, (3, 224, 224), 10_000, macs=4e9)
    assert dataclasses.replace(work, train=False).seconds()["compute"] < work.seconds()["compute"]
    assert dataclasses.replace(work, amp=False).seconds()["compute"] > work.seconds()["compute"]


#: The effective T4 rate the book states for float16-autocast training: NVIDIA's published 1,190 ResNet-50
#: images/s (8.2 GFLOP each) is 9.8 TFLOP/s of inference, discounted by 0.6 for training.
T4_TRAINING_FLOPS = 6e12


def test_a_training_pass_agrees_with_an_independent_flop_count_of_one_step():
    """Chapter 3's ResNet-18: one real training step's FLOPs (forward, loss, backward, counted by
    torch.utils.flop_counter on the meta device) × its steps, over the stated rate, within 1.25×."""
    from cvbook.backbones.resnet import resnet_small

    (train, *_) = t4.NOTEBOOKS["03_training_a_classifier"].work
    assert train.train and train.steps > 0 and train.amp
    batch = 256  # the chapter's full-profile batch size
    source = "".join("".join(c["source"]) for c in json.loads((ROOT / "book/03_training_a_classifier.ipynb")
                                                                .read_text())["cells"])
    assert re.search(rf"batch_size\s*=\s*profile\.pick\(quick=\d+, full={batch}\)", source), "the chapter's batch changed"
    with torch.device("meta"):
        model = resnet_small(10, widths=(64, 128, 256, 512), blocks=(2, 2, 2, 2))
        images, labels = torch.empty(batch, 3, 32, 32), torch.zeros(batch, dtype=torch.long)
        with FlopCounterMode(display=False) as counter:
            torch.nn.functional.cross_entropy(model(images), labels).backward()
    independent = counter.get_total_flops() * train.steps / T4_TRAINING_FLOPS
    estimated = train.seconds()["total"]
    assert 1 / 1.25 <= estimated / independent <= 1.25, f"estimated {estimated:.0f} s, FLOP count {independent:.0f} s"


def test_steps_per_second_is_each_training_pass_steps_over_its_time():
    rates = t4.steps_per_second("10_ssd")
    (ssd, *_) = t4.NOTEBOOKS["10_ssd"].work
    assert list(rates) == [ssd.what] and rates[ssd.what] == pytest.approx(ssd.steps / ssd.seconds()["total"])
    assert 0.5 < rates[ssd.what] < 20  # an SSD300 step of 32 images on a T4: around a second, not a millisecond
    assert t4.steps_per_second("01_tasks_and_measures") == {}


def test_the_ssd_estimate_counts_the_steps_the_notebook_runs():
    source = "".join("".join(c["source"]) for c in json.loads((ROOT / "book/10_ssd.ipynb").read_text())["cells"])
    assert f"steps={t4.SSD_STEPS:_}" in source and f"batch_size={t4.SSD_BATCH}" in source


def test_every_cost_the_measuring_benchmark_prints_is_one_the_estimates_use():
    source = (ROOT / "benchmarks" / "t4_measure.py").read_text()
    measured = set(re.findall(r'costs\["([^"]+)"\]', source)) | set(re.findall(r'"([^"]+)": per_item', source))
    assert len(measured) >= 10
    assert measured <= set(t4.PIPELINE_MS) | set(t4.CPU_MS), measured - set(t4.PIPELINE_MS) - set(t4.CPU_MS)
