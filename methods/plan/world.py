"""A process's place among those that train one run together (its protocol's `processes`), as its launcher set it:
torchrun's variables, or srun's inside a SLURM allocation (methods.engine.launcher starts them). Torch-free, so a
job knows before its CPU kernels are pinned whether it is one of several."""
from __future__ import annotations

import os
from dataclasses import dataclass

LAUNCHER = "FOCUSNET_LAUNCHER"   # "srun": the SLURM task variables name this process's place


@dataclass(frozen=True)
class World:
    """A process's place among those training one run."""
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


SINGLE = World()


def launched_world(environ=os.environ) -> World:
    """This process's place as its launcher set it: torchrun's RANK / WORLD_SIZE / LOCAL_RANK, or srun's
    SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID where the launcher started it; a single process otherwise (a
    SLURM batch script's own SLURM_PROCID=0 is not a launch)."""
    if "RANK" in environ and "WORLD_SIZE" in environ:
        return World(int(environ["RANK"]), int(environ["WORLD_SIZE"]), int(environ.get("LOCAL_RANK", 0)))
    if environ.get(LAUNCHER) == "srun" and "SLURM_PROCID" in environ:
        return World(int(environ["SLURM_PROCID"]), int(environ["SLURM_NTASKS"]), int(environ.get("SLURM_LOCALID", 0)))
    return SINGLE
