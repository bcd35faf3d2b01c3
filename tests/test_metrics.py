"""cvbook.metrics.detection and .segmentation against pycocotools, scikit-learn and hand computations."""

from __future__ import annotations

import contextlib
import doctest
import io

import numpy as np
import pytest
import torch

from conftest import reference
from cvbook.metrics import detection as M
from cvbook.metrics import segmentation as S
from cvbook.boxes import box_iou

# ------------------------------------------------------------------ detection data


def random_detections(num_images: int, num_classes: int, dets_per_image: int, seed: int, jitter: float = 2.0):
    """Ground truth (1-7 boxes per image) and detections: half jittered copies of a ground-truth
    box (mostly with its class), half random boxes; scores (higher for jittered boxes of the right class) rounded to 1/50 so
    that ties occur."""
    g = torch.Generator().manual_seed(seed)
    predictions, targets = [], []
    for _ in range(num_images):
        k = int(torch.randint(1, 8, (1,), generator=g))
        xy = torch.rand(k, 2, generator=g) * 80
        gt = torch.cat([xy, xy + torch.rand(k, 2, generator=g) * 40 + 2], dim=1)
        gt_labels = torch.randint(0, num_classes, (k,), generator=g)
        source = torch.randint(0, k, (dets_per_image,), generator=g)
        jittered = gt[source] + torch.randn(dets_per_image, 4, generator=g) * jitter
        rxy = torch.rand(dets_per_image, 2, generator=g) * 80
        random = torch.cat([rxy, rxy + torch.rand(dets_per_image, 2, generator=g) * 40 + 1], dim=1)
        is_jittered = torch.rand(dets_per_image, generator=g) < 0.5
        boxes = torch.where(is_jittered[:, None], jittered, random)
        boxes = torch.cat([torch.minimum(boxes[:, :2], boxes[:, 2:]), torch.maximum(boxes[:, :2], boxes[:, 2:])], 1)
        same = torch.rand(dets_per_image, generator=g) < 0.7
        labels = torch.where(same, gt_labels[source], torch.randint(0, num_classes, (dets_per_image,), generator=g))
        scores = torch.rand(dets_per_image, generator=g) * (0.5 + 0.5 * (is_jittered & same))
        scores = torch.round(scores * 50) / 50
        predictions.append({"boxes": boxes, "scores": scores, "labels": labels})
        targets.append({"boxes": gt, "labels": gt_labels})
    return predictions, targets


