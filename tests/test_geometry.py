"""Chapter 20: cvbook.geometry (oriented boxes, scene graphs, stereo) and cvbook.generative.superres, against independent computations."""
import math

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torchvision.ops import box_iou

from cvbook.generative import superres
from cvbook.geometry import rotated, scene_graph, stereo


def _clip(subject, clip):
    """Sutherland–Hodgman: the part of polygon `subject` inside convex counter-clockwise `clip` (lists of (x, y))."""
    def inside(p, a, b):
        return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) >= 0

    def cross_point(p, q, a, b):
        x1, y1, x2, y2 = *p, *q
        x3, y3, x4, y4 = *a, *b
        den = (x1 - x2) * (y3 - y4) - (y1 - y2) * (x3 - x4)
        if den == 0:  # pq along the clip line (rounding put one end a hair outside): q is on it
            return q
        t = ((x1 - x3) * (y3 - y4) - (y1 - y3) * (x3 - x4)) / den
        return (x1 + t * (x2 - x1), y1 + t * (y2 - y1))

    out = list(subject)
    for i in range(len(clip)):
        a, b = clip[i], clip[(i + 1) % len(clip)]
        points, out = out, []
        for j in range(len(points)):
            p, q = points[j], points[(j + 1) % len(points)]
            if inside(q, a, b):
                if not inside(p, a, b):
                    out.append(cross_point(p, q, a, b))
                out.append(q)
            elif inside(p, a, b):
                out.append(cross_point(p, q, a, b))
        if not out:
            return []
    return out


def _area(poly):
    return 0.5 * abs(sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(poly, poly[1:] + poly[:1]))) if poly else 0.0


def _corners(b):
    cx, cy, w, h, a = b
    pts = [(w / 2, h / 2), (-w / 2, h / 2), (-w / 2, -h / 2), (w / 2, -h / 2)]
    return [(cx + x * math.cos(a) - y * math.sin(a), cy + x * math.sin(a) + y * math.cos(a)) for x, y in pts]


box = st.tuples(st.floats(-5, 5), st.floats(-5, 5), st.floats(0.5, 6), st.floats(0.5, 6), st.floats(-3.2, 3.2))


@settings(max_examples=200, deadline=None)
@given(box, box)
@example((1.0, 0.0, 1.0, 2.0, 1.0), (1.0, 0.0, 2.0, 2.0, 1.0))  # nested, two edges on the same lines
def test_rotated_iou_equals_sutherland_hodgman(b1, b2):
    inter = _area(_clip(_corners(b1), _corners(b2)))
    expected = inter / (b1[2] * b1[3] + b2[2] * b2[3] - inter)
    got = rotated.rotated_box_iou(torch.tensor([b1], dtype=torch.float64), torch.tensor([b2], dtype=torch.float64))
    assert abs(float(got) - expected) < 1e-6


def test_rotated_iou_special_cases_and_axis_aligned_equals_torchvision():
    g = torch.Generator().manual_seed(0)
    a = torch.cat([torch.rand(6, 2, generator=g) * 10, torch.rand(6, 2, generator=g) * 4 + 1, torch.zeros(6, 1)], 1)
    b = torch.cat([torch.rand(5, 2, generator=g) * 10, torch.rand(5, 2, generator=g) * 4 + 1, torch.zeros(5, 1)], 1)
    xyxy = lambda r: torch.cat([r[:, :2] - r[:, 2:4] / 2, r[:, :2] + r[:, 2:4] / 2], 1)  # noqa: E731
    torch.testing.assert_close(rotated.rotated_box_iou(a, b), box_iou(xyxy(a), xyxy(b)), atol=1e-5, rtol=0)
    same = torch.tensor([[1.0, 2.0, 3.0, 1.0, 0.7]])
    torch.testing.assert_close(rotated.rotated_box_iou(same, same), torch.ones(1, 1))
    quarter = torch.tensor([[1.0, 2.0, 1.0, 3.0, 0.7 + math.pi / 2]])
    torch.testing.assert_close(rotated.rotated_box_iou(same, quarter), torch.ones(1, 1), atol=1e-5, rtol=0)
    far = torch.tensor([[50.0, 50.0, 1.0, 1.0, 0.3]])
    assert float(rotated.rotated_box_iou(same, far)) == 0.0
    assert rotated.rotated_box_iou(same, torch.zeros(0, 5)).shape == (1, 0)
    with pytest.raises(ValueError, match="cx, cy, w, h, angle"):
        rotated.rotated_box_iou(torch.zeros(2, 4), same)


