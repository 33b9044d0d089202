"""Fetching a dataset's files safely: each file downloaded to `<name>.part` (resumed with an HTTP Range request after
an interruption, restarted from zero where the server ignores Range), retried with backoff, then tried at its next
mirror; its size and SHA-256 checked before anything uses it (a mismatch is set aside, never unpacked); archives
unpacked into a temporary folder, refusing any member that would land outside it, then renamed into place in one
step; free space checked first; one fetch of a file at a time (a second waits for the first and reuses its file).
Stdlib only (no torch): a fetch runs before any job, on a login node too. Every failure is one FetchError line
naming the file, what was expected, what came, and the fix."""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

CHUNK = 1 << 20


class FetchError(Exception):
    """A fetch that cannot go on; the message names the file and the fix."""


@dataclass(frozen=True)
class Source:
    """One file of a dataset: where to get it (the first URL, then each mirror), and what it must be."""
    name: str                       # the file's name in the download folder
    urls: tuple[str, ...]           # in order: the publisher's, then mirrors (or file:// paths, local archives)
    size: int | None = None         # bytes, where a source publishes it
    sha256: str | None = None
    md5: str | None = None          # where only an md5 is published (checked beside the sha256 when both are)


@dataclass
class Fetched:
    path: Path
    sha256: str
    size: int
    url: str
    checked: list[str] = field(default_factory=list)   # which published checksums it matched ("size", "sha256", ...)
    md5: str = ""


def fetch(source: Source, folder: Path, retries: int = 3, backoff_s: float = 1.0, say=print,
          timeout_s: float = 60.0) -> Fetched:
    """The verified file `folder/<name>`: kept if already there and verified, else downloaded (one process at a
    time; a second waits for the first and reuses its file)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    with locked(folder / f".{source.name}.lock", say, source.name):
        if target.exists():
            return _verified(source, target, target.as_uri())
        _check_space(source, folder)
        failures, part = [], folder / f"{source.name}.part"
        for url in source.urls:
            if not _try(url, part, source, failures, retries, backoff_s, say, timeout_s):
                continue
            if not part.exists():
                continue
            try:
                fetched = _verified(source, part, url)
            except FetchError as mismatch:   # kept aside; the next mirror may have the intact file
                failures.append(str(mismatch))
                continue
            part.replace(target)
            fetched.path = target
            return fetched
        raise FetchError(f"{source.name}: no source gave it ({'; '.join(failures) or 'no URL'}); check the network "
                         f"or point the fetch at a mirror (config data_mirror or $FOCUSNET_DATA_MIRROR), or put the "
                         f"file at {target} by hand")


def _try(url: str, part: Path, source: Source, failures: list[str], retries: int, backoff_s: float, say,
         timeout_s: float) -> bool:
    """Download `url` into `part`, retried with backoff; False when every try failed. A source that is not there
    (404, a dead host) is not retried: True, and the caller finds no whole part and goes to the next mirror."""
    for attempt in range(1, retries + 1):
        try:
            _download(url, part, source, say, timeout_s)
            return True
        except _Unavailable as error:
            failures.append(f"{url}: {error}")
            return True
        except (OSError, urllib.error.URLError, _Interrupted) as error:
            failures.append(f"{url} (try {attempt}): {error}")
            if attempt < retries:
                time.sleep(backoff_s * 2 ** (attempt - 1))
    return False


class _Unavailable(Exception):
    pass


class _Interrupted(Exception):
    pass


def _download(url: str, part: Path, source: Source, say, timeout_s: float) -> None:
    """Append to `part` from where it stopped (Range), or restart it when the server sends the whole file."""
    have = part.stat().st_size if part.exists() else 0
    if source.size is not None and have >= source.size:
        return
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:   # asked past the end: the part is whole (or longer); verify decides
            return
        if error.code in (404, 410, 403):
            raise _Unavailable(f"HTTP {error.code}") from None
        raise
    except urllib.error.URLError as error:
        if isinstance(error.reason, (ConnectionRefusedError, FileNotFoundError)) or "Name or service" in str(error):
            raise _Unavailable(str(error.reason)) from None
        raise
    with response:
        resumed = have and getattr(response, "status", 200) == 206
        if have and not resumed:
            say(f"{source.name}: the server ignores Range requests: starting again from zero")
            have = 0
        total = source.size or _length(response, have)
        progress = _Progress(source.name, total, have, say)
        with open(part, "ab" if resumed else "wb") as out:
            while True:
                try:
                    chunk = response.read(CHUNK)
                except (OSError, ConnectionError) as error:
                    raise _Interrupted(f"connection lost after {out.tell()} bytes ({error})") from None
                if not chunk:
                    break
                out.write(chunk)
                progress.advance(len(chunk))
            out.flush()
            os.fsync(out.fileno())
            got = out.tell()
    if source.size is not None and got < source.size:
        raise _Interrupted(f"connection closed after {got} of {source.size} bytes")
    progress.done()


def _length(response, have: int) -> int | None:
    length = response.headers.get("Content-Length")
    return have + int(length) if length and length.isdigit() else None


def _verified(source: Source, path: Path, url: str) -> Fetched:
    """The file's size and checksums against the published ones; a mismatch is moved aside (never used)."""
    fetched, wrong = _compared(source, path, url)
    if wrong:
        aside = path.with_name(f"{source.name}.mismatch-{time.strftime('%Y%m%d-%H%M%S')}")
        path.replace(aside)
        kind, expected, got = wrong[0]
        raise FetchError(f"{source.name} from {url}: {kind} {got}, expected {expected}; kept aside as {aside.name} "
                         "and not unpacked: fetch it again (another mirror if it recurs), or, if the publisher "
                         "re-released it, update its entry in config/datasets.yaml")
    return fetched


