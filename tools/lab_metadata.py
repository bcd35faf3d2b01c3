"""Grading metadata of the lab sources, applied idempotently (safe to re-run after a merge).

Usage: python tools/lab_metadata.py [labs/solutions/labNN_name.ipynb ...]   (default: every lab)

For each lab source it
1. sets the points of the check cells listed in POINTS (``metadata.cvbook.points``; others: 1);
2. inserts the hidden check cells of HIDDEN after the cell they follow (``metadata.cvbook.hidden``);
3. ends the notebook with the summary cell (id ``checks-summary``) that tells a student how many
   checks pass, its total set to the number of check cells of the source.

Then: re-execute the changed sources (tools/execute_notebooks.py) and run `make labs`.
Prints what it changed; a second run changes nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from cvbook.labs.cells import CHECK_TAG, SUMMARY_ID, is_check, summary_source

ROOT = Path(__file__).resolve().parents[1]

POINTS = {  # lab stem -> {check cell id: points}
    "lab02_resnet": {"703c3d77": 2},
    "lab04_iou_nms_map": {"63b617f1": 2},
    "lab06_train_detector": {"b8f56ef7": 2},
}

HIDDEN = {  # lab stem -> [(id of the cell it follows, id of the hidden check cell, source)]
    "lab01_measures": [("384435d5", "hidden-another-problem", """\
# Hidden check: graded, but not in the student version. The same measures on another problem.
labels_b = torch.tensor([2, 2, 0, 1, 1, 0, 2, 1])
predicted_b = torch.tensor([2, 0, 0, 1, 2, 0, 2, 2])
check("accuracy, another problem", accuracy(predicted_b, labels_b), skm.accuracy_score(labels_b, predicted_b))
check("balanced error rate, another problem", balanced_error_rate(predicted_b, labels_b),
      1 - skm.balanced_accuracy_score(labels_b, predicted_b))""")],
    "lab04_iou_nms_map": [("bf4cb02d", "hidden-nms-edge-cases", """\
# Hidden check: graded, but not in the student version. NMS on identical boxes and on no boxes.
same = torch.tensor([[0.0, 0, 10, 10]] * 3)
check("NMS keeps the best of three identical boxes", nms(same, torch.tensor([0.2, 0.9, 0.5]), 0.5), torch.tensor([1]))
check("NMS of no boxes", nms(torch.zeros(0, 4), torch.zeros(0), 0.5), torch.zeros(0, dtype=torch.long))""")],
}


def apply(path: Path) -> list[str]:
    """Bring one lab source up to date; returns a line per change."""
    nb = nbformat.read(path, as_version=4)
    stem, changes = path.stem, []
    ids = [cell.id for cell in nb.cells]
    for after, cell_id, source in HIDDEN.get(stem, []):
        if cell_id in ids:
            continue
        if after not in ids:
            raise SystemExit(f"{path}: cell {after} (before hidden check {cell_id}) is missing")
        cell = nbformat.v4.new_code_cell(source, id=cell_id)
        cell.metadata = {"tags": [CHECK_TAG], "cvbook": {"hidden": True}}
        nb.cells.insert(ids.index(after) + 1, cell)
        ids = [c.id for c in nb.cells]
        changes.append(f"inserted hidden check {cell_id}")
    for cell_id, value in POINTS.get(stem, {}).items():
        cell = next((c for c in nb.cells if c.id == cell_id), None)
        if cell is None or not is_check(cell):
            raise SystemExit(f"{path}: {cell_id} is not a check cell")
        options = cell.metadata.setdefault("cvbook", {})
        if options.get("points") != value:
            options["points"] = value
            changes.append(f"{cell_id}: {value} points")
    total = sum(is_check(cell) for cell in nb.cells)
    summary = next((c for c in nb.cells if c.id == SUMMARY_ID), None)
    if summary is None:
        nb.cells.append(nbformat.v4.new_code_cell(summary_source(total), id=SUMMARY_ID))
        changes.append(f"added the summary cell (total={total})")
    elif summary.source != summary_source(total):
        summary.source = summary_source(total)
        changes.append(f"summary cell: total={total}")
    if changes:
        nbformat.write(nb, path)
    return changes


def main(argv: list[str]) -> int:
    paths = [Path(p) for p in argv] or sorted((ROOT / "labs" / "solutions").glob("*.ipynb"))
    for path in paths:
        for change in apply(path):
            print(f"{path.name}: {change}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
