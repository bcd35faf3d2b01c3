"""Tests of cvbook.backbones.diagram: the figures carry the shapes of an independent forward pass."""

from __future__ import annotations

import matplotlib
import pytest
import torch
from torch import nn

from cvbook.backbones import alexnet, inception, lenet, resnet
from cvbook.backbones.diagram import (block_boxes, dataflow, plot_block, plot_dataflow, plot_layer_shapes, short_name,
                                      structural_layers)

matplotlib.use("Agg")


def test_layer_shapes_plot_shows_lenet_shapes_by_hand():
    ax = plot_layer_shapes(lenet.LeNet5(), (1, 1, 28, 28), title="LeNet-5")
    channels, heights = (list(line.get_ydata()) for line in ax.lines[:2])
    # input, conv 5×5, pool, conv 5×5, pool, fc 120, fc 84, fc 10 (by hand: 28-5+1=24, /2, 12-5+1=8, /2)
    assert channels == [1, 6, 6, 16, 16, 120, 84, 10]
    assert heights == [28, 24, 12, 8, 4, 1, 1, 1]
    assert ax.get_title() == "LeNet-5" and ax.get_xlabel() and ax.get_ylabel()
    bars = [p.get_height() for p in ax.figure.axes[1].patches]
    assert bars == [0, 156, 0, 2416, 0, 30840, 10164, 850]  # (k²·C_in + 1)·C_out per layer


def test_layer_shapes_plot_works_on_the_meta_device_and_labels_layers():
    with torch.device("meta"):
        model = alexnet.AlexNet()
        ax = plot_layer_shapes(model, (1, 3, 224, 224))
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[:3] == ["input", "conv 11×11/4", "max 3×3/2"] and labels[-1] == "fc 1000"
    assert ax.get_title() == "AlexNet"


def test_structural_layers_skip_elementwise_layers_and_identity():
    rows = structural_layers(resnet.BasicBlock(8, 8), (1, 8, 6, 6))
    assert [r.kind for r in rows] == ["Conv2d", "Conv2d"]
    assert short_name(rows[0]) == "conv 3×3"


def test_plot_layer_shapes_refuses_a_model_without_layers_to_draw():
    with pytest.raises(ValueError, match="no convolution"):
        plot_layer_shapes(nn.Sequential(nn.ReLU()), (1, 3, 4, 4))


def test_inception_block_concatenates_its_four_branches():
    args = inception.GOOGLENET["3a"]  # 192 in; 64 + 128 + 32 + 32 = 256 out
    boxes, merge = block_boxes(inception.Inception(*args), (1, 192, 28, 28))
    assert sorted({b.column for b in boxes}) == [0, 1, 2, 3]
    assert [sum(b.column == c for b in boxes) for c in range(4)] == [1, 2, 2, 2]
    assert merge.startswith("concatenate") and merge.endswith("256×28×28")
    assert boxes[0].text.startswith("conv 1×1 192→64") and boxes[0].text.endswith("64×28×28")


def test_residual_blocks_add_and_apply_the_last_relu_after_the_sum():
    boxes, merge = block_boxes(resnet.BasicBlock(64, 128, stride=2), (1, 64, 56, 56))
    assert merge == "add + ReLU\n→ 128×28×28"
    shortcut = [b.text for b in boxes if b.column == 1]
    assert shortcut == ["conv 1×1/2 64→128\nBN → 128×28×28"]
    boxes, merge = block_boxes(resnet.Bottleneck(256, 64), (1, 256, 56, 56))
    assert [b.text for b in boxes if b.column == 1] == ["identity\n→ 256×56×56"]
    assert merge.startswith("add")


def test_plot_block_draws_input_boxes_and_merge_with_a_title():
    ax = plot_block(resnet.BasicBlock(16, 16), (1, 16, 8, 8), title="basic")
    texts = [t.get_text() for t in ax.texts if t.get_text()]
    assert texts[0] == "input\n16×8×8" and texts[-1].startswith("add") and len(texts) == 2 + 3
    assert ax.get_title() == "basic"


