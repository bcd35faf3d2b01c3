"""Sliding windows and greedy merging, against brute force and torchvision."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import box_iou

from cvbook.detection import sliding


# --- counting and enumerating ------------------------------------------------------------

@pytest.mark.parametrize("height,width", [(1, 1), (3, 5), (7, 4), (12, 9)])
def test_count_all_windows_equals_brute_force(height, width):
    brute = sum(1 for x1, x2 in itertools.combinations(range(width + 1), 2)
                for y1, y2 in itertools.combinations(range(height + 1), 2))
    assert sliding.count_all_windows(height, width) == brute


def test_count_all_windows_of_800_by_600():
    # C(801, 2) * C(601, 2), both binomials from the standard library.
    assert sliding.count_all_windows(600, 800) == math.comb(801, 2) * math.comb(601, 2) == 57_768_120_000


def test_count_windows_all_sizes_stride_1_is_every_rectangle():
    sizes = [(h, w) for h in range(1, 8) for w in range(1, 11)]
    assert sliding.count_windows(7, 10, sizes) == sliding.count_all_windows(7, 10)


@pytest.mark.parametrize("stride", [1, 2, 3, 5])
def test_sliding_windows_equal_brute_force_loops(stride):
    height, width, sizes = 13, 17, [(4, 4), (6, 3), (13, 2), (20, 5)]  # the last one does not fit
    expected = [[x, y, x + w, y + h] for h, w in sizes if h <= height and w <= width
                for y in range(0, height - h + 1, stride) for x in range(0, width - w + 1, stride)]
    got = sliding.sliding_windows(height, width, sizes, stride)
    assert got.tolist() == expected
    assert got.shape[0] == sliding.count_windows(height, width, sizes, stride)


def test_sliding_windows_reject_bad_arguments():
    with pytest.raises(ValueError, match="stride"):
        sliding.sliding_windows(8, 8, [(2, 2)], stride=0)
    with pytest.raises(ValueError, match="window_sizes is empty"):
        sliding.count_windows(8, 8, [])
    with pytest.raises(ValueError, match="positive"):
        sliding.count_all_windows(0, 8)


# --- cropping and classifying -------------------------------------------------------------

def test_crop_windows_same_size_is_a_plain_slice():
    g = torch.Generator().manual_seed(0)
    image = torch.rand(3, 20, 24, generator=g)
    windows = sliding.sliding_windows(20, 24, [(5, 5)], stride=3)
    crops = sliding.crop_windows(image, windows, 5)
    expected = torch.stack([image[:, int(y1):int(y2), int(x1):int(x2)] for x1, y1, x2, y2 in windows.tolist()])
    torch.testing.assert_close(crops, expected)


def test_crop_windows_downsampling_by_two_averages_neighbours():
    # A 2×-downsampled crop, one sample per bin at the bin centre, is bilinear
    # interpolation at the corner shared by each 2×2 block: the block's mean.
    g = torch.Generator().manual_seed(1)
    image = torch.rand(2, 16, 16, generator=g)
    crops = sliding.crop_windows(image, torch.tensor([[4.0, 2.0, 12.0, 10.0]]), 4)
    expected = F.avg_pool2d(image[None, :, 2:10, 4:12], 2)
    torch.testing.assert_close(crops, expected)


def test_crop_windows_rejects_uint8_images():
    with pytest.raises(ValueError, match="float"):
        sliding.crop_windows(torch.zeros(3, 8, 8, dtype=torch.uint8), torch.tensor([[0.0, 0, 4, 4]]), 4)


def test_classify_windows_batches_do_not_change_results():
    g = torch.Generator().manual_seed(2)
    image = torch.rand(3, 32, 32, generator=g)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 5))
    windows = sliding.sliding_windows(32, 32, [(8, 8), (16, 16)], stride=4)
    whole = net(sliding.crop_windows(image, windows, 8))
    batched = sliding.classify_windows(net, image, windows, 8, batch_size=7)
    torch.testing.assert_close(batched, whole.detach())


# --- negatives ----------------------------------------------------------------------------

def test_sample_negatives_hardest_are_the_top_scores():
    scores = torch.tensor([0.1, 0.9, 0.3, 0.8, 0.05])
    assert sorted(sliding.sample_negatives(scores, 2, "hardest").tolist()) == [1, 3]


def test_sample_negatives_random_is_without_replacement_and_seeded():
    scores = torch.zeros(100)
    a = sliding.sample_negatives(scores, 30, "random", generator=torch.Generator().manual_seed(0))
    b = sliding.sample_negatives(scores, 30, "random", generator=torch.Generator().manual_seed(0))
    assert a.unique().numel() == 30 and torch.equal(a, b)
    with pytest.raises(ValueError, match="strategy"):
        sliding.sample_negatives(scores, 3, "easiest")
    with pytest.raises(ValueError, match="pool size"):
        sliding.sample_negatives(scores, 101)


# --- greedy merging -----------------------------------------------------------------------

def _merge_by_loops(boxes, scores, threshold):
    """Reference: the greedy procedure written plainly, one box at a time."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    iou = box_iou(torch.tensor(boxes), torch.tensor(boxes)).tolist()
    groups: list[list[int]] = []
    assigned = [None] * len(scores)
    for i in order:
        if assigned[i] is not None:
            continue
        groups.append([i])
        assigned[i] = len(groups) - 1
        for j in order:
            if assigned[j] is None and iou[i][j] > threshold:
                groups[-1].append(j)
                assigned[j] = len(groups) - 1
    merged, merged_scores = [], []
    for members in groups:
        total = sum(scores[j] for j in members)
        merged.append([sum(scores[j] * boxes[j][c] for j in members) / total for c in range(4)])
        merged_scores.append(total)
    return merged, merged_scores, assigned