def verify_in_place(source: Source, path: Path) -> Fetched:
    """A file the fetch does not own (a local archive, one the user put in place) checked where it is; a mismatch
    is refused and the file left alone."""
    fetched, wrong = _compared(source, path, path.as_uri())
    if wrong:
        kind, expected, got = wrong[0]
        raise FetchError(f"{path}: {kind} {got}, expected {expected}; not unpacked: replace it with an intact copy "
                         "(or, if the publisher re-released it, update its entry in config/datasets.yaml)")
    return fetched


def _compared(source: Source, path: Path, url: str) -> tuple[Fetched, list[tuple]]:
    size = path.stat().st_size
    digests = file_digests(path)
    checked, wrong = [], []
    if source.size is not None:
        (checked if size == source.size else wrong).append(("size", source.size, size))
    for kind in ("sha256", "md5"):
        expected = getattr(source, kind)
        if expected:
            (checked if digests[kind] == expected.lower() else wrong).append((kind, expected, digests[kind]))
    return Fetched(path, digests["sha256"], size, url, [name for name, _, _ in checked], digests["md5"]), wrong


def file_digests(path: Path) -> dict[str, str]:
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            sha256.update(chunk)
            md5.update(chunk)
    return {"sha256": sha256.hexdigest(), "md5": md5.hexdigest()}


def _check_space(source: Source, folder: Path, margin: float = 2.2) -> None:
    """The archive and what it unpacks to (taken as `margin` times its size) must fit."""
    if source.size is None:
        return
    free = free_bytes(folder)
    part = folder / f"{source.name}.part"
    needed = int(source.size * margin) - (part.stat().st_size if part.exists() else 0)
    if free < needed:
        raise FetchError(f"{source.name}: {_gb(needed)} needed in {folder} (the file and what it unpacks to), "
                         f"{_gb(free)} free; free some space or point data_root at a larger disk")


def free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def _gb(count: int) -> str:
    return f"{count / 1e9:.2f} GB"


