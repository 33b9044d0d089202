"""How a job runs, beside what it runs (its protocol): where the data lie, workers, threads, GPU slots. None of it
changes a run's result, so none of it is part of the protocol."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Runtime:
    """Settings that do not change a run's result (so they are not part of its protocol)."""
    data_root: Path = Path("data")
    cache_dir: Path | None = None
    num_workers: int = 4
    threads: int | None = None
    progress_every_s: float = 60.0
    snapshot_epochs: tuple[int, ...] = ()   # save the deployed network at these epochs (for derived runs)
    gpu_slots: int | None = None            # slots of one GPU this job holds (None: a whole GPU)
    slots_per_gpu: int = 1                  # how many slots a GPU is divided into (methods.engine.device)
    stop_after_epoch: int | None = None     # stop (checkpoint kept, no metrics) after this epoch: `verify` reruns