def test_box3d_iou_by_hand():
    a = torch.tensor([[0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 0.0]])
    b = torch.tensor([[1.0, 0.0, 1.0, 2.0, 2.0, 2.0, 0.0], [0.0, 0.0, 0.0, 2.0, 2.0, 2.0, math.pi / 2]])
    # first: overlap 1 x 2 (BEV) x 1 (height) = 2; union 8 + 8 - 2
    torch.testing.assert_close(rotated.box3d_iou(a, b), torch.tensor([[2 / 14, 1.0]]), atol=1e-5, rtol=0)


def test_spatial_relations_by_hand():
    boxes = torch.tensor([[0.0, 0, 10, 10], [20, 0, 30, 10], [2, 2, 5, 5], [0, 20, 10, 30], [200, 200, 210, 210]])
    codes = scene_graph.spatial_relations(boxes)
    name = lambda i, j: scene_graph.PREDICATES[int(codes[i, j])]  # noqa: E731
    assert name(0, 1) == "left of" and name(1, 0) == "right of"
    assert name(2, 0) == "inside" and name(0, 2) == "contains"
    assert name(0, 3) == "above" and name(3, 0) == "below"
    assert name(0, 4) == "none" and name(0, 0) == "none"
    edges = scene_graph.scene_graph(boxes, ["a", "b", "c", "d", "e"])
    assert (2, "inside", 0) in edges and all(e[1] != "none" for e in edges)


def test_block_matching_recovers_a_known_shift():
    rng = np.random.default_rng(0)
    right = torch.from_numpy(rng.random((40, 80))).float()
    left = torch.zeros_like(right)
    left[:, 7:] = right[:, :-7]  # left(x) = right(x - 7): disparity 7 everywhere
    disparity = stereo.block_matching(left, right, max_disparity=12, window=5)
    assert bool((disparity[:, 20:] == 7).all())
    truth = torch.full((40, 80), 7.0)
    truth[:, :10] = float("nan")
    errors = stereo.disparity_errors(disparity, truth)
    assert errors["mae"] < 0.5 and errors["bad"] < 0.05
    # the cost volume equals a direct computation at one pixel
    cost = stereo.cost_volume(left, right, 12, window=5)
    y, x, d = 20, 40, 3
    direct = (left[y - 2:y + 3, x - 2:x + 3] - right[y - 2:y + 3, x - 2 - d:x + 3 - d]).abs().mean()
    torch.testing.assert_close(cost[d, y, x], direct)
    assert torch.isinf(cost[5, 10, 2])
    with pytest.raises(ValueError, match="odd"):
        stereo.cost_volume(left, right, 4, window=4)


def test_superres_helpers():
    img = torch.rand(2, 1, 12, 12)
    degraded = superres.bicubic_degrade(img, 3)
    assert degraded.shape == img.shape
    torch.testing.assert_close(superres.bicubic_degrade(torch.full((1, 1, 6, 6), 0.4), 3), torch.full((1, 1, 6, 6), 0.4))
    patches = superres.random_patches(img, 5, 7, generator=torch.Generator().manual_seed(0))
    assert patches.shape == (7, 1, 5, 5)
    windows = img.unfold(2, 5, 1).unfold(3, 5, 1).reshape(2, 1, -1, 5, 5)
    found = [any(torch.equal(p, windows[b, :, k]) for b in range(2) for k in range(windows.shape[2])) for p in patches]
    assert all(found)
    model = superres.SRCNN(channels=(8, 4))
    torch.testing.assert_close(model(img).shape, img.shape)
    with pytest.raises(ValueError, match="multiple"):
        superres.bicubic_degrade(torch.rand(1, 1, 10, 10), 3)
