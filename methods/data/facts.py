"""Dataset facts (class counts, split sizes, image geometry, recipe defaults) read from config/datasets.yaml."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from methods import CONFIG_DIR


@dataclass(frozen=True)
class DatasetFacts:
    name: str
    paper_name: str | None
    num_classes: int
    train_size: int
    val_size: int
    image_size: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    storage: str            # "tensor" | "files"
    augment: str            # "none" | "crop_flip" | "imagenet"
    epochs: int
    milestones: tuple[int, ...]
    batch_size: int
    arch_family: str        # "small" (3x3 stride-1 stems) | "standard"
    root_dir: str | None
    layout: str
    get_it: str

    def replace(self, **changes) -> "DatasetFacts":
        return dataclasses.replace(self, **changes)


@lru_cache(maxsize=None)
def _read(path: str) -> dict:
    return yaml.safe_load(Path(path).read_text())


def dataset_names(path: Path = CONFIG_DIR / "datasets.yaml") -> list[str]:
    return list(_read(str(path)))


def get_facts(name: str, path: Path = CONFIG_DIR / "datasets.yaml") -> DatasetFacts:
    table = _read(str(path))
    if name not in table:
        raise KeyError(f"unknown dataset {name!r}; known datasets (config/datasets.yaml): {', '.join(table)}")
    entry = dict(table[name])
    for key in ("mean", "std", "milestones"):
        entry[key] = tuple(entry[key])
    return DatasetFacts(name=name, **entry)
