"""One run trained by several processes with torch.distributed: DistributedDataParallel averages the gradients, NCCL
on GPUs and gloo on CPUs. A process learns its place from its launcher's environment (methods.plan.world:
torchrun's RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT, or srun's task variables). Rank 0 writes
every file of the run directory; the others compute and agree."""
from __future__ import annotations

from datetime import timedelta

import torch
import torch.distributed as dist

from methods.plan.world import World


def start(world: World, device: torch.device, timeout_s: float = 1800) -> None:
    """Join the process group (a no-op for one process)."""
    if not world.distributed or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method="env://", rank=world.rank,
                            world_size=world.size, timeout=timedelta(seconds=timeout_s))


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def device_for(world: World) -> torch.device | None:
    """This process's GPU: of those it sees, the one of its local rank (torchrun shows each process all of the
    node's GPUs; srun with --gpus-per-task shows each its own), or None on a CPU."""
    if world.distributed and torch.cuda.is_available():
        return torch.device(f"cuda:{world.local_rank % torch.cuda.device_count()}")
    return None


def sum_(tensor: torch.Tensor, world: World) -> torch.Tensor:
    """The tensor summed over all processes, in place."""
    if world.distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def any_(flag: bool, world: World, device: torch.device) -> bool:
    """True on every process when it is true on one (a preemption signal that reached one process)."""
    if not world.distributed:
        return flag
    value = torch.tensor([int(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def gather(obj, world: World) -> list | None:
    """Every process's `obj` on rank 0 (in rank order), None elsewhere; [obj] for one process."""
    if not world.distributed:
        return [obj]
    gathered = [None] * world.size if world.main else None
    dist.gather_object(obj, gathered, dst=0)
    return gathered


def broadcast(obj, world: World):
    """Rank 0's `obj` on every process."""
    if not world.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()
