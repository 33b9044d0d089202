"""What one process decodes per second on the suite's ImageNet input path (JPEG decode + RandomResizedCrop(224) + flip
+ ToTensor + Normalize, methods/data/batches.py `_FileDataset`, the work of one DataLoader worker), and so how many
workers a GPU needs to be fed at a given training rate.

The images are fabricated ImageNet-shaped JPEGs (ImageNet's training photos are a few hundred pixels a side; this
uses 500 x 375, quality 90, smooth content with texture), written to a temporary folder: this machine has no
ImageNet. One process, one torch thread, as a DataLoader worker runs.

    python benchmarks/imagenet_pipeline.py [--images 300] [--out benchmarks/imagenet-pipeline]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from methods import cpu_isa  # noqa: E402

cpu_isa.pin(None)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from methods.data.batches import _FileDataset, derive_seed, file_transform  # noqa: E402
from methods.plan.facts import get_facts  # noqa: E402
from methods.data.splits import FileSplit, open_rgb  # noqa: E402

GPU_RATES = (1000, 3000, 6000, 9000)  # training images/s of one GPU, for the workers-per-GPU table


def fabricate(folder: Path, count: int, width: int = 500, height: int = 375) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    y, x = np.mgrid[0:height, 0:width]
    for index in range(count):
        base = np.stack([(x * (index % 7 + 1) + y * 3) % 256, (y * (index % 5 + 2)) % 256, (x + y + index) % 256], -1)
        texture = rng.integers(0, 48, size=(height, width, 3))
        pixels = np.clip(base + texture, 0, 255).astype(np.uint8)
        path = folder / f"n{index % 10:08d}_{index}.JPEG"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def measure(paths: list[Path], repeats: int) -> float:
    facts = get_facts("imagenet")
    split = FileSplit(paths, torch.zeros(len(paths), dtype=torch.int64), open_rgb)
    dataset = _FileDataset(split, file_transform(facts, train=True), derive_seed(0, 1, 1))
    dataset[0]   # warm-up (imports, first-call allocations)
    tic = time.perf_counter()
    for _ in range(repeats):
        for index in range(len(dataset)):
            image, _ = dataset[index]
    seconds = time.perf_counter() - tic
    assert image.shape == (3, 224, 224)
    return repeats * len(dataset) / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/imagenet-pipeline")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        paths = fabricate(Path(folder), args.images)
        size = sum(p.stat().st_size for p in paths) / len(paths)
        rate = measure(paths, args.repeats)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    result = {"command": f"python benchmarks/imagenet_pipeline.py --images {args.images} --repeats {args.repeats}",
              "cpu": cpu, "python": platform.python_version(), "torch": torch.__version__,
              "pillow": Image.__version__, "cpu_isa": cpu_isa.in_force(), "images": args.images,
              "mean_jpeg_kb": round(size / 1024, 1), "images_per_s_per_process": round(rate, 1),
              "workers_per_gpu": {str(gpu): int(np.ceil(gpu / rate)) for gpu in GPU_RATES}}
    Path(args.out + ".json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
