"""Draw a network from the network itself: its shapes layer by layer, or a block's branches.

Both figures are built from :func:`cvbook.backbones.summary.layer_shapes`, i.e. from one forward
pass of the model (on the ``meta`` device for large networks), never from a hand-written list:

- :func:`plot_layer_shapes`: for a chain of layers (LeNet, AlexNet, VGG, a ResNet), the number
  of channels and the height of the map after every convolution, pooling and linear layer, and
  each layer's parameters;
- :func:`plot_block`: for a module with parallel branches (an Inception module, a residual
  block), one column of boxes per branch, each box a layer with its output shape, and the
  merge (concatenation or sum) at the bottom;
- :func:`plot_dataflow`: for a network whose maps shrink and grow again with skips (FCN,
  U-Net), every layer at the height of its map, and every connection that the forward pass
  really makes (found by :func:`dataflow`, which follows the tensors), skips and merges included.

Every text of these figures is drawn at :data:`TEXT_PT` (10 pt, matplotlib's default), and
the default figure sizes stay at most :data:`MAX_WIDTH_IN` (9.5 in) wide: a figure of that width
is scaled to the book's 790-px column by about 0.8, which keeps its smallest text at 8 pt or more
on the page (see ``tools/figure_text.py``). Notebooks that pass their own axes should keep the
figure as narrow (wider figures: put panels in rows, not side by side).

>>> from cvbook.backbones.lenet import LeNet5
>>> ax = plot_layer_shapes(LeNet5(), (1, 1, 28, 28), title="LeNet-5")  # doctest: +SKIP
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

import torch
from matplotlib.axes import Axes
from torch import nn

from cvbook.backbones.summary import LayerInfo, layer_shapes
from cvbook.plot import MAX_WIDTH_IN  # widest default figure: 10 pt shrinks to 8 pt on the page at about 10 in

__all__ = ["TEXT_PT", "MAX_WIDTH_IN", "structural_layers", "short_name", "plot_layer_shapes", "BlockBox", "block_boxes", "plot_block",
           "FlowNode", "dataflow", "plot_dataflow"]

TEXT_PT = 10.0  # every text of a diagram, in points at the figure's scale

# Layers that only rescale or gate values, drawn as a suffix of the layer before them.
_ELEMENTWISE = {"BatchNorm1d": "BN", "BatchNorm2d": "BN", "ReLU": "ReLU", "Dropout": "dropout", "Flatten": "flatten",
                "LocalResponseNorm": "LRN", "Sigmoid": "sigmoid", "Tanh": "tanh"}


def _structural(row: LayerInfo) -> bool:
    return row.kind not in _ELEMENTWISE and row.kind != "Identity"


def structural_layers(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerInfo]:
    """The rows of :func:`~cvbook.backbones.summary.layer_shapes` that change the shape or hold
    weights: convolutions, poolings, linear layers (activations, batch norm, dropout,
    flattening and identity shortcuts are left out)."""
    return [row for row in layer_shapes(model, input_shape) if _structural(row)]


def short_name(row: LayerInfo) -> str:
    """A tick label: ``conv 11×11/4``, ``max 3×3/2``, ``avg``, ``fc 4096``, ``identity``."""
    def pair(v: tuple[int, int] | None) -> str:
        return "" if v is None else (f"{v[0]}×{v[1]}" if v[0] != v[1] else f"{v[0]}×{v[0]}")

    stride = f"/{row.stride[0]}" if row.stride and row.stride[0] > 1 else ""
    if row.kind.startswith("Conv"):
        return f"conv {pair(row.kernel)}{stride}"
    if row.kind.startswith("Adaptive"):
        return "global avg" if "Avg" in row.kind else "global max"
    if "Pool" in row.kind:
        return f"{'max' if 'Max' in row.kind else 'avg'} {pair(row.kernel)}{stride}"
    if row.kind == "Linear":
        return f"fc {row.output_shape[-1]}"
    return row.kind.lower()


def _channels_and_side(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(channels, height)`` of a ``(B, C, H, W)`` output; ``(features, 1)`` of a ``(B, N)`` one."""
    return (shape[1], shape[2]) if len(shape) >= 3 else (shape[-1], 1)


