"""The bibliography (issue 22): references.bib is complete, and the prose cites from it.

Three rules, each checked against every notebook's markdown (book/, labs/, labs/solutions/) and
the book's Markdown pages:

- no plain "Author et al. (year)", "Author et al., year", "Author and Author (year)" is left in
  prose: a paper is cited with MyST's {cite}`key` (or {cite:t}`key` for the narrative form);
- every cited key is an entry of references.bib;
- every entry has a DOI or an arXiv id (``eprint`` with ``archivePrefix = {arXiv}``), except the
  few allow-listed below with the reason why they have neither.
"""

import json
import re
from pathlib import Path

import pytest
from pybtex.database import parse_file

ROOT = Path(__file__).resolve().parents[1]
BIB = ROOT / "references.bib"

# Entries without a DOI or arXiv id, and why. Everything else must carry one.
NO_IDENTIFIER = {
    "krizhevsky2009cifar": "technical report (University of Toronto), no DOI or arXiv id",
    "huang2007lfw": "technical report (UMass Amherst 07-49), no DOI or arXiv id",
    "wang2007pennfudan": "ACCV 2007 paper of the Penn-Fudan database; its DOI could not be confirmed offline",
    "ciresan2012membranes": "NeurIPS 2012 proceedings, which have no DOI; not on arXiv",
    "higgins2017betavae": "ICLR 2017, published on OpenReview only",
    "he2016random": "NeurIPS 2016 proceedings, no DOI; its arXiv id could not be confirmed offline",
}

CITE_ROLE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
INLINE_CODE = re.compile(r"`[^`]*`")
DISPLAY_MATH = re.compile(r"\$\$.*?\$\$", re.S)
NAME = r"[A-Z][^\W\d_]*(?:[-'’][^\W\d_]+)*"
YEAR = r"(?:1[89]|20)\d\d\b"
# "Xie et al., 2017", "Locatello et al. (2019)", "Fourure et al. 2017"
ET_AL = re.compile(rf"\b{NAME} et al\.?,?\s*\(?{YEAR}")
# "Viola and Jones (2001)", "Long, Shelhamer and Darrell (2015)", "(Law and Deng, 2018)"
AUTHORS_AND = re.compile(rf"\b{NAME}(?:, {NAME})*,? (?:and|&) {NAME},?\s*\(?{YEAR}")
# "(Girshick, 2015)"
ONE_AUTHOR = re.compile(rf"\({NAME},\s*{YEAR}\)")


def plain_citations(text: str) -> list[str]:
    """Author-year citations written by hand in ``text`` (cite roles, code and math removed)."""
    text = CITE_ROLE.sub(" ", text)
    text = DISPLAY_MATH.sub(" ", text)
    text = INLINE_CODE.sub(" ", text)
    text = re.sub(r"\s+", " ", text)
    return [m.group(0) for rx in (ET_AL, AUTHORS_AND, ONE_AUTHOR) for m in rx.finditer(text)]


def cited_keys(text: str) -> list[str]:
    return [key.strip() for group in CITE_ROLE.findall(text) for key in group.split(",")]


def prose_sources() -> list[tuple[str, str]]:
    """``(where, markdown text)`` for every markdown cell of every notebook and every book page."""
    out = []
    notebooks = sorted([*ROOT.glob("book/*.ipynb"), *ROOT.glob("labs/*.ipynb"), *ROOT.glob("labs/solutions/*.ipynb")])
    for nb in notebooks:
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        for i, cell in enumerate(cells):
            if cell["cell_type"] == "markdown":
                out.append((f"{nb.relative_to(ROOT)} cell {i} ({cell.get('id', '?')})", "".join(cell["source"])))
    for page in sorted(ROOT.glob("book/*.md")):
        out.append((str(page.relative_to(ROOT)), page.read_text(encoding="utf-8")))
    return out


@pytest.fixture(scope="module")
def bib():
    return parse_file(str(BIB), bib_format="bibtex")


def test_the_detector_finds_hand_written_citations_and_spares_cite_roles():
    found = plain_citations(
        "as Xie et al., 2017 showed; (He et al., 2016, Table 5); Locatello et al.\n(2019) found;"
        " Viola and Jones (2001) slid; Long, Shelhamer and Darrell (2015) recast; (Law and Deng, 2018);"
        " **Fast R-CNN** (Girshick,\n2015) runs; Güler et al. (2018)"
    )
    assert len(found) == 8, found
    clean = plain_citations(
        "{cite:t}`xie2017resnext` splits; {cite:p}`he2016resnet` (Table 5); Pascal VOC 2007 and 2012;"
        " Gatys et al. used L-BFGS; `Smith et al. (2020)` in code; $$Hinton and Salakhutdinov (2006)$$;"
        " AlexNet (2012; journal version {cite:p}`krizhevsky2017alexnet`); VOC 2010 and COCO"
    )
    assert clean == []


def test_no_plain_author_year_citation_is_left_in_prose():
    offenders = [f"{where}: {hit!r}" for where, text in prose_sources() for hit in plain_citations(text)]
    assert not offenders, "cite these with {cite}`key` from references.bib:\n" + "\n".join(offenders)


def test_every_cited_key_is_in_references_bib(bib):
    missing = [
        f"{where}: {key}" for where, text in prose_sources() for key in cited_keys(text) if key not in bib.entries
    ]
    assert not missing, "add these keys to references.bib (or fix the spelling):\n" + "\n".join(missing)


def test_every_entry_has_a_doi_or_an_arxiv_id(bib):
    lacking = []
    for key, entry in bib.entries.items():
        fields = {name.lower(): value for name, value in entry.fields.items()}
        has_doi = bool(re.fullmatch(r"10\.\d{4,9}/\S+", fields.get("doi", "")))
        has_arxiv = fields.get("archiveprefix", "").lower() == "arxiv" and bool(
            re.fullmatch(r"\d{4}\.\d{4,5}", fields.get("eprint", ""))
        )
        if not (has_doi or has_arxiv) and key not in NO_IDENTIFIER:
            lacking.append(key)
    assert not lacking, "give these entries a doi or an arXiv eprint, or allow-list them with a reason: " + ", ".join(
        lacking
    )


def test_the_allow_list_names_real_entries_that_lack_an_identifier(bib):
    for key, reason in NO_IDENTIFIER.items():
        assert key in bib.entries, f"allow-listed {key} is not in references.bib"
        fields = {name.lower() for name in bib.entries[key].fields}
        assert not {"doi", "eprint"} & fields, f"{key} has an identifier now: remove it from the allow-list"
        assert "url" in fields, f"{key} ({reason}) needs at least a url"


def test_the_bibliography_page_is_in_the_book():
    assert "bibliography" in (ROOT / "book" / "bibliography.md").read_text(encoding="utf-8")
    assert "book/bibliography" in (ROOT / "_toc.yml").read_text(encoding="utf-8")
    assert re.search(r"^bibtex_bibfiles:\s*\n\s*-\s*references\.bib", (ROOT / "_config.yml").read_text(), re.M)
