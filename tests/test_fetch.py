"""Fetching on bad networks and bad archives, against a real HTTP server on loopback (no test reaches the internet):
a clean fetch, a download cut half-way and resumed with Range, a server that ignores Range, a checksum mismatch, a
404 then a working mirror, an archive with a `../` member, a full disk, and two fetches of one file at once."""
from __future__ import annotations

import hashlib
import io
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from methods.data import fetch as fetching
from methods.data.fetch import FetchError, Source, fetch, unpack


class Files(BaseHTTPRequestHandler):
    """Serves `files` ({path: bytes}); `cut` ({path: bytes}): the first response for that path stops after that
    many bytes (connection dropped); `ranges`: whether Range requests are honoured; every request is logged."""
    files: dict = {}
    cut: dict = {}
    ranges = True
    log: list = []

    def do_GET(self):
        type(self).log.append((self.path, self.headers.get("Range")))
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        if self.ranges and self.headers.get("Range", "").startswith("bytes="):
            start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        limit = self.cut.pop(self.path, None)
        payload = body[start:] if limit is None else body[start:start + limit]
        self.wfile.write(payload)
        if limit is not None:
            self.wfile.flush()
            self.connection.shutdown(2)   # dropped half-way

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    handler = type("Handler", (Files,), {"files": {}, "cut": {}, "ranges": True, "log": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def payload(size: int = 300_000) -> bytes:
    return bytes((i * 7919) % 251 for i in range(size))


def source_of(name: str, body: bytes, *urls: str) -> Source:
    return Source(name, urls, len(body), hashlib.sha256(body).hexdigest(), hashlib.md5(body).hexdigest())


def quiet(*_args):
    pass


def test_a_clean_fetch_is_verified_and_a_second_one_downloads_nothing(server, tmp_path):
    handler, base = server
    body = payload()
    handler.files["/a.bin"] = body
    fetched = fetch(source_of("a.bin", body, f"{base}/a.bin"), tmp_path, say=quiet)
    assert fetched.path.read_bytes() == body and fetched.checked == ["size", "sha256", "md5"]
    assert not (tmp_path / "a.bin.part").exists()
    requests = len(handler.log)
    fetch(source_of("a.bin", body, f"{base}/a.bin"), tmp_path, say=quiet)
    assert len(handler.log) == requests   # present and verified: never fetched again


def test_a_download_cut_half_way_resumes_with_a_range_request(server, tmp_path):
    handler, base = server
    body = payload()
    handler.files["/a.bin"], handler.cut["/a.bin"] = body, 100_000
    fetched = fetch(source_of("a.bin", body, f"{base}/a.bin"), tmp_path, backoff_s=0.01, say=quiet)
    assert fetched.path.read_bytes() == body
    assert handler.log == [("/a.bin", None), ("/a.bin", "bytes=100000-")]


def test_a_server_that_ignores_range_restarts_from_zero(server, tmp_path):
    handler, base = server
    body = payload()
    handler.files["/a.bin"], handler.cut["/a.bin"], handler.ranges = body, 100_000, False
    said = []
    fetched = fetch(source_of("a.bin", body, f"{base}/a.bin"), tmp_path, backoff_s=0.01, say=said.append)
    assert fetched.path.read_bytes() == body
    assert any("ignores Range" in line for line in said)


def test_a_checksum_mismatch_is_refused_kept_aside_and_never_unpacked(server, tmp_path):
    handler, base = server
    body = payload()
    handler.files["/a.tar"] = body[:-1] + b"!"
    with pytest.raises(FetchError, match=r"a.tar from http://.*: sha256 [0-9a-f]{64}, expected "
                                         rf"{hashlib.sha256(body).hexdigest()}; kept aside as a.tar.mismatch-"):
        fetch(source_of("a.tar", body, f"{base}/a.tar"), tmp_path, say=quiet)
    assert not (tmp_path / "a.tar").exists() and list(tmp_path.glob("a.tar.mismatch-*"))


def test_a_404_falls_to_the_next_mirror(server, tmp_path):
    handler, base = server
    body = payload()
    handler.files["/mirror/a.bin"] = body
    fetched = fetch(source_of("a.bin", body, f"{base}/gone/a.bin", f"{base}/mirror/a.bin"), tmp_path, say=quiet)
    assert fetched.url.endswith("/mirror/a.bin") and fetched.path.read_bytes() == body
    assert [path for path, _ in handler.log] == ["/gone/a.bin", "/mirror/a.bin"]   # a 404 is not retried


def test_no_source_at_all_is_one_line_naming_each_url_and_the_fix(server, tmp_path):
    _, base = server
    with pytest.raises(FetchError, match=r"a.bin: no source gave it \(http://.*/a.bin: HTTP 404; .*mirror"):
        fetch(source_of("a.bin", b"x", f"{base}/a.bin", f"{base}/b/a.bin"), tmp_path, say=quiet)


def tar_with(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_an_archive_unpacks_atomically_into_its_folder(tmp_path):
    archive = tmp_path / "set.tar.gz"
    archive.write_bytes(tar_with({"set/images/a.jpg": b"a", "set/images.txt": b"1 images/a.jpg\n"}))
    into = unpack(archive, tmp_path / "data" / "set", strip="set")
    assert (into / "images" / "a.jpg").read_bytes() == b"a" and (into / "images.txt").exists()
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["set"]   # no temporary folder left


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_an_archive_member_that_would_land_outside_is_refused(tmp_path, kind):
    archive = tmp_path / f"evil.{kind}"
    if kind == "tar":
        archive.write_bytes(tar_with({"ok.txt": b"ok", "../escaped.txt": b"gotcha"}))
    else:
        with zipfile.ZipFile(archive, "w") as opened:
            opened.writestr("ok.txt", "ok")
            opened.writestr("../escaped.txt", "gotcha")
    with pytest.raises(FetchError, match=r"member '\.\./escaped\.txt' would land outside its folder; refused"):
        unpack(archive, tmp_path / "data" / "evil")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "data" / "evil").exists()
    assert not [p for p in (tmp_path / "data").iterdir()]


def test_a_full_disk_is_said_before_downloading(server, tmp_path, monkeypatch):
    handler, base = server
    body = payload()
    handler.files["/a.bin"] = body
    monkeypatch.setattr(fetching, "free_bytes", lambda folder: 1000)
    with pytest.raises(FetchError, match=r"a.bin: 0.00 GB needed in .* \(the file and what it unpacks to\), "
                                         r"0.00 GB free; free some space"):
        fetch(source_of("a.bin", body, f"{base}/a.bin"), tmp_path, say=quiet)
    assert handler.log == []


def test_two_fetches_of_one_file_at_once_download_it_once(server, tmp_path):
    handler, base = server
    body = payload(2_000_000)
    handler.files["/a.bin"] = body
    said, results = [], []
    threads = [threading.Thread(target=lambda: results.append(fetch(source_of("a.bin", body, f"{base}/a.bin"),
                                                                     tmp_path, say=said.append)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.path.read_bytes() == body for r in results] == [True, True]
    assert [path for path, _ in handler.log] == ["/a.bin"]


def test_a_log_gets_one_line_per_file_with_its_size_and_rate(server, tmp_path):
    handler, base = server
    body = payload(3_000_000)
    handler.files["/big.bin"] = body
    said = []
    fetch(source_of("big.bin", body, f"{base}/big.bin"), tmp_path, say=said.append)
    assert len(said) == 1 and said[0].startswith("big.bin: 3.0 MB in ") and "MB/s" in said[0], said
