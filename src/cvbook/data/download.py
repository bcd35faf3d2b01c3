"""Downloading a dataset's file from an ordered list of sources: checksummed, resumable, clear offline.

:func:`fetch` tries each URL of a file in turn and keeps the first copy whose checksum matches:

- every request sends a descriptive ``User-Agent`` (:data:`USER_AGENT`; some hosts, Wikimedia
  among them, answer 403 to Python's default one);
- bytes go to ``<file>.partial`` and a broken transfer resumes from there with an HTTP ``Range``
  request (a server that ignores it and answers 200 is read from the start again); the next
  source resumes the same ``.partial`` too, which the checksum makes safe;
- a source that stays slower than :data:`SPEED_FLOOR` (sustained over its window) is left for
  the next one; the last source is never left for slowness;
- a tqdm progress bar shows size and speed;
- every failure (refused, unreachable, a connection dropped mid-file, a wrong checksum, a web
  page served instead of the file) becomes one :class:`DatasetUnavailableError` that names the
  dataset, each source tried with why it failed, and what to do.

A file is verified against every checksum the table gives (``md5``, ``sha1``, ``sha256``). A file
listed without any must say why (``unverified``): it is downloaded and used, with a warning each
time that prints its SHA-1 to record, and is never taken as verified.
"""

from __future__ import annotations

import collections
import concurrent.futures
import hashlib
import http.client
import socket
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from cvbook import profile

__all__ = ["DatasetUnavailableError", "UnverifiedDownloadWarning", "SpeedFloor", "SPEED_FLOOR", "USER_AGENT",
           "CHECKSUMS", "data_root", "file_digest", "fetch", "extract", "check_reachable"]

CONNECT_TIMEOUT_S = 2.0
#: The hash algorithms a source table may give, strongest last.
CHECKSUMS = ("md5", "sha1", "sha256")
CHUNK = 1 << 16


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("cvbook")
    except Exception:  # not installed (a source checkout on sys.path)
        return "dev"


#: Sent with every request, saying who asks and where to read about it (as Wikimedia's policy asks).
USER_AGENT = (f"cvbook/{_version()} (+https://github.com/cvbook/cvbook) "
              f"Python-urllib/{sys.version_info.major}.{sys.version_info.minor}")


@dataclass(frozen=True)
class SpeedFloor:
    """Leave a source whose average speed over the last ``window_s`` seconds stays under ``bytes_per_s``."""

    bytes_per_s: float = 50_000
    window_s: float = 20.0


#: The floor :func:`fetch` uses unless given another; assign a new one to change it for a session
#: (``cvbook.data.download.SPEED_FLOOR = SpeedFloor(10_000, 60)`` on a slow line), None for none.
SPEED_FLOOR: SpeedFloor | None = SpeedFloor()


class DatasetUnavailableError(RuntimeError):
    """A dataset cannot be had here: no network, or no source that serves the right file."""


class UnverifiedDownloadWarning(UserWarning):
    """A file was used that the source table gives no checksum for."""


class _SourceFailed(Exception):
    """One source failed; the message says why, in words for the final error."""


def data_root() -> Path:
    """Where datasets live: ``profile.settings().data_root`` (``$CVBOOK_DATA``, default ``~/.cache/cvbook``)."""
    return profile.settings().data_root


