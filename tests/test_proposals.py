"""Tests of selective search (cvbook.detection.proposals): hand-computed similarities,
boxes inside the image, and recovery of the regions of simple synthetic images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from cvbook.detection import proposals


def three_columns() -> tuple[np.ndarray, np.ndarray]:
    """4×4 image: columns 0 and 1 black (regions 0 and 1), columns 2–3 white (region 2)."""
    image = np.zeros((4, 4, 3), np.uint8)
    image[:, 2:] = 255
    labels = np.array([[0, 1, 2, 2]] * 4)
    return image, labels


def test_region_features_by_hand():
    image, labels = three_columns()
    f = proposals.region_features(image, labels)
    assert f.size.tolist() == [4, 4, 8]
    assert f.box.tolist() == [[0, 0, 1, 4], [1, 0, 2, 4], [2, 0, 4, 4]]
    # every black pixel falls in bin 0 of each channel, every white one in bin 24
    assert f.colour.shape == (3, 75)
    assert f.colour[0, [0, 25, 50]].tolist() == pytest.approx([1 / 3] * 3)
    assert f.colour[2, [24, 49, 74]].tolist() == pytest.approx([1 / 3] * 3)
    np.testing.assert_allclose(f.texture.sum(axis=1), 1.0)


def test_similarity_by_hand():
    image, labels = three_columns()
    f = proposals.region_features(image, labels)
    a, b = np.array([0, 0]), np.array([1, 2])
    use = ("colour", "size", "fill")
    # (0, 1): same colour (1) + size 1 - 8/16 (0.5) + fill 1 - (8 - 4 - 4)/16 (1) = 2.5
    # (0, 2): no common colour (0) + size 1 - 12/16 (0.25) + fill 1 - (16 - 4 - 8)/16 (0.75) = 1
    np.testing.assert_allclose(proposals.similarity(f, a, b, 16.0, use), [2.5, 1.0])
    np.testing.assert_allclose(proposals.similarity(f, a, b, 16.0, ("size",)), [0.5, 0.25])
    with pytest.raises(ValueError, match="unknown similarity"):
        proposals.similarity(f, a, b, 16.0, ("shape",))


def square_on_background(seed: int = 0) -> tuple[np.ndarray, list[float]]:
    rng = np.random.default_rng(seed)
    image = np.full((64, 96, 3), 60, np.float64) + rng.normal(0, 4, (64, 96, 3))
    image[10:30, 40:70] = [220, 40, 40] + rng.normal(0, 4, (20, 30, 3))
    return np.clip(image, 0, 255).astype(np.uint8), [40.0, 10.0, 70.0, 30.0]


def test_selective_search_finds_both_regions_of_a_two_region_image():
    image, square = square_on_background()
    boxes = proposals.selective_search(image, scale=100, min_size=30)
    iou = torchvision.ops.box_iou(torch.tensor([square, [0.0, 0.0, 96.0, 64.0]]), boxes)
    best = iou.max(dim=1).values
    assert best[0] >= 0.9, f"the square's best proposal has IoU {best[0]:.2f}"
    assert best[1] == 1.0  # the last merge is the whole image
    torch.testing.assert_close(boxes[0], torch.tensor([0.0, 0.0, 96.0, 64.0]))


def test_boxes_lie_inside_the_image_and_are_unique():
    rng = np.random.default_rng(1)
    image = (rng.random((40, 56, 3)) * 255).astype(np.uint8)
    boxes = proposals.selective_search(image, scale=50, min_size=10)
    assert boxes.dtype == torch.float32 and boxes.ndim == 2 and boxes.shape[1] == 4
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
    assert (boxes[:, 2] <= 56).all() and (boxes[:, 3] <= 40).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
    assert len(torch.unique(boxes, dim=0)) == len(boxes)
    labels = proposals.initial_regions(image, scale=50, min_size=10)
    assert len(boxes) <= 2 * (labels.max() + 1) - 1


def test_initial_boxes_are_the_tight_boxes_of_the_segments():
    image, _ = square_on_background(2)
    labels = proposals.initial_regions(image, scale=100, min_size=30)
    boxes = proposals.selective_search(image, scale=100, min_size=30)
    # every segment's tight box (computed with torchvision from its mask) is a proposal
    masks = torch.from_numpy(labels)[None] == torch.arange(labels.max() + 1)[:, None, None]
    tight = torchvision.ops.masks_to_boxes(masks) + torch.tensor([0.0, 0.0, 1.0, 1.0])  # pixel edges
    assert (torchvision.ops.box_iou(tight, boxes).max(dim=1).values == 1).all()


def test_rejects_bad_images():
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        proposals.selective_search(np.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        proposals.selective_search(np.full((8, 8, 3), 2.0))


# ------------------------------------------------------------------ chapter 12's Penn-Fudan loader
