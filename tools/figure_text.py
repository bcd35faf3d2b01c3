"""How large a figure's text is on the book's page, measured while a notebook executes.

`tools/execute_notebooks.py` starts each kernel with :func:`install`, which makes the inline
backend record, with every figure it shows, the smallest font size (in points at the figure's own
scale) among the strings the Agg renderer actually draws, and the figure's dpi. The record is
stored in the output's metadata (``cvbook.min_font_pt``, ``cvbook.dpi``); the committed image gives
the width in pixels. On the page an image wider than the content column is scaled down to it, so
the text a reader sees is

    page pt = min_font_pt * dpi / 96 * min(1, PAGE_WIDTH_PX / width_px)

(96 CSS pixels per inch; an image shows one image pixel per CSS pixel when it fits).
``tests/test_hygiene.py`` requires ``page pt >= MIN_PAGE_PT`` for every figure of the book.
"""

from __future__ import annotations

# The content column of a page in the built book, in CSS pixels: images are scaled to it at
# windows of 1,440 px and wider (measured in headless Chromium; at 1,280 px it is 688).
PAGE_WIDTH_PX = 790
MIN_PAGE_PT = 8.0


def page_pt(min_font_pt: float, dpi: float, width_px: int) -> float:
    """The smallest text of a figure in points as a reader sees it on the page."""
    return min_font_pt * dpi / 96 * min(1.0, PAGE_WIDTH_PX / width_px)


def drawn_font_sizes(fig) -> list[float]:
    """Font sizes (pt) of every non-blank string the Agg renderer draws for ``fig``."""
    from matplotlib.backends.backend_agg import RendererAgg

    sizes: list[float] = []
    draw_text = RendererAgg.draw_text

    def recording(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if str(s).strip():
            sizes.append(float(prop.get_size_in_points()))
        return draw_text(self, gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

    RendererAgg.draw_text = recording
    try:
        fig.canvas.draw()
    finally:
        RendererAgg.draw_text = draw_text
    return sizes


def install() -> None:
    """Make the inline backend add ``{"cvbook": {"min_font_pt", "dpi"}}`` to each figure's metadata."""
    import matplotlib_inline.backend_inline as inline

    fetch = inline._fetch_figure_metadata

    def fetch_with_text_size(fig):
        metadata = dict(fetch(fig) or {})
        sizes = drawn_font_sizes(fig)
        metadata["cvbook"] = {"min_font_pt": round(min(sizes), 2) if sizes else None,
                              "dpi": float(fig.dpi)}
        return metadata

    inline._fetch_figure_metadata = fetch_with_text_size
