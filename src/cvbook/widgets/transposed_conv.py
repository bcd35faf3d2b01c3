"""Interactive transposed convolution: step by step, and as the matrix Uᵀ."""

from __future__ import annotations

import anywidget
import torch
import torch.nn.functional as F
import traitlets

from cvbook.widgets._base import WidgetStateError, module_source, stylesheet

#: The lectures' examples, by name, each with its input, kernel, stride and padding.
PRESETS: dict[str, dict] = {
    "2x2": {"input": [[0, 1], [2, 3]], "kernel": [[0, 1], [2, 3]], "stride": 1, "padding": 0, "output_padding": 0},
    "16x4": {"input": [[2, 1], [4, 4]], "kernel": [[1, 4, 1], [1, 4, 3], [3, 3, 1]], "stride": 1, "padding": 0,
             "output_padding": 0},
    # ×2 upsampling: 3×3, stride 2, padding 1 and output padding 1 turn 2×2 into 4×4
    "stride2": {"input": [[1, 2], [3, 4]], "kernel": [[1, 1, 1], [1, 1, 1], [1, 1, 1]], "stride": 2, "padding": 1,
                "output_padding": 1},
}


def _grid(value: object, name: str, low: int, high: int) -> list[list[float]]:
    """``value`` as a rectangular list of float rows with ``low..high`` rows and columns."""
    try:
        grid = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError) as err:
        raise WidgetStateError(f"{name} must be a rectangular list of number rows, got {value!r}") from err
    if grid.ndim != 2 or not (low <= grid.shape[0] <= high and low <= grid.shape[1] <= high):
        raise WidgetStateError(f"{name} must be {low}×{low} to {high}×{high}, got shape {tuple(grid.shape)}")
    if not torch.isfinite(grid).all():
        raise WidgetStateError(f"{name} must hold finite numbers")
    return grid.tolist()


def output_size(n: int, k: int, stride: int, padding: int, output_padding: int = 0) -> int:
    """Output length of a transposed convolution along one axis: ``(n − 1)·s − 2p + k + output_padding``."""
    return (n - 1) * stride - 2 * padding + k + output_padding


