"""Starting the processes of a run that several processes train together (its protocol's `processes`, from
config/presets.yaml): torchrun on one machine, or srun inside a SLURM allocation of as many tasks (what the SLURM
profile asks for). Each process then learns its place from methods.plan.world."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from methods import cpu_isa
from methods.engine.preemption import EXIT_CODE as PREEMPTED
from methods.engine.trainer import RunError, RunPreempted
from methods.plan.protocol import launch_shape
from methods.plan.runtime import Runtime
from methods.plan.world import LAUNCHER


def launch_processes(protocol, runtime: Runtime, log: Path | str | None = None) -> dict:
    """Run `python -m methods train <run dir>` as the protocol's processes and wait for them: srun where this is a
    SLURM allocation with enough tasks, else torchrun on this machine (one node). A preemption of any process is
    RunPreempted (exit status 143, resumable); another failure is RunError."""
    shape = launch_shape(protocol.spec.preset, protocol.spec.dataset)
    command = _train_command(protocol, runtime, log)
    # Snakemake's SLURM job step keeps only SLURM_JOB_ID of the allocation's variables: that it is set says enough
    in_slurm = bool(os.environ.get("SLURM_JOB_ID")) and shutil.which("srun") is not None
    print(f"[{protocol.spec.directory}] launching {shape.processes} processes ({'srun' if in_slurm else 'torchrun'}); "
          "rank 0 writes the run", flush=True)
    if in_slurm:
        status = _srun(command, shape.processes)
    elif shape.nodes > 1:
        raise RunError(f"{protocol.spec.directory} trains on {shape.nodes} nodes: submit it through SLURM "
                       "(snakemake --profile profiles/slurm), which allocates them")
    else:
        status = _torchrun(command, shape.per_node)
    if status == PREEMPTED:
        raise RunPreempted(f"{protocol.spec.directory}: its processes stopped on a preemption signal after writing a "
                           "checkpoint: rerun to resume there")
    if status != 0:
        raise RunError(f"{protocol.spec.directory}: its {shape.processes} processes failed (exit status {status}); "
                       "their output is above")
    return {"processes": shape.processes}


def _train_command(protocol, runtime: Runtime, log) -> list[str]:
    args = ["train", str(protocol.spec.directory), "--data-root", str(runtime.data_root),
            "--num-workers", str(runtime.num_workers), "--threads", str(runtime.threads or 1)]
    if runtime.cache_dir:
        args += ["--cache-dir", str(runtime.cache_dir)]
    if os.environ.get(cpu_isa.SETTING):
        args += ["--cpu-isa", os.environ[cpu_isa.SETTING]]
    if log:
        args += ["--log", str(log)]
    return args


def _torchrun(args: list[str], processes: int) -> int:
    """torchrun (torch.distributed.run) in this process, so the processes' own exit statuses are known: all
    preempted (143) is a preemption."""
    # only a launch of several processes pays for
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run   # torch.distributed.run (as above)
    parser = get_args_parser()
    parser.allow_abbrev = False   # else the trainer's --log would be taken for torchrun's --log-dir
    launch = parser.parse_args(["--standalone", "--nnodes=1", f"--nproc-per-node={processes}", "--max-restarts=0",
                                "-m", "methods", *args])
    try:
        run(launch)
    except ChildFailedError as error:
        codes = {failure.exitcode for failure in error.failures.values()}
        return PREEMPTED if codes <= {PREEMPTED, -15} and PREEMPTED in codes else max(codes) or 1
    return 0


def _srun(args: list[str], processes: int) -> int:
    """srun of `processes` tasks in this allocation, one GPU each where it has GPUs. This process runs on the
    allocation's batch host, its first node, where task 0 (rank 0) runs too: the rendezvous (MASTER_ADDR)."""
    environ = {**os.environ, LAUNCHER: "srun", "MASTER_ADDR": socket.gethostname(),
               "MASTER_PORT": str(29500 + int(os.environ["SLURM_JOB_ID"]) % 10000)}
    gpus = ["--gpus-per-task=1"] if os.environ.get("CUDA_VISIBLE_DEVICES") else []
    command = ["srun", f"--ntasks={processes}", *gpus, "--kill-on-bad-exit=1", sys.executable, "-m", "methods", *args]
    return subprocess.run(command, env=environ).returncode
