"""Labs: one source notebook with solutions, one generated student notebook.

A solution region in a code cell of ``labs/solutions/labNN_name.ipynb``::

    ### BEGIN SOLUTION hint: compare the two tensors and average
    return (predictions == labels).float().mean().item()
    ### END SOLUTION

becomes, in the student notebook ``labs/labNN_name.ipynb``::

    # YOUR CODE HERE
    raise NotImplementedError("Exercise: compare the two tensors and average")

Check cells are copied unchanged; they call :func:`check`. The student notebook has no
outputs. Regenerate with ``python -m cvbook.labs`` (``make labs``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

__all__ = ["check", "strip_solutions", "student_notebook", "generate", "main"]

BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION(?:\s+hint:\s*(?P<hint>.*?))?\s*$")
END = re.compile(r"^[ \t]*### END SOLUTION\s*$")


def _describe(x) -> str:
    import numpy as np

    if x.ndim == 0:
        return f"{float(x):.4f}"
    if x.size <= 8:
        return np.array2string(x, precision=4, separator=", ")
    return f"an array of shape {x.shape}"


def check(name: str, got: Any, expected: Any, *, atol: float = 1e-6, rtol: float = 1e-6) -> None:
    """Compare a student's value with the expected one and say so in one readable line.

    Numbers, sequences and tensors are compared with a tolerance; anything else with ``==``.
    Raises ``AssertionError`` naming both values (or shapes) when they differ.
    """
    import numpy as np
    import torch

    def as_array(x):
        if torch.is_tensor(x):
            return x.detach().cpu().double().numpy()
        return np.asarray(x, dtype=float)

    try:
        a, b = as_array(got), as_array(expected)
    except (TypeError, ValueError):
        if got != expected:
            raise AssertionError(f"✗ {name}: got {got!r}, expected {expected!r}") from None
        print(f"✓ {name}: {got!r}")
        return
    if a.shape != b.shape:
        raise AssertionError(f"✗ {name}: got shape {a.shape}, expected shape {b.shape}")
    if not np.allclose(a, b, atol=atol, rtol=rtol):
        raise AssertionError(f"✗ {name}: got {_describe(a)}, expected {_describe(b)}")
    print(f"✓ {name}: {_describe(a)}")


def strip_solutions(source: str) -> str:
    """Replace every solution region of a code cell's ``source`` by a hinted stub."""
    out: list[str] = []
    inside = False
    for line in source.splitlines():
        begin = BEGIN.match(line)
        if begin and not inside:
            inside = True
            indent, hint = begin["indent"], begin["hint"] or "write this part"
            out.append(f"{indent}# YOUR CODE HERE")
            out.append(f"{indent}raise NotImplementedError({('Exercise: ' + hint)!r})")
        elif END.match(line) and inside:
            inside = False
        elif begin or END.match(line):
            raise ValueError(f"unbalanced solution markers near: {line.strip()!r}")
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError("a '### BEGIN SOLUTION' has no matching '### END SOLUTION'")
    return "\n".join(out)


def student_notebook(source_nb):
    """The student version of a source notebook (an ``nbformat`` node): solutions stubbed,
    outputs and execution counts cleared, metadata kept."""
    import copy

    nb = copy.deepcopy(source_nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source)
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    return nb


def generate(solutions: Path = Path("labs/solutions"), out: Path = Path("labs")) -> list[Path]:
    """Write ``out/<name>.ipynb`` for every ``solutions/<name>.ipynb``; returns the paths."""
    import nbformat

    written = []
    for src in sorted(Path(solutions).glob("*.ipynb")):
        nb = nbformat.read(src, as_version=4)
        dest = Path(out) / src.name
        nbformat.write(student_notebook(nb), dest)
        written.append(dest)
    return written


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    solutions = Path(argv[0]) if argv else Path("labs/solutions")
    out = Path(argv[1]) if len(argv) > 1 else solutions.parent
    for path in generate(solutions, out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
