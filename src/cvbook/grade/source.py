"""The lab a class is graded against: its source notebook, its checks and their points."""

from __future__ import annotations

import ast
import copy
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from cvbook.labs import cells as labcells
from cvbook.labs import student_notebook

__all__ = ["Answer", "Check", "Lab", "SourceError", "find_source", "load_lab", "defined_names"]

_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)
_CHECK_NAME = re.compile(r"check\(\s*f?([\"'])(.*?)\1")


class SourceError(Exception):
    """The source notebook cannot be graded against; the message says what to fix."""


@dataclass(frozen=True)
class Check:
    """One check cell of the source."""

    id: str
    points: float
    hidden: bool
    title: str  # the heading of the section it is in, e.g. "Exercise 1: accuracy"
    names: tuple[str, ...]  # the names of its check() calls, as written


@dataclass(frozen=True)
class Answer:
    """One answer cell of the source (a cell with a solution region)."""

    id: str
    title: str  # the heading of its section, as for checks
    hints: tuple[str, ...]  # the hints of its solution regions
    defines: frozenset[str]  # the names its solution binds at the top level
    reimplements: tuple[str, ...]  # library names it must not call (metadata cvbook.reimplements)


@dataclass(frozen=True)
class Lab:
    """A lab source, read and validated."""

    path: Path
    notebook: Any  # the source (nbformat NotebookNode), with outputs
    student: Any  # its student version, as `make labs` writes it
    checks: tuple[Check, ...]
    answers: frozenset[str]  # ids of the answer cells
    sha256: str
    exercises: tuple[Answer, ...] = ()  # the answer cells, in order

    def answer(self, cell_id: str) -> Answer:
        return next(answer for answer in self.exercises if answer.id == cell_id)

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def max_score(self) -> float:
        return sum(check.points for check in self.checks)

    def check(self, cell_id: str) -> Check:
        return next(check for check in self.checks if check.id == cell_id)


def _search_dirs() -> list[Path]:
    """Where a lab name is looked up, in order: the checkout the cvbook package runs from (its labs
    match its grader), then the current folder's ``labs/solutions``."""
    import cvbook

    dirs = [Path(cvbook.__file__).resolve().parents[2] / "labs" / "solutions"]
    here = (Path.cwd() / "labs" / "solutions").resolve()
    if here not in dirs:
        dirs.append(here)
    return dirs


def find_source(spec: str, search: Sequence[Path] | None = None) -> Path:
    """A lab source from a path, or from a name such as ``lab04`` or ``lab04_iou_nms_map``."""
    path = Path(spec)
    if path.suffix == ".ipynb" or path.exists():
        if not path.is_file():
            raise SourceError(f"{spec}: no such notebook")
        return path
    dirs = [d for d in (search or _search_dirs()) if d.is_dir()]
    for folder in dirs:  # the first folder that has the lab decides (a second checkout's copy is not a rival)
        found = sorted(folder.glob(f"{spec}*.ipynb"))
        exact = [p for p in found if p.stem == spec]
        if exact or len(found) == 1:
            return (exact or found)[0].resolve()
        if found:
            raise SourceError(f"{spec!r} names several labs in {folder}: {', '.join(p.stem for p in found)}; "
                              "give more of the name")
    available = sorted({p.stem for d in dirs for p in d.glob("*.ipynb")})
    where = ", ".join(str(d) for d in dirs) or "labs/solutions (run from the repository root)"
    raise SourceError(f"no lab source named {spec!r} in {where}; available: {', '.join(available) or 'none'}")


def _title(cells: list, index: int) -> str:
    for cell in reversed(cells[:index]):
        if cell.cell_type == "markdown":
            headings = _HEADING.findall(cell.source)
            if headings:
                return headings[-1]
    return "Checks"


def defined_names(source: str) -> frozenset[str]:
    """Names a cell binds at its top level (functions, classes, assignments, imports); shell
    lines (``!pip``, ``%time``) are skipped, and a cell that does not parse binds none."""
    code = "\n".join("" if line.lstrip().startswith(("!", "%")) else line for line in source.splitlines())
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return frozenset()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
    return frozenset(names)


def _answer(cell: Any, title: str, where: str) -> Answer:
    hints = tuple(m["hint"] or "write this part" for line in cell.source.splitlines() if (m := labcells.BEGIN.match(line)))
    reimplements = cell.metadata.get("cvbook", {}).get("reimplements", [])
    if not isinstance(reimplements, list) or not all(isinstance(n, str) and "." in n for n in reimplements):
        raise SourceError(f"{where}: cell {cell.id}: metadata cvbook.reimplements must be a list of dotted names "
                          f"such as 'cvbook.detection.anchors.assign_anchors', not {reimplements!r}")
    return Answer(cell.id, title, hints, defined_names(cell.source), tuple(reimplements))


def load_lab(spec: str | Path) -> Lab:
    """Read and validate a lab source; :class:`SourceError` says what is wrong with it."""
    path = find_source(str(spec))
    try:
        raw = path.read_bytes()
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except Exception as error:  # nbformat raises many kinds
        raise SourceError(f"{path}: cannot read the lab source ({error})") from error
    where = f"{path.name}"
    ids = [cell.get("id") for cell in nb.cells]
    if None in ids or len(set(ids)) != len(ids):
        raise SourceError(f"{where}: every cell needs a unique id (nbformat >= 4.5); re-save it with nbformat")
    checks = []
    for index, cell in enumerate(nb.cells):
        if not labcells.is_check(cell):
            continue
        if cell.execution_count is None or not cell.outputs:
            raise SourceError(f"{where}: check cell {cell.id} has no saved output to compare with; "
                              f"execute the source (tools/execute_notebooks.py {path}) first")
        if any(out.output_type == "error" for out in cell.outputs):
            raise SourceError(f"{where}: check cell {cell.id} failed when the source was executed")
        try:
            points = labcells.points(cell)
        except ValueError as error:
            raise SourceError(f"{where}: {error}") from None
        names = tuple(match[1] for match in _CHECK_NAME.findall(cell.source))
        checks.append(Check(cell.id, points, labcells.is_hidden(cell), _title(nb.cells, index), names))
    if not checks:
        raise SourceError(f"{where}: no check cell (a code cell tagged {labcells.CHECK_TAG})")
    try:
        student = student_notebook(copy.deepcopy(nb))
    except ValueError as error:
        raise SourceError(f"{where}: {error}") from None
    exercises = tuple(_answer(cell, _title(nb.cells, index), where)
                      for index, cell in enumerate(nb.cells) if labcells.is_answer(cell))
    answers = frozenset(answer.id for answer in exercises)
    return Lab(path.resolve(), nb, student, tuple(checks), answers, hashlib.sha256(raw).hexdigest(), exercises)
