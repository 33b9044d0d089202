"""What a run's processes do together, behind one object: `Solo` for one process (every operation the identity) and
`Group` for several trained with torch.distributed (DistributedDataParallel averages the gradients, NCCL on GPUs and
gloo on CPUs). A process learns its place from its launcher's environment (methods.plan.world: torchrun's RANK /
WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT, or srun's task variables); `team_of(world)` gives its object.
Rank 0 writes every file of the run directory; the others compute and agree. The trainer never asks which it has."""
from __future__ import annotations

import contextlib
import ctypes
import os
import random
import signal
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist

from methods.engine.device import pick_device
from methods.plan.gpus import inside_slurm_job
from methods.plan.world import SINGLE, World


class Solo:
    """One process: it speaks, holds the lock, and agrees with itself."""

    # how its data loader's workers start (methods.data.batches.loader_context): forked, the default
    worker_start = "fork"

    def __init__(self, world: World = SINGLE):
        self.world = world

    @property
    def main(self) -> bool:
        return self.world.main

    @property
    def shard(self) -> tuple[int, int]:
        """(this process's index, how many): which share of every batch stream it draws."""
        return self.world.rank, self.world.size

    def join(self, slots_per_gpu: int = 1) -> torch.device | None:
        """Enter the process group; the device the launcher gave this process (None: let the runtime pick)."""
        return None

    def leave(self) -> None:
        pass

    def holding(self, lock):
        """The run directory's lock (a context manager), held by the process that writes."""
        return lock

    def speaking(self):
        return contextlib.nullcontext()

    def broadcast(self, obj):
        """Rank 0's `obj` on every process."""
        return obj

    def barrier(self) -> None:
        pass

    def agree(self, flag: bool, device: torch.device) -> bool:
        """True on every process when it is true on one (a preemption signal that reached one process)."""
        return flag

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The tensor summed over the processes."""
        return tensor

    def epoch_totals(self, sums: dict, correct: torch.Tensor, seen: int) -> tuple[dict, torch.Tensor, int]:
        """An epoch's loss sums, top-1 hits and samples over every process: the whole batch's."""
        return sums, correct, seen

    def total_hits(self, correct: torch.Tensor | None, seen: int) -> tuple[int, int, int]:
        """(top-1 hits, top-5 hits, samples) of an evaluation, over every process's share: exact counts, never an
        average of percentages."""
        top1, top5 = correct.tolist()
        return top1, top5, seen

    def per_process(self, obj):
        """What each process holds of `obj`, as the checkpoint stores it (read back by `own`): for one process the
        object itself, so a single-process last.pt is what it always was."""
        return obj

    def own(self, stored):
        """This process's part of what `per_process` stored."""
        return stored

    def share_buffers(self, method) -> None:
        """Every process's buffers (BatchNorm running statistics) made rank 0's, before an evaluation or a save."""

    def own_random_streams(self, seed: int) -> None:
        """Dropout and other global-RNG draws of this process, reseeded once the network is built."""

    def training_step(self, method):
        """The module whose forward trains one step and whose backward averages the gradients; None: the method's
        own forward_train."""
        return None


