"""Grading metadata of the lab sources, applied idempotently (safe to re-run after a merge).

Usage: python tools/lab_metadata.py [labs/solutions/labNN_name.ipynb ...]   (default: every lab)

For each lab source it
1. sets the points of the check cells listed in POINTS (``metadata.cvbook.points``; others: 1);
2. inserts the hidden check cells of HIDDEN after the cell they follow (``metadata.cvbook.hidden``);
3. ends the notebook with the summary cell (id ``checks-summary``) that tells a student how many
   checks pass, its total set to the number of check cells of the source;
4. declares, on each answer cell of REIMPLEMENTS, the library functions its exercise reimplements
   (``metadata.cvbook.reimplements``): the grader flags an answer that calls them and scores that
   exercise's checks 0 unless the instructor allows it (``cvbook.grade.library``).

Then: re-execute the changed sources (tools/execute_notebooks.py) and run `make labs`.
Prints what it changed; a second run changes nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from cvbook.labs.cells import CHECK_TAG, SUMMARY_ID, is_answer, is_check, summary_source

ROOT = Path(__file__).resolve().parents[1]

POINTS = {  # lab stem -> {check cell id: points}
    "lab02_resnet": {"703c3d77": 2},
    "lab04_iou_nms_map": {"63b617f1": 2},
    "lab06_train_detector": {"b8f56ef7": 2},
}

HIDDEN = {  # lab stem -> [(id of the cell it follows, id of the hidden check cell, source)]
    "lab01_measures": [("384435d5", "hidden-another-problem", """\
# Hidden check: graded, but not in the student version. The same measures on another problem,
# worked out by hand: 5 of 8 right; class 0 has 0 errors in 2 samples, class 1 has 2 in 3, class 2 has 1 in 3.
labels_b = torch.tensor([2, 2, 0, 1, 1, 0, 2, 1])
predicted_b = torch.tensor([2, 0, 0, 1, 2, 0, 2, 2])
check("accuracy, another problem", accuracy(predicted_b, labels_b), 5 / 8)
check("balanced error rate, another problem", balanced_error_rate(predicted_b, labels_b), (0 / 2 + 2 / 3 + 1 / 3) / 3)""")],
    "lab04_iou_nms_map": [("bf4cb02d", "hidden-nms-edge-cases", """\
