"""Batches for one epoch: deterministic order from (seed, epoch), augmentation, normalisation, on the device."""
from __future__ import annotations

import multiprocessing
import signal

from collections.abc import Iterator
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from methods.data.errors import DatasetError
from methods.plan.facts import DatasetFacts
from methods.data.image_store import StoreBatches, StoreSplit
from methods.data.splits import FileSplit, Split, TensorSplit
from methods.data.tensor_ops import normalise, random_crop_flip, resize_uint8

CROP_PADDING = 4
SUPPORTED_AUGMENT = {TensorSplit: ("none", "crop_flip"), FileSplit: ("none", "imagenet"),
                     StoreSplit: ("none", "imagenet")}
# independent random streams derived from (seed, epoch)
ORDER_STREAM, AUGMENT_STREAM, LOADER_STREAM, PAIR_STREAM = 0, 1, 2, 3


class BatchStream(Protocol):
    """Iterable of (images float32 [B, C, S, S] normalised, labels int64 [B]) on the device; len = batches.
    With views > 1, images is a list of `views` independently augmented copies of the batch."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...


def derive_seed(*numbers: int) -> int:
    return int(np.random.SeedSequence([int(n) for n in numbers]).generate_state(1)[0])


def plan_batches(indices: torch.Tensor, *, shuffle: bool, batch_size: int,
                 generator: torch.Generator) -> list[torch.Tensor]:
    """The sample indices of each batch of one epoch (a class-paired sampler would replace this function).

    Training shuffles and drops the last short batch when there is more than one batch (BatchNorm needs >1
    sample); evaluation keeps the given order and every sample.
    """
    if shuffle:
        indices = indices[torch.randperm(len(indices), generator=generator)]
    batches = list(indices.split(batch_size))
    if shuffle and len(batches) > 1 and len(batches[-1]) < batch_size:
        batches.pop()
    return batches


def stratified_subset(labels: torch.Tensor, size: int) -> torch.Tensor:
    """A fixed, class-balanced subset of `size` indices (no randomness): the classes take turns, each giving its
    samples in index order. What a truncated evaluation (max_eval_batches) scores, so that on a class-sorted
    split it is not one class's first images."""
    labels = torch.as_tensor(labels)
    order = torch.argsort(labels, stable=True)
    counts = torch.bincount(labels)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order)) - (torch.cumsum(counts, 0) - counts)[labels[order]]
    turns = torch.argsort(rank * (int(labels.max()) + 1) + labels, stable=True)
    return turns[:size].sort().values


def add_class_partners(batches: list[torch.Tensor], labels: torch.Tensor,
                       generator: torch.Generator) -> list[torch.Tensor]:
    """Each batch of B indices followed by B partners: for every sample another sample of its class (itself
    only when its class has one sample), as CS-KD's class-wise sampler does, except that the released sampler may
    also draw the sample itself; ours never does (config/methods.yaml cskd says why)."""
    order = torch.argsort(labels, stable=True)
    counts = torch.bincount(labels)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order)) - starts[labels[order]]
    paired = []
    for batch in batches:
        label, n = labels[batch], counts[labels[batch]]
        draw = (torch.rand(len(batch), generator=generator) * (n - 1).clamp(min=1)).long()
        draw = torch.where(n > 1, draw + (draw >= rank[batch]).long(), torch.zeros_like(draw))
        paired.append(torch.cat([batch, order[starts[label] + draw]]))
    return paired


