"""What a student calls in a lab: :func:`check` compares one value with the expected one, and
:func:`summary` says how many of the lab's check cells pass.

A *check* is a check cell (see :mod:`cvbook.labs.cells`): it passes when it runs without an
error, i.e. when every :func:`check` call in it passes. The grader (``cvbook.grade``) uses the same
unit, and also compares the printed ``✓`` lines with the source's. To make those lines a
fingerprint of the right answer, a passing check prints the *expected* value (for a large array:
its shape and mean), never the student's.

Inside Jupyter (IPython), this module follows the cells that call :func:`check`: after each
cell it records whether the cell passed, keyed by the cell's id (or its text when the front end
sends no id), so :func:`summary` can count them; re-running a cell replaces its record.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

__all__ = ["check", "summary"]

_PLAIN_TYPES = (type(None), bool, int, float, complex, str, bytes)


def _is_plain(value: Any, depth: int = 0) -> bool:
    """Numbers, strings, NumPy values and arrays, tensors, and lists or tuples of those.

    Anything else (an object of the student's own class) could answer ``==`` with ``True``
    whatever it holds, so :func:`check` refuses it.
    """
    import numpy as np
    import torch

    kind = type(value)
    if kind in _PLAIN_TYPES:
        return True
    if isinstance(value, np.generic):
        return kind.__module__ == "numpy"
    if kind is np.ndarray:
        return value.dtype != object
    if kind in (torch.Tensor, torch.nn.Parameter):
        return True
    if kind in (list, tuple) and depth < 8:
        return all(_is_plain(item, depth + 1) for item in value)
    return False


def _as_array(value: Any):
    """``value`` as a float64 NumPy array; ``TypeError``/``ValueError`` when it is not numeric."""
    import numpy as np
    import torch

    if torch.is_tensor(value):
        dispatch_modes = getattr(torch._C, "_len_torch_dispatch_stack", lambda: 0)()
        if dispatch_modes:
            raise RuntimeError("a torch dispatch mode is active: tensors cannot be read reliably")
        with torch._C.DisableTorchFunction():
            return value.detach().cpu().double().numpy()
    if isinstance(value, (list, tuple)) and any(torch.is_tensor(item) for item in value):
        return np.asarray([_as_array(item) for item in value], dtype=float)
    if isinstance(value, (str, bytes)):
        raise TypeError("not a number")
    return np.asarray(value, dtype=float)


def _describe(x) -> str:
    import numpy as np

    if x.ndim == 0:
        return f"{float(x):.4f}"
    if x.size <= 8:
        return np.array2string(x, precision=4, separator=", ")
    return f"an array of shape {x.shape} with mean {float(x.mean()):.4f}"


def _confirmed(x, original: Any = None) -> str:
    """What a passing check prints about the expected value: exact values (integers, booleans)
    as they are; floating-point values only by shape, since their last digits depend on the
    machine and a checked output must not (the grader compares these lines)."""
    import numpy as np

    if isinstance(original, (bool, np.bool_)):
        return str(bool(original))
    exact = x.dtype.kind in "biu" or (x.dtype.kind == "f" and bool(np.all(np.isfinite(x) & (x == np.round(x)))))
    if exact and x.size <= 8:
        return np.array2string(x.astype(np.int64), separator=", ") if x.ndim else str(int(x))
    if x.ndim == 0:
        return "matches the expected value"
    return f"{'an array' if exact else 'matches the expected array'} of shape {tuple(x.shape)}"


@dataclass
class _CellRecord:
    passed: bool
    message: str


_calls: list[tuple[bool, str]] = []  # (passed, message) of each check() in the running cell
_cells: dict[str, _CellRecord] = {}  # check cells run so far, by cell id or text


def _record(passed: bool, message: str) -> None:
    _calls.append((passed, message))


def check(name: str, got: Any, expected: Any, *, atol: float = 1e-6, rtol: float = 1e-6) -> None:
    """Compare a student's value with the expected one and say so in one readable line.

    Numbers, sequences, arrays and tensors are compared with a tolerance
    (``numpy.allclose``); strings and other plain values with ``==``. ``got`` must be a plain
    value (number, string, list or tuple, NumPy array, tensor). Prints ``✓ name: ...`` when
    they agree (exact expected values in full, floating-point ones by shape only); raises ``AssertionError("✗ name: got ..., expected ...")`` otherwise.
    """
    import numpy as np

    if not _is_plain(got):
        message = f"✗ {name}: got an object of type {type(got).__name__}; return a number, a tensor or an array"
        _record(False, message)
        raise AssertionError(message)
    try:
        a, b = _as_array(got), _as_array(expected)
    except (TypeError, ValueError):
        if type(got) is not type(expected) or not expected == got:
            message = f"✗ {name}: got {got!r}, expected {expected!r}"
            _record(False, message)
            raise AssertionError(message) from None
        _record(True, name)
        print(f"✓ {name}: {expected!r}")
        return
    if a.shape != b.shape:
        message = f"✗ {name}: got shape {a.shape}, expected shape {b.shape}"
        _record(False, message)
        raise AssertionError(message)
    if not np.allclose(a, b, atol=atol, rtol=rtol):
        message = f"✗ {name}: got {_describe(a)}, expected {_describe(b)}"
        _record(False, message)
        raise AssertionError(message)
    _record(True, name)
    print(f"✓ {name}: {_confirmed(b, expected)}")


def summary(total: int) -> None:
    """Print how many of the lab's ``total`` check cells pass, and what still fails.

    Counts the check cells run in this kernel so far (the last run of each); a check cell that
    stopped before calling :func:`check` (e.g. at ``NotImplementedError``) counts as not passing.
    """
    passed = min(sum(record.passed for record in _cells.values()), total)
    print(f"Checks passing: {passed} of {total}" + (" ✓" if passed == total else ""))
    for record in _cells.values():
        if not record.passed:
            print(f"  {record.message}")
    unknown = total - len(_cells)
    if unknown > 0:
        print(f"  {unknown} check cell{'s' if unknown > 1 else ''} not run yet, or stopped before calling check()")


def _before_cell(*_: Any) -> None:
    _calls.clear()


def _after_cell(result: Any) -> None:
    key = getattr(result.info, "cell_id", None) or result.info.raw_cell
    if _calls or key in _cells:
        failures = [message for passed, message in _calls if not passed]
        error = result.error_in_exec or result.error_before_exec
        if not failures and error is not None:
            failures.append(f"{type(error).__name__}: {error}")
        passed = bool(_calls) and not failures and result.success
        _cells[key] = _CellRecord(passed, failures[0] if failures else "")
    _calls.clear()


def _follow_cells() -> None:
    """Register the cell hooks once, when running inside IPython."""
    if "IPython" not in sys.modules:
        return
    shell = sys.modules["IPython"].get_ipython()
    if shell is None or getattr(shell, "_cvbook_labs_hooks", False):
        return
    shell.events.register("pre_run_cell", _before_cell)
    shell.events.register("post_run_cell", _after_cell)
    shell._cvbook_labs_hooks = True


_follow_cells()
