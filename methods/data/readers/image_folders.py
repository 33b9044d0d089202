"""<dir>/{train,val}/<class folder>/<image files>: Imagewoof (imagenette layout) and ILSVRC2012."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from methods.data.errors import DatasetError, missing_data
from methods.plan.facts import DatasetFacts
from methods.data.splits import FileSplit, open_rgb

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


def read_image_folders(facts: DatasetFacts, data_dir: Path, cache_dir: Path | None) -> tuple[FileSplit, FileSplit]:
    for part in ("train", "val"):
        if not (data_dir / part).is_dir():
            raise missing_data(facts, data_dir, f"folder {part}/")
    class_index = {name: index for index, name in enumerate(class_folders(data_dir / "train"))}
    return list_split(data_dir / "train", class_index), list_split(data_dir / "val", class_index)


def class_folders(folder: Path) -> list[str]:
    with os.scandir(folder) as entries:
        return sorted(entry.name for entry in entries if entry.is_dir())


def list_split(folder: Path, class_index: dict[str, int]) -> FileSplit:
    items: list[str] = []
    labels: list[int] = []
    for name in class_folders(folder):
        if name not in class_index:
            raise DatasetError(f"{folder / name}: class folder has no counterpart in train/; "
                               f"train and val must hold the same class folders")
        with os.scandir(folder / name) as entries:    # scandir: 1.28M ImageNet files without a stat each
            files = sorted(entry.path for entry in entries
                           if entry.is_file() and entry.name.lower().endswith(IMAGE_SUFFIXES))
        items += files
        labels += [class_index[name]] * len(files)
    return FileSplit(items, torch.tensor(labels, dtype=torch.int64), open_rgb)
