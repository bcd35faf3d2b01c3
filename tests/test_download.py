"""Downloads against real-host behaviour, all on 127.0.0.1: a host that refuses Python's default
User-Agent, a throttled one, one that drops mid-file, one that ignores ``Range``, one that serves the
wrong bytes or a web page, and mirrors that work; plus the source table's rules and the offline error."""
from __future__ import annotations

import hashlib
import http.client
import http.server
import json
import socket
import ssl
import threading
import time
import urllib.error
import warnings

import pytest

from cvbook import data, profile
from cvbook.data import download, sources
from cvbook.data.download import DatasetUnavailableError, SpeedFloor

PAYLOAD = bytes(range(256)) * 800  # 204,800 bytes
MD5 = hashlib.md5(PAYLOAD).hexdigest()
SHA1 = hashlib.sha1(PAYLOAD).hexdigest()
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
FAST_FLOOR = SpeedFloor(bytes_per_s=100_000, window_s=0.5)


class Host:
    """A server on 127.0.0.1 whose paths behave like real hosts; ``requests`` records (path, headers)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.behaviour: dict[str, str] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        host = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                path = self.path.lstrip("/")
                host.requests.append((path, dict(self.headers)))
                body, how = host.files.get(path), host.behaviour.get(path, "plain")
                if body is None:
                    return self.send_error(404)
                agent = self.headers.get("User-Agent", "")
                if how == "needs-user-agent" and (not agent or agent.startswith("Python-urllib")):
                    return self.send_error(403, "Forbidden: set a User-Agent (see the host's policy)")
                start = 0
                asked = self.headers.get("Range", "")
                if asked.startswith("bytes=") and how not in ("ignores-range", "drops-always"):
                    start = int(asked[6:].split("-")[0])
                self.send_response(206 if start else 200)
                if start and how == "wrong-range":  # 206, but the whole file
                    self.send_header("Content-Range", f"bytes 0-{len(body) - 1}/{len(body)}")
                    start = 0
                elif start:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Type", "text/html" if how == "web-page" else "application/octet-stream")
                self.send_header("Content-Length", str(len(body) - start))
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    self.send_body(body[start:], how, start)
                except (BrokenPipeError, ConnectionResetError):  # the client left (too slow for it)
                    pass
                self.close_connection = True

            def send_body(self, rest: bytes, how: str, start: int) -> None:
                if how == "throttled":  # ~20 kB/s
                    for i in range(0, len(rest), 1000):
                        self.wfile.write(rest[i:i + 1000])
                        self.wfile.flush()
                        time.sleep(0.05)
                elif how in ("drops-once", "drops-always") and (how == "drops-always" or not start):
                    self.wfile.write(rest[:len(rest) // 3])
                    self.wfile.flush()
                else:
                    self.wfile.write(rest)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def serve(self, path: str, body: bytes = PAYLOAD, how: str = "plain") -> str:
        self.files[path], self.behaviour[path] = body, how
        return self.url + path

    def ranges(self, path: str) -> list[str | None]:
        return [headers.get("Range") for p, headers in self.requests if p == path]


@pytest.fixture
def host():
    h = Host()
    yield h
    h.server.shutdown()
    h.server.server_close()


def fetch(urls, dest, checksums=None, **kwargs):
    kwargs.setdefault("speed_floor", FAST_FLOOR)
    return download.fetch(urls, dest, {"md5": MD5} if checksums is None else checksums, dataset="x",
                          instead="cvbook.data.load('shapes')", **kwargs)


def test_user_agent_is_sent_and_a_host_that_refuses_python_serves_the_file(host, tmp_path):
    url = host.serve("painting.jpg", how="needs-user-agent")
    dest = fetch(url, tmp_path / "painting.jpg", {"sha1": SHA1, "sha256": SHA256})
    assert dest.read_bytes() == PAYLOAD
    agent = host.requests[0][1]["User-Agent"]
    assert agent.startswith("cvbook/") and "github.com/cvbook/cvbook" in agent
    assert not (tmp_path / "painting.jpg.partial").exists()


def test_a_verified_file_is_reused_and_a_corrupt_one_fetched_again(host, tmp_path, capsys):
    url = host.serve("a.bin")
    fetch(url, tmp_path / "a.bin")
    del host.files["a.bin"]
    assert fetch(url, tmp_path / "a.bin").read_bytes() == PAYLOAD  # no request: the server lost it
    (tmp_path / "a.bin").write_bytes(PAYLOAD[:1000])
    host.serve("a.bin")
    assert fetch(url, tmp_path / "a.bin").read_bytes() == PAYLOAD
    assert "checksum mismatch" in capsys.readouterr().out


def test_a_throttled_host_is_left_for_the_next_source_which_resumes(host, tmp_path):
    slow, mirror = host.serve("slow/a.bin", how="throttled"), host.serve("mirror/a.bin")
    start = time.perf_counter()
    assert fetch([slow, mirror], tmp_path / "a.bin").read_bytes() == PAYLOAD
    assert time.perf_counter() - start < 5  # the whole file from the slow host would take 10 s
    (resumed_at,) = host.ranges("mirror/a.bin")
    assert resumed_at is not None and 0 < int(resumed_at[6:-1]) < len(PAYLOAD)  # bytes=N-: the mirror resumed


def test_the_last_source_is_never_left_for_slowness(host, tmp_path):
    small = PAYLOAD[:20_000]
    slow = host.serve("slow.bin", small, how="throttled")
    dest = fetch([slow], tmp_path / "slow.bin", {"md5": hashlib.md5(small).hexdigest()})
    assert dest.read_bytes() == small


def test_a_transfer_that_drops_mid_file_resumes_with_range(host, tmp_path, capsys):
    url = host.serve("a.bin", how="drops-once")
    assert fetch(url, tmp_path / "a.bin").read_bytes() == PAYLOAD
    assert host.ranges("a.bin") == [None, f"bytes={len(PAYLOAD) // 3}-"]
    assert "resuming" in capsys.readouterr().out


@pytest.mark.parametrize("error", [
    http.client.IncompleteRead(b"abc", 10), ssl.SSLError(1, "[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC]"),
    ConnectionResetError(104, "Connection reset by peer"), TimeoutError("The read operation timed out"),
    urllib.error.URLError("unexpected EOF")], ids=lambda e: type(e).__name__)
def test_a_mid_transfer_failure_is_a_clear_error_and_the_next_call_resumes(host, tmp_path, monkeypatch, error):
    """Each read hands over one 10 kB block, then fails as a real connection can (three tries in all)."""
    url = host.serve("a.bin")

    def read1_then_fail(self, n=-1):
        if getattr(self, "_served_once", False):
            raise error
        self._served_once = True
        return self.read(10_000)

    monkeypatch.setattr(http.client.HTTPResponse, "read1", read1_then_fail)
    with pytest.raises(DatasetUnavailableError) as failed:
        fetch(url, tmp_path / "a.bin")
    message = str(failed.value)
    assert type(error).__name__ in message and "Cannot download the 'x' dataset's file a.bin" in message
    assert "30 kB kept in a.bin.partial: it resumes" in message and "Traceback" not in message
    assert (tmp_path / "a.bin.partial").read_bytes() == PAYLOAD[:30_000]
    monkeypatch.undo()
    assert fetch(url, tmp_path / "a.bin").read_bytes() == PAYLOAD
    assert host.ranges("a.bin") == [None, "bytes=10000-", "bytes=20000-", "bytes=30000-"]


def test_a_server_that_ignores_range_is_read_from_the_start(host, tmp_path):
    url = host.serve("a.bin", how="ignores-range")
    (tmp_path / "a.bin.partial").write_bytes(b"\xff" * 5000)  # a stale start, not this file's bytes
    assert fetch(url, tmp_path / "a.bin").read_bytes() == PAYLOAD
    assert host.ranges("a.bin") == ["bytes=5000-"]


def test_a_206_for_another_range_is_not_appended(host, tmp_path, capsys):
    wrong, mirror = host.serve("w/a.bin", how="wrong-range"), host.serve("m/a.bin")
    (tmp_path / "a.bin.partial").write_bytes(PAYLOAD[:5000])
    assert fetch([wrong, mirror], tmp_path / "a.bin").read_bytes() == PAYLOAD
    assert host.ranges("m/a.bin") == ["bytes=5000-"]
    assert "answered a Range request for bytes 5000- with 'bytes 0-204799/204800'" in capsys.readouterr().out


def test_a_wrong_checksum_falls_back_to_the_next_source_then_fails_clearly(host, tmp_path):
    bad, good = host.serve("bad/a.bin", b"not the file" * 100), host.serve("good/a.bin")
    assert fetch([bad, good], tmp_path / "a.bin", {"sha256": SHA256}).read_bytes() == PAYLOAD
    (tmp_path / "a.bin").unlink()
    other = host.serve("other/a.bin", b"neither" * 100)
    with pytest.raises(DatasetUnavailableError) as failed:
        fetch([bad, other], tmp_path / "b.bin", {"sha256": SHA256})
    message = str(failed.value)
    assert message.count("wrong checksum") == 2 and bad in message and other in message
    assert f"place it at {tmp_path / 'b.bin'} (it must have sha256 {SHA256})" in message
    assert "cvbook.data.load('shapes')" in message
    assert not (tmp_path / "b.bin").exists() and not (tmp_path / "b.bin.partial").exists()


def test_a_web_page_served_instead_of_the_file_is_a_failure(host, tmp_path):
    page, mirror = host.serve("page/a.bin", b"<html>rate limited</html>", how="web-page"), host.serve("m/a.bin")
    assert fetch([page, mirror], tmp_path / "a.bin").read_bytes() == PAYLOAD
    with pytest.raises(DatasetUnavailableError, match="served a web page instead of the file"):
        fetch([page], tmp_path / "c.bin")


def test_every_failure_is_named_per_source(host, tmp_path):
    refused = host.serve("r/a.bin")
    host.behaviour["r/a.bin"] = "needs-user-agent"
    missing = host.url + "nothing-here.bin"
    dropping = host.serve("d/a.bin", how="drops-always")
    closed = f"http://127.0.0.1:{_closed_port()}/a.bin"
    download_user_agent = download.USER_AGENT
    try:
        download.USER_AGENT = "Python-urllib/3.11"  # what urllib sends by default
        with pytest.raises(DatasetUnavailableError) as failed:
            fetch([refused, missing, dropping, closed], tmp_path / "a.bin", page="https://example.org/a.html")
    finally:
        download.USER_AGENT = download_user_agent
    lines = str(failed.value).splitlines()
    assert lines[0] == "Cannot download the 'x' dataset's file a.bin. Sources tried:"
    assert lines[1] == f"  1. {refused}: HTTP 403 Forbidden: set a User-Agent (see the host's policy)"
    assert lines[2] == f"  2. {missing}: HTTP 404 Not Found"
    assert lines[3].startswith(f"  3. {dropping}: the connection closed after") and "still incomplete" not in lines[3]
    assert lines[4].startswith(f"  4. {closed}: 127.0.0.1 is not reachable")
    assert "from https://example.org/a.html or a source above" in str(failed.value)


def test_no_checksum_needs_a_reason_and_then_warns_every_time(host, tmp_path):
    url = host.serve("p.jpg")
    with pytest.raises(ValueError, match="no checksum"):
        fetch(url, tmp_path / "p.jpg", {})
    for _ in range(2):  # downloaded, then reused: never taken as verified
        with pytest.warns(download.UnverifiedDownloadWarning, match=f"SHA-1 is {SHA1}"):
            fetch(url, tmp_path / "p.jpg", {}, unverified="not recorded yet")
    assert len(host.requests) == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_hosts_fail_fast_naming_the_quick_dataset(tmp_path):
    start = time.perf_counter()
    urls = [f"http://127.0.0.1:{_closed_port()}/x.tar.gz" for _ in range(3)]
    with pytest.raises(DatasetUnavailableError, match=r"(?s)needs the internet.*cvbook.data.load\('shapes'\)"):
        fetch(urls, tmp_path / "x.tar.gz")
    assert time.perf_counter() - start < 5


def test_hanging_name_lookups_fail_within_5_seconds_for_all_sources(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: time.sleep(8))
    start = time.perf_counter()
    with pytest.raises(DatasetUnavailableError, match="quick profile"):
        fetch([f"https://mirror{i}.invalid/x.tar.gz" for i in range(3)], tmp_path / "x")
    assert time.perf_counter() - start < 5


# --- the source table ----------------------------------------------------------------------

def test_every_packaged_source_has_a_checksum():
    """Every download of the packaged table is verified, the painting too: none is left 'unverified'."""
    with profile.override(sources_path=profile.packaged_sources()):
        table = sources.table()
    unverified = set()
    for name, parts in table.items():
        for entries in parts.values():
            for f in entries:
                assert f.urls and all(u.startswith(("https://", "http://")) for u in f.urls), (name, f.file)
                if not f.checksums:
                    unverified.add((name, f.file))
                assert all(len(v) == {"md5": 32, "sha1": 40, "sha256": 64}[a] and int(v, 16) >= 0
                           for a, v in f.checksums.items()), (name, f.file, f.checksums)
                assert f.unverified is None, (name, f.file)
    assert unverified == set()
    assert sources.QUICK_STAND_INS.keys() | sources.QUICK_CALLS.keys() == table.keys()


@pytest.mark.parametrize("entry, message", [
    ({"file": "a.zip", "urls": ["http://h/a.zip"]}, "no checksum"),
    ({"file": "a.zip", "urls": ["http://h/a.zip"], "unverified": " "}, "no checksum"),
    ({"file": "a.zip", "md5": "0" * 32}, "give its sources"),
    ({"file": "a.zip", "url": "http://h/a.zip", "urls": ["http://h/a.zip"], "md5": "0" * 32}, "not both"),
    ({"file": "a.zip", "urls": ["http://h/a.zip"], "md4": "0" * 32}, "unknown field"),
])
def test_a_table_entry_without_source_or_checksum_is_refused(tmp_path, entry, message):
    (tmp_path / "t.json").write_text(json.dumps({"penn-fudan": {"all": [entry]}}))
    with profile.override(sources_path=tmp_path / "t.json"), pytest.raises(ValueError, match=message):
        sources.table()


def test_source_table_is_replaceable_and_checked(tmp_path, host):
    """CVBOOK_SOURCES points the registry at another table (the rehearsal's stand-ins); checksums still hold."""
    import io
    import zipfile

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("PennFudanPed/PNGImages/.keep", b"")
    url = host.serve("pf.zip", archive.getvalue())
    table = {"penn-fudan": {"all": [{"file": "PennFudanPed.zip", "url": url,
                                      "md5": hashlib.md5(archive.getvalue()).hexdigest(),
                                      "unpacks_to": "PennFudanPed/PNGImages"}]}}
    (tmp_path / "sources.json").write_text(json.dumps(table))
    with profile.override(sources_path=tmp_path / "sources.json"):
        root = sources.fetch_source("penn-fudan", "train", root=tmp_path / "pf")
        assert (root / "PennFudanPed" / "PNGImages").is_dir()
        table["penn-fudan"]["all"][0]["md5"] = "0" * 32
        (tmp_path / "sources.json").write_text(json.dumps(table))
        with pytest.raises(DatasetUnavailableError, match="wrong checksum"):
            sources.fetch_source("penn-fudan", "all", root=tmp_path / "elsewhere")
        (tmp_path / "sources.json").write_text("{not json")
        with pytest.raises(ValueError, match="cannot read the dataset source table"):
            sources.table()


def _no_dns(*args, **kwargs):
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.mark.parametrize("name, quick", [("cifar10", "shapes10"), ("fashion-mnist", "digits"), ("voc2007", "shapes"),
                                         ("penn-fudan", "shapes"), ("voc2012", "shapes-segmentation")])
def test_real_dataset_offline_fails_within_5_seconds(tmp_path, monkeypatch, name, quick):
    """The real call, with the real table's URLs (mirrors included), on a machine without internet.

    So that the test means the same everywhere (and never skips), the network is taken away:
    every name lookup fails, as it does on an offline machine.
    """
    monkeypatch.setattr(socket, "getaddrinfo", _no_dns)
    start = time.perf_counter()
    with profile.override(data_root=tmp_path, sources_path=profile.packaged_sources()), \
            pytest.raises(DatasetUnavailableError, match=rf"cvbook.data.load\('{quick}'\)"):
        data.load(name, split="train")
    assert time.perf_counter() - start < 5
    assert data.info(name).quick == quick and data.info(quick).offline
    assert sources.QUICK_STAND_INS[name] == quick


def test_the_painting_offline_says_what_to_use_and_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _no_dns)
    with profile.override(data_root=tmp_path, sources_path=profile.packaged_sources()), \
            pytest.raises(DatasetUnavailableError) as failed:
        data.load("painting")
    message = str(failed.value)
    assert "cvbook.data.photo('brick')" in message and "load('faces')" not in message
    assert "https://commons.wikimedia.org/wiki/File:The_Scream.jpg" in message
    assert f"place it at {tmp_path / 'painting' / 'The_Scream.jpg'}" in message