@contextmanager
def locked(path: Path, say, name: str):
    """One fetch of a file at a time on this file system; a second waits, then finds the file there."""
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"{name}: another fetch is downloading it; waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _Progress:
    """Bytes, rate and time left: on a terminal one line redrawn as the file comes; in a log (not a terminal) one
    line per file, when it is whole."""

    def __init__(self, name: str, total: int | None, start: int, say):
        self.name, self.total, self.done_bytes, self.start_bytes, self.say = name, total, start, start, say
        self.started, self.drawn = time.time(), 0.0
        self.interactive = sys.stderr.isatty()

    def advance(self, count: int) -> None:
        self.done_bytes += count
        if self.interactive and self.total and time.time() - self.drawn > 0.2:
            self.drawn = time.time()
            print("\r" + self._line(), end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.interactive:
            print("\r" + self._line(), file=sys.stderr, flush=True)
        else:
            self.say(self._line())

    def _line(self) -> str:
        elapsed = max(time.time() - self.started, 1e-6)
        rate = (self.done_bytes - self.start_bytes) / elapsed
        if not self.total or self.done_bytes >= self.total:
            resumed = f", resumed at {self.start_bytes / 1e6:.1f} MB" if self.start_bytes else ""
            return f"{self.name}: {self.done_bytes / 1e6:.1f} MB in {elapsed:.0f} s, {rate / 1e6:.1f} MB/s{resumed}"
        left = (self.total - self.done_bytes) / rate if rate else float("inf")
        return (f"{self.name}: {self.done_bytes / 1e6:.1f} of {self.total / 1e6:.1f} MB, {rate / 1e6:.1f} MB/s, "
                f"{left:.0f} s left")


def unpack(archive: Path, into: Path, strip: str = "") -> Path:
    """Unpack a .tar(.gz/.xz) or .zip into `into`, atomically: into a temporary sibling first, then renamed. A
    member that would land outside (an absolute path, `..`, a link pointing out) is refused, naming it. `strip`:
    a leading folder of the members to drop."""
    if into.exists():
        return into
    into.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{into.name}.", dir=into.parent))
    try:
        extract_into(archive, scratch)
        root = scratch / strip if strip else scratch
        if strip and not root.is_dir():
            raise FetchError(f"{archive.name}: has no top folder {strip!r}; its entry in config/datasets.yaml "
                             "names the wrong one")
        root.rename(into)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return into


def extract_into(archive: Path, folder: Path) -> None:
    """A .tar(.gz/.xz) or .zip extracted into an existing folder, every member checked first (see unpack)."""
    if zipfile.is_zipfile(archive):
        _unzip(archive, folder)
    elif tarfile.is_tarfile(archive):
        _untar(archive, folder)
    else:
        raise FetchError(f"{archive.name}: neither a tar nor a zip archive; delete it and fetch again")


def _inside(name: str, archive: Path) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise FetchError(f"{archive.name}: member {name!r} would land outside its folder; refused (the archive is "
                         "damaged or malicious): fetch it from another mirror")
    return path


def _unzip(archive: Path, into: Path) -> None:
    with zipfile.ZipFile(archive) as opened:
        for member in opened.infolist():
            _inside(member.filename, archive)
        opened.extractall(into)


def _untar(archive: Path, into: Path) -> None:
    with tarfile.open(archive) as opened:
        members = opened.getmembers()
        for member in members:
            _inside(member.name, archive)
            if member.issym() or member.islnk():
                target = PurePosixPath(member.name).parent / member.linkname
                if member.linkname.startswith("/") or ".." in PurePosixPath(os.path.normpath(target)).parts:
                    raise FetchError(f"{archive.name}: link {member.name!r} -> {member.linkname!r} points outside "
                                     "its folder; refused: fetch it from another mirror")
            if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
                raise FetchError(f"{archive.name}: member {member.name!r} is a device or fifo; refused")
        if hasattr(tarfile, "data_filter"):   # Python >= 3.11.4 / 3.12: the stdlib's own guard on top
            opened.extractall(into, members=members, filter="data")
        else:
            opened.extractall(into, members=members)