def plot_layer_shapes(model: nn.Module, input_shape: tuple[int, ...], *, ax: Axes | None = None,
                      title: str | None = None) -> Axes:
    """The output shape of every structural layer of ``model``, in the order they run.

    Two lines on a logarithmic axis (base 2), the channels (or features, after flattening)
    and the height of the map (1 for a vector), and grey bars on a second logarithmic axis for
    each layer's parameters. The input is the point at x = 0.

    Args:
        model: any network :func:`~cvbook.backbones.summary.layer_shapes` can run (build large
            ones on the meta device).
        input_shape: the full input shape, batch included, e.g. ``(1, 3, 224, 224)``.
        ax: where to draw (default: a new figure).
        title: the axes' title (default: the model's class name).

    Returns:
        The axes; ``ax.lines[0]`` holds the channels, ``ax.lines[1]`` the heights.
    """
    import matplotlib.pyplot as plt

    rows = structural_layers(model, input_shape)
    if not rows:
        raise ValueError(f"{type(model).__name__} has no convolution, pooling or linear layer to draw.")
    if ax is None:
        _, ax = plt.subplots(figsize=(min(MAX_WIDTH_IN, max(4.5, 0.3 * len(rows) + 2.5)), 4.0))
    shapes = [_channels_and_side(tuple(input_shape))] + [_channels_and_side(r.output_shape) for r in rows]
    x = list(range(len(shapes)))
    ax.plot(x, [c for c, _ in shapes], "o-", color="tab:blue", label="channels (features)")
    ax.plot(x, [s for _, s in shapes], "s-", color="tab:orange", label="height of the map")
    ax.set_yscale("log", base=2)
    ax.set_xticks(x, ["input"] + [short_name(r) for r in rows], rotation=90, fontsize=TEXT_PT)
    ax.set(title=title or type(model).__name__, xlabel="layer (in the order they run)",
           ylabel="output size (log scale)")
    params = [0] + [r.params for r in rows]
    twin = ax.twinx()
    twin.bar(x, params, bottom=1, color="grey", alpha=0.3, width=0.6, label="parameters")
    twin.set_yscale("log")
    twin.set_ylabel("parameters of the layer (log scale)")
    ax.set_zorder(twin.get_zorder() + 1)  # the lines above the bars
    ax.patch.set_visible(False)
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize=TEXT_PT, loc="best")
    return ax


@dataclass(frozen=True)
class BlockBox:
    """One box of :func:`plot_block`: its column (branch), its row, and its text."""

    column: int
    row: int
    text: str


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(s) for s in shape[1:])


def _branch_key(name: str, module: nn.Module) -> str:
    """The branch a leaf belongs to: the top-level child (a ModuleList or ModuleDict is opened)."""
    parts = name.split(".")
    child = getattr(module, parts[0])
    return ".".join(parts[:2]) if isinstance(child, (nn.ModuleList, nn.ModuleDict)) and len(parts) > 1 else parts[0]


def _box_title(row: LayerInfo) -> str:
    """``conv 3×3/2 64→128``, ``max 3×3``, ``identity``: a layer in a few characters."""
    if row.kind == "Identity":
        return "identity"
    channels = re.search(r"(\d+→\d+)", row.layer)
    return short_name(row) + (f" {channels.group(1)}" if channels else "")


def _boxes_of(rows: list[LayerInfo]) -> list[str]:
    """One text per layer that is not element-wise, with the element-wise layers after it."""
    texts: list[list[str]] = []
    for row in rows:
        if row.kind not in _ELEMENTWISE or not texts:
            texts.append([_box_title(row), "", _shape_text(row.output_shape)])
        else:
            texts[-1][1] += f" + {_ELEMENTWISE[row.kind]}"
            texts[-1][2] = _shape_text(row.output_shape)
    return [f"{layer}\n{extra[3:] + ' ' if extra else ''}→ {shape}" for layer, extra, shape in texts]


def block_boxes(module: nn.Module, input_shape: tuple[int, ...]) -> tuple[list[BlockBox], str]:
    """The boxes of :func:`plot_block` and the merge's text.

    Leaves are grouped by their top-level child (one column per branch, in the order they
    run); element-wise layers that run after every branch (a residual block's last ReLU) join
    the merge. The merge is a concatenation when the output's channels are the sum of the
    branches', a sum when every branch ends with the output's shape.
    """
    if isinstance(module, nn.Sequential):
        raise ValueError("an nn.Sequential is a single path; draw it with plot_layer_shapes.")
    rows = layer_shapes(module, input_shape)
    groups: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(_branch_key(row.name, module), []).append(i)
    keys = list(groups)
    after: list[LayerInfo] = []
    while len(keys) > 2 and all(rows[i].kind in _ELEMENTWISE for i in groups[keys[-1]]) \
            and min(groups[keys[-1]]) > max(i for k in keys[:-1] for i in groups[k]):
        after = [rows[i] for i in groups.pop(keys.pop())] + after
    if len(keys) < 2:
        raise ValueError(f"{type(module).__name__} has a single path; draw it with plot_layer_shapes.")
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            param = next(module.parameters(), None)
            out = module(torch.zeros(input_shape, device=param.device if param is not None else None))
    finally:
        module.train(was_training)
    out_shape = tuple(out.shape)
    ends = [rows[groups[k][-1]].output_shape for k in keys]
    if sum(e[1] for e in ends) == out_shape[1] and len(ends) > 1:
        merge = "concatenate channels"
    elif all(e == out_shape for e in ends):
        merge = "add"
    else:
        merge = "merge"
    merge += "".join(f" + {_ELEMENTWISE[r.kind]}" for r in after) + f"\n→ {_shape_text(out_shape)}"
    boxes = [BlockBox(c, r, text) for c, key in enumerate(keys)
             for r, text in enumerate(_boxes_of([rows[i] for i in groups[key]]))]
    return boxes, merge


