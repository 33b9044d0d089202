"""Training throughput: the suite's engine against a plain PyTorch loop, side by side on the same device.

The plain loop is how the original code and most KD suites train: a torchvision DataLoader with per-sample PIL
transforms, fp32, NCHW, `loss.item()` every step. The engine is this suite's own path (methods.engine.trainer's
train_epoch over methods.data's batch streams), once with the reference numerics and once with its speed
switches (methods.engine.switches). Both train the Baseline method with the paper's SGD recipe and batch size on
synthetic images of the cell's shape (throughput does not depend on what the pixels show); the 224 px cell
reads JPEG files written for the run, as a real fine-grained dataset is read.

Used by benchmarks/throughput.py, which writes the Markdown table the README quotes.
"""
from __future__ import annotations

import dataclasses
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from PIL import Image

from methods.data import FileSplit, TensorSplit, get_facts, make_batches
from methods.data.image_store import as_store
from methods.data.splits import open_rgb
from methods.engine.switches import EngineOptions
from methods.engine.epoch import train_epoch
from methods.plan.runtime import Runtime
from methods.models import build_model
from methods.models.complexity import count_flops
from methods.runs.throughput_rates import CELLS, REFERENCE_LOOP
from methods.zoo.baseline import Baseline

# Dense bf16 tensor-core peaks (FLOP/s) from the vendors' data sheets, by a substring of the device name.
BF16_PEAK = {"H100 PCIe": 756e12, "H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12,
             "A10": 125e12, "L4": 121e12}


FAST = EngineOptions(amp="bf16", channels_last=True, compile=True, image_store=512)


@dataclass
class Measurement:
    cell: str
    loop: str
    batch_size: int
    images_per_s: float
    epoch_s: float
    peak_mem_gib: float | None
    bf16_peak_fraction: float | None


def measure(cell_key: str, device: torch.device, *, steps: int, warmup: int, workers: int,
            tiny: bool = False, variants: tuple[EngineOptions, ...] = (FAST,),
            data: TensorSplit | None = None) -> list[Measurement]:
    """Plain loop, engine (reference numerics) and the engine with each variant's speed switches on one cell.

    `data`: real training images of the cell's dataset to time on (its first images, as many as the steps take)
    instead of random pixels: the kernels' speed depends on the pixels (benchmarks/cpu-lenet5-findings.md)."""
    cell = CELLS[cell_key]
    facts = get_facts(cell.dataset)
    if tiny:   # a few small images: checks the benchmark itself on a CPU, measures nothing of interest
        facts = facts.replace(image_size=min(facts.image_size, 32), batch_size=8)
    n_images = facts.batch_size * (steps + warmup)
    torch.manual_seed(0)
    if data is None:
        images = torch.randint(0, 256, (n_images, facts.channels, facts.image_size, facts.image_size),
                               dtype=torch.uint8)
        labels = torch.randint(0, facts.num_classes, (n_images,))
    else:
        images, labels = data.images[:n_images], data.labels[:n_images]
    flops = train_flops_per_image(cell.arch, facts)
    with tempfile.TemporaryDirectory() as folder:
        split = _split(facts, images, labels, Path(folder))
        runs = [("plain loop (DataLoader + PIL, fp32)", lambda: _plain_loop(cell, facts, split, device, workers, steps, warmup)),
                (REFERENCE_LOOP, lambda: _engine(cell, facts, split, device, workers, steps, warmup, EngineOptions()))]
        runs += [(f"suite engine ({_describe(variant)})",
                  lambda variant=variant: _engine(cell, facts, split, device, workers, steps, warmup, variant))
                 for variant in variants]
        results = []
        for label, run in runs:
            _reset_peak(device)
            seconds = run()
            rate = steps * facts.batch_size / seconds
            results.append(Measurement(cell.name, label, facts.batch_size, rate, cell.epoch_images / rate,
                                       _peak_gib(device), _peak_fraction(device, rate * flops)))
    return results


def train_flops_per_image(arch: str, facts) -> float:
    """FLOPs of training on one image: 3 x the forward's (forward, and a backward of about twice its cost)."""
    model = build_model(arch, facts.num_classes, family=facts.arch_family, in_channels=facts.channels)
    return 3 * count_flops(model, (facts.channels, facts.image_size, facts.image_size))


def _split(facts, images, labels, folder: Path):
    if facts.storage == "tensor":
        return TensorSplit(images, labels)
    paths = []
    for index, pixels in enumerate(images):   # files of a typical fine-grained photo's size, decoded per sample
        path = folder / f"{index}.jpg"
        Image.fromarray(pixels.permute(1, 2, 0).numpy()).resize((500, 375)).save(path, quality=90)
        paths.append(str(path))
    return FileSplit(paths, labels, open_rgb)


