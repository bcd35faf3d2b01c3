import matplotlib
import numpy as np
import torch
from matplotlib.transforms import Bbox

from cvbook import data, plot

matplotlib.use("Agg")


def test_show_boxes_draws_every_box_with_labels():
    ax = plot.show_boxes(torch.rand(3, 32, 32), torch.tensor([[1, 2, 10, 12], [5, 5, 30, 20]]), ["a", "b"], title="t")
    assert len(ax.patches) == 2 and [t.get_text() for t in ax.texts] == ["a", "b"]
    assert ax.get_title() == "t" and ax.get_xlabel() and ax.get_ylabel()
    w, h = ax.patches[1].get_width(), ax.patches[1].get_height()
    assert (w, h) == (25, 15)


def test_overlay_mask_leaves_background_and_colours_objects():
    image = np.full((4, 4, 3), 100, dtype=np.uint8)
    mask = np.zeros((4, 4), dtype=int)
    mask[0, 0] = 1
    out = plot.overlay_mask(image, mask, alpha=1.0)
    assert np.allclose(out[1:, 1:], 100 / 255)
    assert np.allclose(out[0, 0], plot.matplotlib_rgb(plot.PALETTE[0]))


def test_show_images_grid():
    batch = data.generate_shapes(5, seed=0)
    fig = plot.show_images(batch.images, [str(l) for l in batch.labels[:, 0].tolist()], ncols=3, title="shapes")
    assert len(fig.axes) == 6 and fig._suptitle.get_text() == "shapes"


def test_filter_images_map_zero_to_grey_and_the_largest_weight_to_white():
    import pytest

    w = torch.zeros(2, 3, 3, 3)
    w[0, 0, 1, 1], w[1, 2, 0, 0] = 2.0, -1.0
    images = plot.filter_images(w)
    assert len(images) == 2 and images[0].shape == (3, 3, 3)
    assert images[0][1, 1, 0] == 1.0 and images[0][0, 0, 0] == 0.5 and images[1][0, 0, 2] == 0.25
    assert plot.filter_images(w, scale=1.0)[1][0, 0, 2] == 0.0
    with pytest.raises(ValueError, match="filter bank"):
        plot.filter_images(torch.zeros(2, 4, 3, 3))


def test_draw_boxes_can_label_inside_the_bottom_edge():
    import matplotlib.pyplot as plt
    import pytest

    _, ax = plt.subplots()
    ax.imshow(np.zeros((50, 50)))
    plot.draw_boxes(ax, torch.tensor([[5.0, 10, 30, 40]]), ["truth"], label_at="bottom")
    plot.draw_boxes(ax, torch.tensor([[5.0, 10, 30, 40]]), ["detection"], scores=[0.5])
    assert [t.get_position() for t in ax.texts] == [(4.5, 39.5), (4.5, 9.5)]  # ½ pixel: see below
    assert [t.get_text() for t in ax.texts] == ["truth", "detection 0.50"]
    with pytest.raises(ValueError, match="label_at"):
        plot.draw_boxes(ax, torch.tensor([[0.0, 0, 1, 1]]), ["x"], label_at="left")


def test_a_box_at_the_top_of_the_image_keeps_its_label_inside():
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    ax.imshow(np.zeros((100, 100)))
    plot.draw_boxes(ax, torch.tensor([[5.0, 0, 30, 40], [5.0, 50, 30, 90]]), ["at the top", "lower"])
    assert [t.get_va() for t in ax.texts] == ["top", "bottom"]  # above the first, it would cover the title
    plt.close("all")


def test_a_box_around_one_pixel_covers_that_pixel_on_an_image():
    """Pixel-edge boxes (torchvision's) on imshow's axes, whose pixel centres are integers."""
    import matplotlib.pyplot as plt

    image = np.zeros((6, 6))
    image[3, 2] = 1.0  # row 3, column 2: imshow draws it over x in [1.5, 2.5], y in [2.5, 3.5]
    _, ax = plt.subplots()
    ax.imshow(image)
    plot.draw_boxes(ax, torch.tensor([[2.0, 3, 3, 4]]))
    (rect,) = ax.patches
    assert rect.get_xy() == (1.5, 2.5) and (rect.get_width(), rect.get_height()) == (1.0, 1.0)
    _, plain = plt.subplots()  # no image: the coordinates are drawn as given
    plot.draw_boxes(plain, torch.tensor([[2.0, 3, 3, 4]]))
    assert plain.patches[0].get_xy() == (2.0, 3.0)
    plt.close("all")


