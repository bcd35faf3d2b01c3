"""Turning nbval's reports into feedback a student can act on, and that gives nothing away.

- :func:`student_frames`: the frames of an IPython traceback that are in the student's own cells
  (a frame shows its line number and the text of that line; both must match a student cell);
- :class:`Redactor`: student-produced text (an exception's message, a value ``check()`` echoes)
  is never shown when it holds text of a check cell (any line of at least
  :data:`MIN_SECRET` characters, compared without spaces or case, also base64- or hex-decoded or
  reversed), a hidden check's name, or a hidden check's expected output; it is cut to
  :data:`MAX_ECHO` characters either way;
- :func:`blame`: a check that fails because an earlier exercise is blank (its hint, or a
  ``NameError`` of a name it defines) says so, instead of showing that exercise's hint again.
"""

from __future__ import annotations

import ast
import base64
import binascii
import re
from dataclasses import dataclass

from .source import Check, Lab

__all__ = ["Frame", "student_message", "student_frames", "Redactor", "blame", "MIN_SECRET", "MAX_ECHO", "REDACTED"]

MIN_SECRET = 12  # characters (spaces removed) of a check cell's line that count as its text
MAX_ECHO = 400  # characters of student-produced text shown per message
REDACTED = "[not shown: this message contains text of the lab's check cells]"
# A frame's header in IPython's traceback text: "Cell In[3], line 2, in f(x)" and "File /p.py:2, in f"
# (IPython 8 and later), or "/tmp/ipykernel_7/123.py in f(x)" (IPython 7, Colab's), whose line
# number is only on the arrow line below it.
_HEADER = re.compile(r"^(?:Cell In\[\d+\], line (\d+)(?:, in (\S+?)(?:\(.*)?)?|File (.+?):(\d+)(?:, in (\S+?)(?:\(.*)?)?"
                     r"|\S+\.py in (<cell line: \d+>|\S+?)\(.*\))\s*$")
_ARROW = re.compile(r"^-*>\s*(\d+)\s?(.*)$")
_ENCODED = re.compile(r"[A-Za-z0-9+/=_-]{24,}")
_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)|NotImplementedError)\s*:?\s*(.*)$")


def student_message(text: str) -> str:
    """The one line of a cell failure a student can act on.

    ``text`` is nbval's report: a header (``Cell 5: Timeout of ...``), the cell's input, and the
    traceback or the output comparison. Markers are looked for in the header only, so that a
    student's code that happens to contain them changes nothing."""
    header = text.split("\nInput:", 1)[0]
    if "Cell outputs differ" in header:
        lines = [l.strip() for l in text.splitlines() if l.strip().startswith(("- ", "+ ", "E ", "?"))]
        shown = " / ".join(lines[:4]) if lines else ""
        return "the check printed something other than the expected ✓ lines" + (f": {shown}" if shown else "")
    for marker in ("not run: the notebook time limit", "Timeout of", "the kernel stopped"):
        if marker in header:
            line = next(l for l in header.splitlines() if marker in l)
            return line[line.index(marker):].strip()
    if "Previous cell timed out" in header:
        return "not run properly: an earlier cell ran out of time"
    if "Kernel dead on test start" in header:
        return "not run: the kernel had already stopped (see above)"
    if "Traceback:" not in text and re.search(r"Kernel died before replying|Kernel didn't respond", text):
        return "not run: the kernel did not start"
    if header.startswith("pytest plugin exception:") or "Traceback:" not in text:
        detail = " ".join(header.replace("pytest plugin exception:", "").split())[:200]
        return f"not run: the grader could not run this cell ({detail})"
    traceback = text.split("Traceback:", 1)[-1]
    lines = [l.strip() for l in traceback.splitlines() if l.strip()]
    for line in reversed(lines):
        match = _ERROR_LINE.match(line)
        if match:
            name, message = match.groups()
            if name == "NotImplementedError" and message.startswith("Exercise:"):
                return f"not answered yet. Hint: {message[len('Exercise:'):].strip()}"
            return f"{name}: {message}" if message else name
    return (lines[-1] if lines else text.strip())[:300]


@dataclass(frozen=True)
class Frame:
    cell: str  # the student cell's key (an answer cell's id, or the added cell's id)
    line: int
    function: str  # "" at the cell's top level
    code: str  # the text of the line, stripped

    def describe(self) -> str:
        where = f"line {self.line}" + (f", in {self.function}" if self.function and self.function != "<module>" else "")
        code = _cut(self.code, 120)  # a long line, cut where it shows
        return f"{where}: `{code}`" + (" …" if code == self.code and _continues(self.code) else "")


