"""A class roster, an LMS's bulk download matched to it, and the grade files an LMS imports.

**Roster** (``--roster roster.csv``): one row per student, with the student's id *as the LMS's
bulk-download file names carry it* and a name. Accepted headers (case does not matter):

- ``id, name`` (optional ``email``, ``sis_user_id``, ``sis_login_id``, ``section``);
- Canvas's own gradebook export (*Grades > Export*): ``Student, ID, SIS User ID, SIS Login ID,
  Section`` (``ID`` is the Canvas user id in the download's file names);
- Moodle's grading worksheet (*Assignment > Submissions > Download grading worksheet*):
  ``Identifier`` ("Participant 123456"), ``Full name``, ``Email address``.

**Bulk downloads**, by file name (``--lms``; ``auto`` tries both):

- Canvas (*Assignment > Download submissions*): ``doejane_123_4567_lab01.ipynb``, or with
  ``LATE_`` after the name for a late one: the name, the user id, the file's attachment id,
  the uploaded file's name (a resubmission's gets ``-1``, ``-2``);
- Moodle (*Submissions > Download all submissions*): ``Jane Doe_123456_assignsubmission_file_lab01.ipynb``,
  or a folder ``Jane Doe_123456_assignsubmission_file_/`` holding the files; 123456 is the
  participant id. Moodle's names do not say whether a submission was late (``late`` stays empty).

A student's notebooks count once: the latest (Canvas: the largest attachment id, which Canvas
gives in upload order; Moodle: the newest modification time the download keeps), so that two
uploads make one gradebook row, ``late`` a column.

**Import files** (``--format``):

- ``canvas.csv``: Canvas's gradebook import (*Grades > Import*): ``Student, ID, SIS User ID,
  SIS Login ID, Section, <assignment>``; a student without a submission has an empty cell,
  which Canvas leaves as it was. Canvas matches the assignment column by its name (or
  "name (assignment id)" as its export writes it).
- ``moodle.csv``: Moodle's grading worksheet (*Submissions > Upload grading worksheet*, with
  the assignment's "Offline grading worksheet" feedback type on): ``Identifier, Full name, Email
  address, Grade, Maximum Grade, Last modified (grade)``; the same file also serves the course
  gradebook's CSV import (map ``Email address`` to the user's email and ``Grade`` to the item).
"""

from __future__ import annotations

import csv
import io
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

__all__ = ["DOWNLOADS", "Student", "Roster", "Matched", "RosterError", "read_roster", "parse_name", "match",
           "write_roster_gradebook", "write_import", "canvas_rows", "moodle_rows"]

DOWNLOADS = ("auto", "canvas", "moodle")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]*")
_CANVAS = re.compile(r"^(?P<name>[^_]*)_(?:(?P<late>LATE)_)?(?P<id>\d+)_(?P<order>\d+)_(?P<file>.+)$")
_MOODLE = re.compile(r"^(?P<name>.+?)_(?P<id>\d+)_assignsubmission_file_(?P<file>.*)$")
_HEADERS = {"id": ("id", "identifier", "user id", "userid"), "name": ("name", "student", "full name", "fullname"),
            "email": ("email", "email address"), "sis_user_id": ("sis_user_id", "sis user id", "id number", "idnumber"),
            "sis_login_id": ("sis_login_id", "sis login id", "username"), "section": ("section",)}


class RosterError(Exception):
    """The roster cannot be read; the message says what to fix."""


class _Result(Protocol):  # what the import files need of a grade (cvbook.grade.run.Result)
    score: float
    status: str


@dataclass(frozen=True)
class Student:
    id: str
    name: str
    email: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""


@dataclass(frozen=True)
class Roster:
    students: dict[str, Student]  # id -> student, in the roster's order
    download: str = "auto"  # whose file names: auto, canvas, moodle