def cocoeval(predictions, targets, num_classes):
    """COCOeval (bbox) on a data set built in memory; boxes go to COCO as xywh."""
    reference("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    annotations = []
    for i, t in enumerate(targets):
        for (x1, y1, x2, y2), label in zip(t["boxes"].double().tolist(), t["labels"].tolist()):
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": label, "iscrowd": 0,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1)})
    gt = COCO()
    gt.dataset = {"info": {}, "images": [{"id": i} for i in range(len(targets))], "annotations": annotations,
                  "categories": [{"id": c} for c in range(num_classes)]}  # "info": loadRes of 2.0.9/2.0.10 needs it
    results = [
        {"image_id": i, "category_id": label, "score": score, "bbox": [x1, y1, x2 - x1, y2 - y1]}
        for i, p in enumerate(predictions)
        for (x1, y1, x2, y2), score, label in zip(p["boxes"].double().tolist(), p["scores"].double().tolist(),
                                                  p["labels"].tolist())
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        evaluation = COCOeval(gt, gt.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation


def test_pycocotools_iou_has_no_plus_one():
    # COCO's IoU (maskUtils.iou on xywh boxes) uses the continuous convention, like ours:
    # [0,0,10,10] vs [5,0,15,10]: 50 / 150 = 1/3 (with +1 pixels it would be 66 / 176).
    mask = reference("pycocotools.mask")
    a = torch.tensor([[0.0, 0.0, 10.0, 10.0], [3.0, 4.0, 7.5, 9.0]], dtype=torch.float64)
    b = torch.tensor([[5.0, 0.0, 15.0, 10.0], [0.0, 0.0, 4.0, 4.0], [2.5, 3.0, 7.0, 12.0]], dtype=torch.float64)
    xywh = lambda t: np.column_stack([t[:, 0], t[:, 1], t[:, 2] - t[:, 0], t[:, 3] - t[:, 1]])  # noqa: E731
    coco = mask.iou(xywh(a.numpy()), xywh(b.numpy()), [0, 0, 0])
    np.testing.assert_allclose(coco, box_iou(a, b).numpy(), rtol=1e-12)
    assert coco[0, 0] == pytest.approx(1 / 3)


@pytest.mark.parametrize("num_images,num_classes,dets,seed", [(240, 10, 15, 0), (12, 2, 130, 1)])
def test_map_equals_cocoeval(num_images, num_classes, dets, seed):
    # The second case puts more than 100 detections of one class in an image: maxDets=100 matters.
    predictions, targets = random_detections(num_images, num_classes, dets, seed)
    coco = cocoeval(predictions, targets, num_classes)
    ours = M.mean_average_precision(predictions, targets)
    assert 0.1 < coco.stats[0] < 0.9  # a meaningful test: neither trivial nor hopeless
    assert abs(ours.map - coco.stats[0]) < 1e-6  # AP@[.5:.95], area all, maxDets 100
    assert abs(ours.map_50 - coco.stats[1]) < 1e-6  # AP@.5
    assert abs(ours.map_75 - coco.stats[2]) < 1e-6  # AP@.75
    if dets > 100:  # the cap changes the result here, and we apply it as COCO does
        assert abs(M.mean_average_precision(predictions, targets, max_detections=None).map - ours.map) > 1e-7
    precision = coco.eval["precision"][:, :, :, 0, 2]  # (T, R, K), area all, maxDets 100
    for column, label in enumerate(ours.classes):
        assert abs(ours.per_class[label] - precision[:, :, label].mean()) < 1e-6
        assert abs(float(ours.ap[0, column]) - precision[0, :, label].mean()) < 1e-6


def hand_example(num_gt: int = 7):
    """One image, one class: 7 ground-truth boxes, 7 detections ranked TP F TP TP F F TP."""
    gt = torch.tensor([[10.0 * i, 0.0, 10.0 * i + 8, 8.0] for i in range(num_gt)])
    pattern = [True, False, True, True, False, False, True]
    boxes, k = [], 0
    for is_tp in pattern:
        if is_tp:
            boxes.append(gt[k].tolist())
            k += 1
        else:
            boxes.append([200.0, 200.0, 210.0, 210.0])
    scores = torch.linspace(0.9, 0.3, len(pattern))
    prediction = {"boxes": torch.tensor(boxes), "scores": scores, "labels": torch.zeros(len(pattern), dtype=torch.long)}
    return [prediction], [{"boxes": gt, "labels": torch.zeros(num_gt, dtype=torch.long)}], scores, torch.tensor(pattern)


# Precision / recall at ranks 1..7 (7 ground-truth boxes):
#   TP F  TP  TP  F   F   TP
#   P: 1, 1/2, 2/3, 3/4, 3/5, 1/2, 4/7;  R: 1/7, 1/7, 2/7, 3/7, 3/7, 3/7, 4/7
# Interpolated precision (max precision at this or a later rank): 1, 3/4, 3/4, 3/4, 3/5, 4/7, 4/7.
# VOC2010 all-point: recall steps of 1/7 at ranks 1, 3, 4, 7:  (1 + 3/4 + 3/4 + 4/7) / 7
HAND_VOC2010 = (1 + 0.75 + 0.75 + 4 / 7) / 7  # = 0.438775...
# VOC2007 11-point, r = 0, .1, ..., 1: r <= 1/7 -> 1 (r = 0, .1); r in (1/7, 3/7] -> 3/4 (r = .2, .3, .4);
# r in (3/7, 4/7] -> 4/7 (r = .5); r > 4/7 -> 0 (r = .6 ... 1):  (2 * 1 + 3 * 3/4 + 4/7) / 11
HAND_VOC2007 = (2 + 3 * 0.75 + 4 / 7) / 11  # = 0.438311...
# COCO 101-point, r = 0, .01, ..., 1: 15 points r <= .14 -> 1; 28 points .15 ... .42 -> 3/4;
# 15 points .43 ... .57 -> 4/7; 43 points .58 ... 1 -> 0:  (15 + 28 * 3/4 + 15 * 4/7) / 101
HAND_COCO = (15 + 28 * 0.75 + 15 * 4 / 7) / 101  # = 0.441301...


@pytest.mark.parametrize("interpolation,expected", [("voc2010", HAND_VOC2010), ("voc2007", HAND_VOC2007),
                                                    ("coco", HAND_COCO)])
def test_interpolations_hand_worked(interpolation, expected):
    predictions, targets, scores, pattern = hand_example()
    assert M.average_precision(scores, pattern, 7, interpolation) == pytest.approx(expected, abs=1e-12)
    # shuffled input: ranking is by score
    perm = torch.tensor([3, 6, 0, 5, 1, 4, 2])
    assert M.average_precision(scores[perm], pattern[perm], 7, interpolation) == pytest.approx(expected, abs=1e-12)
    result = M.mean_average_precision(predictions, targets, iou_thresholds=[0.5], interpolation=interpolation)
    assert result.map == pytest.approx(expected, abs=1e-12) and result.map_50 == result.map
    assert result.classes == [0] and result.num_gt == {0: 7}


def test_voc2010_matches_cocoeval_independently_of_points():
    # A second reference for the hand example: COCOeval's own 101-point AP.
    predictions, targets, _, _ = hand_example()
    coco = cocoeval(predictions, targets, 1)
    assert coco.stats[1] == pytest.approx(HAND_COCO, abs=1e-12)


def test_matching_rules():
    # One class, two ground-truth boxes. Detections by score:
    #   d0 overlaps g0 (IoU .81) and g1 (IoU .33)  -> takes g0 (highest IoU)
    #   d1 duplicates d0                           -> g0 is taken; g1 IoU .33 < .5: false positive
    #   d2 equals g1                               -> true positive
    gt = torch.tensor([[0.0, 0, 10, 10], [5.0, 0, 15, 10]])
    det = torch.tensor([[0.0, 0, 10, 8.1], [0.0, 0, 10, 8.1], [5.0, 0, 15, 10]])
    pred = [{"boxes": det, "scores": torch.tensor([0.9, 0.8, 0.7]), "labels": torch.zeros(3, dtype=torch.long)}]
    target = [{"boxes": gt, "labels": torch.zeros(2, dtype=torch.long)}]
    result = M.mean_average_precision(pred, target, iou_thresholds=[0.5], interpolation="voc2010")
    # TP FP TP, 2 GT: P 1, 1/2, 2/3 at R 1/2, 1/2, 1 -> AP = 1/2 * 1 + 1/2 * 2/3
    assert result.map == pytest.approx(0.5 + 1 / 3)
    # a class with ground truth and no detection scores 0; detections of a class without
    # ground truth are not evaluated
    target[0]["labels"] = torch.tensor([0, 1])
    pred[0]["labels"] = torch.tensor([0, 2, 2])
    result = M.mean_average_precision(pred, target, iou_thresholds=[0.5])
    assert result.classes == [0, 1] and result.per_class[1] == 0.0 and result.per_class[0] == 1.0


def test_map_empty_inputs():
    empty_pred = {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.long)}
    one_gt = {"boxes": torch.tensor([[0.0, 0, 1, 1]]), "labels": torch.tensor([3])}
    result = M.mean_average_precision([empty_pred], [one_gt])
    assert result.map == 0.0 and result.per_class == {3: 0.0}
    nothing = M.mean_average_precision([empty_pred], [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}])
    assert np.isnan(nothing.map) and nothing.classes == []
    assert M.average_precision(torch.zeros(0), torch.zeros(0, dtype=torch.bool), 3) == 0.0


def test_detection_errors():
    good = {"boxes": torch.tensor([[0.0, 0, 1, 1]]), "scores": torch.tensor([0.5]), "labels": torch.tensor([0])}
    with pytest.raises(ValueError, match="x2 < x1"):
        M.mean_average_precision([{**good, "boxes": torch.tensor([[1.0, 0, 0, 1]])}], [good])
    with pytest.raises(ValueError, match="NaN"):
        M.mean_average_precision([{**good, "scores": torch.tensor([float("nan")])}], [good])
    with pytest.raises(ValueError, match="keys"):
        M.mean_average_precision([{"boxes": good["boxes"]}], [good])
    with pytest.raises(ValueError, match="images"):
        M.mean_average_precision([good, good], [good])
    with pytest.raises(ValueError, match="interpolation"):
        M.mean_average_precision([good], [good], interpolation="voc")
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        M.mean_average_precision([{**good, "boxes": torch.zeros(1, 5)}], [good])
    # float labels such as 0.5 would be truncated to class 0 without a word: refused
    with pytest.raises(ValueError, match="integer class indices"):
        M.mean_average_precision([{**good, "labels": torch.tensor([0.5])}], [good])
    with pytest.raises(ValueError, match="integer class indices"):
        M.mean_average_precision([good], [{**good, "labels": torch.tensor([1.0])}])


# ------------------------------------------------------------------ precision-recall curve


def interpolated_at(precision: np.ndarray, recall: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The highest precision at any recall >= r, for each r of points (0 where r is never reached)."""
    return np.array([precision[recall >= r].max() if (recall >= r).any() else 0.0 for r in points])


def test_precision_recall_curve_hand_worked():
    # The hand example's ranks TP F TP TP F F TP with 7 boxes (table above HAND_VOC2010).
    predictions, targets, scores, pattern = hand_example()
    precision, recall, ranked = M.precision_recall_curve(predictions, targets)
    np.testing.assert_allclose(precision, [1, 1 / 2, 2 / 3, 3 / 4, 3 / 5, 1 / 2, 4 / 7], rtol=1e-15)
    np.testing.assert_allclose(recall, [1 / 7, 1 / 7, 2 / 7, 3 / 7, 3 / 7, 3 / 7, 4 / 7], rtol=1e-15)
    np.testing.assert_allclose(ranked, scores.double())
    # The all-point AP of the curve, summed by hand: recall steps times the interpolated precision.
    steps = np.diff(recall.numpy(), prepend=0.0)
    assert (steps * interpolated_at(precision.numpy(), recall.numpy(), recall.numpy())).sum() == pytest.approx(
        HAND_VOC2010, abs=1e-12)
    # Its true positives are exact copies of their boxes (IoU 1): even a threshold of 1 keeps the curve.
    assert torch.equal(M.precision_recall_curve(predictions, targets, iou_threshold=1.0)[0], precision)


@pytest.mark.parametrize("max_detections", [100, None])
def test_precision_recall_curve_equals_cocoeval_and_map(max_detections):
    # The curve of each class, interpolated at COCO's 101 recall points, is COCOeval's precision
    # array at IoU 0.5 (maxDets 100); its all-point area is the library's VOC2010 AP.
    predictions, targets = random_detections(12, 3, 130, seed=2)
    coco = cocoeval(predictions, targets, 3) if max_detections == 100 else None
    result = M.mean_average_precision(predictions, targets, [0.5], "voc2010", max_detections)
    for label in result.classes:
        precision, recall, scores = M.precision_recall_curve(predictions, targets, 0.5, label, max_detections)
        assert len(precision) > 100 and (scores.diff() <= 0).all()
        p, r = precision.numpy(), recall.numpy()
        if coco is not None:
            reference_curve = coco.eval["precision"][0, :, label, 0, 2]
            np.testing.assert_allclose(interpolated_at(p, r, np.linspace(0, 1, 101)), reference_curve, atol=1e-12)
            assert r[-1] == pytest.approx(coco.eval["recall"][0, label, 0, 2])
        area = (np.diff(r, prepend=0.0) * interpolated_at(p, r, r)).sum()
        assert area == pytest.approx(result.per_class[label], abs=1e-12)
        tp = np.diff(r * result.num_gt[label], prepend=0.0).round().astype(bool)  # the TP flags, recovered
        assert M.average_precision(scores, torch.from_numpy(tp), result.num_gt[label]) == pytest.approx(area, abs=1e-12)


def test_precision_recall_curve_against_sklearn():
    # With distinct scores, scikit-learn's curve on the TP flags (every detection a "positive"
    # example if it is a TP) has the same precision at every rank, and recall scaled by
    # num_gt / TPs (scikit-learn does not know the missed boxes).
    sk = reference("sklearn.metrics")
    predictions, targets = random_detections(40, 1, 12, seed=3)
    noise = torch.Generator().manual_seed(4)
    for p in predictions:  # break the ties (scores are multiples of 1/50)
        p["scores"] = p["scores"] + torch.rand(len(p["scores"]), generator=noise) * 1e-3
    precision, recall, scores = M.precision_recall_curve(predictions, targets)
    num_gt = sum(len(t["boxes"]) for t in targets)
    tp = np.diff(recall.numpy() * num_gt, prepend=0.0).round().astype(bool)
    assert len(np.unique(scores)) == len(scores) and 0 < tp.sum() < len(tp)
    sk_precision, sk_recall, thresholds = sk.precision_recall_curve(tp, scores.numpy(), drop_intermediate=False)
    # scikit-learn: one point per threshold, increasing, then the end point (precision 1, recall 0)
    np.testing.assert_array_equal(thresholds[::-1], scores.numpy())
    np.testing.assert_allclose(precision.numpy(), sk_precision[:-1][::-1], rtol=1e-12)
    np.testing.assert_allclose(recall.numpy() * num_gt / tp.sum(), sk_recall[:-1][::-1], rtol=1e-12)


def test_precision_recall_curve_errors_and_empty():
    good = {"boxes": torch.tensor([[0.0, 0, 1, 1]]), "scores": torch.tensor([0.5]), "labels": torch.tensor([0])}
    two = {"boxes": torch.tensor([[0.0, 0, 1, 1], [2.0, 2, 3, 3]]), "labels": torch.tensor([0, 1])}
    with pytest.raises(ValueError, match="choose one with class_id"):
        M.precision_recall_curve([good], [two])
    with pytest.raises(ValueError, match="class_id=5 has no ground-truth box"):
        M.precision_recall_curve([good], [two], class_id=5)
    with pytest.raises(ValueError, match="images"):
        M.precision_recall_curve([good, good], [two])
    precision, recall, _ = M.precision_recall_curve([good], [two], class_id=1)  # no detection of class 1
    assert precision.shape == recall.shape == (0,)
    assert M.precision_recall_curve([good], [two], class_id=0)[0].tolist() == [1.0]


# ------------------------------------------------------------------ segmentation

# A 4 x 4 mask, 3 classes, one ignored pixel (255).
TARGET = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 1, 1], [2, 2, 255, 1]])
PRED = torch.tensor([[0, 0, 1, 0], [0, 1, 1, 1], [2, 2, 1, 1], [2, 0, 2, 1]])
# Counted by hand (rows: true class, columns: predicted):
#   true 0 (4 px): 3 as 0, 1 as 1;  true 1 (7 px): 1 as 0, 6 as 1;  true 2 (4 px): 1 as 0, 3 as 2
HAND_CM = [[3, 1, 0], [1, 6, 0], [1, 0, 3]]
# TP = (3, 6, 3); FN = row sums - TP = (1, 1, 1); FP = column sums (5, 7, 3) - TP = (2, 1, 0)


def test_segmentation_hand_computed():
    cm = S.confusion_matrix(PRED, TARGET, 3, ignore_index=255)
    assert cm.tolist() == HAND_CM
    assert S.pixel_accuracy(PRED, TARGET, 3, 255) == pytest.approx(12 / 15)
    iou = [3 / (3 + 2 + 1), 6 / (6 + 1 + 1), 3 / (3 + 0 + 1)]  # TP / (TP + FP + FN)
    np.testing.assert_allclose(S.iou_per_class(PRED, TARGET, 3, 255), iou)
    assert S.mean_iou(PRED, TARGET, 3, 255) == pytest.approx(sum(iou) / 3)
    # VOC's n / (n + e) with e = FP + FN: the IoU again; recall TP / (TP + FN): 3/4, 6/7, 3/4
    np.testing.assert_allclose(S.class_accuracy(PRED, TARGET, 3, 255), iou)
    np.testing.assert_allclose(S.class_accuracy(PRED, TARGET, 3, 255, definition="recall"), [3 / 4, 6 / 7, 3 / 4])
    dice = [6 / (6 + 2 + 1), 12 / (12 + 1 + 1), 6 / (6 + 0 + 1)]  # 2 TP / (2 TP + FP + FN)
    np.testing.assert_allclose(S.dice(PRED, TARGET, 3, 255, per_class=True), dice)
    assert S.dice(PRED, TARGET, 3, 255) == pytest.approx(sum(dice) / 3)
    # the same numbers from the confusion matrix alone
    assert S.mean_iou(cm) == pytest.approx(sum(iou) / 3) and S.pixel_accuracy(cm) == pytest.approx(0.8)


def test_segmentation_against_sklearn():
    sk = reference("sklearn.metrics")
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 5, (4, 32, 32), generator=g)
    pred = torch.where(torch.rand(4, 32, 32, generator=g) < 0.6, target, torch.randint(0, 5, (4, 32, 32), generator=g))
    target[:, :3] = 255
    keep = target != 255
    t, p, labels = target[keep].numpy(), pred[keep].numpy(), list(range(5))
    np.testing.assert_array_equal(S.confusion_matrix(pred, target, 5, 255), sk.confusion_matrix(t, p, labels=labels))
    np.testing.assert_allclose(S.iou_per_class(pred, target, 5, 255), sk.jaccard_score(t, p, labels=labels, average=None))
    assert S.mean_iou(pred, target, 5, 255) == pytest.approx(sk.jaccard_score(t, p, labels=labels, average="macro"))
    np.testing.assert_allclose(S.dice(pred, target, 5, 255, per_class=True), sk.f1_score(t, p, labels=labels, average=None))
    np.testing.assert_allclose(S.class_accuracy(pred, target, 5, 255, definition="recall"),
                               sk.recall_score(t, p, labels=labels, average=None))
    assert S.pixel_accuracy(pred, target, 5, 255) == pytest.approx(sk.accuracy_score(t, p))


def test_fcn_measures_hand_computed():
    """Long et al.'s four measures on the hand-counted matrix above: t = (4, 7, 4), n_ii = (3, 6, 3),
    column sums (5, 7, 3), so IU = 3/6, 6/8, 3/4."""
    m = S.fcn_measures(PRED, TARGET, 3, 255)
    assert m.pixel_accuracy == pytest.approx(12 / 15)
    assert m.mean_accuracy == pytest.approx((3 / 4 + 6 / 7 + 3 / 4) / 3)
    assert m.mean_iou == pytest.approx((3 / 6 + 6 / 8 + 3 / 4) / 3)
    assert m.frequency_weighted_iou == pytest.approx((4 * 3 / 6 + 7 * 6 / 8 + 4 * 3 / 4) / 15)
    cm = S.confusion_matrix(PRED, TARGET, 3, ignore_index=255)
    assert S.mean_accuracy(cm) == m.mean_accuracy and S.frequency_weighted_iou(cm) == m.frequency_weighted_iou
    # a class predicted but absent from the target: weight 0 in f.w. IU, left out of mean accuracy
    pred, target = torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 1, 1])
    assert S.frequency_weighted_iou(pred, target, 3) == pytest.approx((1 * 1 + 3 * (1 / 3)) / 4)
    assert S.mean_accuracy(pred, target, 3) == pytest.approx((1 + 1 / 3) / 2)
    assert np.isnan(S.frequency_weighted_iou(torch.zeros(3, 3)))


def test_fcn_measures_against_sklearn():
    sk = reference("sklearn.metrics")
    rng = np.random.default_rng(1)
    truth = rng.choice(4, size=2000, p=[0.6, 0.2, 0.15, 0.05])
    predicted = np.where(rng.random(2000) < 0.7, truth, rng.integers(0, 4, 2000))
    cm = torch.from_numpy(sk.confusion_matrix(truth, predicted, labels=range(4)))
    iou = sk.jaccard_score(truth, predicted, average=None)
    frequency = np.bincount(truth, minlength=4) / len(truth)
    m = S.fcn_measures(cm)
    assert m.pixel_accuracy == pytest.approx(sk.accuracy_score(truth, predicted))
    assert m.mean_accuracy == pytest.approx(sk.balanced_accuracy_score(truth, predicted))
    assert m.mean_iou == pytest.approx(iou.mean())
    assert m.frequency_weighted_iou == pytest.approx((frequency * iou).sum())
    assert m == S.fcn_measures(torch.from_numpy(predicted), torch.from_numpy(truth), 4)


def test_touching_pairs_and_separation_by_hand():
    instances = torch.tensor([[1, 1, 2, 2, 0, 0],
                              [1, 1, 2, 2, 0, 3],
                              [0, 0, 0, 0, 4, 0],   # 4 touches 3 and 2 diagonally
                              [5, 5, 0, 0, 0, 0]])
    assert S.touching_pairs(instances) == [(1, 2), (2, 4), (3, 4)]
    merged = (instances > 0).long()
    merged[2, :4] = 0
    assert S.separated_pairs(merged, instances) == (0, 3)  # 1-2-4-3 one region (8-connected)
    split = merged.clone()
    split[:2, 1] = 0  # a background line between 1 and 2 (column 1 cut out of cell 1)
    split[2, 4] = 0   # 4 missed
    assert S.separated_pairs(split, instances) == (1, 3)  # (1, 2) apart; 4 missed counts as not separated
    with pytest.raises(ValueError, match="shape"):
        S.separated_pairs(merged[:2], instances)


def test_segmentation_absent_class_and_errors():
    pred = torch.tensor([0, 0, 1])
    target = torch.tensor([0, 1, 1])
    iou = S.iou_per_class(pred, target, 3)
    assert torch.isnan(iou[2]) and S.mean_iou(pred, target, 3) == pytest.approx((0.5 + 0.5) / 2)
    with pytest.raises(ValueError, match=r"\[0, 2\].*ignore_index"):
        S.confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 255]), 3)
    with pytest.raises(ValueError, match="same shape"):
        S.confusion_matrix(torch.zeros(2, 2, dtype=torch.long), torch.zeros(4, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="argmax"):
        S.confusion_matrix(torch.zeros(4), torch.zeros(4, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="same device"):
        S.confusion_matrix(torch.zeros(4, dtype=torch.long), torch.zeros(4, dtype=torch.long, device="meta"), 3)
    with pytest.raises(ValueError, match="definition"):
        S.class_accuracy(pred, target, 3, definition="balanced")


def test_docstring_examples():
    for module in (M, S):
        result = doctest.testmod(module, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted >= 3 and result.failed == 0, module.__name__


# ------------------------------------------------------------------ instance and panoptic segmentation


def random_instances(num_images: int, num_classes: int, seed: int, size: int = 24):
    """Ground-truth masks (rectangles and discs, 1-4 per image) and detections: half of them
    eroded or shifted copies of a ground-truth mask, half random blobs; scores with ties."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")

    def blob():
        cy, cx = torch.randint(3, size - 3, (2,), generator=g).tolist()
        r = int(torch.randint(2, 7, (1,), generator=g))
        if torch.rand((), generator=g) < 0.5:
            return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        return ((yy - cy).abs() <= r) & ((xx - cx).abs() <= r)

    predictions, targets = [], []
    for _ in range(num_images):
        k = int(torch.randint(1, 5, (1,), generator=g))
        gt = torch.stack([blob() for _ in range(k)])
        gt_labels = torch.randint(0, num_classes, (k,), generator=g)
        n = int(torch.randint(0, 7, (1,), generator=g))
        masks, labels = [], []
        for _ in range(n):
            if torch.rand((), generator=g) < 0.5:
                j = int(torch.randint(0, k, (1,), generator=g))
                masks.append(torch.roll(gt[j], int(torch.randint(-2, 3, (1,), generator=g)), dims=1))
                labels.append(int(gt_labels[j]) if torch.rand((), generator=g) < 0.8 else int(torch.randint(0, num_classes, (1,), generator=g)))
            else:
                masks.append(blob())
                labels.append(int(torch.randint(0, num_classes, (1,), generator=g)))
        scores = torch.round(torch.rand(n, generator=g) * 20) / 20
        predictions.append({"masks": torch.stack(masks) if masks else torch.zeros(0, size, size, dtype=torch.bool),
                            "scores": scores, "labels": torch.tensor(labels, dtype=torch.long)})
        targets.append({"masks": gt, "labels": gt_labels})
    return predictions, targets


def cocoeval_segm(predictions, targets, num_classes):
    """COCOeval (segm) on a data set built in memory; masks go to COCO as RLE."""
    reference("pycocotools")
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def rle(m):
        return mask_utils.encode(np.asfortranarray(m.numpy().astype(np.uint8)))

    annotations = []
    for i, t in enumerate(targets):
        for m, label in zip(t["masks"], t["labels"].tolist()):
            r = rle(m)
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": label, "iscrowd": 0,
                                "segmentation": r, "area": float(mask_utils.area(r)),
                                "bbox": mask_utils.toBbox(r).tolist()})
    size = targets[0]["masks"].shape[-2:]
    gt = COCO()
    gt.dataset = {"info": {}, "licenses": [], "annotations": annotations,
                  "images": [{"id": i, "height": size[0], "width": size[1]} for i in range(len(targets))],
                  "categories": [{"id": c} for c in range(num_classes)]}
    results = [{"image_id": i, "category_id": label, "score": score, "segmentation": rle(m)}
               for i, p in enumerate(predictions)
               for m, score, label in zip(p["masks"], p["scores"].double().tolist(), p["labels"].tolist())]
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        evaluation = COCOeval(gt, gt.loadRes(results), "segm")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation


