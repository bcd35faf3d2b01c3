"""The built book (`make book`; `make test` builds it beside its first tests) shows chapter 1 with figures and math."""
import pytest

from built_book import wait_for_book
from notebooks import BRANCH, REPOSITORY


@pytest.fixture(scope="module")
def html():
    return wait_for_book()


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
