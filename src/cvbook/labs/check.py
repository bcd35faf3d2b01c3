"""What a student calls in a lab: :func:`check` compares one value with the expected one, and
:func:`summary` says how many of the lab's check cells pass.

A *check* is a check cell (see :mod:`cvbook.labs.cells`): it passes when it runs without an
error, i.e. when every :func:`check` call in it passes. The grader (``cvbook.grade``) uses the same
unit, and also compares the printed ``✓`` lines with the source's. To make those lines a
fingerprint of the right answer, a passing check prints the *expected* value (for a large array:
its shape and mean), never the student's.

Inside Jupyter (IPython), this module follows the cells that call :func:`check`: after each
cell it records whether the cell passed, keyed by the cell's id (or a hash of its text when the
front end sends no id), so :func:`summary` can count them; re-running a cell replaces its record.

The grader (:mod:`cvbook.grade.seal`) switches a check cell to *collecting* with
:func:`collect_calls`: a failing :func:`check` then prints its ``✗`` line and records it instead of
raising, so the later calls of the cell run too and each call earns its share of the cell's points;
:func:`collected_calls` hands the record over. A student's notebook never collects: the first
failing call stops the cell, as it always has.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from typing import Any

__all__ = ["check", "summary", "collect_calls", "collected_calls", "describe_difference"]

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
    return np.array2string(x, precision=4, separator=", ")


def describe_difference(got, expected, atol: float = 1e-6, rtol: float = 1e-6, shown: int = 3) -> str:
    """Where two float arrays of the same shape differ: the first differing indices with both
    values, how many entries differ, the largest difference.

    got, expected: arrays of one shape (a 0-d array is a single number).
    """
    import numpy as np

    if got.ndim == 0:
        return f"got {_describe(got)}, expected {_describe(expected)}"
    if got.size <= 8:
        return f"got {_describe(got)}, expected {_describe(expected)}"
    close = np.isclose(got, expected, atol=atol, rtol=rtol) | (np.isnan(got) & np.isnan(expected))
    wrong = np.argwhere(~close)
    gap = np.abs(got - expected)[~close]
    finite = gap[np.isfinite(gap)]
    where = "; ".join(f"at {tuple(int(i) for i in index)} got {float(got[tuple(index)]):.4g}, "
                      f"expected {float(expected[tuple(index)]):.4g}" for index in wrong[:shown])
    largest = f"{float(finite.max()):.4g}" if finite.size else "not finite"
    return (f"{len(wrong)} of {got.size} entries differ (shape {tuple(got.shape)}; largest difference {largest}): "
            f"{where}" + ("; ..." if len(wrong) > shown else ""))


def _short(value: Any) -> str:
    """A value for a failure message: a string or other plain value, cut to 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _boolean(value: Any) -> bool:
    """Whether a check's expected value is a boolean, or a tensor, array, list or tuple of booleans only."""
    import numpy as np
    import torch

    if isinstance(value, (bool, np.bool_)):
        return True
    if torch.is_tensor(value):
        return value.dtype == torch.bool
    if isinstance(value, np.ndarray):
        return value.dtype.kind == "b"
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(_boolean(item) for item in value)


def _confirmed(x, original: Any = None) -> str:
    """What a passing check prints about the expected value: exact values (integers, booleans)
    as they are; floating-point values only by shape, since their last digits depend on the
    machine and a checked output must not (the grader compares these lines)."""
    import numpy as np

    if _boolean(original) and x.size <= 8:
        return str(bool(x)) if x.ndim == 0 else str(x.astype(bool).tolist())
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
_cells: dict[str, _CellRecord] = {}  # check cells run so far, by cell id or a hash of their text
_collected: list[tuple[bool, str, str]] | None = None  # (passed, name, message) while the grader collects


def _record(passed: bool, message: str, name: str = "") -> None:
    _calls.append((passed, message))
    if _collected is not None:
        _collected.append((passed, name, message))


def _fail(name: str, message: str, cause: BaseException | None = None) -> None:
    """Record a failing call; raise, unless the grader collects (then print the ✗ line)."""
    _record(False, message, name)
    if _collected is not None:
        print(message)
        return
    raise AssertionError(message) from cause


def collect_calls() -> None:
    """From now until :func:`collected_calls`, a failing check prints and records instead of raising."""
    global _collected
    _collected = []


def collected_calls() -> list[tuple[bool, str, str]]:
    """The ``(passed, name, message)`` of each check() since :func:`collect_calls`; stops collecting."""
    global _collected
    calls, _collected = list(_collected or []), None
    return calls


def check(name: str, got: Any, expected: Any, *, atol: float = 1e-6, rtol: float = 1e-6) -> None:
    """Compare a student's value with the expected one and say so in one readable line.

    Numbers, sequences, arrays and tensors are compared with a tolerance
    (``numpy.allclose``); strings and other plain values with ``==``. ``got`` must be a plain
    value (number, string, list or tuple, NumPy array, tensor). Prints ``✓ name: ...`` when
    they agree (exact expected values in full, floating-point ones by shape only); raises
    ``AssertionError("✗ name: ...")`` otherwise (for arrays: where they differ, how many entries
    differ, the largest difference), or, while the grader collects, prints that line and records it.
    """
    import numpy as np

    if not _is_plain(got):
        return _fail(name, f"✗ {name}: got an object of type {type(got).__name__}; return a number, a tensor or an array")
    try:
        a, b = _as_array(got), _as_array(expected)
    except (TypeError, ValueError):
        if type(got) is not type(expected) or not expected == got:
            return _fail(name, f"✗ {name}: got {_short(got)}, expected {_short(expected)}")
        _record(True, name, name)
        print(f"✓ {name}: {expected!r}")
        return
    if a.shape != b.shape:
        return _fail(name, f"✗ {name}: got shape {a.shape}, expected shape {b.shape}")
    if not np.allclose(a, b, atol=atol, rtol=rtol):
        return _fail(name, f"✗ {name}: {describe_difference(a, b, atol, rtol)}")
    _record(True, name, name)
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
    key = getattr(result.info, "cell_id", None) or hashlib.sha256(result.info.raw_cell.encode()).hexdigest()
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