def plot_block(module: nn.Module, input_shape: tuple[int, ...], *, ax: Axes | None = None,
               title: str | None = None) -> Axes:
    """A diagram of a module with parallel branches: input, one column per branch, merge.

    Every box is a layer (with the batch norm and activation that follow it) and the shape
    of its output, taken from a forward pass (:func:`block_boxes`). The axes are switched
    off (a diagram has no coordinates); the title names the module.

    Returns:
        The axes; its non-empty ``ax.texts`` are the input, every box and the merge, in that
        order (the arrows are empty annotations).
    """
    import matplotlib.pyplot as plt

    boxes, merge = block_boxes(module, input_shape)
    columns = max(b.column for b in boxes) + 1
    depth = max(b.row for b in boxes) + 1
    if ax is None:
        _, ax = plt.subplots(figsize=(min(MAX_WIDTH_IN, 2.3 * columns + 0.3), 1.1 * depth + 2.4))
    width = 1.0  # one column per branch
    centre = (columns - 1) * width / 2
    style = dict(ha="center", va="center", fontsize=TEXT_PT)
    ax.text(centre, 0, f"input\n{_shape_text(tuple(input_shape))}", bbox=dict(boxstyle="round", fc="#eeeeee"), **style)
    bottom = -(depth + 1)
    for box in boxes:
        ax.text(box.column * width, -(box.row + 1), box.text, bbox=dict(boxstyle="round", fc="#dce9f5"), **style)
    ax.text(centre, bottom, merge, bbox=dict(boxstyle="round", fc="#fde7cf"), **style)
    arrow = dict(arrowstyle="->", color="0.3", shrinkA=0, shrinkB=0)
    edge = 0.27  # half a box's height: arrows run from box edge to box edge
    for column in range(columns):
        x = column * width
        ys = [-(r + 1) for r in sorted(b.row for b in boxes if b.column == column)]
        ax.annotate("", xy=(x, ys[0] + edge), xytext=(centre + 0.1 * (x - centre), -edge), arrowprops=arrow)
        for start, end in zip(ys, ys[1:]):
            ax.annotate("", xy=(x, end + edge), xytext=(x, start - edge), arrowprops=arrow)
        # down the branch's own column, past the other branches' boxes, then into the merge
        ax.plot([x, x], [ys[-1] - edge, bottom + 0.5], color="0.3", lw=1)
        ax.annotate("", xy=(centre + 0.1 * (x - centre), bottom + edge), xytext=(x, bottom + 0.5), arrowprops=arrow)
    ax.set(xlim=(-0.6, (columns - 1) * width + 0.6), ylim=(bottom - 0.6, 0.6))
    ax.axis("off")
    ax.set_title(title or type(module).__name__)
    return ax


@dataclass(frozen=True)
class FlowNode:
    """One call of a structural layer in :func:`dataflow`: its row of
    :func:`structural_layers`, the nodes whose outputs reach its input (``-1``: the image), and
    how they were merged on the way (``"add"``, ``"concat"`` or ``""``)."""

    row: LayerInfo
    inputs: tuple[int, ...]
    merge: str


class _Provenance(TorchFunctionMode):
    """Follows every tensor of a forward pass back to the structural layers it comes from."""

    def __init__(self) -> None:
        super().__init__()
        self.origin: dict[int, tuple[frozenset[int], str]] = {}
        self.keep: list[torch.Tensor] = []  # so that no id is reused during the pass

    def of(self, value: object) -> tuple[frozenset[int], str]:
        return self.origin.get(id(value), (frozenset(), ""))

    def set(self, value: torch.Tensor, origin: tuple[frozenset[int], str]) -> None:
        self.origin[id(value)] = origin
        self.keep.append(value)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        parts = [self.of(t) for t in tree_flatten((args, kwargs or {}))[0] if isinstance(t, torch.Tensor)]
        distinct = {p[0] for p in parts if p[0]}
        if distinct:
            name = getattr(func, "__name__", "")
            merge = ("concat" if "cat" in name else "add" if "add" in name else name) if len(distinct) > 1 \
                else next(p[1] for p in parts if p[0])
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor):
                    self.set(t, (frozenset().union(*distinct), merge))
        return out


