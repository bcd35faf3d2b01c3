"""A Sphinx extension: each notebook page says which profile produced its outputs.

The badge is derived from the notebook itself: the profile and the device from the banner that its
first code cell prints (``cvbook.profile.banner``: ``profile: full`` and ``device:  cuda (...)``),
and the date from ``metadata.cvbook.executed``, which ``tools/execute_notebooks.py`` writes::

    outputs: quick profile, CPU
    outputs: full profile, GPU (NVIDIA H100 80GB HBM3), 2026-12-05

A notebook without a banner gets no badge. Registered in ``_config.yml``
(``sphinx: local_extensions: profile_badge: tools/sphinx_ext``).
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

BANNER_PROFILE = re.compile(r"^profile:\s+(\w+)", re.M)
BANNER_DEVICE = re.compile(r"^device:\s+(\w+)(?::\d+)?\s+\(([^)]*)\)", re.M)
BANNER_CAPS = re.compile(r"^caps:\s+", re.M)
DEVICE_KINDS = {"cuda": "GPU", "mps": "Apple GPU", "cpu": "CPU"}
STYLE = ("display:inline-block;margin:0 0 1em 0;padding:0.15em 0.6em;border-radius:0.8em;font-size:0.8em;"
         "border:1px solid {color};color:{color}")


@dataclass(frozen=True)
class Outputs:
    """What produced a notebook's outputs: ``profile`` (``quick``/``full``), ``device`` (``cuda``,
    ``cpu``, ``mps``), the device's name, the date it was executed (or None) and whether it was capped."""

    profile: str
    device: str
    device_name: str = ""
    date: str | None = None
    capped: bool = False

    def text(self) -> str:
        """The badge's words, e.g. ``outputs: full profile, GPU (NVIDIA T4), 2026-12-05``."""
        kind = DEVICE_KINDS.get(self.device, self.device)
        if self.device == "cuda" and self.device_name:
            kind += f" ({self.device_name})"
        parts = [f"{self.profile} profile" + (" (capped rehearsal)" if self.capped else ""), kind]
        if self.profile == "full" and self.date:
            parts.append(self.date)
        return "outputs: " + ", ".join(parts)


def _stream_text(notebook: dict) -> list[str]:
    texts = []
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text = out.get("text", "")
                texts.append("".join(text) if isinstance(text, list) else text)
    return texts


def outputs_of(notebook: dict) -> Outputs | None:
    """The :class:`Outputs` of a notebook (its JSON as a dict), or None when it printed no banner."""
    for text in _stream_text(notebook):
        profile, device = BANNER_PROFILE.search(text), BANNER_DEVICE.search(text)
        if profile and device:
            date = notebook.get("metadata", {}).get("cvbook", {}).get("executed")
            return Outputs(profile.group(1), device.group(1), device.group(2).strip(), date,
                           bool(BANNER_CAPS.search(text)))
    return None


def badge_html(outputs: Outputs) -> str:
    """The badge as a small HTML block (inline style: nothing to add to the theme's static files)."""
    color = "#2e7d32" if outputs.profile == "full" and not outputs.capped else "#6c757d"
    return (f'<div class="cvbook-outputs-badge"><span style="{STYLE.format(color=color)}" '
            f'title="Which run produced the outputs on this page">{html.escape(outputs.text())}</span></div>\n')


def badge_for(path: str | Path) -> str | None:
    """The badge's HTML for the notebook at ``path``; None for another file or a notebook without banner."""
    path = Path(path)
    if path.suffix != ".ipynb" or not path.exists():
        return None
    found = outputs_of(json.loads(path.read_text()))
    return badge_html(found) if found else None


def add_badge(app, pagename: str, templatename: str, context: dict, doctree) -> None:
    """``html-page-context`` handler: put the badge at the top of a notebook page's body."""
    if doctree is None or "body" not in context:
        return
    badge = badge_for(app.env.doc2path(pagename))
    if badge:
        context["body"] = badge + context["body"]


def setup(app) -> dict:
    app.connect("html-page-context", add_badge)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