def make_batches(split: Split, facts: DatasetFacts, *, train: bool, batch_size: int,
                 device: torch.device | str, seed: int, epoch: int, num_workers: int = 0,
                 indices: torch.Tensor | None = None, views: int = 1, class_pairs: bool = False,
                 shard: tuple[int, int] = (0, 1), worker_start: str = "fork") -> BatchStream:
    """shard = (rank, processes): this process's part when several train one run. Training: every process plans
    the same global batches (same seeded order) and takes its contiguous share of each; evaluation: its contiguous
    share of the samples. One process (the default) gets exactly what it always got. worker_start: how a file
    loader's workers start, "fork" or "forkserver" (the engine's team says which; the batches are the same)."""
    supported = SUPPORTED_AUGMENT[type(split)]
    if facts.augment not in supported:
        raise DatasetError(f"{facts.name}: augment {facts.augment!r} is not supported for "
                           f"{type(split).__name__} data (use one of {', '.join(supported)} in config/datasets.yaml)")
    rank, processes = shard
    indices = torch.arange(len(split)) if indices is None else torch.as_tensor(indices, dtype=torch.int64)
    if not train and processes > 1:
        indices = indices.tensor_split(processes)[rank]
    order = torch.Generator().manual_seed(derive_seed(seed, epoch, ORDER_STREAM))
    batches = plan_batches(indices, shuffle=train, batch_size=batch_size, generator=order)
    if class_pairs:
        pairing = torch.Generator().manual_seed(derive_seed(seed, epoch, PAIR_STREAM))
        batches = add_class_partners(batches, split.labels, pairing)
    streams = (seed, epoch) if processes == 1 else (seed, epoch, rank)   # each process augments its own share
    if train and processes > 1:
        batches = [shard_of(batch, rank, processes, class_pairs) for batch in batches]
    augment_seed = derive_seed(*streams, AUGMENT_STREAM) if train and facts.augment != "none" else None
    device = torch.device(device)
    if isinstance(split, TensorSplit):
        return TensorBatches(split, facts, batches, device, augment_seed, views)
    if isinstance(split, StoreSplit):
        return StoreBatches(split, facts, batches, device, augment_seed, views)
    return LoaderBatches(split, facts, batches, device, augment_seed, num_workers,
                         loader_seed=derive_seed(*streams, LOADER_STREAM), views=views, worker_start=worker_start)


