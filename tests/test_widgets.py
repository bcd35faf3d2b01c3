"""cvbook.widgets, Python side: state set from Python (or arriving from the browser) updates the
computed traits and the synced state; presets; errors. The numbers are checked against
torchvision, d2l and the lectures' examples; the JavaScript side is tested in test_browser.py."""

from __future__ import annotations

import json
from pathlib import Path

import d2l.torch as d2l
import pytest
import torch
import torch.nn.functional as F
import torchvision
import yaml

from cvbook.detection import anchors as anchors_module
from cvbook.widgets import AnchorWidget, IoUWidget, TransposedConvWidget
from cvbook.widgets._base import module_source, stylesheet

ROOT = Path(__file__).resolve().parents[1]

LECTURE_MATRIX = [
    [1, 0, 0, 0], [4, 1, 0, 0], [1, 4, 0, 0], [0, 1, 0, 0],
    [1, 0, 1, 0], [4, 1, 4, 1], [3, 4, 1, 4], [0, 3, 0, 1],
    [3, 0, 1, 0], [3, 3, 4, 1], [1, 3, 3, 4], [0, 1, 0, 3],
    [0, 0, 3, 0], [0, 0, 3, 3], [0, 0, 1, 3], [0, 0, 0, 1],
]


def _tv_iou(a, b) -> float:
    return torchvision.ops.box_iou(torch.tensor([a], dtype=torch.float64), torch.tensor([b], dtype=torch.float64)).item()


# ---------------------------------------------------------------- IoU
def test_iou_follows_boxes_set_from_python():
    w = IoUWidget("chelsea", boxes=[[0, 0, 100, 100], [50, 0, 150, 100]])
    assert w.image_size == [451, 300]
    # by hand: intersection 50·100, union 2·100·100 − 5000
    assert (w.intersection, w.union) == (5000.0, 15000.0)
    assert w.iou == pytest.approx(1 / 3, abs=1e-12)
    w.boxes = [[10, 20, 200, 120], [60, 50, 260, 250]]
    assert w.iou == pytest.approx(_tv_iou([10, 20, 200, 120], [60, 50, 260, 250]), abs=1e-12)
    assert w.intersection == (200 - 60) * (120 - 50)
    state = w.get_state()
    assert state["boxes"] == [[10.0, 20.0, 200.0, 120.0], [60.0, 50.0, 260.0, 250.0]]
    assert state["iou"] == w.iou and state["threshold"] == 0.5
    assert state["image"].startswith("data:image/jpeg;base64,")


def test_iou_state_from_the_browser_updates_python():
    w = IoUWidget("chelsea")
    w.set_state({"boxes": [[0, 0, 10, 10], [0, 0, 10, 10]]})  # what a message from the front end does
    assert w.iou == 1.0 and w.union == 100.0
    w.set_state({"boxes": [[0, 0, 10, 10], [20, 20, 30, 30]]})
    assert (w.iou, w.intersection) == (0.0, 0.0)


@pytest.mark.parametrize(
    "boxes, message",
    [
        ([[50, 0, 10, 100], [0, 0, 10, 10]], "x2 < x1"),
        ([[0, 60, 10, 10], [0, 0, 10, 10]], "x2 < x1 or y2 < y1"),
        ([[0, 0, 500, 10], [0, 0, 10, 10]], "leaves the 451×300 image"),
        ([[0, 0, 10, 10]], "two boxes"),
        ([[0, 0, 10], [0, 0, 10, 10]], "four numbers"),
    ],
)
def test_iou_rejects_bad_boxes(boxes, message):
    w = IoUWidget("chelsea")
    before = w.boxes
    with pytest.raises(ValueError, match=message):
        w.boxes = boxes
    assert w.boxes == before


def test_iou_rejects_bad_threshold_and_image():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        IoUWidget("chelsea", threshold=1.5)
    with pytest.raises(ValueError, match="no photo named"):
        IoUWidget("no-such-photo")
    with pytest.raises(ValueError, match="uint8"):
        IoUWidget(torch.rand(10, 10, 3).numpy())


def test_each_widget_is_one_module():
    for name, cls in [("iou", IoUWidget), ("transposed_conv", TransposedConvWidget), ("anchors", AnchorWidget)]:
        source = module_source(name)
        assert source.count("export default") == 1 and "function render(" in source
        assert cls._esm == source and cls._css == stylesheet()


