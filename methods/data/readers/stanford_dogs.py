"""Stanford Dogs: Images/<wnid>-<breed>/*.jpg with the split lists train_list.mat / test_list.mat (lists.tar)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from methods.data.errors import missing_data, unreadable_file
from methods.plan.facts import DatasetFacts
from methods.data.splits import FileSplit, open_rgb


def read_stanford_dogs(facts: DatasetFacts, data_dir: Path, cache_dir: Path | None) -> tuple[FileSplit, FileSplit]:
    if not (data_dir / "Images").is_dir():
        raise missing_data(facts, data_dir, "folder Images/ (from images.tar)")
    return _read_list(facts, data_dir, "train_list.mat"), _read_list(facts, data_dir, "test_list.mat")


def _read_list(facts: DatasetFacts, data_dir: Path, name: str) -> FileSplit:
    path = next((folder / name for folder in (data_dir, data_dir / "lists") if (folder / name).is_file()), None)
    if path is None:
        raise missing_data(facts, data_dir, f"{name} (from lists.tar, in the folder itself or lists/)")
    from scipy.io import loadmat   # imported here: scipy is slow to import and only this reader needs it
    try:
        lists = loadmat(path)
        # file_list is a MATLAB cell array: an object array whose entries are 1-element string arrays
        files = [str(np.ravel(entry)[0]) for entry in np.ravel(lists["file_list"])]
        labels = np.ravel(lists["labels"]).astype(np.int64) - 1     # 1-based
    except (OSError, ValueError, KeyError, IndexError) as error:
        raise unreadable_file(path, error) from error
    return FileSplit([str(data_dir / "Images" / file) for file in files], torch.from_numpy(labels), open_rgb)
