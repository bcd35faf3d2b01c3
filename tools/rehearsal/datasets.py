"""Dataset stand-ins: build them, serve them on 127.0.0.1, and write the table that points there.

The contract for every real dataset of ``cvbook/data/sources.json``: a module
``standins/<dataset>.py`` (``-`` written ``_``) with ``build(folder: Path) -> None`` that writes
into ``folder`` one file per ``file`` entry of the dataset, at the same relative path, in the
exact upstream format (archive type, names, layout, annotation format, dtypes), small and
deterministic. A dataset of the table without a module, or a module that does not write a
listed file, is an error that names the dataset and what is missing.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import importlib.util
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

STANDINS = Path(__file__).resolve().parent / "standins"


def upstream_table() -> dict:
    """The packaged table of real sources (never ``$CVBOOK_SOURCES``), without comment keys."""
    import cvbook.data.sources as sources

    raw = json.loads(Path(sources.__file__).with_name("sources.json").read_text())
    return {name: parts for name, parts in raw.items() if not name.startswith("_")}


def module_path(dataset: str) -> Path:
    return STANDINS / f"{dataset.replace('-', '_')}.py"


def builders() -> dict[str, Path]:
    """Every stand-in module of ``standins/``, by module name (helpers start with ``_``)."""
    return {p.stem: p for p in sorted(STANDINS.glob("*.py")) if not p.stem.startswith("_")}


def missing_standins(table: dict | None = None) -> list[str]:
    """The datasets of the table that have no stand-in module."""
    return [name for name in (table or upstream_table()) if not module_path(name).exists()]


def load_builder(dataset: str):
    """Import ``standins/<dataset>.py`` (its folder first on ``sys.path``, for ``_common``)."""
    path = module_path(dataset)
    if not path.exists():
        raise FileNotFoundError(
            f"the dataset {dataset!r} of cvbook/data/sources.json has no stand-in: write "
            f"{path.relative_to(STANDINS.parents[2])} with build(folder) that writes its files "
            f"(see tools/rehearsal/datasets.py and CONTRIBUTING.md)")
    if str(STANDINS) not in sys.path:
        sys.path.insert(0, str(STANDINS))
    spec = importlib.util.spec_from_file_location(f"rehearsal_standin_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "build", None)):
        raise TypeError(f"{path} must define build(folder: pathlib.Path) -> None")
    return module


def listed_files(parts: dict) -> list[str]:
    """The distinct ``file`` entries of one dataset's parts."""
    return sorted({entry["file"] for entries in parts.values() for entry in entries})


def build_all(root: Path, table: dict | None = None) -> dict[str, Path]:
    """Build every dataset of the table into ``root/<dataset>/``; returns the folders.

    Raises:
        FileNotFoundError: a dataset has no stand-in module, or its module did not write a file
            that the table lists.
    """
    table = table or upstream_table()
    absent = missing_standins(table)
    if absent:
        load_builder(absent[0])  # raises, naming the module to write
    folders = {}
    for name, parts in table.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        load_builder(name).build(folder)
        for file in listed_files(parts):
            if not (folder / file).is_file():
                raise FileNotFoundError(f"the stand-in {module_path(name).name} did not write {file}, "
                                        f"which cvbook/data/sources.json lists for {name!r}")
        folders[name] = folder
    return folders


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def local_table(root: Path, base_url: str, table: dict | None = None) -> dict:
    """The sources table with one source per file, ``base_url/<dataset>/<file>``, and the stand-ins' md5s
    (the upstream mirrors, checksums and notes are left out: they describe the real files)."""
    table = table or upstream_table()
    kept = ("file", "unpacks_to")
    return {name: {part: [{**{k: entry[k] for k in kept if k in entry}, "urls": [f"{base_url}/{name}/{entry['file']}"],
                           "md5": md5(root / name / entry["file"])}
                          for entry in entries]
                   for part, entries in parts.items()}
            for name, parts in table.items()}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@contextlib.contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve ``root`` over HTTP on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
