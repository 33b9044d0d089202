"""MNIST: the four idx files, gzip or not, where torchvision (MNIST/raw/) or a plain download puts them."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from methods.data.errors import DatasetError, missing_data, unreadable_file
from methods.plan.facts import DatasetFacts
from methods.data.splits import TensorSplit

SPLIT_FILES = (("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049     # idx magic: 0x08 (uint8) then the number of dimensions


def read_mnist(facts: DatasetFacts, data_dir: Path, cache_dir: Path | None) -> tuple[TensorSplit, TensorSplit]:
    splits = []
    for images_stem, labels_stem in SPLIT_FILES:
        images = _read_idx(_find(facts, data_dir, images_stem), IMAGES_MAGIC)
        labels = _read_idx(_find(facts, data_dir, labels_stem), LABELS_MAGIC)
        splits.append(TensorSplit(torch.from_numpy(images[:, None]), torch.from_numpy(labels.astype(np.int64))))
    return splits[0], splits[1]


def _find(facts: DatasetFacts, data_dir: Path, stem: str) -> Path:
    for folder in (data_dir / "MNIST" / "raw", data_dir / "raw", data_dir):
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    raise missing_data(facts, data_dir, f"{stem}[.gz] (in MNIST/raw/, raw/ or the folder itself)")


def _read_idx(path: Path, magic: int) -> np.ndarray:
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        (found,) = struct.unpack(">i", data[:4])
        if found != magic:
            raise DatasetError(f"{path} is not the expected MNIST idx file (magic number {found}, expected "
                               f"{magic}); re-download it")
        ndim = magic & 0xFF
        shape = struct.unpack(f">{ndim}i", data[4:4 + 4 * ndim])
        return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape).copy()
    except (OSError, EOFError, struct.error, ValueError) as error:    # bad gzip, short header, truncated body
        raise unreadable_file(path, error) from error