def file_digest(path: str | Path, algorithm: str = "md5", chunk: int = 1 << 20) -> str:
    """Hex digest of a file, read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _mismatches(path: Path, checksums: Mapping[str, str]) -> list[str]:
    """The checksums of ``checksums`` that ``path`` does not have, as ``"md5 <got> (expected <want>)"``."""
    found = []
    for algorithm, expected in checksums.items():
        got = file_digest(path, algorithm)
        if got != expected.lower():
            found.append(f"{algorithm} {got} (expected {expected})")
    return found


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


def _reachability(urls: Sequence[str]) -> list[str | None]:
    """For each URL, None if its host answers, else why not; all hosts checked at once (≤ 2 s in all)."""
    def probe(url: str) -> str | None:
        try:
            check_reachable(url)
            return None
        except OSError as e:
            return f"{urllib.parse.urlsplit(url).hostname} is not reachable ({e})"

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(urls))) as pool:
        return list(pool.map(probe, urls))


def _size(n: float) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def _open(url: str, offset: int, timeout: float):
    """The response to a GET of ``url`` from byte ``offset`` on (a ``Range`` request when > 0)."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _transfer(url: str, partial: Path, *, floor: SpeedFloor | None, label: str) -> None:
    """Append ``url``'s bytes to ``partial`` from where it ends; raise :class:`_SourceFailed` on any failure.

    ``partial`` may hold the start of the file (from this or another source): a ``Range`` request
    asks for the rest; a server that answers 200 instead of 206 sends the whole file, which then
    replaces it. ``floor``: raise when the speed over its window stays under it (None: never).
    """
    offset = partial.stat().st_size if partial.exists() else 0
    timeout = max(30.0, floor.window_s) if floor else 60.0
    try:
        response = _open(url, offset, timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # nothing after `offset`: the partial file may be complete
            return
        raise _SourceFailed(f"HTTP {e.code} {e.reason}") from None
    except (OSError, http.client.HTTPException) as e:
        raise _SourceFailed(_reason(e)) from None
    with response:
        if response.headers.get_content_type() == "text/html" and not label.endswith((".html", ".htm")):
            raise _SourceFailed("served a web page instead of the file (an error, login or rate-limit page)")
        resumed = offset > 0 and response.status == 206
        if resumed and not (response.headers.get("Content-Range") or "").startswith(f"bytes {offset}-"):
            raise _SourceFailed(f"answered a Range request for bytes {offset}- with "
                                f"{response.headers.get('Content-Range')!r}")
        if offset and not resumed:
            offset = 0  # the server ignored Range (200): it sends the whole file again
        length = int(response.headers.get("Content-Length") or 0)
        total = offset + length if length else None
        recent: collections.deque[tuple[float, int]] = collections.deque()
        start = time.monotonic()
        received = 0
        try:
            with open(partial, "ab" if resumed else "wb") as out, \
                    tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1000,
                         desc=label, miniters=1, leave=False) as bar:
                while block := response.read1(CHUNK):
                    out.write(block)
                    bar.update(len(block))
                    received += len(block)
                    now = time.monotonic()
                    recent.append((now, received))
                    if floor is not None:
                        while len(recent) > 1 and recent[1][0] <= now - floor.window_s:
                            recent.popleft()
                        span = now - recent[0][0]
                        if now - start >= floor.window_s and span > 0:
                            speed = (received - recent[0][1]) / span
                            if speed < floor.bytes_per_s:
                                raise _SourceFailed(
                                    f"too slow: {_size(speed)}/s over {floor.window_s:.0f} s, under the floor of "
                                    f"{_size(floor.bytes_per_s)}/s ({_size(offset + received)} kept to resume)")
        except (OSError, http.client.HTTPException) as e:
            raise _SourceFailed(f"{_reason(e)} after {_size(offset + received)} "
                                f"(kept in {partial.name} to resume)") from None
        if length and received < length:
            raise _SourceFailed(f"the connection closed after {_size(offset + received)} of {_size(total)} "
                                f"(kept in {partial.name} to resume)")


def _reason(e: BaseException) -> str:
    """A failure in words: ``ConnectionResetError: [Errno 104] ...`` keeps its type, which says most."""
    if isinstance(e, urllib.error.URLError) and not isinstance(e, urllib.error.HTTPError):
        e = e.reason if isinstance(e.reason, BaseException) else e
    if isinstance(e, http.client.IncompleteRead):
        return f"the connection broke mid-file (IncompleteRead, {len(e.partial)} bytes in the last read)"
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _from_source(url: str, partial: Path, checksums: Mapping[str, str], *, floor: SpeedFloor | None,
                 label: str, attempts: int = 3) -> None:
    """Make ``partial`` the whole, verified file from ``url``; raise :class:`_SourceFailed` if it cannot.

    A transfer that breaks after some progress resumes, up to ``attempts`` tries in all. A file whose
    checksum is wrong after a resumed transfer is fetched once more from its first byte.
    """
    restarted = False
    for attempt in range(1, attempts + 1):
        before = partial.stat().st_size if partial.exists() else 0
        try:
            _transfer(url, partial, floor=floor, label=label)
        except _SourceFailed as e:
            after = partial.stat().st_size if partial.exists() else 0
            if after > before and attempt < attempts and not str(e).startswith("too slow"):
                print(f"{label}: {e}; resuming (try {attempt + 1} of {attempts})")
                continue
            raise
        wrong = _mismatches(partial, checksums)
        if not wrong:
            return
        partial.unlink()
        if before and not restarted:  # the start came from an earlier try or another source
            restarted = True
            print(f"{label}: wrong checksum after resuming; downloading it again from the start")
            continue
        raise _SourceFailed("wrong checksum: " + ", ".join(wrong))
    raise _SourceFailed(f"still incomplete after {attempts} tries")