# ---------------------------------------------------------------- transposed convolution
def test_transposed_conv_presets_reproduce_the_lectures():
    w = TransposedConvWidget("2x2")
    assert w.output == [[0, 0, 1], [0, 4, 6], [4, 12, 9]]
    w.load_preset("16x4")
    assert w.matrix == LECTURE_MATRIX
    assert [v for row in w.output for v in row] == [2, 9, 6, 1, 6, 29, 30, 7, 10, 29, 33, 13, 12, 24, 16, 4]
    assert w.step == 4 and w.get_state()["matrix"] == LECTURE_MATRIX
    w.load_preset("stride2")  # 3×3, stride 2, padding 1, output padding 1 on a 2×2 input: ×2, a 4×4 output
    # by hand: overlaps of ones-kernels; the output padding keeps the last row and column
    assert w.output == [[1, 3, 2, 2], [4, 10, 6, 6], [3, 7, 4, 4], [3, 7, 4, 4]]
    w.output_padding = 0  # without it, 3×3
    assert w.output == [[1, 3, 2], [4, 10, 6], [3, 7, 4]]
    w.load_preset("2x2")  # a preset resets the output padding
    assert w.output_padding == 0 and w.output == [[0, 0, 1], [0, 4, 6], [4, 12, 9]]


@pytest.mark.parametrize("shape, k, stride, padding, output_padding",
                         [((2, 3), 2, 1, 0, 0), ((4, 4), 3, 2, 1, 0), ((3, 2), 4, 3, 2, 0), ((2, 2), 1, 1, 0, 0),
                          ((3, 3), 3, 2, 1, 1), ((2, 4), 2, 3, 0, 2)])
def test_transposed_conv_matches_torch_and_its_matrix(shape, k, stride, padding, output_padding):
    g = torch.Generator().manual_seed(sum(shape) + k)
    x = torch.randint(-3, 4, shape, generator=g).double()
    kernel = torch.randint(-3, 4, (k, k), generator=g).double()
    w = TransposedConvWidget(input=x.tolist(), kernel=kernel.tolist(), stride=stride, padding=padding,
                             output_padding=output_padding)
    expected = F.conv_transpose2d(x[None, None], kernel[None, None], stride=stride, padding=padding,
                                  output_padding=output_padding)[0, 0]
    from cvbook.segmentation.upsample import transposed_conv_matrix

    assert torch.equal(torch.tensor(w.matrix).T, transposed_conv_matrix(kernel, shape, stride, padding, output_padding))
    if output_padding:
        return  # the convolution check below has no output padding
    assert torch.equal(torch.tensor(w.output), expected)
    # Uᵀ·vec(x) = vec(output), and Uᵀ is the transpose of the convolution's matrix U:
    # U·vec(y) = vec(conv2d(y, kernel)) for an output-sized y
    u_t = torch.tensor(w.matrix, dtype=torch.float64)
    assert torch.equal(u_t @ x.flatten(), expected.flatten())
    y = torch.randn(expected.shape, generator=g, dtype=torch.float64)
    conv = F.conv2d(y[None, None], kernel[None, None], stride=stride, padding=padding)[0, 0]
    assert torch.allclose(u_t.T @ y.flatten(), conv.flatten())


def test_transposed_conv_state_changes_recompute():
    w = TransposedConvWidget("2x2")
    w.set_state({"kernel": [[1]], "step": 2})
    assert w.output == [[0, 1], [2, 3]] and w.step == 2
    w.stride = 2
    assert w.output == [[0, 0, 1], [0, 0, 0], [2, 0, 3]]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input": [[1, 2, 3, 4, 5]] * 5}, "2×2 to 4×4"),
        ({"input": [[1]]}, "2×2 to 4×4"),
        ({"input": [[1, 2], [3]]}, "rectangular"),
        ({"kernel": [[1] * 5] * 5}, "1×1 to 4×4"),
        ({"stride": 4}, "stride"),
        ({"padding": 2}, "removes the whole output"),
        ({"output_padding": 1}, "smaller than the stride"),
        ({"stride": 2, "output_padding": 3}, "0 to 2"),
    ],
)
def test_transposed_conv_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TransposedConvWidget("2x2", **kwargs)
    with pytest.raises(ValueError, match="no preset"):
        TransposedConvWidget("3x3")
    w = TransposedConvWidget("2x2")
    with pytest.raises(ValueError, match="step must lie in 0..4"):
        w.step = 5


# ---------------------------------------------------------------- anchors
def _d2l_reference(w: AnchorWidget):
    width, height = w.image_size
    h, fw = w.feature_size
    anchors = d2l.multibox_prior(torch.zeros(1, 1, h, fw), w.sizes, w.ratios)[0].double()
    anchors = anchors * torch.tensor([width, height, width, height], dtype=torch.float64)
    gt = torch.tensor([w.gt_box], dtype=torch.float64)
    assigned = d2l.assign_anchor_to_bbox(gt, anchors, "cpu", w.threshold)
    return anchors, gt, torch.nonzero(assigned >= 0)[:, 0].tolist()


