"""What the cells of a lab are: the single definition shared by `make labs`, the students'
self-check summary and the grader.

A lab source (``labs/solutions/labNN_name.ipynb``) has three kinds of code cells that matter:

- **answer cells** hold at least one solution region (``### BEGIN SOLUTION`` ...
  ``### END SOLUTION``); the student version replaces each region by a hinted stub, and the
  grader runs the student's version of the cell;
- **check cells** are tagged ``nbval-check-output``; a check passes when its cell runs without
  an error and prints what the source printed (the ``✓`` lines of :func:`cvbook.labs.check.check`).
  Each is worth ``metadata["cvbook"]["points"]`` (default 1). A check cell with
  ``metadata["cvbook"]["hidden"] = true`` is graded but left out of the student version;
- the **summary cell** (id :data:`SUMMARY_ID`) calls :func:`cvbook.labs.check.summary` with the number
  of check cells of the notebook it is in.

Every cell keeps a stable nbformat cell ``id``; the student version has the same ids, and the
grader matches a submission's cells to the source by them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["BEGIN", "END", "CHECK_TAG", "SUMMARY_ID", "SUMMARY_CALL", "is_check", "is_hidden", "is_answer",
           "points", "summary_source"]

BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION(?:\s+hint:\s*(?P<hint>.*?))?\s*$")
END = re.compile(r"^[ \t]*### END SOLUTION\s*$")
CHECK_TAG = "nbval-check-output"
SUMMARY_ID = "checks-summary"
SUMMARY_CALL = re.compile(r"summary\(total=(?P<total>\d+)\)")


def _tags(cell: Mapping[str, Any]) -> list:
    tags = cell.get("metadata", {}).get("tags", [])
    return tags if isinstance(tags, list) else []


def _options(cell: Mapping[str, Any]) -> Mapping[str, Any]:
    options = cell.get("metadata", {}).get("cvbook", {})
    return options if isinstance(options, Mapping) else {}


def _source(cell: Mapping[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def is_check(cell: Mapping[str, Any]) -> bool:
    """A code cell tagged ``nbval-check-output``."""
    return cell.get("cell_type") == "code" and CHECK_TAG in _tags(cell)


def is_hidden(cell: Mapping[str, Any]) -> bool:
    """A check cell the student version leaves out (``metadata.cvbook.hidden``)."""
    return is_check(cell) and _options(cell).get("hidden") is True


def is_answer(cell: Mapping[str, Any]) -> bool:
    """A code cell with at least one solution region."""
    return cell.get("cell_type") == "code" and any(BEGIN.match(line) for line in _source(cell).splitlines())


def points(cell: Mapping[str, Any]) -> float:
    """What a check cell is worth: ``metadata.cvbook.points``, 1 when absent."""
    value = _options(cell).get("points", 1)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"cell {cell.get('id')}: metadata cvbook.points must be a number >= 0, not {value!r}")
    return float(value)


def summary_source(total: int) -> str:
    """The source of the summary cell that ends every lab."""
    return ("# How many checks pass so far? Run this cell at any time: it counts the check cells\n"
            "# (the cells that print ✓ or ✗) that you have run, and lists what still fails.\n"
            "from cvbook.labs import summary\n"
            f"summary(total={total})")
