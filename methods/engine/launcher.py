"""Starting the processes of a run that several processes train together (its protocol's `processes`, from
config/presets.yaml): torchrun on one machine, or srun inside a SLURM allocation of as many tasks (what the SLURM
profile asks for). Each process then learns its place from methods.plan.world."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
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
    from torch.distributed.elastic.multiprocessing.api import SignalException   # (as above)
    parser = get_args_parser()
    parser.allow_abbrev = False   # else the trainer's --log would be taken for torchrun's --log-dir
    launch = parser.parse_args(["--standalone", "--nnodes=1", f"--nproc-per-node={processes}", "--max-restarts=0",
                                "-m", "methods", *args])
    try:
        with _usr1_passed_to_the_processes():
            run(launch)
    except SignalException as stopped:
        # SIGTERM (or SIGINT, SIGHUP) to the launcher: torchrun sent it on to the processes and waited for them to
        # exit; on SIGTERM they checkpointed at one agreed step. A preemption, not a failure.
        print(f"launcher stopped by {signal.Signals(stopped.sigval).name}: the processes checkpointed and stopped",
              file=sys.stderr, flush=True)
        return PREEMPTED
    except ChildFailedError as error:
        codes = {failure.exitcode for failure in error.failures.values()}
        return PREEMPTED if codes <= {PREEMPTED, -15} and PREEMPTED in codes else max(codes) or 1
    return 0


@contextlib.contextmanager
def _usr1_passed_to_the_processes():
    """SIGUSR1 (SLURM's warning before the time limit) to the launcher is passed on to the processes it started,
    which checkpoint and exit 143 (torchrun itself would die of it, leaving them running)."""
    def pass_on(signum, _frame):
        for child in _children():
            try:
                os.kill(child, signum)
            except ProcessLookupError:
                pass
    previous = signal.signal(signal.SIGUSR1, pass_on)
    try:
        yield
    finally:
        signal.signal(signal.SIGUSR1, previous)


def _children() -> list[int]:
    """This process's child processes (Linux /proc)."""
    children = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        match = re.search(r"^PPid:\s+(\d+)$", text, re.M)
        if match and int(match.group(1)) == os.getpid():
            children.append(int(status.parent.name))
    return children


def _srun(args: list[str], processes: int) -> int:
    """srun of the processes, and its exit status: all preempted (143) is a preemption. A stop signal to this
    process (the job's batch step: `scancel --batch`, or a hand-written sbatch's `--signal=B:...`) reaches srun as
    SIGUSR1, which srun passes to every task (SIGTERM would make srun SIGKILL them: "forcing job termination")."""
    command, environ = srun_command(args, processes, os.environ)
    step = subprocess.Popen(command, env=environ)
    with _stop_signals_passed_to([step.pid], as_signal=signal.SIGUSR1) as stopped:
        status = step.wait()
    if stopped and status in (PREEMPTED, -signal.SIGTERM):
        print(f"launcher stopped by {stopped[0]}: the processes checkpointed and stopped", file=sys.stderr,
              flush=True)
        return PREEMPTED
    return status


@contextlib.contextmanager
def _stop_signals_passed_to(pids: list[int], as_signal: int):
    """While the block runs, SIGTERM, SIGINT and SIGUSR1 to this process are passed on to `pids` as `as_signal`
    instead of ending it; yields the names of the signals received."""
    received: list[str] = []

    def pass_on(signum, _frame):
        received.append(signal.Signals(signum).name)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, as_signal)
    stop_signals = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
    previous = {signum: signal.signal(signum, pass_on) for signum in stop_signals}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def srun_command(args: list[str], processes: int, environ) -> tuple[list[str], dict]:
    """srun of `processes` tasks in this allocation, asking only for what the step needs, so it works whatever the
    cluster's defaults and however the job was submitted (the SLURM profile, or a hand-written sbatch):
    - no GPU option: the step inherits the job's own GPU binding (--gpus-per-task would conflict with a job's
      --ntasks-per-gpu, which SLURM refuses);
    - --cpus-per-task from the job's request (since SLURM 22.05 srun no longer inherits it, and each task would get
      one CPU for its DataLoader workers), also as SRUN_CPUS_PER_TASK;
    - --export=ALL: the variables set here reach every task.
    The rendezvous (MASTER_ADDR) is the allocation's first node, where task 0 (rank 0) runs."""
    cpus = environ.get("SLURM_CPUS_PER_TASK", "")
    step = {**environ, LAUNCHER: "srun", "MASTER_ADDR": first_node(environ),
            "MASTER_PORT": str(29500 + int(environ["SLURM_JOB_ID"]) % 10000)}
    if cpus:
        step["SRUN_CPUS_PER_TASK"] = cpus
    command = ["srun", f"--ntasks={processes}", *([f"--cpus-per-task={cpus}"] if cpus else []), "--export=ALL",
               "--kill-on-bad-exit=1", sys.executable, "-m", "methods", *args]
    return command, step


def first_node(environ) -> str:
    """The allocation's first node (`scontrol show hostnames $SLURM_JOB_NODELIST`), this host without a list."""
    nodes = environ.get("SLURM_JOB_NODELIST") or environ.get("SLURM_NODELIST")
    if nodes and shutil.which("scontrol"):
        listed = subprocess.run(["scontrol", "show", "hostnames", nodes], capture_output=True, text=True)
        if listed.returncode == 0 and listed.stdout.split():
            return listed.stdout.split()[0]
    return socket.gethostname()
