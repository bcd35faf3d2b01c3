"""Downloading files with a checksum, a progress bar and a fast, clear failure offline."""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import socket
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from tqdm.auto import tqdm

__all__ = ["DatasetUnavailableError", "data_root", "file_digest", "fetch", "extract", "check_reachable"]

CONNECT_TIMEOUT_S = 2.0


class DatasetUnavailableError(RuntimeError):
    """A dataset cannot be had here (no network, or a server that does not answer)."""


def data_root() -> Path:
    """Where datasets live: ``$CVBOOK_DATA``, default ``~/.cache/cvbook``."""
    return Path(os.environ.get("CVBOOK_DATA", Path.home() / ".cache" / "cvbook")).expanduser()


def file_digest(path: str | os.PathLike, algorithm: str = "md5", chunk: int = 1 << 20) -> str:
    """Hex digest of a file, read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_reachable(url: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise :class:`OSError` unless a TCP connection to ``url``'s host opens within ``timeout``.

    Name resolution runs in a worker thread because ``getaddrinfo`` ignores socket
    timeouts; a resolver that hangs therefore also fails within ``timeout``.
    """
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        future = pool.submit(socket.getaddrinfo, parts.hostname, port, 0, socket.SOCK_STREAM)
        try:
            infos = future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            raise OSError(f"looking up {parts.hostname} took more than {timeout:.0f} s") from None
    finally:
        pool.shutdown(wait=False)
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.settimeout(timeout)
        s.connect(address)


def fetch(url: str, dest: Path, md5: str | None, *, dataset: str, instead: str) -> Path:
    """Download ``url`` to ``dest`` unless a file with the right ``md5`` is already there.

    A partial or corrupt file (wrong checksum) is deleted and fetched again, once. When
    the host cannot be reached the call fails within a few seconds with a
    :class:`DatasetUnavailableError` that names ``instead``, the offline dataset to use.
    """
    dest = Path(dest)
    if dest.exists() and (md5 is None or file_digest(dest) == md5):
        return dest
    if dest.exists():
        print(f"{dest.name}: checksum mismatch (partial or corrupt download); fetching it again")
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        check_reachable(url)
    except OSError as e:
        raise DatasetUnavailableError(
            f"Cannot download the '{dataset}' dataset: {urllib.parse.urlsplit(url).hostname} is not "
            f"reachable ({e}). It needs the internet (the full profile). Offline, use the quick "
            f"profile (CVBOOK_PROFILE=quick) and its dataset instead: "
            f"cvbook.data.load({instead!r}). Or copy {dest.name} into {dest.parent} by hand."
        ) from None

    for attempt in (1, 2):
        partial = dest.with_suffix(dest.suffix + ".part")
        try:
            with urllib.request.urlopen(url, timeout=30) as response, open(partial, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
                    while block := response.read(1 << 20):
                        out.write(block)
                        bar.update(len(block))
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            partial.unlink(missing_ok=True)
            raise DatasetUnavailableError(
                f"Downloading '{dataset}' from {url} failed ({e}). Try again, or use the quick "
                f"profile's dataset: cvbook.data.load({instead!r})."
            ) from None
        if md5 is None or file_digest(partial) == md5:
            partial.replace(dest)
            return dest
        partial.unlink()
        print(f"{dest.name}: checksum mismatch after download (attempt {attempt} of 2)")
    raise DatasetUnavailableError(f"{url} keeps arriving with the wrong checksum (expected md5 {md5}).")


def extract(archive: Path, into: Path) -> None:
    """Unpack a ``.tar``, ``.tar.gz`` or ``.zip`` archive into ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            z.extractall(into)
    else:
        with tarfile.open(archive) as t:
            t.extractall(into, filter="data")
