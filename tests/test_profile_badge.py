"""The book's profile badge (tools/sphinx_ext/profile_badge.py) and the full-profile outputs that
pages.yml publishes where the code is unchanged (tools/full_outputs.py); no book is built here
(`make book`, part of `make test`, builds it with the extension)."""
import copy
import json
import sys
from types import SimpleNamespace

import nbformat
import pytest
import yaml

from notebooks import ROOT

sys.path.insert(0, str(ROOT / "tools" / "sphinx_ext"))
sys.path.insert(0, str(ROOT / "tools"))

import full_outputs  # noqa: E402
import profile_badge  # noqa: E402

QUICK_BANNER = ("profile: quick  (set CVBOOK_PROFILE=quick|full|auto to change)\n"
                "device:  cpu (x86_64), 1 CPU threads\nversions: python 3.11.7, torch 2.14.0\n")
FULL_BANNER = ("profile: full  (set CVBOOK_PROFILE=quick|full|auto to change)\n"
               "device:  cuda (NVIDIA H100 80GB HBM3), 16 CPU threads\nversions: python 3.11.7\n"
               "data:    /data/cvbook  (CVBOOK_DATA)\nseed:    0\n")


def notebook(banner: str, executed: str | None = None) -> dict:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A chapter"),
                nbformat.v4.new_code_cell("from cvbook import profile\nprofile.banner()",
                                          outputs=[nbformat.v4.new_output("stream", name="stdout", text=banner)]),
                nbformat.v4.new_code_cell("print(1 + 1)", outputs=[nbformat.v4.new_output("stream", name="stdout", text="2\n")])]
    if executed:
        nb.metadata["cvbook"] = {"executed": executed}
    return json.loads(nbformat.writes(nb))


@pytest.mark.parametrize("banner, executed, text", [
    (QUICK_BANNER, None, "outputs: quick profile, CPU"),
    (QUICK_BANNER, "2026-12-05", "outputs: quick profile, CPU"),
    (FULL_BANNER, "2026-12-05", "outputs: full profile, GPU (NVIDIA H100 80GB HBM3), 2026-12-05"),
    (FULL_BANNER.replace("cuda (NVIDIA H100 80GB HBM3)", "cuda:1 (Tesla T4)"), None, "outputs: full profile, GPU (Tesla T4)"),
    (FULL_BANNER.replace("seed:", "caps:    at most 1 step per fit  (a rehearsal)\nseed:"), None,
     "outputs: full profile (capped rehearsal), GPU (NVIDIA H100 80GB HBM3)"),
])
def test_the_badge_says_which_profile_and_device_produced_the_outputs(tmp_path, banner, executed, text):
    assert profile_badge.outputs_of(notebook(banner, executed)).text() == text
    path = tmp_path / "chapter.ipynb"
    path.write_text(json.dumps(notebook(banner, executed)))
    html = profile_badge.badge_for(path)
    assert html.startswith('<div class="cvbook-outputs-badge">') and f">{text}</span>" in html


def test_no_banner_no_badge(tmp_path):
    nb = notebook("just a print\n")
    assert profile_badge.outputs_of(nb) is None
    (tmp_path / "a.ipynb").write_text(json.dumps(nb))
    (tmp_path / "b.md").write_text("# profile: full\n")
    assert profile_badge.badge_for(tmp_path / "a.ipynb") is None and profile_badge.badge_for(tmp_path / "b.md") is None


def test_the_page_body_gets_the_badge_first(tmp_path):
    (tmp_path / "ch.ipynb").write_text(json.dumps(notebook(FULL_BANNER, "2026-12-05")))
    app = SimpleNamespace(env=SimpleNamespace(doc2path=lambda name: tmp_path / f"{name}.ipynb"))
    context = {"body": "<section><h1>A chapter</h1></section>"}
    profile_badge.add_badge(app, "ch", "page.html", context, doctree=object())
    assert context["body"].index("outputs: full profile, GPU") < context["body"].index("<h1>A chapter")
    untouched = {"body": "<p>index</p>"}
    profile_badge.add_badge(app, "ch", "page.html", untouched, doctree=None)  # not a document page
    assert untouched == {"body": "<p>index</p>"}


def test_every_book_chapter_has_a_badge_and_the_extension_is_registered():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["sphinx"]["local_extensions"] == {"profile_badge": "tools/sphinx_ext"}
    assert config["execute"]["execute_notebooks"] == "off"  # the book shows the committed outputs
    chapters = sorted(ROOT.glob("book/[0-9][0-9]_*.ipynb"))
    assert chapters
    for path in chapters:
        found = profile_badge.outputs_of(json.loads(path.read_text()))
        assert found is not None and found.profile in ("quick", "full"), path.name
        assert not found.capped, f"{path.name}: its outputs come from a capped rehearsal run"


def test_full_profile_outputs_are_taken_only_where_the_code_is_unchanged(tmp_path):
    current = nbformat.reads(json.dumps(notebook(QUICK_BANNER)), as_version=4)
    current.cells[0].source = "# A chapter, reworded since the GPU run"
    full = nbformat.reads(json.dumps(notebook(FULL_BANNER, "2026-12-05")), as_version=4)
    full.cells[2].outputs[0].text = "2 (on the GPU)\n"
    assert full_outputs.adopt(current, copy.deepcopy(full))
    assert current.cells[0].source == "# A chapter, reworded since the GPU run"  # markdown: the working tree's
    assert current.cells[2].outputs[0].text == "2 (on the GPU)\n"
    assert profile_badge.outputs_of(json.loads(nbformat.writes(current))).text() == \
        "outputs: full profile, GPU (NVIDIA H100 80GB HBM3), 2026-12-05"
    changed = nbformat.reads(json.dumps(notebook(QUICK_BANNER)), as_version=4)
    changed.cells[2].source = "print(2 + 2)"
    assert not full_outputs.adopt(changed, full)
    assert changed.cells[2].outputs[0].text == "2\n"  # kept, quick profile


def test_full_outputs_tool_on_files(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(full_outputs, "ROOT", tmp_path)
    (tmp_path / "book").mkdir()
    (tmp_path / "full" / "book").mkdir(parents=True)
    for name, code in (("a", "print(1 + 1)"), ("b", "print(1 + 1)")):
        nb = notebook(QUICK_BANNER)
        nb["cells"][2]["source"] = code if name == "a" else "print(3)"
        (tmp_path / "book" / f"{name}.ipynb").write_text(json.dumps(nb))
        (tmp_path / "full" / "book" / f"{name}.ipynb").write_text(json.dumps(notebook(FULL_BANNER, "2026-12-05")))
    (tmp_path / "book" / "c.ipynb").write_text(json.dumps(notebook(QUICK_BANNER)))
    assert full_outputs.main([str(tmp_path / "full"), *(str(tmp_path / "book" / f"{n}.ipynb") for n in "abc")]) == 0
    out = capsys.readouterr().out
    assert "full-profile outputs: 1 notebooks; committed outputs kept: 2" in out
    assert "book/b.ipynb (code changed since the GPU run)" in out and "book/c.ipynb (not in the GPU run)" in out
    badge = lambda n: profile_badge.outputs_of(json.loads((tmp_path / "book" / f"{n}.ipynb").read_text())).profile  # noqa: E731
    assert [badge(n) for n in "abc"] == ["full", "quick", "quick"]