def test_anchor_widget_matches_d2l_and_torchvision():
    w = AnchorWidget("coffee", feature_size=(3, 5), sizes=(0.6, 0.3), ratios=(1, 2, 0.5), gt_box=[170, 16, 410, 280], location=(1, 2))
    assert w.num_anchors == 3 * 5 * (2 + 3 - 1)
    anchors, gt, assigned = _d2l_reference(w)
    first = (1 * 5 + 2) * 4
    cell = torch.tensor(w.anchors, dtype=torch.float64)
    assert torch.allclose(cell, anchors[first : first + 4], atol=1e-3)
    assert torch.allclose(torch.tensor(w.ious, dtype=torch.float64), torchvision.ops.box_iou(cell, gt)[:, 0], atol=1e-9)
    assert w.assigned == assigned
    # moving the box from Python (or the browser) updates IoUs and assignment
    w.set_state({"gt_box": [0, 0, 120, 133]})
    anchors, gt, assigned = _d2l_reference(w)
    assert w.assigned == assigned and assigned  # d2l always assigns the best anchor
    w.threshold = 0.1
    assert w.assigned == _d2l_reference(w)[2] and len(w.assigned) > len(assigned)
    state = w.get_state()
    assert state["assigned"] == w.assigned and state["gt_box"] == [0.0, 0.0, 120.0, 133.0]


def test_anchor_widget_square_convention_draws_square_ratio_one_anchors():
    # a 4×4 map over the 600×400 coffee photo: d2l's "ratio 1" anchors are 1.5 times wider than high
    d2l_widget = AnchorWidget("coffee", feature_size=(4, 4), sizes=(0.5,), ratios=(1.0, 2.0), location=(0, 0))
    square = AnchorWidget("coffee", feature_size=(4, 4), sizes=(0.5,), ratios=(1.0, 2.0), location=(0, 0),
                          convention="square")
    width, height = square.image_size
    ratio = lambda b: (b[2] - b[0]) / (b[3] - b[1])  # noqa: E731
    assert ratio(d2l_widget.anchors[0]) == pytest.approx(width / height)  # the photo's aspect, not 1
    assert [ratio(b) for b in square.anchors] == pytest.approx([1.0, 2.0], rel=1e-5)
    assert square.anchors[0][3] - square.anchors[0][1] == pytest.approx(0.5 * height)  # size relative to the height
    # the widget's anchors are the package's square-convention anchors, and its assignment uses them
    reference = anchors_module.multibox_prior((4, 4), [0.5], [1.0, 2.0], convention="square", image_size=(height, width))[0]
    reference = reference.double() * torch.tensor([width, height, width, height], dtype=torch.float64)
    assert torch.allclose(square.all_anchors(), reference)
    gt = torch.tensor([square.gt_box], dtype=torch.float64)
    expected = anchors_module.assign_anchors(gt, reference, square.threshold)
    assert square.assigned == torch.nonzero(expected >= 0)[:, 0].tolist()
    square.convention = "d2l"
    assert square.anchors == d2l_widget.anchors


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"convention": "pixels"}, "convention must be one of d2l, square"),
        ({"location": (4, 0)}, "not a cell of the 4×4"),
        ({"feature_size": (0, 3)}, "1 ≤ h, w ≤ 16"),
        ({"sizes": (1.5,)}, r"sizes must be .* in \(0, 1\]"),
        ({"ratios": ()}, "ratios must be a non-empty"),
        ({"gt_box": [300, 10, 200, 100]}, "x2 < x1"),
        ({"threshold": -0.1}, r"\[0, 1\]"),
    ],
)
def test_anchor_widget_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AnchorWidget("coffee", **kwargs)


# ---------------------------------------------------------------- the book page
def test_book_page_carries_current_widget_state():
    """The static page shows the widget state saved in the notebook: it must hold today's
    JavaScript (re-execute book/interactive_figures.ipynb after editing src/cvbook/widgets/js)."""
    nb = json.loads((ROOT / "book" / "interactive_figures.ipynb").read_text())
    state = nb["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    modules = sorted(s["state"]["_esm"] for s in state.values() if s["model_module"] == "anywidget")
    assert modules == sorted(module_source(n) for n in ("iou", "transposed_conv", "anchors")), "stale notebook: re-execute it"
    shown = [o["data"]["application/vnd.jupyter.widget-view+json"]["model_id"] for c in nb["cells"] for o in c.get("outputs", []) if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(shown) == 3 and all(m in state for m in shown)


def test_book_serves_the_widget_javascript_itself():
    """_config.yml points myst-nb's widget scripts and MathJax at vendored files (offline)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    static = [ROOT / p for p in config["html_static_path"]]
    scripts = list(config["nb_ipywidgets_js"]) + [config["mathjax_path"]]
    for script in scripts:
        assert "://" not in script
        assert any((s / script).is_file() for s in static), f"{script} is not in {static}"


@pytest.mark.parametrize("path", sorted((ROOT / "book").glob("*.ipynb")) + sorted((ROOT / "labs").rglob("*.ipynb")),
                         ids=lambda p: p.name)
def test_every_saved_widget_runs_todays_javascript(path):
    """Any notebook that saves a widget (chapter 1's IoU figure, ...) must carry the current JS."""
    nb = json.loads(path.read_text())
    state = nb.get("metadata", {}).get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    current = {module_source(n) for n in ("iou", "transposed_conv", "anchors")}
    for model in state.values():
        if model["model_module"] == "anywidget":
            assert model["state"]["_esm"] in current, f"stale widget in {path.name}: re-execute it"
