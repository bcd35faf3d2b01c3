"""Rebuilding a submission: the student's answer cells, everything else from the source.

The rebuilt notebook is the source, cell by cell, except that

- each answer cell (a cell with a solution region) is the student's cell with the same id; when
  the submission lost its ids (an old nbformat, some editors), the cell whose text best keeps the
  answer cell's frame (its ``def`` line, docstring, ...) is used instead; when none is found,
  the student version's stub (``NotImplementedError`` with the hint);
- code cells the student added are kept, after the cell they followed;
- check cells, hidden ones included, come from the source, with the source's outputs as the
  expected ones; each starts with a call to the seal (:mod:`cvbook.grade.seal`), which a first
  cell installs before any student code runs.

So whatever a submission does to its check cells (edit, delete, duplicate, re-tag, reorder)
changes nothing; an edited or deleted check cell is reported to the instructor
(:func:`tampered_checks`), as is code worth a look (:func:`suspicious`) and an answer that calls the
library function its exercise reimplements (:mod:`cvbook.grade.library`). Only ``cell_type``,
``id`` and ``source`` are read from a submission.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from cvbook.labs import cells as labcells

from .library import library_references
from .source import Lab

__all__ = ["InvalidNotebook", "SubmittedCell", "Submission", "Rebuilt", "Flag", "read_submission", "rebuild",
           "suspicious", "tampered_checks", "lab_imports", "MAX_BYTES", "SEAL_PREFIX", "PROLOGUE_ID"]

MAX_BYTES = 20_000_000
SEAL_PREFIX = "_cvbook_seal_"
PROLOGUE_ID = "grader-prologue"
_DOWNLOAD = "download it again (Jupyter: File > Download; Colab: File > Download > Download .ipynb)"


class InvalidNotebook(Exception):
    """The submission cannot be read as a notebook; the message is for the student."""


@dataclass(frozen=True)
class SubmittedCell:
    id: str | None
    cell_type: str
    source: str


@dataclass
class Submission:
    cells: list[SubmittedCell]
    nbformat: str
    notes: list[str] = field(default_factory=list)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "".join(value)
    raise InvalidNotebook("a cell's source is neither text nor a list of lines")


def read_submission(path: Path) -> Submission:
    """Read the cells of a submitted notebook; :class:`InvalidNotebook` when it is not one."""
    if path.suffix != ".ipynb":
        raise InvalidNotebook(f"{path.name} is not a notebook (.ipynb); submit the lab's notebook: {_DOWNLOAD}")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise InvalidNotebook(f"the notebook is {size / 1e6:.0f} MB (limit {MAX_BYTES / 1e6:.0f} MB): "
                              "clear the outputs (Edit > Clear all outputs), save and submit again")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidNotebook(f"{path.name} is not a text file, so not a notebook; {_DOWNLOAD}") from None
    except json.JSONDecodeError as error:
        raise InvalidNotebook(f"the notebook is not valid JSON (line {error.lineno}, column {error.colno}: "
                              f"{error.msg}); it may be truncated or edited by hand: {_DOWNLOAD}") from None
    except RecursionError:
        raise InvalidNotebook("the notebook's JSON is nested too deeply to be a notebook") from None
    if not isinstance(data, dict) or "nbformat" not in data:
        raise InvalidNotebook(f"{path.name} holds JSON but not a Jupyter notebook (no 'nbformat' field); {_DOWNLOAD}")
    version = data.get("nbformat")
    try:
        if version == 4:
            raw_cells, source_key = data.get("cells"), "source"
            notes = [] if data.get("nbformat_minor", 0) >= 5 else [
                f"nbformat 4.{data.get('nbformat_minor', 0)} has no cell ids: answers were found by their text"]
        elif version == 3:
            worksheets = data.get("worksheets") or [{}]
            raw_cells, source_key = worksheets[0].get("cells"), "input"
            notes = ["an old notebook format (nbformat 3): answers were found by their text"]
        else:
            raise InvalidNotebook(f"unsupported notebook format nbformat={version!r} (this grader reads 3 and 4)")
        if not isinstance(raw_cells, list):
            raise InvalidNotebook("the notebook has no list of cells")
        cells = []
        for raw in raw_cells:
            if not isinstance(raw, dict) or not isinstance(raw.get("cell_type"), str):
                raise InvalidNotebook("a cell of the notebook is malformed (no cell_type)")
            kind = raw["cell_type"]
            key = source_key if kind == "code" else "source"
            cell_id = raw.get("id") if isinstance(raw.get("id"), str) else None
            cells.append(SubmittedCell(cell_id, "markdown" if kind == "heading" else kind, _text(raw.get(key, ""))))
    except (AttributeError, TypeError) as error:
        raise InvalidNotebook(f"the notebook's structure is malformed ({error})") from None
    return Submission(cells, f"{version}.{data.get('nbformat_minor', 0)}", notes)


# ---------------------------------------------------------------------------------------------
# What looks like tampering with the grader (shown to the instructor, not scored)

_SUSPICIOUS = [
    (r"\bbuiltins\b|__builtins__", "touches builtins"),
    (r"sys\.modules", "touches sys.modules"),
    (r"\bimport\s+gc\b|\bgc\.", "uses the garbage collector's object lists"),
    (r"__code__|__globals__|__closure__|__defaults__", "rewrites functions' code or globals"),
    (r"\bctypes\b", "uses ctypes"),
    (r"get_ipython|\bIPython\b", "reconfigures the IPython shell"),
    (r"_getframe|\binspect\b|settrace|setprofile", "inspects or traces frames"),
    (r"linecache|\b_ih\b|\b_oh\b|\b(In|Out)\s*\[|\blist\((In|Out)\b|\b(In|Out)\.values", "reads the history or cached cell text"),
    (r"cvbook\.labs|\blabs\.check\b|\bcheck\s*=(?!=)|cvbook\.grade|" + SEAL_PREFIX, "touches the check machinery"),
    (r"\b(np|numpy|torch|skm|sklearn|torchvision|cvbook)\.[\w.]+\s*=(?!=)|setattr\(\s*(np|numpy|torch)", "patches a library"),
    (r"\b(exec|eval|compile)\s*\(|__import__|importlib", "runs generated code"),
    (r"os\._exit|sys\.exit|\bexit\(|\bquit\(", "exits the kernel"),
    (r"\bsocket\b|urllib|requests\.|http\.client", "opens network connections"),
    (r"subprocess|os\.system|os\.fork|multiprocessing|os\.kill", "starts or signals processes"),
    (r"solutions|\.ipynb|gradebook", "refers to notebook or grading files"),
    (r"os\.remove|os\.unlink|shutil\.rmtree|os\.rmdir|\.unlink\(", "deletes files"),
]


def suspicious(source: str) -> list[str]:
    """Short reasons why a cell's code deserves a look from the instructor."""
    return [reason for pattern, reason in _SUSPICIOUS if re.search(pattern, source)]


