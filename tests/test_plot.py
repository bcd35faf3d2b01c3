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
