"""Points and feedback of one graded notebook, from what nbval and the seal reported per cell.

- A check cell that passed (ran without an error, printed the source's ``✓`` lines) earns its
  points. One that failed earns its points times the share of its ``check()`` calls that passed
  (the seal records every call: :func:`cvbook.labs.check.collect_calls`), out of the number of
  ``✓`` lines the source printed; every failing call is listed, then the error that stopped the
  cell, if any, and how many calls it kept from running.
- A check of an exercise whose answer calls the library function it reimplements scores 0,
  unless the instructor allows it (``allow_library``).
- The feedback leads with the first error in the student's own code: the cell (or the check that
  called it), the exception, and the last frames of the traceback that are in their cells; a
  timeout names the line that was running.
- Student-produced text passes through :class:`cvbook.grade.explain.Redactor`; a hidden check's
  message is kept for the instructor (the student's feedback shows it only when revealed).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .explain import Frame, Redactor, blame, student_frames, student_message
from .rebuild import Rebuilt
from .source import Lab

__all__ = ["Scored", "score_cells", "read_calls", "expected_calls"]

_TIMEOUT = ("Timeout of", "not run properly: an earlier cell ran out of time")


@dataclass
class Scored:
    checks: list[tuple[str, float, float, str]] = field(default_factory=list)  # (id, points, earned, message)
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (role, first line, message)
    lead: str = ""


def read_calls(path: Path) -> dict[int, list[tuple[bool, str, str]]]:
    """Code cell index -> the ``check()`` calls the seal recorded (JUnit property ``calls``)."""
    import xml.etree.ElementTree as ElementTree

    found: dict[int, list[tuple[bool, str, str]]] = {}
    if not path.exists():
        return found
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        match = re.fullmatch(r"Cell (\d+)", case.get("name", ""))
        for prop in case.iter("property"):
            if match and prop.get("name") == "calls":
                try:
                    calls = json.loads(prop.get("value", "[]"))
                    found[int(match.group(1))] = [(bool(p), str(n), str(m)) for p, n, m in calls]
                except (ValueError, TypeError):
                    continue
    return found


def expected_calls(cell: Any) -> int:
    """How many ``check()`` calls passed when the source ran: its ``✓`` lines."""
    printed = "".join(str(output.get("text", "")) for output in cell.get("outputs", []))
    return sum(line.startswith("✓ ") for line in printed.splitlines())


def _first_line(source: str) -> str:
    lines = [line.strip() for line in source.splitlines() if line.strip() and not line.strip().startswith("#")]
    return (lines[0] if lines else "")[:80]


def _located(message: str, frames: list[Frame]) -> str:
    """``message``, with the line that was running when it is a timeout."""
    if message.startswith(_TIMEOUT[0]) and frames:
        return f"{message}, while running {frames[-1].describe()}"
    return message


def score_cells(lab: Lab, rebuilt: Rebuilt, cells: dict[int, str | None], calls: dict[int, list[tuple[bool, str, str]]],
                allow_library: bool = False) -> Scored:
    """Score every check of ``lab`` and explain the failures (see the module docstring).

    cells: code cell index of the rebuilt notebook -> nbval's failure text (None: passed).
    calls: code cell index -> the recorded ``(passed, name, message)`` of its check() calls.
    """
    redact = Redactor(lab)
    code = [cell for cell in rebuilt.notebook.cells if cell.cell_type == "code"]
    source = {cell.id: cell for cell in lab.notebook.cells}
    student = {code[i].id: code[i].source for i, (role, _) in enumerate(rebuilt.roles) if role in ("answer", "added")}
    titles = {answer.id: answer.title for answer in lab.exercises}
    imported = {titles[cell_id]: names for cell_id, names in rebuilt.library.items()}
    scored = Scored()
    for index, (role, cell_id) in enumerate(rebuilt.roles):
        text = cells.get(index, "not run (no result from nbval)")
        ran = index in cells
        failed = text is not None
        frames = student_frames(text, student) if failed and ran and text else []
        if role == "check":
            check = lab.check(cell_id)
            message, earned = "", check.points
            if failed:
                earned, message = _failed_check(lab, check, source[cell_id], text, ran, calls.get(index, []),
                                                frames, redact)
            if check.title in imported and not allow_library:
                earned = 0.0
                message = (f"0 points: your answer to {check.title} calls {', '.join(imported[check.title])} "
                           f"instead of implementing it" + (f"; {message}" if message else ""))
            scored.checks.append((cell_id, check.points, earned, message))
        elif role in ("answer", "added") and failed and ran:
            first = _first_line(code[index].source)
            message = redact(_located(student_message(text), frames))
            if frames and not message.startswith(_TIMEOUT[0]):
                message += " (at " + " → ".join(f.describe() for f in frames[-2:]) + ")"
            scored.problems.append((role, first, message))
        if failed and ran and not scored.lead and (role in ("answer", "added") or (role == "check" and frames)):
            scored.lead = _lead(lab, role, cell_id, code[index].source, text, frames, titles, redact)
    return scored


def _failed_check(lab: Lab, check: Any, cell: Any, text: str, ran: bool, recorded: list[tuple[bool, str, str]],
                  frames: list[Frame], redact: Redactor) -> tuple[float, str]:
    """Points and message of a check cell that did not pass."""
    keep = (lambda m: m) if check.hidden else redact  # a hidden check's message is never shown unless revealed
    expected = expected_calls(cell)
    passed = sum(1 for ok, _, _ in recorded if ok)
    share = min(passed, expected) / expected if expected and ran else 0.0
    parts = [keep(message) for ok, _, message in recorded if not ok]
    error = student_message(text)
    if "Traceback:" in text or not ran or error.startswith(("not run", "the kernel", "Timeout of")) or not parts:
        error = _located(blame(lab, check, error), frames)
        missing = expected - len(recorded)
        if 0 < missing < expected and ran:
            error += f" ({missing} of its {expected} checks did not run)"
        parts.append(keep(error))
    if recorded and expected:
        parts.insert(0, f"{min(passed, expected)} of {expected} checks passed")
    return round(check.points * share, 4), "; ".join(parts)


def _lead(lab: Lab, role: str, cell_id: str, cell_source: str, text: str, frames: list[Frame],
          titles: dict[str, str], redact: Redactor) -> str:
    """The first error in the student's own code, in one paragraph."""
    message = student_message(text)
    if role == "answer":
        where = f"your answer to {titles.get(cell_id, 'an exercise')} (the cell starting `{_first_line(cell_source)}`)"
    elif role == "added":
        where = f"a cell you added (starting `{_first_line(cell_source)}`)"
    else:
        check = lab.check(cell_id)
        where = f"your code, called by the check of {check.title}" + (" (a hidden check)" if check.hidden else "")
        if check.hidden and re.match(r"[\w.]+(Error|Exception|Interrupt)\b", message):
            message = message.split(":", 1)[0]  # its inputs are the hidden check's: the kind of error, not its text
    lead = f"{where}: {redact(_located(message, frames))}"
    if frames:
        lead += ". In your code: " + " → ".join(frame.describe() for frame in frames[-3:])
    return lead