def test_plot_block_refuses_a_single_path():
    with pytest.raises(ValueError, match="single path"):
        block_boxes(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), (1, 3, 8, 8))


def test_dataflow_finds_fcn_skips_and_sums():
    from cvbook.segmentation import fcn

    model = fcn.FCN(4, "8s", backbone=fcn.SmallBackbone(3, (4, 4, 6, 8, 8)))
    nodes, out = dataflow(model, (1, 3, 40, 40))
    index = {n.row.name: i for i, n in enumerate(nodes)}
    # by the paper's design: score16 reads pool4 (stage 3's pooling), score8 pool3 (stage 2's)
    assert nodes[index["score16"]].inputs == (index["backbone.stages.3.2"],)
    assert nodes[index["score8"]].inputs == (index["backbone.stages.2.2"],)
    assert nodes[index["up16_to_8"]].inputs == (index["score16"], index["up32_to_16"])
    assert nodes[index["up16_to_8"]].merge == "add"
    assert nodes[index["up_final"]].inputs == (index["score8"], index["up16_to_8"])
    assert nodes[0].inputs == (-1,) and out.inputs == (index["up_final"],)
    assert [n.inputs for n in dataflow(fcn.FCN(4, "32s", backbone=model.backbone), (1, 3, 40, 40))[0]][-2:] == \
        [(len(nodes) - 7,), (len(nodes) - 6,)]  # 32s: score32 after the last pooling, then one upsampling


def test_dataflow_finds_unet_concatenations_and_a_shared_pooling_twice():
    from cvbook.segmentation.unet import UNet

    nodes, _ = dataflow(UNet(1, 2, base_channels=4, depth=2), (1, 1, 16, 16))
    names = [n.row.name for n in nodes]
    assert names.count("pool") == 2
    merges = [(names[i], [names[j] for j in n.inputs], n.merge) for i, n in enumerate(nodes) if len(n.inputs) > 1]
    assert merges == [("merge.0.0.0", ["down.1.1.0", "up.0"], "concat"),
                      ("merge.1.0.0", ["down.0.1.0", "up.1"], "concat")]
    ax = plot_dataflow(UNet(1, 2, base_channels=4, depth=2), (1, 1, 16, 16), title="U-Net")
    assert ax.get_title() == "U-Net" and ax.get_ylabel() and ax.get_xlabel()
    assert list(ax.collections[0].get_offsets()[:, 1]) == [16, 16, 16, 8, 8, 8, 4, 4, 4, 8, 8, 8, 16, 16, 16, 16]


def _texts_and_width(ax) -> tuple[list[float], float]:
    from matplotlib.text import Text

    fig = ax.figure
    fig.canvas.draw()
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    width = fig.get_size_inches()[0]
    matplotlib.pyplot.close(fig)
    return sizes, width


def test_diagrams_draw_every_text_at_10_pt_in_figures_at_most_9_5_inches_wide():
    # page pt = size × dpi/96 × 790 px / width: 10 pt at ≤ 9.5 in (≈ 950 px at 100 dpi) stays ≥ 8 pt
    from cvbook.backbones.diagram import MAX_WIDTH_IN, TEXT_PT
    from cvbook.segmentation.unet import UNet

    assert TEXT_PT == 10.0 and MAX_WIDTH_IN == 9.5
    with torch.device("meta"):
        wide_chain = plot_layer_shapes(resnet.resnet18(), (1, 3, 224, 224))  # 23 layers
    figures = [wide_chain,
               plot_block(inception.Inception(*inception.GOOGLENET["3a"]), (1, 192, 28, 28)),  # 4 branches
               plot_dataflow(UNet(1, 2, base_channels=4, depth=3), (1, 1, 32, 32))]  # 25 layers
    for ax in figures:
        sizes, width = _texts_and_width(ax)
        assert len(sizes) > 10 and min(sizes) >= 10.0, (ax.get_title(), min(sizes))
        assert width <= 9.5, (ax.get_title(), width)
