"""Notebook hygiene: in the toc, executed in order without errors, small, badges right."""
import base64
import io
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

from notebooks import BOOK, EXECUTED, LAB_SOURCES, REPOSITORY, ROOT, STUDENT_LABS, toc_files

rel = lambda p: p.relative_to(ROOT).as_posix()  # noqa: E731


def test_every_notebook_is_in_the_toc_and_every_entry_exists():
    entries = toc_files()
    listed = set(entries)
    for nb in BOOK + STUDENT_LABS:
        assert rel(nb)[: -len(".ipynb")] in listed, f"{rel(nb)} is not in _toc.yml"
    for entry in entries:
        assert any((ROOT / f"{entry}{suffix}").exists() for suffix in (".ipynb", ".md")), f"_toc.yml lists a missing file: {entry}"
    assert len(entries) == len(listed), "_toc.yml lists a file twice"
    for nb in LAB_SOURCES:
        assert rel(nb)[: -len(".ipynb")] not in listed, "lab solutions must not be published in the book"


@pytest.mark.parametrize("path", EXECUTED, ids=rel)
def test_executed_in_order_without_errors(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    counts = [c.execution_count for c in code]
    assert None not in counts, f"{rel(path)}: {counts.count(None)} code cells were not executed (run `make execute`)"
    assert counts == list(range(1, len(code) + 1)), f"{rel(path)}: cells executed out of order or twice: {counts}"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{rel(path)}: error output {errors[0].ename}: {errors[0].evalue}"


@pytest.mark.parametrize("path", EXECUTED, ids=rel)
def test_outputs_come_from_the_committed_source(path):
    """`make execute` stores each code cell's source hash with its outputs; an edited cell must be re-run."""
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    from execute_notebooks import source_hash

    nb = nbformat.read(path, as_version=4)
    stale = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()
             and c.metadata.get("cvbook", {}).get("source_sha256") != source_hash(c.source)]
    assert not stale, (f"{rel(path)}: cells {stale} changed since their outputs were made "
                       "(or were never run by `make execute`): run `make execute` and commit the result")


def test_the_execution_settings_reach_the_kernels_only(tmp_path):
    """Importing tools/execute_notebooks.py (as the test above does, in a pytest worker that goes on
    to start nbval kernels) changes no environment variable and creates no folder; its settings and
    IPython folder go to the kernels it starts, in the environment kernel_environment() yields, and
    the folder is gone afterwards. (Each import once left a cvbook-ipython-* folder in /tmp and
    switched the worker's later kernels to drawing figures.)"""
    import os
    import subprocess

    probe = f"""
import os, sys
sys.path.insert(0, {str(ROOT / "tools")!r})
before = dict(os.environ)
import execute_notebooks
assert dict(os.environ) == before and os.listdir({str(tmp_path)!r}) == [], "changed on import"
with execute_notebooks.kernel_environment() as env:
    folder = env["IPYTHONDIR"]
    assert os.path.isfile(os.path.join(folder, "profile_default", "startup", "00-figure-text.py"))
    assert (env["MPLBACKEND"], env["OMP_NUM_THREADS"]) == ("module://matplotlib_inline.backend_inline", "1")
    assert dict(os.environ) == before, "changed for this process"
assert dict(os.environ) == before and not os.path.exists(folder) and os.listdir({str(tmp_path)!r}) == []
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if k != "IPYTHONDIR"} | {"TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]


@pytest.mark.parametrize("path", EXECUTED, ids=rel)
def test_each_cell_prints_one_block_per_stream(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        kinds = [(o.output_type, o.get("name")) for o in cell.get("outputs", []) if o.output_type == "stream"]
        outputs = [(o.output_type, o.get("name")) for o in cell.get("outputs", [])]
        split = any(a == b and a[0] == "stream" for a, b in zip(outputs, outputs[1:]))
        assert not split, f"{rel(path)} cell {i}: consecutive outputs on one stream (run `make execute`) {kinds}"


@pytest.mark.parametrize("path", EXECUTED, ids=rel)
def test_no_warnings_in_outputs(path):
    """A reader sees no library warning (with a path into site-packages) in a committed output."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.output_type == "stream" else ""
            assert not re.search(r"\b\w*Warning: ", text), f"{rel(path)} cell {i} prints a warning: {text[:300]}"


# The characters an output area of the built book shows on one line (headless Chromium, a 1280-px
# window: 81); a longer printed line is cut off, and its end (often a claim's True) is out of view.
PAGE_WIDTH = 80


@pytest.mark.parametrize("path", BOOK, ids=rel)
def test_printed_lines_fit_the_page(path):
    """Printed text (stdout, and plain-text results with no richer view) of a page fits its column."""
    nb = nbformat.read(path, as_version=4)
    wide = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream" and out.name == "stdout":
                text = out.text
            elif out.output_type == "execute_result" and set(out.data) == {"text/plain"}:
                text = out.data["text/plain"]
            else:
                continue
            wide += [f"cell {cell.id}: {len(line)} characters: {line[:60]}…" for line in text.splitlines()
                     if len(line) > PAGE_WIDTH]
    assert not wide, f"{rel(path)}: lines wider than the page's {PAGE_WIDTH} characters:\n" + "\n".join(wide)


