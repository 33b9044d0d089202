"""Arrays that are slow to build (decoded JPEGs), kept as .npy files and memory-mapped on later loads.

A cache file is named by what it was made from: the caller's key, a format version, and a fingerprint of its
source files (resolved path, size and modification time of each), so a copy under another data root, a file
replaced or truncated in place, or a new decoder never reads another copy's arrays: it builds its own."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

FORMAT = 2   # bump when what build() makes changes (decoder, resizing), so older caches are never read


def fingerprint(sources: Iterable[Path | str]) -> str:
    digest = hashlib.sha256(f"format {FORMAT}\n".encode())
    for source in sources:
        path = Path(source).resolve()
        stat = path.stat()
        digest.update(f"{path}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def cached_arrays(cache_dir: Path | str | None, key: str, names: tuple[str, ...],
                  build: Callable[[], dict[str, np.ndarray]], sources: Iterable[Path | str]) -> dict[str, np.ndarray]:
    """build() once and store each array as <cache_dir>/<key>-<fingerprint of sources>.<name>.npy; later calls
    with the same sources map the files."""
    if cache_dir is None:
        return build()
    remove_orphaned_temporaries(Path(cache_dir))
    stem = f"{key}-{fingerprint(sources)}"
    paths = {name: Path(cache_dir) / f"{stem}.{name}.npy" for name in names}
    if all(path.is_file() for path in paths.values()):
        # copy-on-write map: pages load on demand, and torch.from_numpy gets a writable array
        return {name: np.load(path, mmap_mode="c") for name, path in paths.items()}
    arrays = build()
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    for name, path in paths.items():
        _save_atomically(path, arrays[name])
    return arrays


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
    """Write to a temporary file and rename it, so a killed run never leaves a half-written cache file."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as file:
        np.save(file, array)
    os.replace(temporary, path)
