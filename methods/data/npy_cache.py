"""Arrays that are slow to build (decoded JPEGs), kept as .npy files and memory-mapped on later loads."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np


def cached_arrays(cache_dir: Path | str | None, key: str, names: tuple[str, ...],
                  build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """build() once and store each array as <cache_dir>/<key>.<name>.npy; later calls map the files."""
    if cache_dir is None:
        return build()
    paths = {name: Path(cache_dir) / f"{key}.{name}.npy" for name in names}
    if all(path.is_file() for path in paths.values()):
        # copy-on-write map: pages load on demand, and torch.from_numpy gets a writable array
        return {name: np.load(path, mmap_mode="c") for name, path in paths.items()}
    arrays = build()
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    for name, path in paths.items():
        _save_atomically(path, arrays[name])
    return arrays


def _save_atomically(path: Path, array: np.ndarray) -> None:
    """Write to a temporary file and rename it, so a killed run never leaves a half-written cache file."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as file:
        np.save(file, array)
    os.replace(temporary, path)