class TransposedConvWidget(anywidget.AnyWidget):
    """A transposed convolution computed step by step: each input element scales the kernel,
    which is added into the output at ``stride × (i, j)``; overlaps are summed, and ``padding``
    rows and columns are then removed from every border (PyTorch's convention); ``output_padding``
    keeps that many more rows and columns at the bottom and right, so that a stride-2 layer can
    exactly double a size (``nn.ConvTranspose2d``'s ``output_padding``).

    The widget also shows the matrix ``Uᵀ`` with ``Uᵀ · vec(input) = vec(output)``
    (row-major ``vec``). Python reads ``output`` and ``matrix``, computed with
    ``torch.nn.functional.conv_transpose2d``; the browser computes them in JavaScript.

    Args:
        preset: one of ``PRESETS`` (``"2x2"``, ``"16x4"``, ``"stride2"``), used for any
            of ``input``, ``kernel``, ``stride``, ``padding`` not given.
        input: the input, 2×2 to 4×4.
        kernel: the kernel, 1×1 to 4×4.
        stride: 1 to 3.
        padding: 0 to 3, leaving an output of at least 1×1.
        output_padding: 0 to 2, smaller than the stride.

    Example:
        >>> TransposedConvWidget("2x2").output
        [[0.0, 0.0, 1.0], [0.0, 4.0, 6.0], [4.0, 12.0, 9.0]]
    """

    _esm = module_source("transposed_conv")
    _css = stylesheet()

    input = traitlets.List().tag(sync=True)
    kernel = traitlets.List().tag(sync=True)
    stride = traitlets.Int(1).tag(sync=True)
    padding = traitlets.Int(0).tag(sync=True)
    output_padding = traitlets.Int(0).tag(sync=True)
    step = traitlets.Int(0).tag(sync=True)
    output = traitlets.List(read_only=True).tag(sync=True)
    matrix = traitlets.List(read_only=True).tag(sync=True)

    def __init__(self, preset: str = "2x2", *, input=None, kernel=None, stride=None, padding=None,
                 output_padding=None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.load_preset(preset)
        given = {"input": input, "kernel": kernel, "stride": stride, "padding": padding,
                 "output_padding": output_padding}
        with self.hold_trait_notifications():
            for name, value in given.items():
                if value is not None:
                    setattr(self, name, value)
            self.step = len(self.input) * len(self.input[0])

    def load_preset(self, name: str) -> None:
        """Set input, kernel, stride, padding and output padding to an example of ``PRESETS``."""
        if name not in PRESETS:
            raise WidgetStateError(f"no preset {name!r}; choose from {', '.join(PRESETS)}")
        with self.hold_trait_notifications():
            for key, value in PRESETS[name].items():
                setattr(self, key, value)
            self.step = len(self.input) * len(self.input[0])

    @traitlets.validate("input")
    def _check_input(self, proposal: dict) -> list:
        return _grid(proposal["value"], "input", 2, 4)

    @traitlets.validate("kernel")
    def _check_kernel(self, proposal: dict) -> list:
        return _grid(proposal["value"], "kernel", 1, 4)

    @traitlets.validate("stride")
    def _check_stride(self, proposal: dict) -> int:
        if not 1 <= proposal["value"] <= 3:
            raise WidgetStateError(f"stride must be 1, 2 or 3, got {proposal['value']}")
        return proposal["value"]

    @traitlets.validate("padding")
    def _check_padding(self, proposal: dict) -> int:
        padding = proposal["value"]
        if not 0 <= padding <= 3:
            raise WidgetStateError(f"padding must be 0 to 3, got {padding}")
        if self.input and self.kernel:
            for axis in (0, 1):
                n, k = len(self.input) if axis == 0 else len(self.input[0]), len(self.kernel) if axis == 0 else len(self.kernel[0])
                if output_size(n, k, self.stride, padding) < 1:
                    raise WidgetStateError(f"padding {padding} removes the whole output (size (n-1)·s + k = {output_size(n, k, self.stride, 0)}); use a smaller padding")
        return padding

    @traitlets.validate("output_padding")
    def _check_output_padding(self, proposal: dict) -> int:
        value = proposal["value"]
        if not 0 <= value <= 2 or value >= self.stride:
            raise WidgetStateError(f"output_padding must be 0 to 2 and smaller than the stride ({self.stride}), got {value}")
        return value

    @traitlets.validate("step")
    def _check_step(self, proposal: dict) -> int:
        total = len(self.input) * len(self.input[0]) if self.input else 0
        if not 0 <= proposal["value"] <= total:
            raise WidgetStateError(f"step must lie in 0..{total} (one step per input element)")
        return proposal["value"]

    @traitlets.observe("input", "kernel", "stride", "padding", "output_padding")
    def _recompute(self, change: dict) -> None:
        if not (self.input and self.kernel):
            return
        x = torch.tensor(self.input, dtype=torch.float64)
        k = torch.tensor(self.kernel, dtype=torch.float64)[None, None]
        if any(output_size(n, kk, self.stride, self.padding) < 1 for n, kk in zip(x.shape, k.shape[2:])) \
                or self.output_padding >= self.stride:
            return  # an intermediate state while several traits change; validation follows
        options = {"stride": self.stride, "padding": self.padding, "output_padding": self.output_padding}
        out = F.conv_transpose2d(x[None, None], k, **options)[0, 0]
        # column q of Uᵀ is the output for the q-th one-hot input (row-major vec)
        n = x.numel()
        basis = torch.eye(n, dtype=torch.float64).reshape(n, 1, *x.shape)
        columns = F.conv_transpose2d(basis, k, **options).reshape(n, -1)
        with self.hold_trait_notifications():
            self.set_trait("output", out.tolist())
            self.set_trait("matrix", columns.T.tolist())
            if self.step > n:
                self.step = n