def test_greedy_merge_by_hand():
    boxes = torch.tensor([[0.0, 0, 10, 10], [2, 0, 12, 10], [30, 30, 40, 40]])
    scores = torch.tensor([0.6, 0.2, 0.5])
    merged, merged_scores, group = sliding.greedy_merge(boxes, scores, 0.5)
    # IoU of the first two is 80 / 120 = 2/3 > 0.5: one group, mean weighted 0.6 : 0.2.
    torch.testing.assert_close(merged, torch.tensor([[0.5, 0, 10.5, 10], [30, 30, 40, 40]]))
    torch.testing.assert_close(merged_scores, torch.tensor([0.8, 0.5]))
    assert group.tolist() == [0, 0, 1]


@pytest.mark.parametrize("seed", range(5))
def test_greedy_merge_equals_the_loop_reference(seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(60, 2, generator=g) * 50
    wh = torch.rand(60, 2, generator=g) * 20 + 5
    boxes = torch.cat([xy, xy + wh], dim=1)
    scores = torch.randperm(60, generator=g).float() / 60 + 0.01  # distinct scores: one order
    merged, merged_scores, group = sliding.greedy_merge(boxes, scores, 0.4)
    ref_boxes, ref_scores, ref_group = _merge_by_loops(boxes.tolist(), scores.tolist(), 0.4)
    assert group.tolist() == ref_group
    torch.testing.assert_close(merged, torch.tensor(ref_boxes), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(merged_scores, torch.tensor(ref_scores), rtol=1e-5, atol=1e-5)


def test_greedy_merge_rejects_bad_input_and_handles_empty_input():
    with pytest.raises(ValueError, match="non-negative"):
        sliding.greedy_merge(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([-1.0]), 0.5)
    with pytest.raises(ValueError, match="x2 < x1"):  # the box [5, 0, 1, 1] is not xyxy
        sliding.greedy_merge(torch.tensor([[5.0, 0, 1, 1]]), torch.tensor([0.5]), 0.5)
    with pytest.raises(ValueError, match="scores contains NaN"):
        sliding.greedy_merge(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([float("nan")]), 0.5)
    with pytest.raises(ValueError, match="iou_threshold must be a real number"):
        sliding.greedy_merge(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([0.5]), "0.5")
    merged, merged_scores, group = sliding.greedy_merge(torch.zeros(0, 4), torch.zeros(0), 0.5)
    assert merged.shape == (0, 4) and merged_scores.shape == (0,) and group.shape == (0,)