@dataclass(frozen=True)
class Flag:
    """Something for the instructor to look at: where in the submission, and what."""

    where: str  # e.g. "answer 30f74f54 (Exercise 1: accuracy)"
    what: str


def tampered_checks(lab: Lab, submission: Submission) -> list[Flag]:
    """The student version's check cells that the submission edited or deleted (a check cell is
    found by its id, or by its text when the submission has no ids)."""
    texts = {_normal(cell.source) for cell in submission.cells if cell.cell_type == "code"}
    by_id = {cell.id: cell for cell in submission.cells if cell.id}
    flags = []
    for cell in lab.student.cells:
        if not labcells.is_check(cell):
            continue
        where = f"check {cell.id} ({lab.check(cell.id).title})"
        mine = by_id.get(cell.id)
        if mine is not None and mine.cell_type == "code" and _normal(mine.source) != _normal(cell.source):
            flags.append(Flag(where, "check cell edited (the source's version was run)"))
        elif (mine is None or mine.cell_type != "code") and _normal(cell.source) not in texts:
            flags.append(Flag(where, "check cell deleted (the source's version was run)"))
    return flags


# ---------------------------------------------------------------------------------------------
# Rebuilding

@dataclass
class Rebuilt:
    notebook: Any  # nbformat NotebookNode, ready for nbval
    roles: list[tuple[str, str]]  # (role, cell id) of every code cell: prologue, answer, check, lab, added
    notes: list[str]  # how answers were found, for the feedback
    flags: list[Flag]  # for the instructor: suspicious code, tampered check cells, library calls
    library: dict[str, list[str]] = field(default_factory=dict)  # answer id -> reimplemented names it calls