def test_grid_columns_wrap_a_wide_grid_at_a_divisor_of_the_asked_for_columns():
    import pytest

    assert plot.grid_columns(16, 16, 0.9) == 8  # 9.5 in holds 10 panels; 8 keeps the columns aligned
    assert plot.grid_columns(8, 8, 1.6) == 4  # 5 fit; 4 divides 8
    assert plot.grid_columns(7, 7, 1.6) == 5  # 7 is prime: as many as fit
    assert plot.grid_columns(5, 3, 1.6) == 3 and plot.grid_columns(2, 8, 1.6) == 2  # fits: as asked
    assert plot.grid_columns(3, 3, 20.0) == 1
    with pytest.raises(ValueError, match="n >= 1"):
        plot.grid_columns(0, 4, 1.0)


def _page_pt_of(fig) -> float:
    """The figure's smallest text as the book's page shows it (tools/figure_text.py's measure)."""
    import io
    import sys
    from pathlib import Path

    import matplotlib.pyplot as plt
    from PIL import Image

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    from figure_text import drawn_font_sizes, page_pt

    smallest = min(drawn_font_sizes(fig))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", dpi=100)  # as the inline backend stores it
    width = Image.open(buffer).width
    plt.close(fig)
    # the reference by hand: a figure wider than the 790-px column is scaled down to it
    assert page_pt(10, 100, 1580) == 10 * 100 / 96 * 0.5
    return page_pt(smallest, 100, width)


def test_wide_grids_keep_their_text_at_8_points_on_the_page():
    images = [np.full((32, 32), k / 16) for k in range(16)]
    wide = plot.show_images(images, [f"image {k}" for k in range(16)], ncols=16, scale=1.6,
                            title="Sixteen images asked for in one row, which would be 25.6 in wide")
    assert len(wide.axes) == 16 and wide.get_figwidth() <= plot.MAX_WIDTH_IN
    assert _page_pt_of(wide) >= 8
    photo = np.zeros((40, 60, 3))
    masks = [np.eye(40, 60, k, dtype=int) for k in range(4)]
    fig = plot.show_masks(photo, masks, ["one", "two", "three", "four"], title="Four masks")
    assert fig.get_figwidth() <= plot.MAX_WIDTH_IN and _page_pt_of(fig) >= 8
    # the old layout, 1 + 4 panels of 3.2 in side by side, read 10 * 8.2 / 16 = 5 pt
    old = plot.show_masks(photo, masks, ["one", "two", "three", "four"], max_width=16.0)
    assert old.get_figwidth() == 16.0 and _page_pt_of(old) < 6


def test_show_images_asks_for_one_title_per_image():
    import pytest

    with pytest.raises(ValueError, match="one title per image"):
        plot.show_images([np.zeros((4, 4))] * 3, ["a", "b"])


def test_a_label_that_would_cover_another_moves_inside_its_box():
    """Two detections of one shape (chapter 12's figure): the second label moves to its box's
    bottom edge instead of hiding the first; a third goes to its top edge, inside."""
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(3, 3))
    ax.imshow(np.zeros((64, 64)))
    boxes = torch.tensor([[14.0, 22, 32, 42], [15.0, 23, 31, 42], [14.0, 22, 32, 41]])
    plot.draw_boxes(ax, boxes, ["square", "circle", "triangle"], [0.53, 0.53, 0.5])
    assert [(t.get_position()[1], t.get_va()) for t in ax.texts] == [(21.5, "bottom"), (41.5, "bottom"), (21.5, "top")]
    extents = [t.get_window_extent() for t in ax.texts]
    assert all(Bbox.intersection(a, b) is None or Bbox.intersection(a, b).height <= 1
               for i, a in enumerate(extents) for b in extents[i + 1:])
    plt.close("all")


def test_a_label_at_the_right_edge_ends_at_its_boxs_right_edge():
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(3, 3))
    ax.imshow(np.zeros((64, 64)))
    plot.draw_boxes(ax, torch.tensor([[4.0, 20, 20, 40], [50.0, 20, 63, 40]]), ["left", "a long label 0.99"])
    left, right = ax.texts
    assert (left.get_ha(), right.get_ha()) == ("left", "right") and right.get_position()[0] == 62.5
    assert right.get_window_extent().x1 <= ax.get_window_extent().x1
    plt.close("all")