def _picture() -> bytes:
    from PIL import Image
    import io

    picture = io.BytesIO()
    Image.new("RGB", (6, 4), (10, 20, 30)).save(picture, format="PNG")
    return picture.getvalue()


def test_the_painting_is_verified_against_its_md5(tmp_path, host):
    """The packaged painting entry has an md5: served bytes that differ are refused, matching ones load."""
    picture = _picture()
    with profile.override(sources_path=profile.packaged_sources()):
        (entry,) = sources.files("painting", "all")
    assert entry.file == "The_Scream.jpg" and entry.md5 == "46ef64eea5a7b2d13dbadd420b531249" and entry.page
    served = {"file": entry.file, "url": host.serve("scream.jpg", picture, how="needs-user-agent"), "page": entry.page}
    (tmp_path / "packaged.json").write_text(json.dumps({"painting": {"all": [{**served, "md5": entry.md5}]}}))
    with profile.override(data_root=tmp_path / "a", sources_path=tmp_path / "packaged.json"), \
            pytest.raises(DatasetUnavailableError, match="wrong checksum"):
        data.load("painting")
    (tmp_path / "right.json").write_text(json.dumps(
        {"painting": {"all": [{**served, "md5": hashlib.md5(picture).hexdigest()}]}}))
    with profile.override(data_root=tmp_path / "b", sources_path=tmp_path / "right.json"), \
            warnings.catch_warnings():
        warnings.simplefilter("error", download.UnverifiedDownloadWarning)
        image = data.load("painting")
    assert image.shape == (4, 6, 3) and image[0, 0].tolist() == [10, 20, 30]


def test_a_table_entry_without_checksum_downloads_with_a_warning(tmp_path, host):
    """The machinery for an entry that says why it has no checksum, on a table of its own (the packaged one
    has none such): the file is used, with a warning every time."""
    local = {"painting": {"all": [{"file": "p.jpg", "url": host.serve("p.jpg", _picture(), how="needs-user-agent"),
                                   "unverified": "a synthetic entry: this test's table records no checksum on purpose",
                                   "page": "https://example.org/p.html"}]}}
    (tmp_path / "t.json").write_text(json.dumps(local))
    with profile.override(data_root=tmp_path, sources_path=tmp_path / "t.json"), warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        image = data.load("painting")
    assert image.shape == (4, 6, 3) and image[0, 0].tolist() == [10, 20, 30]
    assert any(issubclass(w.category, download.UnverifiedDownloadWarning) for w in seen)
