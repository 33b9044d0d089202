"""Tiny ImageNet (cs231n zip): 64x64 JPEGs decoded once into uint8 tensors (cached as .npy when asked)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from methods.data.progress import map_with_progress
from methods.data.errors import DatasetError, missing_data
from methods.plan.facts import DatasetFacts
from methods.data.npy_cache import cached_arrays
from methods.data.splits import TensorSplit, open_rgb


def read_tiny_imagenet(facts: DatasetFacts, data_dir: Path,
                       cache_dir: Path | None) -> tuple[TensorSplit, TensorSplit]:
    for needed in ("wnids.txt", "train", "val/images", "val/val_annotations.txt"):
        if not (data_dir / needed).exists():
            raise missing_data(facts, data_dir, needed)
    wnids = sorted((data_dir / "wnids.txt").read_text().split())
    class_index = {wnid: index for index, wnid in enumerate(wnids)}
    return (decoded_split(facts, "train", *_train_files(data_dir, wnids), cache_dir),
            decoded_split(facts, "val", *_val_files(data_dir, class_index), cache_dir))


def _train_files(data_dir: Path, wnids: list[str]) -> tuple[list[Path], list[int]]:
    paths: list[Path] = []
    labels: list[int] = []
    for index, wnid in enumerate(wnids):
        files = sorted((data_dir / "train" / wnid / "images").glob("*.JPEG"))
        paths += files
        labels += [index] * len(files)
    return paths, labels


def _val_files(data_dir: Path, class_index: dict[str, int]) -> tuple[list[Path], list[int]]:
    """val_annotations.txt: '<file name>\\t<wnid>\\t<bounding box...>' per line."""
    rows = [line.split("\t")[:2] for line in (data_dir / "val" / "val_annotations.txt").read_text().splitlines()
            if line.strip()]
    unknown = sorted({wnid for _, wnid in rows} - class_index.keys())
    if unknown:
        raise DatasetError(f"{data_dir / 'val' / 'val_annotations.txt'} names classes missing from wnids.txt "
                           f"({', '.join(unknown[:5])}); re-download the dataset")
    return [data_dir / "val" / "images" / name for name, _ in rows], [class_index[wnid] for _, wnid in rows]


def decoded_split(facts: DatasetFacts, part: str, paths: list[Path], labels: list[int],
             cache_dir: Path | None) -> TensorSplit:
    # only the pixels are cached: the labels come from the listing read just now, so an edited label is never
    # served from an older cache
    arrays = cached_arrays(cache_dir, f"{facts.name}-{part}-{facts.image_size}px", ("images",),
                           lambda: {"images": decode_rgb(paths, facts.image_size)}, sources=paths)
    return TensorSplit(torch.from_numpy(arrays["images"]), torch.from_numpy(np.asarray(labels, dtype=np.int64)))


def decode_rgb(paths: list[Path], size: int) -> np.ndarray:
    """Every image as RGB (some Tiny ImageNet JPEGs are grayscale) in one uint8 [N, 3, size, size] array."""
    images = np.empty((len(paths), 3, size, size), dtype=np.uint8)

    def decode(index: int) -> None:
        pixels = np.asarray(open_rgb(paths[index]))
        if pixels.shape != (size, size, 3):
            raise DatasetError(f"{paths[index]} is {pixels.shape[1]}x{pixels.shape[0]} px, expected {size}x{size}; "
                               f"re-download the dataset or replace this file")
        images[index] = pixels.transpose(2, 0, 1)

    map_with_progress(decode, range(len(paths)), f"decoding {len(paths)} images under {paths[0].parents[1]}"
                      if paths else "decoding")
    return images
