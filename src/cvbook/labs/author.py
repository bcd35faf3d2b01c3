"""Making the student version of a lab (``make labs``, ``python -m cvbook.labs``).

A solution region in a code cell of ``labs/solutions/labNN_name.ipynb``::

    ### BEGIN SOLUTION hint: compare the two tensors and average
    return (predictions == labels).float().mean().item()
    ### END SOLUTION

becomes, in the student notebook ``labs/labNN_name.ipynb``::

    # YOUR CODE HERE
    raise NotImplementedError("Exercise: compare the two tensors and average")

(a long hint is split over lines, as adjacent string literals, so that it reads without scrolling).
Check cells are copied unchanged, except hidden ones, which are left out; the summary cell's
total becomes the number of check cells the student sees. Every cell keeps its nbformat cell
``id``, which is how the grader finds the student's answers again. The student notebook has no
outputs.
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path
from typing import Any

from .cells import BEGIN, END, SUMMARY_CALL, is_check, is_hidden

__all__ = ["strip_solutions", "student_notebook", "generate", "main"]


STUB_WIDTH = 76  # characters: what a code cell shows without scrolling on the book's page in a 1,280-px window


def _hinted_stub(indent: str, message: str) -> list[str]:
    """``raise NotImplementedError(message)``, its string split over lines of at most ``STUB_WIDTH``
    characters (at spaces, as adjacent literals) so that a long hint is read without scrolling."""
    opening = f"{indent}raise NotImplementedError("
    if len(opening) + len(repr(message)) + 1 <= STUB_WIDTH:
        return [f"{opening}{message!r})"]
    pieces, current = [], ""
    for word in re.split(r"(?<= )", message):  # each piece keeps its trailing space
        if current and len(opening) + len(repr(current + word)) > STUB_WIDTH:
            pieces.append(current)
            current = ""
        current += word
    pieces.append(current)
    assert "".join(pieces) == message
    pad = " " * len(opening)
    return [f"{opening if i == 0 else pad}{piece!r}" + (")" if i == len(pieces) - 1 else "")
            for i, piece in enumerate(pieces)]


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
            out.extend(_hinted_stub(indent, "Exercise: " + hint))
        elif END.match(line) and inside:
            inside = False
        elif begin or END.match(line):
            raise ValueError(f"unbalanced solution markers near: {line.strip()!r}")
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError("a '### BEGIN SOLUTION' has no matching '### END SOLUTION'")
    return "\n".join(out)


def student_notebook(source_nb: Any) -> Any:
    """The student version of a source notebook (an ``nbformat`` node): hidden checks left out,
    solutions stubbed, outputs and execution counts cleared, cell ids and metadata kept."""
    missing = [i for i, cell in enumerate(source_nb.cells) if not cell.get("id")]
    if missing:
        raise ValueError(f"cells {missing[:5]} have no id: save the source with nbformat >= 4.5 "
                         "(nbformat.validator.normalize adds ids) so that the grader can match cells")
    nb = copy.deepcopy(source_nb)
    nb.cells = [cell for cell in nb.cells if not is_hidden(cell)]
    visible_checks = sum(is_check(cell) for cell in nb.cells)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source)
            cell.source = SUMMARY_CALL.sub(f"summary(total={visible_checks})", cell.source)
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
    """``python -m cvbook.labs [SOLUTIONS [OUT]]``."""
    argv = sys.argv[1:] if argv is None else argv
    solutions = Path(argv[0]) if argv else Path("labs/solutions")
    out = Path(argv[1]) if len(argv) > 1 else solutions.parent
    if not solutions.is_dir():
        print(f"error: {solutions} is not a folder of lab sources (run from the repository root)", file=sys.stderr)
        return 2
    for path in generate(solutions, out):
        print(f"wrote {path}")
    return 0
