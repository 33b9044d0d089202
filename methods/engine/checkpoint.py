"""The training checkpoint, last.pt: what it holds (`Checkpoint`), how it is written (atomically, byte-deterministic)
and read back (`read`: None when absent, the file set aside when unreadable), and the RNG state it restores. The
deployed network's file (model.pt) is methods.engine.weights'."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from methods.runs.files import atomic_write


@dataclass
class Checkpoint:
    """A run between two steps. With several processes `rng` and `partial` hold each process's part, in rank order
    (methods.engine.distributed: per_process / own)."""
    epoch: int                  # epochs finished
    elapsed_s: float            # training time so far, over every attempt
    protocol_hash: str          # the protocol it trains: a checkpoint of another is refused
    method: dict                # the method's trainable state (the network, and any learnt loss parameters)
    optimizer: dict
    scheduler: dict
    rng: object                 # rng_state()
    rows: list = field(default_factory=list)      # epochs.csv's rows so far
    partial: object = None      # the interrupted epoch's progress (methods.engine.preemption.EpochProgress.state)
    attempts: list = field(default_factory=list)  # each start's provenance: the first and every resume


class OfAnotherProtocol(Exception):
    """last.pt was written under another protocol than the run's (left where it is)."""

    def __init__(self, path: Path, found: str):
        self.path, self.found = path, found
        super().__init__(f"{path} was written under protocol {found}")


class Unreadable(Exception):
    """last.pt could not be read (truncated by a crash or a full disk); it was moved to `aside`."""

    def __init__(self, path: Path, aside: Path | None, cause: Exception):
        self.path, self.aside, self.cause = path, aside, cause
        super().__init__(f"{path} is unreadable ({type(cause).__name__})")


def write(state: Checkpoint, path: Path) -> None:
    save_torch({f.name: getattr(state, f.name) for f in fields(state)}, path)


def read(path: Path, protocol_hash: str, set_aside: bool = True) -> Checkpoint | None:
    """The checkpoint at `path`, None when there is none. One written under another protocol raises
    OfAnotherProtocol; an unreadable one is moved to last.pt.unreadable-<time> (by the process that writes:
    `set_aside`) and raised as Unreadable."""
    if not path.exists():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=False)
        if saved["protocol_hash"] != protocol_hash:
            raise OfAnotherProtocol(path, saved["protocol_hash"])
        return Checkpoint(**{name: saved[name] for name in _REQUIRED}, partial=saved.get("partial"),
                          attempts=list(saved.get("attempts", [])))
    except OfAnotherProtocol:
        raise
    except Exception as error:   # a truncated zip, a pickle error, a missing key: all mean "unreadable"
        aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
        if set_aside:
            path.replace(aside)
        raise Unreadable(path, aside, error) from None


_REQUIRED = ("epoch", "elapsed_s", "protocol_hash", "method", "optimizer", "scheduler", "rng", "rows")


def save_torch(obj, path: Path) -> None:
    """torch.save to an open file, not to its name: saved to a name, the archive's inner folder is named after the
    (random) temporary file, so identical weights gave different bytes; to a file object it is always 'archive'.
    (Through an in-memory buffer the bytes are the same, but a ResNet's checkpoint is copied once more.)"""
    def write(tmp):
        with open(tmp, "wb") as file:
            torch.save(obj, file)
    atomic_write(path, write)


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