def fetch(urls: str | Sequence[str], dest: str | Path, checksums: Mapping[str, str] | str | None, *,
          dataset: str, instead: str, unverified: str | None = None, page: str | None = None,
          speed_floor: SpeedFloor | None | str = "default") -> Path:
    """Make ``dest`` the verified file from the first of ``urls`` that serves it; return ``dest``.

    Args:
        urls: the sources, in order of preference (one URL or a list).
        dest: where the file goes; a file already there with the right checksums is reused, a wrong
            one (partial or corrupt) is fetched again.
        checksums: ``{"md5": ..., "sha1": ..., "sha256": ...}`` (any non-empty subset; a bare
            string is an md5). Every one given must match.
        dataset: the dataset's name, for messages.
        instead: what to use without the internet, as code (``"cvbook.data.load('shapes10')"``).
        unverified: why the table has no checksum for this file; required when ``checksums`` is
            empty. Such a file is used with an :class:`UnverifiedDownloadWarning` every time.
        page: a web page where a person can download the file by hand (named in the error).
        speed_floor: a :class:`SpeedFloor`, None for none, or the default :data:`SPEED_FLOOR`.

    Raises:
        DatasetUnavailableError: no source served the file; the message lists each source with
            why it failed, and what to do.
        ValueError: neither a checksum nor a reason for having none.
    """
    urls = [urls] if isinstance(urls, str) else list(urls)
    checksums = {"md5": checksums} if isinstance(checksums, str) else dict(checksums or {})
    unknown = sorted(set(checksums) - set(CHECKSUMS))
    if unknown:
        raise ValueError(f"unknown checksum type(s) {unknown} for {dataset}; use {', '.join(CHECKSUMS)}")
    if not checksums and not unverified:
        raise ValueError(f"{dataset}: {Path(dest).name} has no checksum; give md5, sha1 or sha256, "
                         f"or say why it has none (unverified='...')")
    if not urls:
        raise ValueError(f"{dataset}: {Path(dest).name} has no source URL")
    floor = SPEED_FLOOR if speed_floor == "default" else speed_floor
    dest = Path(dest)
    if dest.exists():
        wrong = _mismatches(dest, checksums)
        if not wrong:
            if not checksums:
                _warn_unverified(dest, dataset, unverified)
            return dest
        print(f"{dest.name}: checksum mismatch (partial or corrupt download: {wrong[0]}); fetching it again")
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    tried: list[tuple[str, str]] = []
    reachable = _reachability(urls)
    for i, (url, unreachable) in enumerate(zip(urls, reachable)):
        if unreachable:
            tried.append((url, unreachable))
            continue
        last = all(why is not None for why in reachable[i + 1:])  # never left for slowness
        try:
            _from_source(url, partial, checksums, floor=None if last else floor, label=dest.name)
        except _SourceFailed as e:
            tried.append((url, str(e)))
            if not last:
                print(f"{dest.name}: {url} failed ({e}); trying the next source")
            continue
        partial.replace(dest)
        if not checksums:
            _warn_unverified(dest, dataset, unverified)
        return dest
    raise DatasetUnavailableError(_unavailable(dataset, dest, partial, checksums, tried, instead, page))


def _warn_unverified(path: Path, dataset: str, reason: str | None) -> None:
    warnings.warn(
        f"{dataset}: {path} is not verified ({reason}). Its SHA-1 is {file_digest(path, 'sha1')}: if the "
        f"file's page shows the same, record it as \"sha1\" in cvbook/data/sources.json.",
        UnverifiedDownloadWarning, stacklevel=3)


def _unavailable(dataset: str, dest: Path, partial: Path, checksums: Mapping[str, str],
                 tried: list[tuple[str, str]], instead: str, page: str | None) -> str:
    lines = [f"Cannot download the '{dataset}' dataset's file {dest.name}. Sources tried:"]
    lines += [f"  {n}. {url}: {why}" for n, (url, why) in enumerate(tried, 1)]
    offline = all("not reachable" in why for _, why in tried)
    lines.append("What to do:")
    if offline:
        lines.append("  - it needs the internet (the full profile); check the connection and run again;")
    else:
        kept = f" ({_size(partial.stat().st_size)} kept in {partial.name}: it resumes)" if partial.exists() else ""
        lines.append(f"  - run again later{kept};")
    verify = ", ".join(f"{a} {v}" for a, v in checksums.items())
    where = f"from {page} or a source above" if page else "from a source above"
    lines.append(f"  - or download {dest.name} yourself (in a browser, {where}) and place it at "
                 f"{dest}{f' (it must have {verify})' if verify else ''};")
    lines.append(f"  - or, offline, use the quick profile (CVBOOK_PROFILE=quick) and its stand-in: {instead}.")
    return "\n".join(lines)


def extract(archive: Path, into: Path) -> None:
    """Unpack a ``.tar``, ``.tar.gz`` or ``.zip`` archive into ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            z.extractall(into)
    else:
        with tarfile.open(archive) as t:
            t.extractall(into, filter="data")
