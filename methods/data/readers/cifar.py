"""CIFAR-10 / CIFAR-100 in torchvision's python-pickle layout."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from methods.data.errors import missing_data, unreadable_file
from methods.plan.facts import DatasetFacts
from methods.data.splits import TensorSplit


def read_cifar10(facts: DatasetFacts, data_dir: Path, cache_dir: Path | None) -> tuple[TensorSplit, TensorSplit]:
    folder = data_dir / "cifar-10-batches-py"
    return (_read_batches(facts, folder, [f"data_batch_{i}" for i in range(1, 6)], "labels"),
            _read_batches(facts, folder, ["test_batch"], "labels"))


def read_cifar100(facts: DatasetFacts, data_dir: Path, cache_dir: Path | None) -> tuple[TensorSplit, TensorSplit]:
    folder = data_dir / "cifar-100-python"
    return (_read_batches(facts, folder, ["train"], "fine_labels"),
            _read_batches(facts, folder, ["test"], "fine_labels"))


def _read_batches(facts: DatasetFacts, folder: Path, names: list[str], label_key: str) -> TensorSplit:
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise missing_data(facts, folder, ", ".join(missing))
    images, labels = [], []
    for name in names:
        try:
            with open(folder / name, "rb") as file:
                batch = pickle.load(file, encoding="latin1")    # the files are Python 2 pickles
            images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.extend(batch[label_key])
        except (OSError, EOFError, pickle.UnpicklingError, KeyError, ValueError) as error:
            raise unreadable_file(folder / name, error) from error
    return TensorSplit(torch.from_numpy(np.concatenate(images)), torch.tensor(labels, dtype=torch.int64))
