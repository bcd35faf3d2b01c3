"""Execute notebooks in place, top to bottom, in the quick profile (`make execute`).

Usage: python tools/execute_notebooks.py NOTEBOOK [NOTEBOOK ...]

Each notebook runs in a fresh kernel with the settings of `make test`: the quick profile, one
OpenMP thread, PYTHONHASHSEED=0, and the inline matplotlib backend (so figures are kept even
when the caller exported MPLBACKEND=Agg). Afterwards each code cell's consecutive outputs on
the same stream are merged into one (a table printed line by line shows as one block in the
book), figures that are photographs (where JPEG takes less than 60 % of the PNG's bytes) are
stored as JPEG, timing metadata is dropped, and the hash of each code cell's source is stored in its
metadata (``cvbook.source_sha256``): the hygiene test compares it with the source, so an edited
cell whose committed outputs were not regenerated is caught. Prints each notebook's wall
time; stops at the first notebook that raises.
"""

import base64
import contextlib
import hashlib
import io
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
from nbclient import NotebookClient


@contextlib.contextmanager
def kernel_environment() -> Iterator[dict[str, str]]:
    """The environment of the kernels started here: `make test`'s settings, and an IPython directory
    of their own (removed afterwards) whose startup file installs the figure text measurement
    (tools/figure_text.py). This process's own environment is left alone: the tests import
    :func:`source_hash` from this module."""
    with tempfile.TemporaryDirectory(prefix="cvbook-ipython-") as ipython_dir:
        startup = Path(ipython_dir, "profile_default", "startup")
        startup.mkdir(parents=True)
        (startup / "00-figure-text.py").write_text(
            f"import sys\nsys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
            "import figure_text\nfigure_text.install()\ndel sys.path[0], figure_text, sys\n")
        yield {"CVBOOK_PROFILE": "quick", **os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1",
               "IPYTHONDIR": ipython_dir, "MPLBACKEND": "module://matplotlib_inline.backend_inline"}


def source_hash(source: str) -> str:
    """The hash stored with a cell's outputs: sha256 of its source, first 16 hex digits."""
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def merge_streams(outputs: list) -> list:
    """Consecutive stream outputs of the same stream (stdout, stderr) as one output."""
    merged: list = []
    for out in outputs:
        if merged and out.output_type == "stream" and merged[-1].output_type == "stream" \
                and merged[-1].name == out.name:
            merged[-1].text += out.text
        else:
            merged.append(out)
    return merged


def photographs_as_jpeg(outputs: list, quality: int = 80) -> list:
    """Store a PNG figure as JPEG when it is a photograph: JPEG takes under 60 % of its bytes.

    Line plots stay PNG (sharp edges, few colours: PNG is smaller and exact); image grids and
    photographs become JPEG, which keeps notebooks under their size budget at full resolution.
    """
    from PIL import Image

    for out in outputs:
        data = out.get("data", {})
        if out.output_type != "display_data" or "image/png" not in data:
            continue
        png = base64.b64decode(data["image/png"])
        image = Image.open(io.BytesIO(png))
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=quality, optimize=True)
        if buffer.tell() < 0.6 * len(png):
            del data["image/png"]
            data["image/jpeg"] = base64.b64encode(buffer.getvalue()).decode()
            metadata = out.get("metadata", {})
            if "image/png" in metadata:
                metadata["image/jpeg"] = metadata.pop("image/png")
    return outputs


def execute(path: Path, env: dict[str, str]) -> float:
    """Run the notebook at ``path`` in place, its kernel started with ``env``; returns the seconds."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute(env=env)
    seconds = time.perf_counter() - start
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # keep diffs small: no per-cell timing metadata
        if cell.cell_type == "code":
            cell.outputs = photographs_as_jpeg(merge_streams(cell.outputs))
            cell.metadata.setdefault("cvbook", {})["source_sha256"] = source_hash(cell.source)
    nb.metadata.setdefault("cvbook", {})["executed"] = time.strftime("%Y-%m-%d", time.gmtime())  # the book's badge
    nbformat.write(nb, path)
    return seconds


if __name__ == "__main__":
    with kernel_environment() as env:
        for name in sys.argv[1:]:
            print(f"{name}: {execute(Path(name), env):.1f} s", flush=True)