def _plain_loop(cell, facts, split, device, workers, steps, warmup) -> float:
    from torchvision import transforms   # torchvision's transforms: only the plain reference loop uses them
    if facts.augment == "crop_flip":
        geometry = [transforms.RandomCrop(facts.image_size, padding=4), transforms.RandomHorizontalFlip()]
    elif facts.augment == "imagenet":
        geometry = [transforms.RandomResizedCrop(facts.image_size), transforms.RandomHorizontalFlip()]
    else:
        geometry = []
    transform = transforms.Compose([*geometry, transforms.ToTensor(), transforms.Normalize(facts.mean, facts.std)])
    dataset = _PlainDataset(split, transform)
    loader = DataLoader(dataset, batch_size=facts.batch_size, shuffle=True, num_workers=workers, drop_last=True,
                        pin_memory=device.type == "cuda", persistent_workers=workers > 0)
    model = build_model(cell.arch, facts.num_classes, family=facts.arch_family, in_channels=facts.channels).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    model.train()
    batches = iter(loader)
    tic = None
    for step in range(steps + warmup):
        if step == warmup:
            _sync(device)
            tic = time.perf_counter()
        images, targets = next(batches)
        images, targets = images.to(device), targets.to(device)
        loss = F.cross_entropy(model(images), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss.item()      # the per-step logging every such loop does
    _sync(device)
    return time.perf_counter() - tic


class _PlainDataset(torch.utils.data.Dataset):
    def __init__(self, split, transform):
        self.split, self.transform = split, transform

    def __len__(self):
        return len(self.split)

    def __getitem__(self, index):
        if isinstance(self.split, TensorSplit):
            pixels = self.split.images[index]
            image = Image.fromarray(pixels[0].numpy() if pixels.shape[0] == 1 else pixels.permute(1, 2, 0).numpy())
        else:
            image = self.split.open_image(self.split.items[index])
        return self.transform(image), self.split.labels[index]


def _engine(cell, facts, split, device, workers, steps, warmup, engine: EngineOptions) -> float:
    if engine.image_store:   # decoded once before timing, as a run decodes once (then reads the .npy cache)
        split = as_store(split, engine.image_store, None)
    model = build_model(cell.arch, facts.num_classes, family=facts.arch_family, in_channels=facts.channels)
    method = Baseline(model, facts.num_classes, Baseline.Options()).to(device)
    optimizer = torch.optim.SGD(method.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    engine.prepare_model(method)
    label = SimpleNamespace(directory=f"benchmark/{cell.arch}-{cell.dataset}")
    runtime = Runtime(num_workers=workers, progress_every_s=float("inf"))

    def run(n_steps: int, epoch: int) -> None:
        batches = make_batches(split, facts, train=True, batch_size=facts.batch_size, device=device, seed=0,
                               epoch=epoch, num_workers=workers)
        train_epoch(label, method, optimizer, batches, n_steps, runtime, engine)

    run(warmup, 1)            # compilation, cuDNN autotuning, the data's one copy to the device
    _sync(device)
    tic = time.perf_counter()
    run(steps, 2)
    _sync(device)
    return time.perf_counter() - tic


def _describe(engine: EngineOptions) -> str:
    parts = [engine.amp if engine.amp != "none" else "fp32"]
    parts += ["channels_last"] if engine.channels_last else []
    parts += ["torch.compile"] if engine.compile else []
    parts += [f"image store {engine.image_store} px"] if engine.image_store else []
    return ", ".join(parts)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device):
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def _peak_fraction(device, flops_per_s: float) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    peak = next((value for key, value in BF16_PEAK.items() if key in name), None)
    return None if peak is None else flops_per_s / peak


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores), torch {torch.__version__}"


def markdown(results: list[Measurement], device: torch.device, command: str) -> str:
    lines = ["# Training throughput: suite engine vs a plain PyTorch loop", "",
             f"Device: {device_description(device)}", f"Command: `{command}`", "",
             "Images/s are training steps only (forward, backward, SGD step, data) after warm-up; s/epoch is the "
             "real dataset's training-set size over that rate (evaluation not included; the image store's one-off "
             "decode is not timed). The fraction of the "
             "bf16 peak counts 3 x the forward FLOPs (2 x multiply-adds) per image.", "",
             "| cell | loop | batch | images/s | s/epoch | x plain | peak GPU mem (GiB) | of bf16 peak |",
             "|---|---|---|---|---|---|---|---|"]
    plain = {r.cell: r.images_per_s for r in results if r.loop.startswith("plain")}
    for r in results:
        lines.append(f"| {r.cell} | {r.loop} | {r.batch_size} | {r.images_per_s:,.0f} | {r.epoch_s:.2f} | "
                     f"{r.images_per_s / plain[r.cell]:.2f} | "
                     f"{'n/a' if r.peak_mem_gib is None else f'{r.peak_mem_gib:.2f}'} | "
                     f"{'n/a' if r.bf16_peak_fraction is None else f'{100 * r.bf16_peak_fraction:.1f} %'} |")
    return "\n".join(lines) + "\n"


def as_rows(results: list[Measurement]) -> list[dict]:
    return [dataclasses.asdict(r) for r in results]
