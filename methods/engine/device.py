"""Choosing the training device; on a multi-GPU workstation each local job takes a free GPU by file lock."""
from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

import torch

_held_locks: list = []   # kept open for the life of the process: closing a file releases its lock


def pick_device() -> torch.device:
    if not torch.cuda.is_available():
        return torch.device("cpu")
    count = torch.cuda.device_count()
    if count == 1:
        return torch.device("cuda:0")
    for index in range(count):
        lock = open(Path(tempfile.gettempdir()) / f"focusnet-gpu{index}.lock", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        _held_locks.append(lock)
        return torch.device(f"cuda:{index}")
    raise RuntimeError(f"all {count} GPUs are held by other jobs: run Snakemake with --resources gpu={count} "
                       "(profiles/local sets it) so it never starts more training jobs than GPUs")


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} ({device})"
    return f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"
