"""The throughput benchmark's cells (methods/throughput.py measures them) and the rates it recorded in
benchmarks/*.json: what the report estimates missing runs' hours from (torch-free)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from methods import PROJECT_ROOT
from methods.plan.facts import get_facts


@dataclass(frozen=True)
class Cell:
    name: str
    dataset: str            # whose facts (classes, channels, batch size, augmentation) the cell takes
    arch: str
    epoch_images: int       # training images per epoch of the real dataset (seconds per epoch derive from it)


CELLS = {
    "lenet5_mnist": Cell("LeNet-5, MNIST (28 px)", "mnist", "lenet5", 60_000),
    "resnet18_cifar": Cell("ResNet-18, CIFAR (32 px)", "cifar10", "resnet18", 50_000),
    "resnet18_64px": Cell("ResNet-18, Tiny ImageNet shape (64 px)", "tiny_imagenet", "resnet18", 100_000),
    "mobilenetv2_cifar": Cell("MobileNetV2, CIFAR (32 px)", "cifar10", "mobilenetv2", 50_000),
    "resnet18_224px": Cell("ResNet-18, 224 px (Imagewoof shape)", "imagewoof", "resnet18", 9_025),
}
REFERENCE_LOOP = "suite engine (fp32, NCHW, eager)"


@lru_cache(maxsize=None)
def benchmark_rates() -> dict[tuple[str, int], float]:
    """(arch, image size) -> training images/s of the suite's engine at reference numerics, the best measured in
    benchmarks/*.json (the throughput and CPU benchmarks write them)."""
    by_name = {cell.name: cell for cell in CELLS.values()}
    rates: dict[tuple[str, int], float] = {}
    for path in sorted((PROJECT_ROOT / "benchmarks").glob("*.json")):
        data = json.loads(path.read_text())
        for row in (data.get("rows", []) if isinstance(data, dict) else data):
            cell = by_name.get(row.get("cell") if isinstance(row, dict) else None)
            if cell and row.get("loop") == REFERENCE_LOOP:
                key = (cell.arch, get_facts(cell.dataset).image_size)
                rates[key] = max(rates.get(key, 0.0), float(row["images_per_s"]))
    return rates
