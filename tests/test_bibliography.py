"""The bibliography (issue 22): references.bib is complete, and the prose cites from it.

The rules, each checked against every notebook's markdown (book/, labs/, labs/solutions/) and
the book's Markdown pages:

- no plain "Author et al. (year)", "Author et al., year", "Author and Author (year)" is left in
  prose: the book's chapters cite a paper with MyST's {cite}`key` (or {cite:t}`key` for the
  narrative form);
- the labs are opened in Colab and Jupyter, which show a {cite} role as raw text, so a lab cites a
  paper with a Markdown link to its arXiv or DOI address, the link's text being the author-year
  label the book prints for it: "([Smith, 2017](https://arxiv.org/abs/1506.01186))" for the
  parenthetical form, "[Burda et al. (2016)](https://arxiv.org/abs/1509.00519)" for the narrative
  one (one author "Smith", two "Smith and Topin", more "Burda et al."); a lab has no {cite} role;
- every cited key is an entry of references.bib, and every link to an arXiv or DOI address (in
  any prose) is such a label of the references.bib entry with that arXiv id or DOI;
- every entry has a DOI or an arXiv id (``eprint`` with ``archivePrefix = {arXiv}``), except the
  few allow-listed below with the reason why they have neither.

book/bibliography.md lists every entry (``:all:``), cited with a role or not.
"""

import codecs
import json
import re
from pathlib import Path

import latexcodec  # noqa: F401  (registers the 'ulatex' codec; a dependency of pybtex)
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
# A Markdown link to a paper's arXiv or DOI address: "[Smith, 2017](https://arxiv.org/abs/1506.01186)"
PAPER_LINK = re.compile(r"\[(?P<text>[^\[\]]+)\]\((?P<url>https?://(?:www\.)?(?:arxiv\.org/abs|doi\.org)/[^)\s]+)\)")
ARXIV_URL = re.compile(r"https?://(?:www\.)?arxiv\.org/abs/(?P<id>\d{4}\.\d{4,5})(?:v\d+)?")
DOI_URL = re.compile(r"https?://(?:www\.)?doi\.org/(?P<id>10\.\d{4,9}/\S+)")


def plain_citations(text: str) -> list[str]:
    """Author-year citations written by hand in ``text`` (cite roles, links to an arXiv or DOI address,
    code and math removed): a citation without a role or such a link."""
    text = CITE_ROLE.sub(" ", text)
    text = DISPLAY_MATH.sub(" ", text)
    text = PAPER_LINK.sub(" ", text)
    text = INLINE_CODE.sub(" ", text)
    text = re.sub(r"\s+", " ", text)
    return [m.group(0) for rx in (ET_AL, AUTHORS_AND, ONE_AUTHOR) for m in rx.finditer(text)]


def cited_keys(text: str) -> list[str]:
    return [key.strip() for group in CITE_ROLE.findall(text) for key in group.split(",")]


def paper_links(text: str) -> list[tuple[str, str]]:
    """``(text, url)`` of every Markdown link to an arXiv or DOI address (code and math aside)."""
    text = INLINE_CODE.sub(" ", DISPLAY_MATH.sub(" ", text))
    return [(re.sub(r"\s+", " ", m["text"]).strip(), m["url"]) for m in PAPER_LINK.finditer(text)]


def _plain(latex: str) -> str:
    return codecs.decode(latex, "ulatex").replace("{", "").replace("}", "")


