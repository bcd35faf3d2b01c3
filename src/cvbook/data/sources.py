"""The one table of where real datasets come from, and fetching a dataset's files from it.

The table (``sources.json`` beside this module) lists, per dataset and per part (a split,
or ``"all"``), the files to download. Each file entry has:

- ``file``: its name under the dataset's folder;
- ``urls``: its sources, in order of preference (the original host first, then mirrors that
  serve the same bytes); ``url`` (one source) is accepted too;
- its checksums: one or more of ``md5``, ``sha1``, ``sha256``, every one verified; a file
  without any must give ``unverified``: why, in words (it is then used with a warning);
- optionally ``unpacks_to``, for an archive: a path that exists once it is unpacked, and
  ``page``: a web page where a person can download the file by hand (named in errors).

``profile.settings().sources_path`` (the environment variable ``CVBOOK_SOURCES``) names
another JSON file of the same shape to use instead: the full-profile rehearsal points it at
miniature stand-ins served on 127.0.0.1, and a local mirror can be used the same way.
Everything else (checksums verified, fallback to the next source, resuming, a fast clear
error offline) is :func:`cvbook.data.download.fetch`'s.

>>> folder = fetch_source("penn-fudan", "all")   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cvbook import profile
from cvbook.data.download import CHECKSUMS, data_root, extract, fetch

__all__ = ["SourceFile", "table", "files", "fetch_source", "instead", "QUICK_STAND_INS"]

#: The offline dataset each online one is replaced by in the quick profile (named in errors).
QUICK_STAND_INS: dict[str, str] = {
    "cifar10": "shapes10",
    "fashion-mnist": "digits",
    "voc2007": "shapes",
    "penn-fudan": "shapes",
    "voc2012": "shapes-segmentation",
    "oxford-iiit-pet": "nuclei",
    "mnist": "digits",
}
#: What to use offline instead of a download that is not a dataset of the registry.
QUICK_CALLS: dict[str, str] = {
    "painting": "cvbook.data.photo('brick') (a scikit-image texture, the style image of chapter 19's quick profile)",
}
FIELDS = {"file", "url", "urls", "unpacks_to", "unverified", "page", *CHECKSUMS}


def instead(dataset: str) -> str:
    """What to use offline instead of ``dataset``, as code, e.g. ``cvbook.data.load('shapes10')``."""
    if dataset in QUICK_CALLS:
        return QUICK_CALLS[dataset]
    return f"cvbook.data.load({QUICK_STAND_INS.get(dataset, 'shapes')!r})"


@dataclass(frozen=True)
class SourceFile:
    """One file of a dataset: where it goes (relative to the dataset's folder), its sources in order,
    its checksums (``{"sha1": ...}``), why it has none if so, and for an archive, a relative path
    that exists once it is unpacked."""

    file: str
    urls: tuple[str, ...]
    checksums: dict[str, str] = field(default_factory=dict)
    unverified: str | None = None
    unpacks_to: str | None = None
    page: str | None = None

    @property
    def url(self) -> str:
        """The first (preferred) source."""
        return self.urls[0]

    @property
    def md5(self) -> str | None:
        return self.checksums.get("md5")

    @classmethod
    def from_entry(cls, entry: dict, where: str) -> SourceFile:
        """An entry of the JSON table; ``where`` (``"cifar10/train"``) names it in errors."""
        unknown = sorted(set(entry) - FIELDS)
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {unknown}; a file entry has {sorted(FIELDS)}")
        if "file" not in entry:
            raise ValueError(f"{where}: an entry without 'file' (its name under the dataset's folder)")
        urls = entry.get("urls") or ([entry["url"]] if entry.get("url") else [])
        if isinstance(urls, str) or not urls or ("url" in entry and "urls" in entry):
            raise ValueError(f"{where}/{entry['file']}: give its sources as 'urls': [\"https://...\", ...] "
                             f"(or one 'url'), not both")
        checksums = {a: entry[a] for a in CHECKSUMS if entry.get(a)}
        unverified = entry.get("unverified")
        if not checksums and not (isinstance(unverified, str) and unverified.strip()):
            raise ValueError(f"{where}/{entry['file']}: no checksum; add md5, sha1 or sha256, or say why "
                             f"there is none in 'unverified'")
        return cls(entry["file"], tuple(urls), checksums, unverified if not checksums else None,
                   entry.get("unpacks_to"), entry.get("page"))


def table() -> dict[str, dict[str, list[SourceFile]]]:
    """The table in use: ``profile.settings().sources_path`` (``$CVBOOK_SOURCES``, default the packaged one).

    Raises:
        ValueError: the file cannot be read, or an entry lacks a source or a checksum.
    """
    path = profile.settings().sources_path
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read the dataset source table {path} ({e}); unset CVBOOK_SOURCES "
                         "or point it at a JSON file shaped like cvbook/data/sources.json") from None
    return {name: {part: [SourceFile.from_entry(f, f"{path.name}: {name}/{part}") for f in entries]
                   for part, entries in parts.items()}
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
    """Make ``dataset``'s ``part`` present under ``root`` (default ``<data_root>/<dataset>``); return ``root``.

    Files already there with the right checksum, and archives already unpacked, are reused.

    Raises:
        DatasetUnavailableError: a file could not be downloaded from any of its sources.
    """
    root = Path(root) if root is not None else data_root() / dataset
    for source in files(dataset, part):
        if source.unpacks_to and (root / source.unpacks_to).exists():
            continue
        path = fetch(source.urls, root / source.file, source.checksums, dataset=dataset,
                     instead=instead(dataset), unverified=source.unverified, page=source.page)
        if source.unpacks_to:
            extract(path, root)
    return root
