"""CIFAR-10-JPEG: {train,test}/<class>/*.jpg, a lossy JPEG re-encode of CIFAR-10, decoded once into uint8 tensors.

Not the paper's CIFAR-10 (whose bit-exact copy is cifar-10-batches-py): it is for comparing methods on real
CIFAR-10 content where that copy cannot be had. Decoded like Tiny ImageNet (cached as .npy under cache_dir).
"""
from __future__ import annotations

from pathlib import Path

from methods.data.errors import missing_data
from methods.plan.facts import DatasetFacts
from methods.data.readers.image_folders import class_folders, list_split
from methods.data.readers.tiny_imagenet import decoded_split
from methods.data.splits import TensorSplit


def read_cifar10_jpeg(facts: DatasetFacts, data_dir: Path, cache_dir: Path | None) -> tuple[TensorSplit, TensorSplit]:
    for part in ("train", "test"):
        if not (data_dir / part).is_dir():
            hint = " (unzip cifar10-jpeg.zip here)" if (data_dir / "cifar10-jpeg.zip").is_file() else ""
            raise missing_data(facts, data_dir, f"folder {part}/{hint}")
    class_index = {name: index for index, name in enumerate(class_folders(data_dir / "train"))}
    splits = []
    for part in ("train", "test"):
        listed = list_split(data_dir / part, class_index)
        splits.append(decoded_split(facts, part, [Path(item) for item in listed.items], listed.labels.tolist(),
                                    cache_dir))
    return splits[0], splits[1]