def _cut(line: str, width: int) -> str:
    """``line``, or when it is longer than ``width``, its first ``width - 1`` characters and "…",
    cut back to the end of a word when that is in their last quarter (a long token is cut where it shows)."""
    if len(line) <= width:
        return line
    head = line[:width - 1]
    if not line[width - 1].isspace():  # head ends inside a word
        space = head.rfind(" ")
        head = head[:space] if space >= width * 3 // 4 else head
    return head.rstrip() + "…"


def _continues(line: str) -> bool:
    """Whether ``line`` is the first line of a statement that goes on over the next lines (an open
    bracket or string), as a long hint's stub does."""
    try:
        ast.parse(line.strip())
    except SyntaxError:
        return not line.rstrip().endswith(":")
    return False


def student_frames(traceback: str, cells: dict[str, str]) -> list[Frame]:
    """The frames of ``traceback`` (IPython's text) whose line is a line of one of ``cells``
    (key -> source), outermost first."""
    lines_of = {key: source.splitlines() for key, source in cells.items()}
    frames: list[Frame] = []
    header: tuple[int, str] | None = None
    for raw in traceback.splitlines():
        line = raw.rstrip()
        match = _HEADER.match(line.strip())
        if match:
            number = match.group(1) or match.group(4) or "0"
            function = match.group(2) or match.group(5) or match.group(6) or ""
            header = (int(number), "<module>" if function.startswith("<cell line") else function)
            continue
        arrow = _ARROW.match(line.strip())
        if header is None or not arrow:
            continue
        number, code = int(arrow.group(1)), arrow.group(2).strip()
        for key, source_lines in lines_of.items():
            if 0 < number <= len(source_lines) and source_lines[number - 1].strip() == code and code:
                frames.append(Frame(key, number, header[1], code))
                break
        header = None
    return frames


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


class Redactor:
    """``redactor(text)``: ``text`` cut to :data:`MAX_ECHO` characters, or :data:`REDACTED` when
    it holds text of the lab's check cells (see the module docstring)."""

    def __init__(self, lab: Lab, guard_prefix: str = "_cvbook_seal_") -> None:
        secrets = {_squash(guard_prefix)}
        checks = {check.id: check for check in lab.checks}
        for cell in lab.notebook.cells:
            check = checks.get(cell.get("id"))
            if check is None:
                continue
            secrets |= {_squash(line) for line in cell.source.splitlines() if len(_squash(line)) >= MIN_SECRET}
            if check.hidden:
                secrets |= {_squash(name) for name in check.names if len(_squash(name)) >= 6}
                printed = "".join(str(output.get("text", "")) for output in cell.get("outputs", []))
                secrets |= {_squash(line) for line in printed.splitlines() if len(_squash(line)) >= MIN_SECRET}
        self.secrets = sorted(secrets, key=len)

    def leaks(self, text: str) -> bool:
        candidates = [text, text[::-1]]
        for token in {*_ENCODED.findall(text), *_ENCODED.findall(re.sub(r"\s+", "", text))}:
            token = token.rstrip("=")
            for decode, block in ((base64.b64decode, 4), (base64.urlsafe_b64decode, 4), (bytes.fromhex, 2),
                                  (base64.b32decode, 8)):
                whole = token[:len(token) - len(token) % block]  # a cut message ends mid-block
                try:
                    candidates.append(decode(whole).decode("utf-8", errors="ignore"))
                except (ValueError, binascii.Error, TypeError):
                    continue
        squashed = [_squash(candidate) for candidate in candidates]
        return any(secret in candidate for secret in self.secrets for candidate in squashed)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        if self.leaks(text):
            return REDACTED
        return text if len(text) <= MAX_ECHO else text[:MAX_ECHO] + " [...]"


_HINT = re.compile(r"not answered yet\. Hint: (.*)$")
_NAME = re.compile(r"NameError: name '(\w+)' is not defined")


def blame(lab: Lab, check: Check, message: str) -> str:
    """``message`` of a failing ``check``, or what it depends on when the failure comes from
    another exercise's blank or failing answer."""
    hint, name = _HINT.search(message), _NAME.search(message)
    for answer in lab.exercises:
        if answer.title == check.title:
            continue
        if hint and hint.group(1).strip() in answer.hints:
            return (f"depends on {answer.title}, which is not answered yet (its own check shows the hint); "
                    "answer it first")
        if name and name.group(1) in answer.defines:
            return (f"depends on {answer.title}, which is not answered yet or failed: `{name.group(1)}` is defined "
                    "there, and that cell did not run to the end (see the first error in your code above)")
    return message
