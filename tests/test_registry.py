"""The data registry is ordered by the book's chapters, and its docstring's list is made from it."""
import re
from pathlib import Path

import nbformat
import pytest

from cvbook import data
from cvbook.data import registry

ROOT = Path(__file__).resolve().parents[1]
BUILT_IN = data.names()
#: Datasets a chapter loads through their own module rather than by name.
MODULE_OF = {"penn-fudan": "pennfudan"}


def chapter_code(number: int) -> str:
    (path,) = ROOT.glob(f"book/{number:02d}_*.ipynb")
    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")


def loads(code: str, name: str) -> bool:
    return bool(re.search(rf"""["']{re.escape(name)}["']""", code)) or \
        (name in MODULE_OF and f"{MODULE_OF[name]}.load(" in code)


def test_entries_follow_the_chapters():
    chapters = [data.info(name).chapter for name in BUILT_IN]
    numbered = [c for c in chapters if c is not None]
    assert numbered == sorted(numbered), f"registry order {list(zip(BUILT_IN, chapters))}: sort it by chapter"
    assert chapters[len(numbered):] == [None] * (len(chapters) - len(numbered)), "datasets of no chapter come last"
    assert len(numbered) >= 13


@pytest.mark.parametrize("name", [n for n in BUILT_IN if data.info(n).chapter is not None])
def test_the_chapter_of_a_dataset_is_the_first_that_loads_it(name):
    chapter = data.info(name).chapter
    assert loads(chapter_code(chapter), name), f"book chapter {chapter} does not load {name!r}"
    earlier = [n for n in range(2, chapter) if loads(chapter_code(n), name)]  # chapter 1 only tabulates the registry
    assert not earlier, f"{name!r} is loaded first in chapter {earlier[0]}, not {chapter}"


def test_the_docstring_lists_every_dataset_in_order():
    listed = re.findall(r"^- ``([\w-]+)`` \((chapter \d+|no chapter), ", registry.__doc__, flags=re.M)
    assert [name for name, _ in listed] == BUILT_IN
    for name, chapter in listed:
        found = data.info(name)
        assert chapter == (f"chapter {found.chapter}" if found.chapter else "no chapter")
        assert f"- ``{name}`` ({chapter}, {found.task}, " in registry.__doc__ and found.description in registry.__doc__
    assert "{datasets}" not in registry.__doc__
