"""Torch checkpoints written atomically (methods.runs.files), and the RNG state a resumed run restores."""
from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import torch

from methods.runs.files import atomic_write


def save_torch(obj, path: Path) -> None:
    """torch.save through a buffer: saved to a file, the archive's inner folder is named after the (random)
    temporary file, so identical weights gave different bytes; from a buffer it is always 'archive'."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(buffer.getbuffer()))


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