# Hidden check: graded, but not in the student version. NMS on identical boxes and on no boxes.
same = torch.tensor([[0.0, 0, 10, 10]] * 3)
check("NMS keeps the best of three identical boxes", nms(same, torch.tensor([0.2, 0.9, 0.5]), 0.5), torch.tensor([1]))
check("NMS of no boxes", nms(torch.zeros(0, 4), torch.zeros(0), 0.5), torch.zeros(0, dtype=torch.long))""")],
}


_CLS = "cvbook.metrics.classification"
REIMPLEMENTS = {  # lab stem -> {answer cell id: the library names its exercise reimplements}
    "lab01_measures": {
        "30f74f54": [f"{_CLS}.accuracy", "sklearn.metrics.accuracy_score"],
        "f0616878": [f"{_CLS}.balanced_error_rate", "sklearn.metrics.balanced_accuracy_score"],
        "56476bbf": [f"{_CLS}.roc_curve", f"{_CLS}.auc", f"{_CLS}.roc_auc", f"{_CLS}.tp_fp_rates",
                     "sklearn.metrics.roc_curve", "sklearn.metrics.auc", "sklearn.metrics.roc_auc_score"],
        "ce29af79": ["cvbook.boxes.box_iou", "torchvision.ops.box_iou"],
    },
    "lab04_iou_nms_map": {
        "cba3fc49": ["cvbook.boxes.box_area", "cvbook.boxes.box_iou", "torchvision.ops.box_area", "torchvision.ops.box_iou"],
        "2c4e9aa7": ["cvbook.boxes.nms", "cvbook.boxes.batched_nms", "torchvision.ops.nms", "torchvision.ops.batched_nms"],
        "bcac2db5": ["cvbook.metrics.detection.average_precision"],
        "1c05770e": ["cvbook.metrics.detection.mean_average_precision"],
    },
    "lab05_yolo_loss": {
        "269681d9": ["cvbook.detection.yolo_loss.responsible_boxes"],
        "50405f1a": ["cvbook.detection.yolo_loss.yolo_v1_loss_terms"],
        "856b1be2": ["cvbook.detection.yolo_loss.yolo_v1_loss"],
    },
    "lab06_train_detector": {
        "64317876": ["cvbook.detection.ssd.hard_negative_mask"],
        "51d2fdd3": ["cvbook.detection.ssd.ssd_loss"],
        "f772abb1": ["cvbook.detection.ssd.ssd_step"],
    },
    "lab07_transposed_convolution": {
        "9ff3508a": ["torch.nn.functional.conv_transpose2d", "torch.nn.ConvTranspose2d"],
        "a1e1d8ef": ["cvbook.segmentation.upsample.transposed_conv_matrix"],
        "6c528bb7": ["cvbook.segmentation.upsample.bilinear_kernel"],
    },
    "lab08_segmentation_metrics_unet": {
        "d267fac2": [f"{_CLS}.confusion_matrix", "sklearn.metrics.confusion_matrix"],
        "2390e5c8": ["cvbook.metrics.segmentation.iou_per_class", "cvbook.metrics.segmentation.mean_iou"],
        "c85e0633": ["cvbook.segmentation.losses.soft_dice_loss", "cvbook.metrics.segmentation.dice"],
    },
    "lab09_vae": {
        "c005": ["cvbook.generative.vae.reparameterize"],
        "c008": ["cvbook.generative.vae.gaussian_kl", "cvbook.generative.vae.kl_per_dimension"],
        "c011": ["cvbook.generative.vae.vae_step", "cvbook.generative.vae.vae_losses", "cvbook.generative.vae.negative_elbo"],
    },
    "lab10_style_transfer": {
        "c005": ["cvbook.generative.style.gram_matrix"],
        "c008": ["cvbook.generative.style.content_loss", "cvbook.generative.style.style_loss"],
        "c011": ["cvbook.generative.style.total_variation"],
        "c015": ["cvbook.generative.style.style_transfer_step", "cvbook.generative.style.stylize"],
    },
    "lab11_convolutionize": {
        "7e1cb393": ["cvbook.convolutionize.linear_to_conv"],
        "7d00f86a": ["cvbook.convolutionize.convolutionize"],
        "c61e13b3": ["cvbook.detection.sliding.sliding_windows"],
    },
    "lab12_anchors": {
        "ee450dba": ["cvbook.detection.anchors.multibox_prior", "cvbook.detection.anchors.anchors_2d"],
        "bad841e9": ["cvbook.detection.anchors.assign_anchors"],
        "c04cb106": ["cvbook.detection.offsets.encode_offsets", "cvbook.detection.offsets.decode_offsets"],
        "ee86ec3c": ["cvbook.detection.anchors.multibox_target"],
    },
    "lab13_roi_proposals": {
        "a09b1e2a": ["torchvision.ops.roi_pool", "torchvision.ops.RoIPool"],
        "cd3025be": ["cvbook.detection.proposals.similarity"],
        "592340b0": ["cvbook.detection.proposals.selective_search"],
    },
    "lab14_training_well": {
        "l14-a3": ["torch.optim.lr_scheduler.OneCycleLR", "cvbook.lr_schedule.LRSchedule"],
    },
    "lab15_instance_segmentation": {
        "l15-a1": ["torchvision.ops.roi_align", "torchvision.ops.RoIAlign", "cvbook.segmentation.roi_align.roi_align"],
        "l15-a2": ["pycocotools.mask.encode", "pycocotools.mask.iou"],
    },
    "lab16_autoencoders": {
        "l16-a1": ["sklearn.decomposition.PCA"],
        "l16-a3": ["sklearn.neighbors.KNeighborsClassifier"],
    },
    "lab17_stereo": {
        "l17-a1": ["cvbook.geometry.stereo.cost_volume"],
    },
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
    for cell_id, names in REIMPLEMENTS.get(stem, {}).items():
        cell = next((c for c in nb.cells if c.id == cell_id), None)
        if cell is None or not is_answer(cell):
            raise SystemExit(f"{path}: {cell_id} is not an answer cell")
        options = cell.metadata.setdefault("cvbook", {})
        if options.get("reimplements") != names:
            options["reimplements"] = names
            changes.append(f"{cell_id}: reimplements {', '.join(names)}")
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