def shard_of(batch: torch.Tensor, rank: int, processes: int, class_pairs: bool = False) -> torch.Tensor:
    """A process's contiguous share of a global batch (with class pairs: of its samples, and their partners)."""
    if class_pairs:
        samples, partners = batch.split(len(batch) // 2)
        return torch.cat([samples.tensor_split(processes)[rank], partners.tensor_split(processes)[rank]])
    share = batch.tensor_split(processes)[rank]
    if len(share) == 0:
        raise DatasetError(f"a batch of {len(batch)} samples has nothing for process {rank} of {processes}: use "
                           "fewer processes or a larger batch")
    return share


class TensorBatches:
    """Gathers, augments and normalises batches of a TensorSplit held on the device."""

    def __init__(self, split: TensorSplit, facts: DatasetFacts, batches: list[torch.Tensor],
                 device: torch.device, augment_seed: int | None, views: int = 1):
        self.split, self.facts, self.batches = split, facts, batches
        self.device, self.augment_seed, self.views = device, augment_seed, views

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        images, labels = self.split.on_device(self.device)
        size = self.facts.image_size
        generator = None if self.augment_seed is None else torch.Generator().manual_seed(self.augment_seed)
        for batch in self.batches:
            batch = batch.to(self.device, non_blocking=True)
            pixels = images[batch]
            if pixels.shape[-1] != size or pixels.shape[-2] != size:
                pixels = resize_uint8(pixels, size)
            copies = [self._augment(pixels, generator) for _ in range(self.views)]
            yield (copies[0] if self.views == 1 else copies), labels[batch]

    def _augment(self, pixels: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if generator is not None:
            pixels = random_crop_flip(pixels, CROP_PADDING, generator)
        return normalise(pixels, self.facts.mean, self.facts.std)


def file_transform(facts: DatasetFacts, train: bool):
    """ImageNet-style PIL transforms, scaled to facts.image_size (S=224 gives Resize(256) + CenterCrop(224))."""
    from torchvision import transforms   # only the file (224 px) path needs it; tensor datasets skip the import
    size = facts.image_size
    if train and facts.augment == "imagenet":
        geometry = [transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip()]
    else:
        geometry = [transforms.Resize(round(size * 256 / 224)), transforms.CenterCrop(size)]
    return transforms.Compose([*geometry, transforms.ToTensor(), transforms.Normalize(facts.mean, facts.std)])


class _FileDataset(Dataset):
    """Opens and transforms one sample. Random transforms are seeded per (epoch seed, sample index), so the
    result does not depend on the number of workers or on which worker gets the sample."""

    def __init__(self, split: FileSplit, transform, augment_seed: int | None, views: int = 1):
        self.split, self.transform, self.augment_seed, self.views = split, transform, augment_seed, views

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> tuple[torch.Tensor | list[torch.Tensor], torch.Tensor]:
        image = self.split.open_image(self.split.items[index])
        copies = [self._view(image, index, view) for view in range(self.views)]
        return (copies[0] if self.views == 1 else copies), self.split.labels[index]

    def _view(self, image, index: int, view: int) -> torch.Tensor:
        if self.augment_seed is None:
            return self.transform(image)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(self.augment_seed, index, view) if view else
                              derive_seed(self.augment_seed, index))
            return self.transform(image)


class LoaderBatches:
    """A DataLoader over a FileSplit whose batches are moved to the device."""

    def __init__(self, split: FileSplit, facts: DatasetFacts, batches: list[torch.Tensor], device: torch.device,
                 augment_seed: int | None, num_workers: int, loader_seed: int, views: int = 1,
                 worker_start: str = "fork"):
        dataset = _FileDataset(split, file_transform(facts, train=augment_seed is not None), augment_seed, views)
        # an own generator keeps the loader from drawing its workers' base seed from the global RNG
        self.loader = DataLoader(dataset, batch_sampler=[batch.tolist() for batch in batches],
                                 num_workers=num_workers, pin_memory=device.type == "cuda",
                                 generator=torch.Generator().manual_seed(loader_seed),
                                 worker_init_fn=ignore_stop_signals if num_workers else None,
                                 multiprocessing_context=loader_context(worker_start, num_workers))
        self.device = device

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        batches = iter(self.loader)
        for index in range(len(self.loader)):
            try:
                images, labels = next(batches)
            except RuntimeError as error:
                if "DataLoader worker" not in str(error):
                    raise
                raise DatasetError(f"a data-loading worker died while batch {index + 1} of {len(self.loader)} was "
                                   f"read ({str(error).splitlines()[0].rstrip('. ')}); nothing of the batch was "
                                   "trained: rerun (the run resumes from its checkpoint), and if it recurs lower "
                                   "num_workers or give the job more memory (the kernel's OOM killer stops workers "
                                   "first)") from None
            if isinstance(images, list):
                images = [view.to(self.device, non_blocking=True) for view in images]
            else:
                images = images.to(self.device, non_blocking=True)
            yield images, labels.to(self.device, non_blocking=True)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)


WORKER_STARTS = ("fork", "forkserver")


def loader_context(worker_start: str, num_workers: int) -> str | None:
    """The DataLoader's multiprocessing context for workers that start as `worker_start` says: None (the platform's
    fork) or "forkserver", whose server imports torch, torchvision and this package once, so that each worker forked
    from it starts in milliseconds, not seconds."""
    if worker_start not in WORKER_STARTS:
        raise ValueError(f"worker_start {worker_start!r}: use one of {', '.join(WORKER_STARTS)}")
    if not num_workers or worker_start == "fork":
        return None
    multiprocessing.set_forkserver_preload(["torch", "torchvision", "methods.data"])
    return "forkserver"


def ignore_stop_signals(_worker_id: int) -> None:
    """In each DataLoader worker: the stop signals a scheduler sends to every process of a job (scancel's SIGTERM,
    SLURM's USR1 before the time limit, Ctrl-C's SIGINT) are the main process's to act on; it finishes its step,
    checkpoints, and shuts the workers down. A worker that kept the default handler died at once, and the main
    process then failed on its lost batch before it could checkpoint."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
