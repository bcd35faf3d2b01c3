"""What the grader writes into the output folder, as soon as each result is known.

- ``results/<student>.json``: the full result (the record a rerun trusts, written first);
- ``feedback/<student>.md`` and ``.html``: for the student: the first error in their own code,
  every check with the hint or error to act on (a hidden check only says that it failed, unless
  ``reveal_hidden``), the total, and how it was graded; nothing for the instructor;
- ``gradebook.csv``: ``student, score, max_score, status``, one column per check (points
  earned, named by the check cell's id) and ``flags`` (what the instructor should look at);
  ``checks.csv`` says what each column is;
- ``flags.csv``: for the instructor: ``student, where, flag``, one row per flag (code that reaches
  for the grader or the system, edited or deleted check cells, an answer that calls the library
  function it should implement); the plain nbval command that reproduces a grade is in
  ``results/<student>.json`` (``reproduce``);
- ``gradescope/<student>/results.json`` with ``--format gradescope``.

Every file is written to a temporary name and renamed, so an interrupted run leaves no half file.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
from pathlib import Path

from .run import CheckResult, Result
from .source import Check, Lab

__all__ = ["write_result", "write_gradebook", "write_flags", "write_checks", "load_results", "feedback_blocks",
           "to_markdown", "to_html", "visible_message", "HIDDEN_FAILED"]

HIDDEN_FAILED = "failed (a hidden check: what it tests is not shown)"


def _atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _number(x: float) -> str:
    return f"{x:g}"


def _cell(text: str) -> str:
    """A spreadsheet-safe CSV cell (no formula injection from a file name)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def write_checks(out: Path, lab: Lab) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["check", "points", "hidden", "section", "names"])
    for check in lab.checks:
        writer.writerow([check.id, _number(check.points), "yes" if check.hidden else "no", check.title,
                         "; ".join(check.names)])
    _atomic(out / "checks.csv", buffer.getvalue())


def write_gradebook(out: Path, lab: Lab, results: dict[str, Result]) -> None:
    """``gradebook.csv`` (see the module docstring), and ``flags.csv`` beside it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student", "score", "max_score", "status", *(c.id for c in lab.checks), "flags"])
    for student in sorted(results):
        result = results[student]
        earned = {c.id: c.earned for c in result.checks}
        flags = "; ".join(dict.fromkeys(flag.what.split(":")[0] for flag in result.flags))
        writer.writerow([_cell(student), _number(result.score), _number(result.max_score), result.status,
                         *(_number(earned.get(c.id, 0.0)) for c in lab.checks), _cell(flags)])
    _atomic(out / "gradebook.csv", buffer.getvalue())
    write_flags(out, results)


def write_flags(out: Path, results: dict[str, Result]) -> None:
    """``flags.csv``, for the instructor: ``student, where, flag``, one row per flag."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student", "where", "flag"])
    for student in sorted(results):
        for flag in results[student].flags:
            writer.writerow([_cell(student), _cell(flag.where), _cell(flag.what)])
    _atomic(out / "flags.csv", buffer.getvalue())


def load_results(out: Path, lab: Lab) -> dict[str, Result]:
    """Results of an earlier run against the same source (unreadable records are ignored)."""
    results = {}
    for path in sorted((out / "results").glob("*.json")):
        try:
            result = Result.from_json(path.read_text(encoding="utf-8"))
        except (ValueError, TypeError, KeyError):
            continue
        if result.source_sha256 == lab.sha256:
            results[result.student] = result
    return results


def visible_message(check: Check, outcome: CheckResult, reveal_hidden: bool = False) -> str:
    """What the student sees of a check's failure: a hidden check says only that it failed, unless revealed."""
    if check.hidden and not reveal_hidden and outcome.earned < outcome.points:
        return HIDDEN_FAILED + (f" ({_number(outcome.earned)} of {_number(outcome.points)} points)" if outcome.earned else "")
    return outcome.message


