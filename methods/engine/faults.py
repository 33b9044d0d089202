"""Deterministic fault injection for the fault tests: FOCUSNET_FAULT=<point> makes the process die (os._exit,
as kill -9 would: no cleanup, no flush) when it reaches that point. Points: after-last-<epoch>[-step<k>] (a
checkpoint just written), step-<epoch>-<k> (a training step just taken), before-metrics (the run's outputs
written except metrics.json), after-metrics, seal-after-<file> (inside the seal: restore/ holds that file's copy and
those before it, no checksums yet), after-seal. `sigterm@<point>` sends the process SIGTERM there instead (a
preemption); `pause@<point>` holds the process there until a preemption signal arrives (for a test that cancels or
requeues a running cluster job at a known step). `sigterm-launcher@`, `sigusr1-launcher@` and `kill-launcher@<point>`
send the process's launcher (its parent, torchrun) SIGTERM, SIGUSR1 or SIGKILL there and hold the process until
the preemption signal that follows reaches it; `sigterm-group@<point>` sends SIGTERM to the whole process group (the
launcher, every rank and their DataLoader workers, as scancel does to a job step), waits a second (a step's
time) and holds likewise.
`rank<r>:<fault>` applies the fault in process r only, where
several processes train one run (its rank, as torchrun or srun set it). Unset, it costs one dictionary lookup."""
from __future__ import annotations

import os
import signal
import time

from methods.plan.world import launched_world

VARIABLE = "FOCUSNET_FAULT"


def fault_point(name: str, stop=None) -> None:
    """`stop`: the trainer's StopFlag, where a pause can wait for it."""
    fault = os.environ.get(VARIABLE)
    if fault and fault.startswith("rank") and ":" in fault:
        rank, fault = fault.split(":", 1)
        if rank != f"rank{launched_world().rank}":
            return
    if fault == name:
        os._exit(137)
    if fault == f"sigterm@{name}":
        os.kill(os.getpid(), signal.SIGTERM)
    for kind, signum in (("sigterm", signal.SIGTERM), ("sigusr1", signal.SIGUSR1), ("kill", signal.SIGKILL)):
        if fault == f"{kind}-launcher@{name}" and stop is not None:
            os.kill(os.getppid(), signum)
            fault = f"pause@{name}"
    if fault == f"sigterm-group@{name}" and stop is not None:
        os.killpg(os.getpgrp(), signal.SIGTERM)
        time.sleep(1.0)   # a step's time, as a real job is mid-step when scancel comes: every process has it by then
        fault = f"pause@{name}"
    if fault == f"pause@{name}" and stop is not None:
        print(f"fault: paused at {name} until a preemption signal", flush=True)
        while not stop:
            time.sleep(0.05)
