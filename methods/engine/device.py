"""Choosing the training device. On a local GPU machine each job takes a share of one GPU by file locks.

A GPU is divided into `slots_per_gpu` slots; a job holds `slots` of them on one GPU for its life. A ResNet job
takes every slot (a whole GPU); small cells (LeNet-5, MobileNetV2: config `gpu_share`) take fewer, so several
run on one GPU at once. Snakemake's `gpu_slot` resource (workflow/rules/common.smk) caps the total; the locks
place each job on a GPU with enough free slots, waiting while finishing jobs free them.
"""
from __future__ import annotations

import fcntl
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

_held_locks: list = []   # kept open for the life of the process: closing a file releases its lock
LOCK_DIR = Path(tempfile.gettempdir())


def pick_device(slots: int | None = None, slots_per_gpu: int = 1, wait_s: float = 3600.0,
                poll_s: float = 5.0) -> torch.device:
    """The CPU without a GPU; otherwise a GPU with `slots` free slots (default: all of one GPU)."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    count = torch.cuda.device_count()
    slots = slots_per_gpu if slots is None else slots
    if not 1 <= slots <= slots_per_gpu:
        raise ValueError(f"a job takes 1..{slots_per_gpu} GPU slots, not {slots} (config gpu_share / gpu_slots)")
    if count == 1 and slots == slots_per_gpu:
        return torch.device("cuda:0")
    deadline = time.time() + wait_s
    while True:
        index = take_gpu_slots(count, slots, slots_per_gpu)
        if index is not None:
            return torch.device(f"cuda:{index}")
        if time.time() > deadline:
            raise RuntimeError(f"no GPU had {slots} of {slots_per_gpu} slots free for {wait_s:.0f} s: run Snakemake "
                               "with its gpu_slot resource (profiles/local sets it) so it never starts more "
                               "training jobs than the GPUs hold")
        print(f"waiting for {slots} free slot(s) on one of {count} GPUs", file=sys.stderr, flush=True)
        time.sleep(poll_s)


def take_gpu_slots(count: int, slots: int, slots_per_gpu: int, lock_dir: Path = LOCK_DIR) -> int | None:
    """Lock `slots` slot files of the first GPU that has them free; the index of that GPU, or None."""
    for index in range(count):
        taken = []
        for slot in range(slots_per_gpu):
            lock = open(lock_dir / f"focusnet-gpu{index}-slot{slot}.lock", "w")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                continue
            taken.append(lock)
            if len(taken) == slots:
                _held_locks.extend(taken)
                return index
        for lock in taken:
            lock.close()
    return None


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} ({device})"
    return f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"
