"""The one table of where real datasets come from, and fetching a dataset's files from it.

The table (``sources.json`` beside this module) lists, per dataset and per part (a split,
or ``"all"``), the files to download: their name under the dataset's folder, URL, md5 and,
for archives, a path that exists once the archive is unpacked. Setting the environment
variable ``CVBOOK_SOURCES`` to another JSON file of the same shape replaces the table: the
full-profile rehearsal points it at miniature stand-ins served on 127.0.0.1, and a mirror
can be used the same way. Everything else (checksums verified, corrupt files fetched again,
a fast clear error offline) is :func:`cvbook.data.download.fetch`'s.

>>> folder = fetch_source("penn-fudan", "all")   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from cvbook.data.download import data_root, extract, fetch

__all__ = ["SourceFile", "table", "files", "fetch_source", "QUICK_STAND_INS"]

#: The offline dataset each online one is replaced by in the quick profile (named in errors).
QUICK_STAND_INS: dict[str, str] = {
    "cifar10": "shapes10",
    "fashion-mnist": "digits",
    "voc2007": "shapes",
    "penn-fudan": "shapes",
    "voc2012": "shapes-segmentation",
    "oxford-iiit-pet": "nuclei",
    "mnist": "digits",
    "painting": "faces",
}


@dataclass(frozen=True)
class SourceFile:
    """One file of a dataset: where it goes (relative to the dataset's folder), its URL, its md5,
    and for an archive, a relative path that exists once it is unpacked."""

    file: str
    url: str
    md5: str | None
    unpacks_to: str | None = None


def table() -> dict[str, dict[str, list[SourceFile]]]:
    """The table in use: ``$CVBOOK_SOURCES`` if set, else the packaged ``sources.json``."""
    path = Path(os.environ.get("CVBOOK_SOURCES") or Path(__file__).with_name("sources.json"))
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read the dataset source table {path} ({e}); unset CVBOOK_SOURCES "
                         "or point it at a JSON file shaped like cvbook/data/sources.json") from None
    return {name: {part: [SourceFile(**f) for f in entries] for part, entries in parts.items()}
            for name, parts in raw.items() if not name.startswith("_")}


def files(dataset: str, part: str) -> list[SourceFile]:
    """The files of ``dataset``'s ``part`` (a split or ``"all"``; a dataset with only ``"all"`` serves any split)."""
    sources = table()
    if dataset not in sources:
        raise KeyError(f"no download source for {dataset!r}; the table lists {', '.join(sorted(sources))}")
    parts = sources[dataset]
    if part not in parts and set(parts) == {"all"}:
        part = "all"
    if part not in parts:
        raise ValueError(f"{dataset} has no part {part!r}; use one of {', '.join(parts)}")
    return parts[part]


def fetch_source(dataset: str, part: str = "all", *, root: str | os.PathLike | None = None) -> Path:
    """Make ``dataset``'s ``part`` present under ``root`` (default ``$CVBOOK_DATA/<dataset>``); return ``root``.

    Files already there with the right checksum, and archives already unpacked, are reused.
    """
    root = Path(root) if root is not None else data_root() / dataset
    instead = QUICK_STAND_INS.get(dataset, "shapes")
    for source in files(dataset, part):
        if source.unpacks_to and (root / source.unpacks_to).exists():
            continue
        path = fetch(source.url, root / source.file, source.md5, dataset=dataset, instead=instead)
        if source.unpacks_to:
            extract(path, root)
    return root