def dataflow(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[list[FlowNode], FlowNode]:
    """The graph of a forward pass: which structural layer feeds which, skips and merges included.

    Every tensor operation of one forward pass on zeros is followed (a ``TorchFunctionMode``),
    so a connection is found however the model's ``forward`` makes it (a skip added or
    concatenated, a map cropped on the way). A layer called twice (a shared pooling) is two nodes.

    Returns:
        The nodes in the order they run, and a last node for the model's output (``row`` of
        its final layer, ``inputs`` what reaches it).
    """
    structural = [m for m in model.modules() if next(m.children(), None) is None and
                  type(m).__name__ not in _ELEMENTWISE and type(m).__name__ != "Identity"]
    calls: list[tuple[tuple[int, ...], str]] = []
    mode = _Provenance()

    def before(_module, inputs):
        sources, merge = mode.of(inputs[0])
        calls.append((tuple(sorted(sources)), merge))

    def after(_module, _inputs, output):
        mode.set(output, (frozenset({len(calls) - 1}), ""))

    handles = [h for m in structural for h in (m.register_forward_pre_hook(before), m.register_forward_hook(after))]
    was_training = model.training
    param = next(model.parameters(), None)
    try:
        model.eval()
        with torch.no_grad(), mode:
            image = torch.zeros(input_shape, device=param.device if param is not None else None)
            mode.set(image, (frozenset({-1}), ""))
            output = model(image)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    rows = structural_layers(model, input_shape)
    if len(rows) != len(calls):
        raise ValueError(f"{type(model).__name__}: {len(calls)} layer calls but {len(rows)} rows; is its forward deterministic?")
    nodes = [FlowNode(row, inputs, merge) for row, (inputs, merge) in zip(rows, calls)]
    sources, merge = mode.of(output)
    return nodes, FlowNode(rows[-1], tuple(sorted(sources)), merge)


def plot_dataflow(model: nn.Module, input_shape: tuple[int, ...], *, ax: Axes | None = None,
                  title: str | None = None) -> Axes:
    """Every structural layer of ``model`` at the side of its output map (log scale), in the
    order they run, with the connections of :func:`dataflow`: the plain chain in grey, skips
    (a connection that jumps over other layers) as red arcs, merges labelled ``+`` or ``concat``.

    Returns:
        The axes; ``ax.collections[0]`` holds one point per layer (the input first).
    """
    import matplotlib.pyplot as plt

    nodes, _ = dataflow(model, input_shape)
    if ax is None:
        _, ax = plt.subplots(figsize=(min(MAX_WIDTH_IN, 0.42 * len(nodes) + 2), 4.8))
    sides = [input_shape[-2]] + [r.row.output_shape[-2] if len(r.row.output_shape) >= 3 else 1 for r in nodes]
    xs = list(range(len(sides)))
    ax.scatter(xs, sides, c=["0.3"] + ["tab:orange" if n.row.kind.startswith("ConvTranspose") else "tab:blue"
                                       for n in nodes], zorder=3, s=22)
    for x, side, node in zip(xs[1:], sides[1:], nodes):
        channels = node.row.output_shape[1] if len(node.row.output_shape) > 1 else ""
        label = ("up " if node.row.kind.startswith("ConvTranspose") else "") + short_name(node.row)
        ax.annotate(f"{label} → {channels}", (x, side), xytext=(0, 7), textcoords="offset points",
                    rotation=90, ha="center", va="bottom", fontsize=TEXT_PT)
        for source in node.inputs:
            start = source + 1  # the input is x = 0
            skip = start != x - 1
            style = dict(arrowstyle="->", color="tab:red" if skip else "0.5", lw=1.2 if skip else 0.8,
                         connectionstyle="arc3,rad=0.25" if skip else "arc3")
            ax.annotate("", xy=(x, side), xytext=(start, sides[start]), arrowprops=style, zorder=2)
        if node.merge and len(node.inputs) > 1:
            ax.annotate("+" if node.merge == "add" else node.merge, (x, side), xytext=(4, -12),
                        textcoords="offset points", fontsize=TEXT_PT, color="tab:red")
    ax.set_yscale("log", base=2)
    ax.set_xticks([0], ["input"], fontsize=TEXT_PT)
    ax.set_ylim(min(sides) / 2, max(sides) * 16)
    ax.set(title=title or type(model).__name__, xlabel="layers in the order they run (red: connections that jump over layers)",
           ylabel="side of the map (pixels, log scale)")
    return ax
