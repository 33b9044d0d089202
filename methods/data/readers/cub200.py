"""CUB-200-2011: images/ plus the id tables images.txt, image_class_labels.txt, train_test_split.txt."""
from __future__ import annotations

from pathlib import Path

import torch

from methods.data.errors import DatasetError, missing_data
from methods.plan.facts import DatasetFacts
from methods.data.splits import FileSplit, open_rgb

TABLES = ("images.txt", "image_class_labels.txt", "train_test_split.txt")


def read_cub200(facts: DatasetFacts, data_dir: Path, cache_dir: Path | None) -> tuple[FileSplit, FileSplit]:
    if not (data_dir / "images").is_dir():
        raise missing_data(facts, data_dir, "folder images/")
    paths, classes, is_train = (_read_table(facts, data_dir, name) for name in TABLES)
    if not paths.keys() <= classes.keys() & is_train.keys():
        raise DatasetError(f"{data_dir}: {TABLES[1]} or {TABLES[2]} lacks image ids listed in {TABLES[0]}; "
                           f"re-download the dataset")
    parts: dict[bool, tuple[list[str], list[int]]] = {True: ([], []), False: ([], [])}
    for image_id, relative_path in paths.items():
        items, labels = parts[is_train[image_id] == "1"]
        items.append(str(data_dir / "images" / relative_path))
        labels.append(int(classes[image_id]) - 1)     # class ids are 1-based
    return tuple(FileSplit(items, torch.tensor(labels, dtype=torch.int64), open_rgb)
                 for items, labels in (parts[True], parts[False]))


def _read_table(facts: DatasetFacts, data_dir: Path, name: str) -> dict[str, str]:
    """'<image id> <value>' per line -> {image id: value}."""
    if not (data_dir / name).is_file():
        raise missing_data(facts, data_dir, name)
    rows = (line.split(maxsplit=1) for line in (data_dir / name).read_text().splitlines() if line.strip())
    return {image_id: value.strip() for image_id, value in rows}