class Group(Solo):
    """Several processes, one of which (rank 0) speaks and writes."""

    # torch.distributed's communication threads may hold a lock at the moment of a fork, and a loader worker forked
    # then waits on it forever (seen: a 2-process gloo run whose worker hung before its first batch)
    worker_start = "forkserver"

    def __init__(self, world: World, timeout_s: float = 1800):
        super().__init__(world)
        self.timeout_s = timeout_s
        self.device: torch.device | None = None

    def join(self, slots_per_gpu: int = 1) -> torch.device:
        """This process's device (`_own_device`), and the process group joined
        before any process decides anything. A process torchrun started stops with it: if the launcher dies (kill
        -9, a lost shell) the kernel sends this one SIGTERM, on which it checkpoints and exits, instead of living on
        holding the run's lock."""
        if os.environ.get("TORCHELASTIC_RUN_ID"):
            stop_with_parent()
        self.device = self._own_device(slots_per_gpu)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo", init_method="env://",
                                    rank=self.world.rank, world_size=self.world.size,
                                    timeout=timedelta(seconds=self.timeout_s))
        return self.device

    def _own_device(self, slots_per_gpu: int) -> torch.device:
        """A GPU of its own, never one another rank (or another local job) holds: locally (torchrun) a whole free
        GPU taken by its slot locks, as every local training job takes its share (methods.engine.device); inside a
        SLURM job the one the scheduler bound to this task (each task sees its own, or all of the node's: the one
        of its local rank). The CPU without GPUs."""
        if not torch.cuda.is_available():
            return torch.device("cpu")
        count = torch.cuda.device_count()
        if not inside_slurm_job():
            local = int(os.environ.get("LOCAL_WORLD_SIZE", self.world.size))
            if local > count:
                raise RuntimeError(f"{local} processes on this machine, {count} GPU(s): two would share one; train "
                                   "it where there is a GPU per process (profiles/slurm), or lower its processes "
                                   "(config/presets.yaml)")
            return pick_device(None, slots_per_gpu)
        if count > 1 and self.world.local_rank >= count:
            raise RuntimeError(f"process {self.world.rank} (local rank {self.world.local_rank}) sees {count} GPUs: "
                               "two processes would share one; ask SLURM for one GPU per task (the SLURM profile "
                               "does: tasks_per_gpu 1)")
        return torch.device(f"cuda:{self.world.local_rank % count}")

    def leave(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()

    def holding(self, lock):
        return lock if self.main else contextlib.nullcontext()

    def speaking(self):
        """Rank 0 speaks for the run; the other processes print only errors."""
        if self.main:
            return contextlib.nullcontext()
        return _stdout_to_devnull()

    def broadcast(self, obj):
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        dist.barrier()

    def agree(self, flag: bool, device: torch.device) -> bool:
        value = torch.tensor([int(flag)], device=device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def epoch_totals(self, sums: dict, correct: torch.Tensor, seen: int) -> tuple[dict, torch.Tensor, int]:
        names = list(sums)
        totals = self.sum(torch.stack([sums[name] for name in names]
                                      + [correct[0].float(), torch.tensor(float(seen), device=correct.device)]))
        return dict(zip(names, totals[:-2])), totals[-2:-1].round().long(), int(totals[-1].item())

    def total_hits(self, correct: torch.Tensor | None, seen: int) -> tuple[int, int, int]:
        counts = torch.zeros(3, dtype=torch.int64, device=self.device)
        if correct is not None:   # a process whose share of a small set is empty
            counts[:2] = correct
        counts[2] = seen
        top1, top5, seen = self.sum(counts).tolist()
        return top1, top5, seen

    def per_process(self, obj) -> list | None:
        """Every process's `obj` on rank 0 (in rank order), None elsewhere."""
        gathered = [None] * self.world.size if self.main else None
        dist.gather_object(_on_cpu(obj), gathered, dst=0)
        return gathered

    def own(self, stored):
        return stored[self.world.rank] if stored else None

    def share_buffers(self, method) -> None:
        """Broadcast from rank 0, not the mean over ranks: rank 0's weights are the ones saved (model.pt, the
        snapshots a read-off run or a KD teacher loads), so every rank then evaluates exactly the saved network and
        the accuracy a run reports is what its saved weights score. DDP broadcasts rank 0's buffers at the start of
        every training forward anyway, so this changes nothing of the training."""
        for buffer in method.buffers():
            dist.broadcast(buffer, src=0)

    def own_random_streams(self, seed: int) -> None:
        """seed + rank (as timm's train.py): each process draws its own dropout masks. The augmentation streams are
        per rank already (methods.data.batches), and the initial weights were drawn from the shared seed before."""
        random.seed(seed + self.world.rank)
        np.random.seed(seed + self.world.rank)
        torch.manual_seed(seed + self.world.rank)

    def training_step(self, method):
        """The training step wrapped in DistributedDataParallel: gradients averaged over the processes (each loss is
        the mean over its own share, so the average is the mean over the global batch), buffers (BatchNorm
        statistics) broadcast from rank 0 each step, as torchvision's reference scripts train."""
        from torch.nn.parallel import DistributedDataParallel   # DDP: only a run of several processes wraps its step
        device = next(method.parameters()).device
        return DistributedDataParallel(_TrainStep(method), device_ids=[device.index] if device.type == "cuda" else None)


def stop_with_parent(signum: int = signal.SIGTERM) -> None:
    """Linux's parent-death signal (prctl PR_SET_PDEATHSIG) for this process; a no-op elsewhere."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, int(signum), 0, 0, 0) != 0:   # 1 = PR_SET_PDEATHSIG
            return
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:   # the launcher died before the prctl: the signal would never come
        os.kill(os.getpid(), signum)


def team_of(world: World) -> Solo:
    return Group(world) if world.distributed else Solo(world)


class _TrainStep(torch.nn.Module):
    """The method's training forward as a module's forward, which DistributedDataParallel wraps."""

    def __init__(self, method):
        super().__init__()
        self.method = method

    def forward(self, images, targets):
        return self.method.forward_train(images, targets)


@contextlib.contextmanager
def _stdout_to_devnull():
    with open(os.devnull, "w") as nowhere, contextlib.redirect_stdout(nowhere):
        yield


def _on_cpu(state):
    if isinstance(state, torch.Tensor):
        return state.cpu()
    if isinstance(state, dict):
        return {key: _on_cpu(value) for key, value in state.items()}
    return state
