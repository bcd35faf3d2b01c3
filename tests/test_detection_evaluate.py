"""cvbook.detection.evaluate: a detector's detections over a loader, with their ground truth, and its mAP."""
import pytest
import torch
from torch import nn

from cvbook.detection.evaluate import collect_detections, evaluate_map


class Oracle(nn.Module):
    """A detector that returns, for each image, the boxes given to it (in pixels), with score 0.9."""

    def __init__(self, boxes):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.boxes, self.calls = boxes, 0

    def detect(self, images, score_threshold=0.0):
        out = []
        for _ in images:
            boxes, labels = self.boxes[self.calls]
            self.calls += 1
            keep = torch.full((len(boxes),), 0.9) >= score_threshold
            out.append({"boxes": boxes[keep], "scores": torch.full((int(keep.sum()),), 0.9), "labels": labels[keep]})
        return out


def test_collect_detections_pairs_each_image_with_its_ground_truth():
    # two 10×20 images (H=10, W=20); labels as collate_labels pads them: [class, x1, y1, x2, y2] normalised
    labels = torch.tensor([[[1, 0.0, 0.0, 0.5, 0.5], [-1, 0, 0, 0, 0]],
                           [[0, 0.5, 0.2, 1.0, 1.0], [2, 0.0, 0.0, 0.1, 0.1]]])
    images = torch.zeros(2, 3, 10, 20)
    truth = [(torch.tensor([[0.0, 0.0, 10.0, 5.0]]), torch.tensor([1])),
             (torch.tensor([[10.0, 2.0, 20.0, 10.0], [0.0, 0.0, 2.0, 1.0]]), torch.tensor([0, 2]))]
    predictions, targets = collect_detections(Oracle(truth), [(images, labels)], score_threshold=0.5)
    assert len(predictions) == len(targets) == 2
    for (boxes, classes), target, prediction in zip(truth, targets, predictions):
        torch.testing.assert_close(target["boxes"], boxes)  # normalised labels back in pixels
        assert target["labels"].tolist() == classes.tolist() and prediction["labels"].tolist() == classes.tolist()
    assert evaluate_map(Oracle(truth), [(images, labels)]).map == pytest.approx(1.0)  # a perfect detector


def test_a_model_without_detect_is_refused():
    with pytest.raises(ValueError, match="no detect"):
        collect_detections(nn.Linear(2, 2), [])