@pytest.mark.parametrize("num_images, num_classes, seed", [(6, 1, 0), (10, 3, 1), (15, 2, 2)])
def test_mask_ap_equals_cocoeval_segm(num_images, num_classes, seed):
    predictions, targets = random_instances(num_images, num_classes, seed)
    ours = S.mask_average_precision(predictions, targets)
    coco = cocoeval_segm(predictions, targets, num_classes)
    assert ours.map == pytest.approx(coco.stats[0], abs=1e-9)
    assert ours.map_50 == pytest.approx(coco.stats[1], abs=1e-9)
    assert ours.map_75 == pytest.approx(coco.stats[2], abs=1e-9)


def test_mask_iou_against_pycocotools():
    mask_utils = reference("pycocotools.mask")
    predictions, targets = random_instances(3, 2, seed=5)
    a, b = targets[0]["masks"], predictions[1]["masks"]
    ref = mask_utils.iou([mask_utils.encode(np.asfortranarray(m.numpy().astype(np.uint8))) for m in a],
                         [mask_utils.encode(np.asfortranarray(m.numpy().astype(np.uint8))) for m in b], [0] * len(b))
    assert np.allclose(S.mask_iou(a, b).numpy(), np.asarray(ref).reshape(len(a), len(b)))


def test_mask_ap_hand_worked_and_errors():
    square = torch.zeros(1, 8, 8, dtype=torch.bool)
    square[0, 2:6, 2:6] = True
    half = torch.zeros(1, 8, 8, dtype=torch.bool)
    half[0, 2:6, 2:4] = True  # IoU 0.5 with the square
    targets = [{"masks": square, "labels": torch.tensor([0])}]
    # ranks: the half mask (TP at t = 0.5 only), then the square itself (a duplicate at 0.5, a TP above)
    predictions = [{"masks": torch.cat([half, square]), "scores": torch.tensor([0.9, 0.8]), "labels": torch.tensor([0, 0])}]
    r = S.mask_average_precision(predictions, targets, iou_thresholds=(0.5, 0.75))
    # t = 0.5: TP first (precision 1 at recall 1); t = 0.75: FP then TP (precision 1/2 at recall 1)
    assert (r.map_50, r.map_75) == (1.0, 0.5)
    r = S.mask_average_precision(predictions, targets, iou_thresholds=(0.75,), interpolation="voc2010")
    assert r.map == pytest.approx(0.5)
    with pytest.raises(ValueError, match="'masks'"):
        S.mask_average_precision([{"scores": torch.ones(1), "labels": torch.zeros(1, dtype=torch.long)}], targets)
    with pytest.raises(ValueError, match="0 and 1"):
        S.mask_iou(torch.full((1, 2, 2), 0.7), square[:, :2, :2])
    with pytest.raises(ValueError, match="one entry per instance"):
        S.mask_average_precision([{"masks": square, "scores": torch.ones(2), "labels": torch.zeros(2, dtype=torch.long)}], targets)


