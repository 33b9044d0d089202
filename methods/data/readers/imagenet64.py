"""ImageNet Dogs: the 118 dog classes of ImageNet from Downsampled ImageNet 64x64 (Chrabaszcz et al. 2017, npz).

The release labels images 1..1000 in the order of map_clsloc.txt (ILSVRC CLS-LOC devkit: '<wnid> <id> <name>'
per line; its scripts, PatrykChrabaszcz/Imagenet32_Scripts utils.get_label_dict, give folder <wnid> the label
<id>), which is not the sorted-wnid order, so the mapping file is required next to the npz files.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from methods.data.errors import DatasetError, missing_data, unreadable_file
from methods.plan.facts import DatasetFacts
from methods.data.splits import TensorSplit

TRAIN_FILES = tuple(f"train_data_batch_{i}.npz" for i in range(1, 11))
VAL_FILE = "val_data.npz"
MAP_FILE = "map_clsloc.txt"
# the dogs are the 118 wnids from n02085620 (Chihuahua) to n02113978 (Mexican hairless): sorted positions 151..268
FIRST_DOG, LAST_DOG = "n02085620", "n02113978"
SIDE = 64


def read_imagenet_dogs(facts: DatasetFacts, data_dir: Path,
                       cache_dir: Path | None) -> tuple[TensorSplit, TensorSplit]:
    missing = [name for name in (MAP_FILE, *TRAIN_FILES, VAL_FILE) if not (data_dir / name).is_file()]
    if missing:
        raise missing_data(facts, data_dir, f"{', '.join(missing)} ({MAP_FILE} is the ILSVRC devkit's wnid <-> "
                                            f"label id table that the downsampled release's labels follow)")
    dog_class = _dog_class_of_label(data_dir / MAP_FILE)
    return _dog_samples(data_dir, TRAIN_FILES, dog_class), _dog_samples(data_dir, (VAL_FILE,), dog_class)


def _dog_class_of_label(map_file: Path) -> np.ndarray:
    """Table: release label id -> dog class 0..117 (sorted-wnid order), or -1 for every other class."""
    label_of_wnid = {}
    for line in map_file.read_text().splitlines():
        if line.strip():
            wnid, label_id = line.split()[:2]
            label_of_wnid[wnid] = int(label_id)
    dogs = sorted(wnid for wnid in label_of_wnid if FIRST_DOG <= wnid <= LAST_DOG)
    table = np.full(max(label_of_wnid.values()) + 1, -1, dtype=np.int64)
    table[[label_of_wnid[wnid] for wnid in dogs]] = np.arange(len(dogs))
    return table


def _dog_samples(data_dir: Path, names: tuple[str, ...], dog_class: np.ndarray) -> TensorSplit:
    """Loads one npz at a time and keeps only its dog images ('data' rows: R, G, B planes of 64x64)."""
    images, labels = [], []
    for name in names:
        try:
            with np.load(data_dir / name) as batch:
                label_ids = np.asarray(batch["labels"], dtype=np.int64)
                pixels = batch["data"]
        except (OSError, ValueError, KeyError) as error:
            raise unreadable_file(data_dir / name, error) from error
        if label_ids.min() < 1 or label_ids.max() >= len(dog_class):
            raise DatasetError(f"{data_dir / name}: label ids {label_ids.min()}..{label_ids.max()} are not all in "
                               f"{MAP_FILE} (ids 1..{len(dog_class) - 1}); use the ILSVRC devkit's {MAP_FILE}")
        classes = dog_class[label_ids]
        keep = classes >= 0
        images.append(pixels[keep].reshape(-1, 3, SIDE, SIDE))
        labels.append(classes[keep])
    return TensorSplit(torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels)))
