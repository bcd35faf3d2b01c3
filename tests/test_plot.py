import matplotlib
import numpy as np
import torch

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