def labels(entry) -> set[str]:
    """The author-year texts a link to ``entry`` may carry: "Smith, 2017" (parenthetical) or
    "Smith (2017)" (narrative); "Smith and Topin" for two authors, "Burda et al." for more."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_plain(" ".join(p.prelast_names + p.last_names)) for p in people]
    if not names:
        return set()
    who = names[0] if len(names) == 1 else " and ".join(names) if len(names) == 2 else f"{names[0]} et al."
    year = entry.fields["year"]
    return {f"{who}, {year}", f"{who} ({year})"}


def link_problems(text: str, bib) -> list[str]:
    """Links to an arXiv or DOI address in ``text`` that are not an author-year citation of the
    references.bib entry with that identifier."""
    by_id = {}
    for key, entry in bib.entries.items():
        fields = {name.lower(): value for name, value in entry.fields.items()}
        if fields.get("archiveprefix", "").lower() == "arxiv" and fields.get("eprint"):
            by_id["arxiv:" + fields["eprint"]] = key
        if fields.get("doi"):
            by_id["doi:" + fields["doi"].lower()] = key
    problems = []
    for label, url in paper_links(text):
        m = ARXIV_URL.fullmatch(url) or DOI_URL.fullmatch(url)
        ident = m and ("arxiv:" + m["id"] if m.re is ARXIV_URL else "doi:" + m["id"].lower())
        key = by_id.get(ident)
        if key is None:
            problems.append(f"[{label}]({url}): no entry of references.bib has this arXiv id or DOI")
        elif label not in labels(bib.entries[key]):
            problems.append(f"[{label}]({url}) links {key}: write " + " or ".join(
                repr(f"[{text}]({url})") for text in sorted(labels(bib.entries[key]))))
    return problems


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
    # a lab's form: a link to the paper's arXiv or DOI address is a citation, not a plain one ...
    assert plain_citations(
        "range test ([Smith, 2017](https://arxiv.org/abs/1506.01186)); one cycle ([Smith and Topin, 2017]("
        "https://arxiv.org/abs/1708.07120)); the VAE of [Burda et al.\n(2016)](https://arxiv.org/abs/1509.00519);"
        " ([Girshick, 2015](https://doi.org/10.1109/ICCV.2015.169))"
    ) == []
    # ... but a link elsewhere is not, nor is a bare address beside the hand-written citation
    assert len(plain_citations(
        "[Xie et al., 2017](https://example.org/resnext); (Girshick, 2015) https://arxiv.org/abs/1504.08083"
    )) == 2


def test_the_link_checker_accepts_the_labs_form_and_rejects_wrong_links(bib):
    good = ("range test ([Smith, 2017](https://arxiv.org/abs/1506.01186)), one cycle ([Smith and Topin, 2017]"
            "(https://arxiv.org/abs/1708.07120)), the VAE of [Burda et al. (2016)](https://arxiv.org/abs/1509.00519v4)")
    assert [label for label, _ in paper_links(good)] == ["Smith, 2017", "Smith and Topin, 2017", "Burda et al. (2016)"]
    assert link_problems(good, bib) == []
    bad = [
        "([Smith, 2017](https://arxiv.org/abs/9999.99999))",  # no such entry
        "([Smith, 2018](https://arxiv.org/abs/1506.01186))",  # wrong year
        "([Smith et al., 2017](https://arxiv.org/abs/1708.07120))",  # two authors: "Smith and Topin"
        "[Burda (2016)](https://arxiv.org/abs/1509.00519)",  # three authors: "Burda et al."
        "[the paper](https://arxiv.org/abs/1509.00519)",  # not an author-year label
        "([Smith, 2017](https://doi.org/10.9999/not.in.the.bib))",  # DOI of no entry
    ]
    for text in bad:
        assert len(link_problems(text, bib)) == 1, text
    # an entry with a DOI is found by it, whatever its case; LaTeX accents are read as letters
    doi_entry = next(k for k, e in bib.entries.items() if e.fields.get("doi"))
    (label, *_) = sorted(labels(bib.entries[doi_entry]))
    assert link_problems(f"([{label}](https://doi.org/{bib.entries[doi_entry].fields['doi'].upper()}))", bib) == []
    assert labels(bib.entries["ciresan2012membranes"]) == {"Cire\u015fan et al., 2012", "Cire\u015fan et al. (2012)"}


def test_no_plain_author_year_citation_is_left_in_prose():
    offenders = [f"{where}: {hit!r}" for where, text in prose_sources() for hit in plain_citations(text)]
    assert not offenders, ("cite these with {cite}`key` from references.bib (in a lab: a link to the paper's arXiv "
                           "or DOI address, e.g. ([Smith, 2017](https://arxiv.org/abs/1506.01186))):\n"
                           + "\n".join(offenders))


def test_labs_cite_with_links_not_roles():
    """Colab and Jupyter show a {cite} role as raw text: a lab links the paper instead."""
    roles = [f"{where}: {m.group(0)}" for where, text in prose_sources() if where.startswith("labs")
             for m in CITE_ROLE.finditer(text)]
    assert not roles, ("Colab shows these roles raw: in a lab, cite with a link to the paper's arXiv or DOI address, "
                       "e.g. ([Smith, 2017](https://arxiv.org/abs/1506.01186)):\n" + "\n".join(roles))


def test_every_link_to_a_paper_is_an_author_year_citation_of_an_entry(bib):
    problems = [f"{where}: {problem}" for where, text in prose_sources() for problem in link_problems(text, bib)]
    assert not problems, "\n".join(problems)


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