@dataclass
class Matched:
    """A bulk download matched to a roster: what to grade, keyed by student id."""

    roster: Roster
    submissions: dict[str, Path] = field(default_factory=dict)  # the notebook that counts
    problems: dict[str, str] = field(default_factory=dict)  # why a student's upload cannot be graded
    late: dict[str, str] = field(default_factory=dict)  # yes, no, or "" (the LMS does not say)
    uploads: dict[str, list[str]] = field(default_factory=dict)  # every file of the student, the counted one first
    notes: list[str] = field(default_factory=list)  # files that match no student, for the instructor


def read_roster(path: Path, download: str = "auto") -> Roster:
    """Read ``roster.csv`` (see the module docstring for the accepted headers)."""
    if download not in DOWNLOADS:
        raise RosterError(f"unknown LMS {download!r}; choose one of {', '.join(DOWNLOADS)}")
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise RosterError(f"cannot read the roster {path}: {error}") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise RosterError(f"{path} is empty: it needs a header (id, name) and one row per student")
    header = [h.strip().lower() for h in rows[0]]
    columns = {key: next((header.index(a) for a in aliases if a in header), None) for key, aliases in _HEADERS.items()}
    if columns["id"] is None or columns["name"] is None:
        raise RosterError(f"{path}: the header needs an id and a name column (id, name; or Canvas's Student, ID; "
                          f"or Moodle's Identifier, Full name); found: {', '.join(rows[0])}")
    students: dict[str, Student] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row) or row[0].strip().lower() == "points possible":
            continue  # Canvas's export has a "Points Possible" row
        values = {key: (row[i].strip() if i is not None and i < len(row) else "") for key, i in columns.items()}
        student_id = re.sub(r"^participant\s+", "", values["id"], flags=re.IGNORECASE)
        if not _ID.fullmatch(student_id):
            raise RosterError(f"{path}, line {number}: {values['id']!r} is not an id (letters, digits, . _ @ + -)")
        if student_id in students:
            raise RosterError(f"{path}, line {number}: the id {student_id} is on the roster twice")
        students[student_id] = Student(student_id, values["name"] or student_id, values["email"],
                                       values["sis_user_id"], values["sis_login_id"], values["section"])
    if not students:
        raise RosterError(f"{path} has a header but no student")
    return Roster(students, download)


def parse_name(name: str, download: str = "auto") -> tuple[str, str, int] | None:
    """(student id, late: "yes"|"no"|"", upload order or -1) from a bulk download's file or folder
    name, or None when it follows neither Canvas's nor Moodle's pattern."""
    if download in ("auto", "canvas"):
        m = _CANVAS.match(name)
        if m:
            return m["id"], "yes" if m["late"] else "no", int(m["order"])
    if download in ("auto", "moodle"):
        m = _MOODLE.match(name) or _MOODLE.match(name + "_")  # a folder may end without its "_"
        if m:
            return m["id"], "", -1
    return None


def match(roster: Roster, folder: Path) -> Matched:
    """Every file of a bulk download (and of Moodle's per-student folders) to its student."""
    uploads: dict[str, list[tuple[int, float, Path, str]]] = {}
    matched = Matched(roster)
    unknown, foreign = [], []
    for entry in sorted(Path(folder).iterdir()):
        if entry.name.startswith("."):
            continue
        parsed = parse_name(entry.name, roster.download)
        if parsed is None:
            foreign.append(entry.name)
            continue
        student_id, late, order = parsed
        if student_id not in roster.students:
            unknown.append(entry.name)
            continue
        files = sorted(p for p in entry.iterdir() if p.is_file() and not p.name.startswith(".")) if entry.is_dir() else [entry]
        for path in files:
            uploads.setdefault(student_id, []).append((order, path.stat().st_mtime, path, late))
    for student_id, files in uploads.items():
        files.sort(key=lambda f: (f[0], f[1], f[2].name), reverse=True)  # the latest first
        notebooks = [f for f in files if f[2].suffix == ".ipynb"]
        counted = notebooks[0] if notebooks else files[0]
        matched.submissions[student_id] = counted[2]
        matched.late[student_id] = counted[3]
        matched.uploads[student_id] = [counted[2].name] + [f[2].name for f in files if f is not counted]
        if not notebooks:
            matched.problems[student_id] = ("no notebook (.ipynb) among the uploads: "
                                            + ", ".join(f[2].name for f in files))
    if unknown:
        matched.notes.append(f"{len(unknown)} upload(s) of ids not on the roster, not graded: {', '.join(unknown)}")
    if foreign:
        matched.notes.append(f"{len(foreign)} file(s) named neither like Canvas's nor Moodle's download, not graded: "
                             + ", ".join(foreign))
    missing = [s.name for s in roster.students.values() if s.id not in matched.submissions]
    if missing:
        matched.notes.append(f"{len(missing)} student(s) on the roster without a submission: {', '.join(missing)}")
    return matched