def feedback_blocks(lab: Lab, result: Result, out: Path | None = None, reveal_hidden: bool = False) -> list[tuple]:
    """The feedback as blocks: ("h1"|"h2"|"p", text), ("table", header, rows), ("ul", items).
    It holds nothing for the instructor (no flags, no paths, no command)."""
    blocks: list[tuple] = [("h1", f"{lab.name}: feedback for {result.student}"),
                           ("p", f"**Score: {_number(result.score)} / {_number(result.max_score)}** (status: {result.status})")]
    if result.detail and result.status != "graded":
        blocks.append(("p", result.detail.splitlines()[0]))
    if result.lead:
        blocks += [("h2", "First error in your code"), ("p", result.lead)]
    rows = []
    for k, (check, outcome) in enumerate(zip(lab.checks, result.checks), 1):
        section = check.title + (" (hidden check)" if check.hidden else "")
        verdict = "✓ passed" if outcome.earned == outcome.points else f"✗ {visible_message(check, outcome, reveal_hidden)}"
        rows.append([str(k), f"`{check.id}`", section, f"{_number(outcome.earned)} / {_number(outcome.points)}", verdict])
    blocks.append(("table", ["#", "check", "section", "points", "result"], rows))
    failing = [(check, outcome) for check, outcome in zip(lab.checks, result.checks) if outcome.earned < outcome.points]
    if failing:
        items = []
        for check, outcome in failing:
            names = "; ".join(f'"{name}"' for name in check.names[:4]) if not check.hidden else "hidden check"
            items.append(f"**{check.title}** ({names}): {visible_message(check, outcome, reveal_hidden)}")
        blocks += [("h2", "What to fix"), ("ul", items)]
    if result.problems:
        blocks += [("h2", "Your cells that raised an error"),
                   ("ul", [f"`{p.first_line}`: {p.message}" for p in result.problems])]
    if result.notes or result.truncated:
        notes = list(result.notes) + (["some output was cut: a cell printed more than the grader keeps"] if result.truncated else [])
        blocks += [("h2", "Notes"), ("ul", notes)]
    how = (f"The check cells (and the expected outputs) come from the lab's source, not from your notebook, so "
           f"changing them changes nothing; each check() call of a check cell earns its share of the cell's "
           f"points when it prints the expected ✓ line. Graded in a {result.sandbox}, in {result.seconds:.1f} s.")
    blocks += [("h2", "How this was graded"), ("p", how)]
    return blocks


def to_markdown(blocks: list[tuple]) -> str:
    lines: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind == "h1":
            lines += [f"# {block[1]}", ""]
        elif kind == "h2":
            lines += [f"## {block[1]}", ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "ul":
            lines += [f"- {item}" for item in block[1]] + [""]
        elif kind == "code":
            lines += ["```bash", block[1], "```", ""]
        elif kind == "table":
            header, rows = block[1], block[2]
            lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in row) + " |" for row in rows]
            lines.append("")
    return "\n".join(lines)


def _inline(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


def to_html(blocks: list[tuple]) -> str:
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{html.escape(blocks[0][1])}</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;vertical-align:top}"
             "code,pre{background:#f4f4f4}pre{padding:.6em;white-space:pre-wrap}</style></head><body>"]
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "p"):
            parts.append(f"<{kind}>{_inline(block[1])}</{kind}>")
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in block[1]) + "</ul>")
        elif kind == "code":
            parts.append(f"<pre><code>{html.escape(block[1])}</code></pre>")
        elif kind == "table":
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block[1])
            body = "".join("<tr>" + "".join(f"<td>{_inline(cell)}</td>" for cell in row) + "</tr>" for row in block[2])
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _gradescope(lab: Lab, result: Result, reveal_hidden: bool = False) -> str:
    tests = []
    for check, outcome in zip(lab.checks, result.checks):
        tests.append({"name": f"{check.title} ({check.id})", "score": outcome.earned, "max_score": outcome.points,
                      "status": "passed" if outcome.earned == outcome.points else "failed",
                      "output": visible_message(check, outcome, reveal_hidden),
                      "visibility": "after_published" if check.hidden else "visible"})
    output = f"status: {result.status}" + (f"; {result.detail.splitlines()[0]}" if result.detail else "")
    return json.dumps({"score": result.score, "output": output, "tests": tests}, indent=1, ensure_ascii=False)


def write_result(out: Path, lab: Lab, result: Result, formats: tuple[str, ...] = (), reveal_hidden: bool = False) -> None:
    """The result record (for the instructor), then the student's feedback (and the Gradescope
    file); ``reveal_hidden`` shows the failure messages of hidden checks (after the deadline)."""
    _atomic(out / "results" / f"{result.student}.json", result.to_json())
    blocks = feedback_blocks(lab, result, out, reveal_hidden)
    _atomic(out / "feedback" / f"{result.student}.md", to_markdown(blocks))
    _atomic(out / "feedback" / f"{result.student}.html", to_html(blocks))
    if "gradescope" in formats:
        _atomic(out / "gradescope" / result.student / "results.json", _gradescope(lab, result, reveal_hidden))
