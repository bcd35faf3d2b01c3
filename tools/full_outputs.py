"""Put the GPU workflow's full-profile outputs into the notebooks whose code has not changed since.

Usage: python tools/full_outputs.py FULL_DIR NOTEBOOK [NOTEBOOK ...]

``FULL_DIR`` holds the notebooks that ``.github/workflows/gpu.yml`` executed in the full profile
(its ``notebooks-full`` artifact: ``book/*.ipynb`` and ``labs/solutions/*.ipynb``). For each
NOTEBOOK of the working tree whose code cells are exactly those of its full-profile copy (same
sources, in the same order), the code cells take the full-profile outputs and the notebook its
``metadata.cvbook.executed`` date; markdown stays the working tree's. A notebook whose code changed
since the GPU run keeps its committed (quick-profile) outputs: the page's badge says which it is.
pages.yml runs this before ``make book``; it writes nothing when ``FULL_DIR`` is empty or absent.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def code_sources(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def adopt(current, full) -> bool:
    """Copy ``full``'s code-cell outputs into ``current`` (both nbformat notebooks) when their code
    cells are identical; return whether it did."""
    if code_sources(current) != code_sources(full):
        return False
    done = [c for c in full.cells if c.cell_type == "code"]
    for cell, ran in zip((c for c in current.cells if c.cell_type == "code"), done):
        cell.outputs, cell.execution_count = ran.outputs, ran.execution_count
    executed = full.metadata.get("cvbook", {}).get("executed")
    cvbook = current.metadata.setdefault("cvbook", {})
    if executed:
        cvbook["executed"] = executed
    else:
        cvbook.pop("executed", None)
    return True


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.split("\n\n")[1])
        return 2
    full_dir, notebooks = Path(argv[0]), [Path(p) for p in argv[1:]]
    adopted, kept = [], []
    for path in notebooks:
        relative = path.resolve().relative_to(ROOT)
        full_path = full_dir / relative
        if not full_path.exists():
            kept.append(f"{relative} (not in the GPU run)")
            continue
        current = nbformat.read(path, as_version=4)
        if adopt(current, nbformat.read(full_path, as_version=4)):
            nbformat.write(current, path)
            adopted.append(str(relative))
        else:
            kept.append(f"{relative} (code changed since the GPU run)")
    print(f"full-profile outputs: {len(adopted)} notebooks; committed outputs kept: {len(kept)}")
    for line in kept:
        print(f"  kept: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