def _atomic_csv(path: Path, rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(buffer.getvalue(), encoding="utf-8")
    os.replace(temporary, path)


def _safe(text: str) -> str:
    """A spreadsheet-safe CSV cell (no formula from a name)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def write_roster_gradebook(gradebook: Path, out: Path, matched: Matched) -> None:
    """``gradebook`` (one row per graded student id) with the roster's columns ``name``, ``late``,
    ``uploads`` after ``student``, and a ``missing`` row for every student without a submission,
    written to ``out`` at once."""
    rows = list(csv.reader(io.StringIO(Path(gradebook).read_text(encoding="utf-8"))))
    header, body = rows[0], {row[0]: row for row in rows[1:]}
    status = header.index("status")
    table = [[header[0], "name", "late", "uploads", *header[1:]]]
    for student in matched.roster.students.values():
        row = body.get(student.id)
        if row is None:
            row = [student.id] + [""] * (len(header) - 1)
            row[status] = "missing"
        uploads = "; ".join(matched.uploads.get(student.id, []))
        table.append([row[0], _safe(student.name), matched.late.get(student.id, ""), _safe(uploads), *row[1:]])
    _atomic_csv(out, table)


def _score(result: _Result | None) -> str:
    return "" if result is None else f"{result.score:g}"


def canvas_rows(roster: Roster, results: dict[str, _Result], assignment: str) -> list[list[str]]:
    """Canvas's gradebook import: Student, ID, SIS User ID, SIS Login ID, Section, <assignment>."""
    rows = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", assignment]]
    for s in roster.students.values():
        rows.append([_safe(s.name), s.id, s.sis_user_id, s.sis_login_id, _safe(s.section), _score(results.get(s.id))])
    return rows


def moodle_rows(roster: Roster, results: dict[str, _Result], max_score: float, when: float | None = None) -> list[list[str]]:
    """Moodle's grading worksheet: Identifier, Full name, Email address, Grade, Maximum Grade,
    Last modified (grade) (Moodle skips a row whose date is older than the grade it holds)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() if when is None else when))
    rows = [["Identifier", "Full name", "Email address", "Grade", "Maximum Grade", "Last modified (grade)"]]
    for s in roster.students.values():
        graded = results.get(s.id)
        rows.append([f"Participant {s.id}", _safe(s.name), s.email, _score(graded), f"{max_score:g}",
                     stamp if graded is not None else "-"])
    return rows


def write_import(kind: str, path: Path, roster: Roster, results: dict[str, _Result], assignment: str,
                 max_score: float) -> None:
    """Write ``canvas.csv`` or ``moodle.csv`` (see the module docstring)."""
    if kind == "canvas":
        _atomic_csv(path, canvas_rows(roster, results, assignment))
    elif kind == "moodle":
        _atomic_csv(path, moodle_rows(roster, results, max_score))
    else:
        raise ValueError(f"unknown LMS format {kind!r}: canvas or moodle")