def _normal(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _defines(source: str) -> set[str]:
    """Names of the functions and classes a cell defines at its top level."""
    return set(re.findall(r"^(?:async\s+)?(?:def|class)\s+(\w+)", source, re.MULTILINE))


def _likeness(stub: str, candidate: str) -> float:
    """How much ``candidate`` looks like an answer to the student-version cell ``stub``: the share
    of the functions it defines, or of its frame lines (def line, docstring), whichever is larger."""
    names, frame = _defines(stub), _frame(stub)
    lines = {line.strip() for line in candidate.splitlines()}
    by_names = len(names & _defines(candidate)) / len(names) if names else 0.0
    by_frame = len(frame & lines) / len(frame) if frame else 0.0
    return max(by_names, by_frame)


def _frame(stub: str) -> set[str]:
    """The lines of a student-version answer cell that a real answer keeps (def line, docstring)."""
    kept, in_stub = set(), False
    for line in (raw.strip() for raw in stub.splitlines()):
        if in_stub or line.startswith("raise NotImplementedError("):  # a long hint continues over lines
            in_stub = not line.endswith(")")
        elif line and line != "# YOUR CODE HERE":
            kept.add(line)
    return kept


def lab_imports(lab: Lab) -> dict[str, str]:
    """Names the lab's own cells import: name -> "module" or "module:attribute"."""
    bindings: dict[str, str] = {}
    for cell in lab.notebook.cells:
        if cell.cell_type != "code" or cell.id in lab.answers or labcells.is_check(cell):
            continue
        code = "\n".join("" if line.lstrip().startswith(("!", "%")) else line for line in cell.source.splitlines())
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        bindings[alias.asname] = alias.name
                    else:
                        bindings[alias.name.split(".")[0]] = alias.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    if alias.name != "*":
                        bindings[alias.asname or alias.name] = f"{node.module}:{alias.name}"
    return bindings


def _prologue(token: str, modules: list[str], output_limit: int) -> str:
    return ("# Inserted by the grader (cvbook.grade), not part of the lab: seals the checks against tampering.\n"
            f"__import__('cvbook.grade.seal', fromlist=['install']).install({token!r}, {modules!r}, {output_limit})")


def rebuild(lab: Lab, submission: Submission, token: str, output_limit: int = 1_000_000) -> Rebuilt:
    """The notebook nbval runs for this submission (see the module docstring)."""
    source_ids = {cell.id for cell in lab.notebook.cells}
    student_cells = {cell.id: cell for cell in lab.student.cells}
    position = {cell.id: i for i, cell in enumerate(lab.notebook.cells)}
    known_text = {_normal(cell.source): cell.id for cell in lab.student.cells}
    notes = list(submission.notes)

    code = [c for c in submission.cells if c.cell_type == "code"]
    by_id: dict[str, SubmittedCell] = {}
    for cell in code:
        if cell.id in source_ids and cell.id not in by_id:
            by_id[cell.id] = cell
    answers = {cell_id: by_id[cell_id] for cell_id in lab.answers if cell_id in by_id}

    # Answers without their id: the unclaimed cell that keeps most of the answer cell's frame.
    missing = [cell_id for cell_id in lab.answers if cell_id not in answers]
    if missing:
        candidates = [c for c in code if c.id not in source_ids and _normal(c.source) not in known_text]
        scored = []
        for cell_id in missing:
            for k, cand in enumerate(candidates):
                scored.append((_likeness(student_cells[cell_id].source, cand.source), cell_id, k))
        taken: set[int] = set()
        for score, cell_id, k in sorted(scored, key=lambda item: -item[0]):
            if score >= 0.5 and cell_id not in answers and k not in taken:
                answers[cell_id] = candidates[k]
                taken.add(k)
                notes.append(f"the answer starting `{_first_line(student_cells[cell_id].source)}` was found by its text")
    for cell_id in lab.answers:
        if cell_id not in answers:
            notes.append(f"no answer found for the cell starting `{_first_line(student_cells[cell_id].source)}`: "
                         "graded as unanswered")

    # Cells the student added, attached to the source cell they follow.
    claimed = {id(cell) for cell in answers.values()}
    added: dict[int, list[SubmittedCell]] = {}
    anchor = -1
    for cell in submission.cells:
        answer_of = next((cid for cid, c in answers.items() if c is cell), None)
        if answer_of is not None:
            anchor = position[answer_of]
        elif cell.id in source_ids:
            anchor = position[cell.id]
        elif _normal(cell.source) in known_text:
            anchor = position[known_text[_normal(cell.source)]]
        elif cell.cell_type == "code" and cell.source.strip() and id(cell) not in claimed:
            added.setdefault(anchor, []).append(cell)

    bindings = lab_imports(lab)
    flags: list[Flag] = []
    library: dict[str, list[str]] = {}
    for answer in lab.exercises:
        cell = answers.get(answer.id)
        if cell is None:
            continue
        where = f"answer {answer.id} ({answer.title})"
        flags += [Flag(where, reason) for reason in suspicious(cell.source)]
        called = library_references(cell.source, answer.reimplements, bindings)
        if called:
            library[answer.id] = called
            flags.append(Flag(where, "calls the library function it should implement: " + ", ".join(called)))
    for anchor_index, cells in sorted(added.items()):
        where = "added cell " + ("at the top" if anchor_index < 0 else f"after {lab.notebook.cells[anchor_index].id}")
        flags += [Flag(where, reason) for cell in cells for reason in suspicious(cell.source)]
    flags += tampered_checks(lab, submission)
    if sum(len(cells) for cells in added.values()):
        notes.append(f"{sum(len(cells) for cells in added.values())} code cell(s) you added were run too")

    modules = sorted({"builtins", "math", "numpy", "numpy._core.numeric", "torch", "cvbook.labs", "cvbook.labs.check"}
                     | {target.split(":")[0] for target in bindings.values()}
                     | {target.replace(":", ".") for target in bindings.values()})  # `from a import b`: b may be a module
    guard = f"{SEAL_PREFIX}{token}({bindings!r})\n"

    nb = nbformat.v4.new_notebook(metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": dict(lab.notebook.metadata.get("language_info", {"name": "python"})),
        "cvbook_grade": {"source": lab.name, "source_sha256": lab.sha256}})
    roles: list[tuple[str, str]] = [("prologue", PROLOGUE_ID)]
    nb.cells.append(nbformat.v4.new_code_cell(_prologue(token, modules, output_limit), id=PROLOGUE_ID))

    def add_student_cells(anchor_index: int) -> None:
        for k, cell in enumerate(added.get(anchor_index, [])):
            nb.cells.append(nbformat.v4.new_code_cell(cell.source, id=f"added-{anchor_index + 1}-{k}"))
            roles.append(("added", cell.id or ""))

    add_student_cells(-1)
    for index, cell in enumerate(lab.notebook.cells):
        if cell.cell_type != "code":
            nb.cells.append(nbformat.from_dict({"cell_type": cell.cell_type, "id": cell.id,
                                                "metadata": {}, "source": cell.source}))
        elif cell.id in lab.answers:
            answer = answers.get(cell.id)
            text = answer.source if answer is not None else student_cells[cell.id].source
            nb.cells.append(nbformat.v4.new_code_cell(text, id=cell.id))
            roles.append(("answer", cell.id))
        elif labcells.is_check(cell):
            check = nbformat.v4.new_code_cell(guard + cell.source, id=cell.id,
                                              execution_count=cell.execution_count)
            check.outputs = [nbformat.from_dict(dict(out)) for out in cell.outputs]
            check.metadata = {"tags": [labcells.CHECK_TAG], "cvbook": dict(cell.metadata.get("cvbook", {}))}
            nb.cells.append(check)
            roles.append(("check", cell.id))
        else:
            tags = [t for t in cell.metadata.get("tags", []) if t != labcells.CHECK_TAG]
            nb.cells.append(nbformat.v4.new_code_cell(cell.source, id=cell.id, metadata={"tags": tags} if tags else {}))
            roles.append(("lab", cell.id))
        add_student_cells(index)
    return Rebuilt(nb, roles, notes, flags, library)


def _first_line(source: str) -> str:
    lines = [line.strip() for line in source.splitlines() if line.strip() and not line.strip().startswith("#")]
    return (lines[0] if lines else "")[:80]
