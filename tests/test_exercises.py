"""The exercises that close every chapter (issue 22): their shape, and that each self-checking
exercise can be solved and can fail.

A self-checking exercise is three code/markdown cells marked in their metadata
(``"exercise": {"number": n, "role": ...}``): the student's ``stub`` cell, the ``check`` cell that
calls :func:`cvbook.labs.check.check`, and the ``solution`` (a collapsed markdown block holding the
reference code). Each test runs the cells alone, in a fresh namespace, as a reader would: the
stub must be reported as not attempted, the reference solution must pass, and a perturbed answer
must be reported as not yet right.
"""

from __future__ import annotations

import contextlib
import io
import re

import nbformat
import numpy as np
import pytest
import torch

from notebooks import BOOK, ROOT

CHAPTERS = [p for p in BOOK if re.match(r"\d\d_", p.name) and 1 <= int(p.name[:2]) <= 20]


def exercise_cells(path) -> dict[int, dict[str, nbformat.NotebookNode]]:
    """The chapter's exercise cells by number and role."""
    found: dict[int, dict[str, nbformat.NotebookNode]] = {}
    for cell in nbformat.read(path, as_version=4).cells:
        meta = cell.metadata.get("exercise")
        if meta and "number" in meta:
            found.setdefault(meta["number"], {})[meta["role"]] = cell
    return found


def self_checking(path) -> list[tuple[str, int]]:
    return [(path.name, n) for n, cells in exercise_cells(path).items() if "stub" in cells]


def solution_code(cell) -> str:
    blocks = re.findall(r"```python\n(.*?)```", cell.source, flags=re.S)
    assert len(blocks) == 1, f"a reference solution holds one python block, found {len(blocks)}"
    return blocks[0]


def run(*sources: str, namespace: dict | None = None) -> str:
    """Execute cells one after the other in one namespace; what they print."""
    namespace = {} if namespace is None else namespace
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for source in sources:
            exec(compile(source, "<exercise cell>", "exec"), namespace)
    return out.getvalue()


def perturbed(value):
    """A wrong answer of the same type and shape as ``value``."""
    if isinstance(value, (bool, np.bool_)):
        return not value
    if torch.is_tensor(value):
        return ~value if value.dtype == torch.bool else value + 1
    if isinstance(value, np.ndarray):
        return ~value if value.dtype == bool else value + 1
    if isinstance(value, (int, float, np.number)):
        return value + 1
    if isinstance(value, (list, tuple)):
        return type(value)(perturbed(v) for v in value)
    if isinstance(value, str):
        return value + "?"
    raise TypeError(f"no perturbation for {type(value).__name__}")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name[:2])
def test_every_chapter_closes_with_its_exercises(path):
    nb = nbformat.read(path, as_version=4)
    headings = [(i, line) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
                for line in c.source.splitlines() if line.startswith("## ")]
    assert headings and headings[-1][1] == "## Exercises", f"{path.name}: the last section is {headings[-1][1]!r}"
    first = headings[-1][0]
    assert all("exercise" in c.metadata for c in nb.cells[first:]), f"{path.name}: a cell after the exercises is not one"
    exercises = exercise_cells(path)
    assert sorted(exercises) == list(range(1, len(exercises) + 1))
    assert 5 <= len(exercises) <= 8, f"{path.name} has {len(exercises)} exercises (5 to 8)"
    kinds = {cells["statement"].metadata["exercise"]["kind"] for cells in exercises.values()}
    assert {"a", "c", "d"} <= kinds, f"{path.name}: exercise kinds {sorted(kinds)}"
    assert len(self_checking(path)) >= 2, f"{path.name}: fewer than two self-checking exercises"
    for n, cells in exercises.items():
        statement = cells["statement"].source
        assert statement.startswith(f"**Exercise {n}**"), statement[:60]
        if "stub" in cells:
            assert set(cells) == {"statement", "stub", "check", "solution"}, f"{path.name} exercise {n}: {sorted(cells)}"
            assert "hide-input" in cells["check"].metadata.get("tags", [])
            assert ":class: dropdown" in cells["solution"].source
        else:
            assert ":::{admonition} Solution\n:class: dropdown" in statement, f"{path.name} exercise {n} has no collapsed solution"


CASES = [case for path in CHAPTERS for case in self_checking(path)]


@pytest.mark.parametrize("name,number", CASES, ids=[f"{n[:2]}-ex{k}" for n, k in CASES])
def test_self_checking_exercise_passes_its_solution_and_fails_otherwise(name, number):
    cells = exercise_cells(ROOT / "book" / name)[number]
    stub, check_cell = cells["stub"].source, cells["check"].source
    function = cells["stub"].metadata["exercise"]["function"]

    printed = run(stub, check_cell)
    assert "not attempted yet" in printed and "✓" not in printed, f"the unfilled stub: {printed!r}"

    printed = run(solution_code(cells["solution"]), check_cell)
    assert "✓" in printed and "not yet right" not in printed and "not attempted" not in printed, printed

    namespace: dict = {}
    run(solution_code(cells["solution"]), namespace=namespace)
    right = namespace[function]
    namespace[function] = lambda *args, **kwargs: perturbed(right(*args, **kwargs))
    printed = run(check_cell, namespace=namespace)
    assert "not yet right" in printed and "✓" not in printed, f"a wrong answer: {printed!r}"
