"""The interactive figures in the BUILT book page, in headless Chromium, without a kernel.

The page ``book/interactive_figures.html`` of the built book (``CVBOOK_HTML``, default
``_build/html``) is served over http on 127.0.0.1 and driven with Playwright: we drag and
type, then compare the numbers the page's JavaScript shows with ``cvbook.boxes.box_iou``,
``cvbook.detection.anchors`` and ``torch.nn.functional.conv_transpose2d``. Every request to a host
other than 127.0.0.1 is blocked and recorded: the page must work offline. Screenshots go to
``_build/screenshots/``.
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import pytest
import torch
import torch.nn.functional as F

from built_book import wait_for_book
from cvbook.detection import anchors as anchor_ops
from cvbook import boxes as box_ops

ROOT = Path(__file__).resolve().parents[1]
PAGE = "book/interactive_figures.html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("CVBOOK_CHROMIUM", "/usr/bin/chromium")
# Outside requests that are no part of the figures: the Colab badge image of CONTRIBUTING.md.
# The test blocks them too, so the page is shown working without them.
DECORATION = ("https://colab.research.google.com/assets/colab-badge.svg",)
# A JavaScript error of every Jupyter Book 1 page, not ours: sphinx-thebe declares its
# configuration constant twice.
THEME_ERRORS = ("Identifier 'THEBE_JS_URL' has already been declared",)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]

# Outside CI a missing book or browser skips these tests; in CI (`make test` builds the book and
# installs Chromium first) it is a failure, so that a broken set-up cannot pass silently.
def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason, allow_module_level=True)


try:
    from playwright import sync_api
except ImportError:
    _missing("the playwright package is not installed (requirements.txt pins it)")
if not Path(CHROMIUM).is_file() and shutil.which("chromium") is None:
    _missing("Debian's chromium is not installed: `make browser`")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    html = wait_for_book()  # make test builds the book beside the first tests
    if not (html / PAGE).is_file():
        _missing(f"{html / PAGE} is not built: run `make book` (or set CVBOOK_HTML)")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(html)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def session(server):
    """The loaded page, with the list of blocked outside requests and of JavaScript errors."""
    outside: list[str] = []
    errors: list[str] = []

    def route(r):
        host = urlparse(r.request.url).hostname
        if r.request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium"), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.route("**/*", route)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{server}/{PAGE}", wait_until="load")
        for name in ("iou", "tconv", "anchors"):
            page.wait_for_selector(f".cvbook-{name} svg, .cvbook-{name} table", timeout=30_000)
        SHOTS.mkdir(parents=True, exist_ok=True)
        yield page, outside, errors
        browser.close()


def _box(row) -> list[float]:
    return [float(row.locator(f'input[data-field="{n}"]').input_value()) for n in ("x1", "y1", "x2", "y2")]


def _iou(a: list[float], b: list[float]) -> float:
    return box_ops.box_iou(torch.tensor([a], dtype=torch.float64), torch.tensor([b], dtype=torch.float64)).item()


def test_page_works_offline_without_errors(session):
    page, outside, errors = session
    page.wait_for_load_state("networkidle")
    asked = [url for url in outside if url not in DECORATION]
    assert asked == [], f"the page asked hosts other than 127.0.0.1: {asked}"
    ours = [e for e in errors if e not in THEME_ERRORS]
    assert ours == [], f"JavaScript errors: {ours}"
    assert page.locator(".cvbook-widget").count() == 3
    assert page.locator("mjx-container").count() > 0, "MathJax (served by the book) did not typeset the formulas"


def test_iou_drag_keyboard_and_typing(session):
    page, _, _ = session
    widget = page.locator(".cvbook-iou")
    row_a, row_b = widget.locator('[data-box="A"]'), widget.locator('[data-box="B"]')
    shown = widget.locator('[data-role="iou"]')
    before = _box(row_b)

    # drag box B by (-40, -25) screen pixels
    widget.scroll_into_view_if_needed()
    rect = widget.locator('g[data-label="B"] rect.cvbook-box').bounding_box()
    x, y = rect["x"] + rect["width"] / 2, rect["y"] + rect["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 20, y - 12, steps=4)
    page.mouse.move(x - 40, y - 25, steps=4)
    page.mouse.up()
    after = _box(row_b)
    assert after[0] < before[0] and after[1] < before[1], (before, after)
    assert after[2] - after[0] == before[2] - before[0], "a drag moves the box without resizing it"
    a = _box(row_a)
    assert float(shown.text_content()) == pytest.approx(_iou(a, after), abs=5e-5)
    assert abs(float(shown.get_attribute("data-value")) - _iou(a, after)) < 1e-9

    # the keyboard: three steps right, then Alt+Down grows the bottom edge by one pixel
    widget.locator('g[data-label="A"] rect.cvbook-box').focus()
    for key in ("ArrowRight", "ArrowRight", "ArrowRight", "Alt+ArrowDown"):
        page.keyboard.press(key)
    a2 = _box(row_a)
    assert a2 == [a[0] + 3, a[1], a[2] + 3, a[3] + 1]
    assert float(shown.get_attribute("data-value")) == pytest.approx(_iou(a2, after), abs=1e-9)

    # type an exact coordinate
    row_a.locator('input[data-field="x2"]').fill("260")
    row_a.locator('input[data-field="x2"]').press("Enter")
    a3 = _box(row_a)
    assert a3 == [a2[0], a2[1], 260.0, a2[3]]
    iou = _iou(a3, after)
    assert float(shown.text_content()) == pytest.approx(iou, abs=5e-5)
    verdict = widget.locator('[data-role="verdict"]').text_content()
    assert verdict.startswith("yes") == (iou >= 0.5)

    # an invalid box is refused with a message, and nothing changes
    row_a.locator('input[data-field="x2"]').fill(str(a3[0] - 5))
    row_a.locator('input[data-field="x2"]').press("Enter")
    assert "x1 < x2" in row_a.locator(".cvbook-error").text_content()
    assert float(shown.get_attribute("data-value")) == pytest.approx(iou, abs=1e-9)
    row_a.locator('input[data-field="x2"]').fill("260")
    row_a.locator('input[data-field="x2"]').press("Enter")
    widget.screenshot(path=str(SHOTS / "iou.png"))


def _grid(table) -> torch.Tensor:
    rows = table.locator("tr")
    return torch.tensor([[float(t) for t in rows.nth(i).locator("td").all_text_contents()] for i in range(rows.count())], dtype=torch.float64)


@pytest.mark.parametrize(
    "preset, x, k, stride, padding, output_padding",
    [
        ("2x2", [[0, 1], [2, 3]], [[0, 1], [2, 3]], 1, 0, 0),
        ("stride2", [[1, 2], [3, 4]], [[1, 1, 1]] * 3, 2, 1, 1),
        ("16x4", [[2, 1], [4, 4]], [[1, 4, 1], [1, 4, 3], [3, 3, 1]], 1, 0, 0),
    ],
)
def test_transposed_convolution_steps(session, preset, x, k, stride, padding, output_padding):
    page, _, _ = session
    widget = page.locator(".cvbook-tconv")
    widget.locator(f'button[data-preset="{preset}"]').click()
    widget.locator('button[data-role="first"]').click()
    assert _grid(widget.locator('table[data-role="output"]')).abs().sum() == 0
    for _ in range(len(x) * len(x[0])):
        widget.locator('button[data-role="next"]').click()
    assert "(done)" in widget.locator('[data-role="step-info"]').text_content()
    xt, kt = torch.tensor(x, dtype=torch.float64), torch.tensor(k, dtype=torch.float64)
    expected = F.conv_transpose2d(xt[None, None], kt[None, None], stride=stride, padding=padding,
                                  output_padding=output_padding)[0, 0]
    assert torch.equal(_grid(widget.locator('table[data-role="output"]')), expected)
    if preset == "stride2":
        assert expected.shape == (4, 4)  # ×2 upsampling
    # the matrix: U^T vec(x) = vec(output), column q = output of the q-th one-hot input
    matrix = widget.locator('table[data-role="matrix"] tr')
    n = xt.numel()
    shown_u = torch.tensor([[float(t) for t in matrix.nth(r).locator("td").all_text_contents()[:n]] for r in range(matrix.count())], dtype=torch.float64)
    basis = torch.eye(n, dtype=torch.float64).reshape(n, 1, *xt.shape)
    reference_u = F.conv_transpose2d(basis, kt[None, None], stride=stride, padding=padding,
                                     output_padding=output_padding).reshape(n, -1).T
    assert torch.equal(shown_u, reference_u)
    if preset == "stride2":  # without output padding the same layer gives 3×3
        widget.locator('select[data-role="output-padding"]').select_option("0")
        shorter = F.conv_transpose2d(xt[None, None], kt[None, None], stride=stride, padding=padding)[0, 0]
        widget.locator('button[data-role="last"]').click()
        assert torch.equal(_grid(widget.locator('table[data-role="output"]')), shorter) and shorter.shape == (3, 3)
        widget.locator('select[data-role="stride"]').select_option("1")  # output padding must stay below the stride
        widget.locator('select[data-role="output-padding"]').select_option("1")
        assert "smaller than the stride" in widget.locator(".cvbook-error").text_content()
    if preset == "16x4":
        assert expected.flatten().int().tolist() == [2, 9, 6, 1, 6, 29, 30, 7, 10, 29, 33, 13, 12, 24, 16, 4]
        widget.locator('button[data-role="prev"]').click()  # a step in the middle for the picture
        widget.screenshot(path=str(SHOTS / "transposed_conv.png"))


def _check_anchor_table(widget, size, fmap, sizes, ratios, gt, threshold, convention="d2l"):
    image = {"image_size": (size[1], size[0])} if convention == "square" else {}
    reference = anchor_ops.multibox_prior(fmap, sizes, ratios, convention=convention, **image)[0].double()
    reference = reference * torch.tensor([size[0], size[1]] * 2, dtype=torch.float64)
    gt_t = torch.tensor([gt], dtype=torch.float64)
    ious = box_ops.box_iou(reference, gt_t)[:, 0]
    rows = widget.locator('table[data-role="anchors"] tr[data-index]')
    assert rows.count() == len(sizes) + len(ratios) - 1
    for r in range(rows.count()):
        index = int(rows.nth(r).get_attribute("data-index"))
        cells = rows.nth(r).locator("td").all_text_contents()
        assert torch.allclose(torch.tensor([float(c) for c in cells[4:8]], dtype=torch.float64), reference[index], atol=0.051)
        shown = float(rows.nth(r).locator('[data-role="iou"]').get_attribute("data-value"))
        assert shown == pytest.approx(ious[index].item(), abs=1e-6)
    assigned = anchor_ops.assign_anchors(gt_t, reference, threshold)
    shown_assigned = widget.locator('[data-role="summary"]').get_attribute("data-assigned")
    assert [int(v) for v in shown_assigned.split(",")] == torch.nonzero(assigned >= 0)[:, 0].tolist()
    return ious


def test_anchor_boxes_click_and_drag(session):
    page, _, _ = session
    widget = page.locator(".cvbook-anchors")
    fmap, sizes, ratios, threshold = (4, 4), [0.75, 0.5, 0.25], [1.0, 2.0, 0.5], 0.5
    svg = widget.locator("svg.cvbook-canvas")
    svg.scroll_into_view_if_needed()
    image = svg.bounding_box()
    size = [600, 400]  # the coffee photo, as the page shows it
    # click the cell in row 3, column 0 (bottom left, outside the ground-truth box)
    page.mouse.click(image["x"] + image["width"] * 0.5 / 4, image["y"] + image["height"] * 3.5 / 4)
    # cells count from 0, as in Python and chapter 9
    assert widget.locator('[data-role="loc-i"]').input_value() == "3" and widget.locator('[data-role="loc-j"]').input_value() == "0"
    first = int(widget.locator('table[data-role="anchors"] tr[data-index]').first.get_attribute("data-index"))
    assert first == (3 * 4 + 0) * 5
    gt = _box(widget.locator('[data-box="ground truth"]'))
    _check_anchor_table(widget, size, fmap, sizes, ratios, gt, threshold)

    # drag the ground truth towards the bottom left: the IoUs and the assignment follow
    rect = widget.locator('g[data-label="ground truth"] rect.cvbook-box').bounding_box()
    x, y = rect["x"] + rect["width"] / 2, rect["y"] + rect["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 60, y + 30, steps=5)
    page.mouse.move(x - 120, y + 60, steps=5)
    page.mouse.up()
    moved = _box(widget.locator('[data-box="ground truth"]'))
    assert moved != gt
    ious = _check_anchor_table(widget, size, fmap, sizes, ratios, moved, threshold)
    assert ious[first : first + 5].max() > 0, "the moved box overlaps the selected cell's anchors"
    widget.screenshot(path=str(SHOTS / "anchors.png"))


def test_chapter_13_shows_the_transposed_convolution_widget(server, session):
    """Chapter 13 carries the widget in its saved ×2-upsampling state: a 2×2 input, a 4×4 output."""
    page = session[0].context.browser.new_page(viewport={"width": 1400, "height": 1000})
    page.route("**/*", lambda r: r.continue_() if urlparse(r.request.url).hostname in ("127.0.0.1", "localhost")
               or r.request.url.startswith(("data:", "blob:")) else r.abort())
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server}/book/13_upsampling.html", wait_until="load")
    widget = page.locator(".cvbook-tconv")
    widget.locator('table[data-role="output"]').wait_for(timeout=30_000)
    assert [e for e in errors if e not in THEME_ERRORS] == []
    x = torch.tensor([[1.0, 2], [3, 4]], dtype=torch.float64)
    expected = F.conv_transpose2d(x[None, None], torch.ones(1, 1, 3, 3, dtype=torch.float64), stride=2, padding=1,
                                  output_padding=1)[0, 0]
    assert torch.equal(_grid(widget.locator('table[data-role="output"]')), expected) and expected.shape == (4, 4)
    assert widget.locator('select[data-role="output-padding"]').input_value() == "1"
    page.close()


def test_anchor_selectors_count_from_zero_and_square_convention(session):
    page, _, _ = session
    widget = page.locator(".cvbook-anchors")
    size, sizes, ratios = [600, 400], [0.75, 0.5, 0.25], [1.0, 2.0, 0.5]
    widget.scroll_into_view_if_needed()
    widget.locator('[data-role="loc-i"]').select_option("0")
    widget.locator('[data-role="loc-j"]').select_option("2")
    rows = widget.locator('table[data-role="anchors"] tr[data-index]')
    first = int(rows.first.get_attribute("data-index"))
    assert first == (0 * 4 + 2) * 5  # cell (0, 2) of the 4×4 map, 5 anchors per cell
    # d2l's shapes on a square map over the 600×400 photo: "ratio 1" is 1.5 times wider than high
    assert widget.locator('[data-role="pixel-ratio"]').all_text_contents()[:3] == ["1.50"] * 3
    widget.locator('[data-role="convention"]').select_option("square")
    assert widget.locator('[data-role="pixel-ratio"]').all_text_contents() == ["1.00", "1.00", "1.00", "2.00", "0.50"]
    gt = _box(widget.locator('[data-box="ground truth"]'))
    _check_anchor_table(widget, size, (4, 4), sizes, ratios, gt, 0.5, convention="square")

    # a fine map and a low threshold: many anchors are assigned; they are thin outlines, and only
    # the selected cell's assigned anchors are filled, so the photo stays readable
    widget.locator('[data-role="fh"]').select_option("8")
    widget.locator('[data-role="fw"]').select_option("8")
    threshold = widget.locator('[data-role="threshold"]')
    threshold.fill("0.3")
    threshold.dispatch_event("change")
    widget.locator('[data-role="loc-i"]').select_option("3")
    widget.locator('[data-role="loc-j"]').select_option("3")
    first = int(rows.first.get_attribute("data-index"))
    assert first == (3 * 8 + 3) * 5
    _check_anchor_table(widget, size, (8, 8), sizes, ratios, gt, 0.3, convention="square")
    fills = widget.locator("rect.cvbook-assigned").evaluate_all(
        "rects => rects.map(r => [Number(r.dataset.index), getComputedStyle(r).fill])")
    assert len(fills) > 30
    for index, fill in fills:
        selected = first <= index < first + 5
        assert (fill != "none") == selected, (index, fill)
    widget.screenshot(path=str(SHOTS / "anchors_fine_map.png"))
    # back to the page's settings
    widget.locator('[data-role="convention"]').select_option("d2l")
    widget.locator('[data-role="fh"]').select_option("4")
    widget.locator('[data-role="fw"]').select_option("4")
    threshold.fill("0.5")
    threshold.dispatch_event("change")
