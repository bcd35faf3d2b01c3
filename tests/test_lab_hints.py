"""Hints guide, they do not answer (issue 22 §4): the hint of a solution region names the idea, the
shape or the function to look up; it never carries the region's code. A hint fails when it holds

- a solution line of at least 20 characters (whitespace ignored),
- the whole right-hand side of an assignment or ``return`` of the region (at least 8 characters),
- or most of a solution line's names (>= 80 % of its names of two characters or more, for a line with
  at least 6: one-letter names and numbers such as the ``(N, S, S, B, 5)`` of a shape do not count).
"""

import re

import nbformat
import pytest

from cvbook.labs.cells import BEGIN, END
from notebooks import LAB_SOURCES

TOKEN = re.compile(r"[A-Za-z_][A-Za-z_0-9]+")
ASSIGNED = re.compile(r"^(?:return\s+|[\w\[\]., ]+?\s*(?:[-+*/|&]?=)(?!=)\s*)(?P<rhs>.+)$")


def solution_regions(source: str) -> list[tuple[str, list[str]]]:
    """(hint, the region's code lines) for every solution region of a cell's source."""
    regions, current = [], None
    for line in source.splitlines():
        begin = BEGIN.match(line)
        if begin:
            current = (begin["hint"] or "", [])
        elif END.match(line) and current is not None:
            regions.append(current)
            current = None
        elif current is not None:
            current[1].append(line)
    return regions


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def giveaways(hint: str, code: list[str]) -> list[str]:
    """The parts of ``code`` that ``hint`` hands over (empty when the hint only guides)."""
    found, flat_hint, hint_tokens = [], squeeze(hint), set(TOKEN.findall(hint))
    for line in code:
        line = line.split("#")[0].strip()
        flat = squeeze(line)
        if len(flat) >= 20 and flat in flat_hint:
            found.append(f"the line {line!r}")
            continue
        assigned = ASSIGNED.match(line)
        if assigned and len(squeeze(assigned["rhs"])) >= 8 and squeeze(assigned["rhs"]) in flat_hint:
            found.append(f"the expression {assigned['rhs']!r}")
            continue
        tokens = TOKEN.findall(line)
        if len(tokens) >= 6 and sum(t in hint_tokens for t in tokens) >= 0.8 * len(tokens):
            found.append(f"most names of {line!r}")
    return found


def test_the_detector_catches_hints_that_answer_and_passes_hints_that_guide():
    code = ["    return mu + torch.exp(0.5 * logvar) * eps"]
    assert giveaways("sigma = exp(0.5 * logvar); return mu + sigma * eps", code)  # lab 9's old hint
    assert giveaways("return mu+torch.exp(0.5*logvar)*eps", code)
    assert giveaways("use torch.exp(0.5 * logvar) * eps", ["z = torch.exp(0.5 * logvar) * eps"])
    assert not giveaways("the standard deviation comes from the log-variance; scale and shift eps", code)
    assert not giveaways("look up torch.nanmean", ["return float(torch.nanmean(iou_per_class(cm)))"])


@pytest.mark.parametrize("src", LAB_SOURCES, ids=lambda p: p.name)
def test_no_hint_hands_over_its_solution(src):
    nb = nbformat.read(src, as_version=4)
    leaks = [f"cell {cell.id}, hint {hint!r}: {', '.join(found)}"
             for cell in nb.cells if cell.cell_type == "code"
             for hint, code in solution_regions(cell.source)
             if (found := giveaways(hint, code))]
    assert not leaks, f"{src.name}: rewrite these hints to guide without the code:\n" + "\n".join(leaks)
