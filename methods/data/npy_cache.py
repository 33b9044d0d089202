"""Arrays that are slow to build (decoded JPEGs), kept as .npy files and memory-mapped on later loads.

A cache file is named by what it was made from: the caller's key, a format version, and a fingerprint of its
source files (resolved path, inode, size, modification and change time of each), so a copy under another data root,
a file replaced or edited in place (even one copied back with its old mtime by `cp -p` or `rsync -t`: its change
time, which no tool sets, moves), or a new decoder never reads another copy's arrays: it builds its own. Only what
is slow to rebuild is cached (decoded pixels); what a listing file says (labels) is read afresh every time by the
caller. Building a new version removes the older versions of the same key, so edits do not pile up copies."""
from __future__ import annotations

import errno
import hashlib
import os
import re
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from methods.runs.files import DiskFullError, disk_full

FORMAT = 3   # bump when what build() makes changes (decoder, resizing), so older caches are never read


def fingerprint(sources: Iterable[Path | str]) -> str:
    digest = hashlib.sha256(f"format {FORMAT}\n".encode())
    for source in sources:
        path = Path(source).resolve()
        stat = path.stat()
        digest.update(f"{path}\t{stat.st_ino}\t{stat.st_size}\t{stat.st_mtime_ns}\t{stat.st_ctime_ns}\n".encode())
    return digest.hexdigest()[:16]


def identity(sources: Iterable[Path]) -> str:
    """Which files (by resolved path), whatever their state: the caches of one copy share it."""
    return hashlib.sha256("\n".join(map(str, sources)).encode()).hexdigest()[:8]


def cached_arrays(cache_dir: Path | str | None, key: str, names: tuple[str, ...],
                  build: Callable[[], dict[str, np.ndarray]], sources: Iterable[Path | str]) -> dict[str, np.ndarray]:
    """build() once and store each array as <cache_dir>/<key>-<identity>-<fingerprint>.<name>.npy; later calls with
    the same sources in the same state map the files; a new state of the same sources replaces the older one."""
    if cache_dir is None:
        return build()
    remove_orphaned_temporaries(Path(cache_dir))
    sources = [Path(source).resolve() for source in sources]
    key = f"{key}-{identity(sources)}"   # this copy's files: another data root has caches of its own
    stem = f"{key}-{fingerprint(sources)}"
    paths = {name: Path(cache_dir) / f"{stem}.{name}.npy" for name in names}
    if all(path.is_file() for path in paths.values()):
        # copy-on-write map: pages load on demand, and torch.from_numpy gets a writable array
        return {name: np.load(path, mmap_mode="c") for name, path in paths.items()}
    arrays = build()
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    for name, path in paths.items():
        _save_atomically(path, arrays[name])
    remove_other_versions(Path(cache_dir), key, stem)
    return arrays


def remove_other_versions(cache_dir: Path, key: str, current: str) -> None:
    """The cache files of `key` (one copy's sources) made from another state of them: never read again, removed."""
    version = re.compile(rf"^{re.escape(key)}-[0-9a-f]{{16}}\.[a-z]+\.npy$")
    for old in cache_dir.glob(f"{key}-*.npy"):
        if version.match(old.name) and not old.name.startswith(current + "."):
            old.unlink(missing_ok=True)


def remove_orphaned_temporaries(cache_dir: Path) -> None:
    """Temporary files of writers that were killed (their process is gone): never read, removed here."""
    for leftover in cache_dir.glob("*.npy.*.tmp") if cache_dir.is_dir() else ():
        pid = leftover.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not _alive(int(pid)):
            leftover.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _save_atomically(path: Path, array: np.ndarray) -> None:
    """Write to a temporary file (named by this process, so a killed writer's is recognised and removed) and rename
    it, so a killed run never leaves a half-written cache file; a full disk is the project's one-line error and
    leaves no temporary file."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as file:
            np.save(file, array)
        os.replace(temporary, path)
    except OSError as error:
        if disk_full(error, path.parent):
            raise DiskFullError(errno.ENOSPC, f"no space left on {path.parent} while caching decoded images "
                                f"({path.name}); free space (or point cache_dir elsewhere) and rerun: nothing "
                                "computed is lost") from None
        raise
    finally:
        temporary.unlink(missing_ok=True)
