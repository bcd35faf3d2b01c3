"""The built book (`make book`, run by `make test` before pytest) shows chapter 1 with figures and math."""
import os
from pathlib import Path

import pytest

from notebooks import BRANCH, REPOSITORY, ROOT

HTML = Path(os.environ.get("CVBOOK_HTML", ROOT / "_build" / "html"))


@pytest.fixture(scope="module")
def html():
    if not (HTML / "index.html").exists():
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"the book is not built at {HTML}: run `make book`")
    return HTML


def test_chapter_1_has_figures_math_and_checked_numbers(html):
    page = (html / "book" / "01_tasks_and_measures.html").read_text()
    assert page.count("<img") >= 3
    assert "math notranslate" in page  # MathJax-rendered formulas
    assert "AUC by hand" in page and "scikit-learn" in page
    assert f"colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/book/01_tasks_and_measures.ipynb" in page


def test_every_toc_page_was_built(html):
    from notebooks import toc_files

    for entry in toc_files():
        assert (html / f"{entry}.html").exists(), f"{entry}.html was not built"


def test_lab_solutions_are_not_published(html):
    assert not (html / "labs" / "solutions").exists()