@pytest.mark.parametrize("path", BOOK, ids=rel)
def test_every_page_has_a_figure(path):
    """Every chapter shows figures (or live widgets); `make execute` once stripped them with MPLBACKEND=Agg."""
    nb = nbformat.read(path, as_version=4)
    kinds = ("image/png", "image/jpeg", "application/vnd.jupyter.widget-view+json")
    figures = sum(any(k in o.get("data", {}) for k in kinds) for c in nb.cells if c.cell_type == "code"
                  for o in c.outputs)
    assert figures >= 1, f"{rel(path)} shows no figure"


@pytest.mark.parametrize("path", EXECUTED + STUDENT_LABS, ids=rel)
def test_small_enough(path):
    """At most 1.5 MB: photographs are stored as JPEG by `make execute`, not shrunk."""
    assert path.stat().st_size <= 1_500_000, f"{rel(path)} is {path.stat().st_size / 1e6:.2f} MB (limit 1.5 MB)"


@pytest.mark.parametrize("path", EXECUTED, ids=rel)
def test_figures_are_readable(path):
    """No figure drawn at a low resolution to save space (chapters 7 and 12 once used 48-60 dpi)."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            low = re.findall(r"dpi\s*=\s*(\d+)", cell.source)
            assert all(int(d) >= 72 for d in low), f"{rel(path)} cell {i} draws at dpi={low}: keep the default"


@pytest.mark.parametrize("path", EXECUTED, ids=rel)
def test_figure_text_is_readable_on_the_page(path):
    """Every figure's smallest text is at least 8 pt at the page's width (tools/figure_text.py).

    `make execute` records each figure's smallest drawn font and dpi; the committed image gives its
    width. A figure without the record was not produced by `make execute`: re-execute the notebook.
    """
    from PIL import Image

    sys.path.insert(0, str(ROOT / "tools"))
    from figure_text import MIN_PAGE_PT, page_pt

    nb = nbformat.read(path, as_version=4)
    small, unmeasured = [], []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            mime = next((m for m in ("image/png", "image/jpeg") if m in data), None)
            if out.output_type != "display_data" or mime is None:
                continue
            record = out.get("metadata", {}).get("cvbook")
            if record is None:
                unmeasured.append(i)
                continue
            if record["min_font_pt"] is None:
                continue  # no text drawn (an image grid without titles)
            width = Image.open(io.BytesIO(base64.b64decode(data[mime]))).width
            pt = page_pt(record["min_font_pt"], record["dpi"], width)
            if pt < MIN_PAGE_PT:
                small.append(f"cell {i}: {record['min_font_pt']:g} pt font in a {width}-px-wide image "
                             f"-> {pt:.1f} pt on the page")
    assert not unmeasured, f"{rel(path)} cells {unmeasured}: figures without a text record; run `make execute`"
    assert not small, f"{rel(path)}: text under {MIN_PAGE_PT:g} pt on the page (narrower figure or larger font):\n" \
        + "\n".join(small)


MATPLOTLIB_REPR = re.compile(r"^(\[?<matplotlib\.|Text\(-?[\d.]+, -?[\d.]+, |\[?<Axes|\(-?[\d.]+, -?[\d.]+\)$)")


@pytest.mark.parametrize("path", EXECUTED, ids=rel)
def test_no_matplotlib_repr_in_outputs(path):
    """A figure cell ends with `;` or `plt.show()`: no stray `Text(0.5, 0.98, ...)` under a figure."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.output_type == "execute_result":
                text = out.get("data", {}).get("text/plain", "")
                assert not MATPLOTLIB_REPR.search(text), f"{rel(path)} cell {i} shows a matplotlib repr: {text[:120]}"


@pytest.mark.parametrize("path", BOOK + STUDENT_LABS + LAB_SOURCES, ids=rel)
def test_first_cells_follow_the_template(path):
    nb = nbformat.read(path, as_version=4)
    badge_target = rel(path).replace("labs/solutions/", "labs/")  # a lab source opens as its student version
    first, setup, banner = nb.cells[:3]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "first cell: the title"
    badge = f"https://colab.research.google.com/github/{REPOSITORY}/blob/main/{badge_target}"
    assert f"]({badge})" in first.source, f"{rel(path)}: the Colab badge must open {badge_target}"
    assert setup.cell_type == "code" and '"google.colab" in sys.modules' in setup.source and "pip install" in setup.source
    assert banner.cell_type == "code" and "profile.banner(" in banner.source


def test_config_has_the_colab_launch_button():
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["repository"]["url"] == f"https://github.com/{REPOSITORY}" and config["repository"]["branch"] == "main"


@pytest.mark.parametrize("path", EXECUTED, ids=rel)
def test_checked_cells_print_something(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "nbval-check-output" in c.metadata.get("tags", [])]
    assert tagged, f"{rel(path)} has no cell tagged nbval-check-output"
    for cell in tagged:
        assert cell.outputs, f"{rel(path)}: a tagged cell has no output to compare:\n{cell.source[:200]}"
