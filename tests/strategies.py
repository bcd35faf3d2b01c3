"""Test data shared by several test modules: random boxes and a hypothesis strategy of box lists."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from cvbook import boxes as B


def random_boxes(n: int, seed: int, degenerate: bool = True) -> torch.Tensor:
    """xyxy boxes with duplicates, zero-width, zero-height and point boxes mixed in."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 100
    wh = torch.rand(n, 2, generator=g) * 50 + 0.5
    boxes = torch.cat([xy, xy + wh], dim=1)
    if degenerate and n >= 8:
        boxes[1] = boxes[0]  # duplicate
        boxes[2, 2] = boxes[2, 0]  # zero width
        boxes[3, 3] = boxes[3, 1]  # zero height
        boxes[4, 2:] = boxes[4, :2]  # a point
        boxes[5] = boxes[4]  # the same point twice
        boxes[6] = torch.round(boxes[6])  # integer-valued corners
    return boxes


box_lists = st.lists(
    st.tuples(
        st.floats(-50, 50), st.floats(-50, 50), st.floats(0.01, 30), st.floats(0.01, 30)
    ),
    min_size=1,
    max_size=12,
).map(lambda rows: B.box_convert(torch.tensor(rows, dtype=torch.float64), "xywh", "xyxy"))