def test_panoptic_quality_hand_worked():
    # 6×6 image; stuff class 0 (instance 0); thing class 1 with two true objects.
    true_classes = torch.zeros(6, 6, dtype=torch.long)
    true_instances = torch.zeros(6, 6, dtype=torch.long)
    true_classes[0:2, 0:3], true_instances[0:2, 0:3] = 1, 1  # object 1: 6 pixels
    true_classes[4:6, 4:6], true_instances[4:6, 4:6] = 1, 2  # object 2: 4 pixels
    pred_classes, pred_instances = true_classes.clone(), true_instances.clone()
    pred_classes[0:2, 2], pred_instances[0:2, 2] = 0, 0  # object 1 predicted 4 of 6 pixels: IoU 4/6
    pred_classes[4:6, 4:6], pred_instances[4:6, 4:6] = 0, 0  # object 2 missed: FN
    pred_classes[3, 0:2], pred_instances[3, 0:2] = 1, 3  # a 2-pixel object that is not there: FP
    r = S.panoptic_quality(pred_classes, pred_instances, true_classes, true_instances, num_classes=2)
    # stuff: true 26 pixels, predicted 26 + 2 - 2 ... computed by hand below
    stuff_true = 36 - 10
    stuff_pred = 36 - 4 - 2
    stuff_inter = stuff_true - 2  # the stuff pixels predicted as the false object
    stuff_iou = stuff_inter / (stuff_true + stuff_pred - stuff_inter)
    assert r.per_class[0] == pytest.approx((stuff_iou, stuff_iou, 1.0, 1, 0, 0))
    thing_sq, thing_rq = 4 / 6, 1 / (1 + 0.5 + 0.5)
    assert r.per_class[1] == pytest.approx((thing_sq * thing_rq, thing_sq, thing_rq, 1, 1, 1))
    assert r.pq == pytest.approx((stuff_iou + thing_sq * thing_rq) / 2)
    assert r.sq == pytest.approx((stuff_iou + thing_sq) / 2) and r.rq == pytest.approx((1 + thing_rq) / 2)


def test_panoptic_quality_void_and_errors():
    classes = torch.zeros(4, 4, dtype=torch.long)
    instances = torch.zeros(4, 4, dtype=torch.long)
    true_classes = classes.clone()
    true_classes[0, :] = 255  # void row
    pred_classes, pred_instances = classes.clone(), instances.clone()
    pred_classes[0, 0:3], pred_instances[0, 0:3] = 1, 1  # a predicted object made of void pixels: not an FP
    r = S.panoptic_quality(pred_classes, pred_instances, true_classes, instances, num_classes=2, ignore_index=255)
    assert r.per_class == {0: (1.0, 1.0, 1.0, 1, 0, 0)}
    with pytest.raises(ValueError, match="one size"):
        S.panoptic_quality(classes, instances, classes[:3], instances, num_classes=2)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        S.panoptic_quality(classes + 2, instances, classes, instances, num_classes=2)
