"""Deterministic fault injection for the fault tests: FOCUSNET_FAULT=<point> makes the process die (os._exit,
as kill -9 would: no cleanup, no flush) when it reaches that point. Points: after-last-<epoch>[-step<k>] (a
checkpoint just written), step-<epoch>-<k> (a training step just taken), before-metrics (the run's outputs
written except metrics.json), after-metrics. `sigterm@<point>` sends the process SIGTERM there instead (a
preemption). Unset, it costs one dictionary lookup."""
from __future__ import annotations

import os
import signal

VARIABLE = "FOCUSNET_FAULT"


def fault_point(name: str) -> None:
    fault = os.environ.get(VARIABLE)
    if fault == name:
        os._exit(137)
    if fault == f"sigterm@{name}":
        os.kill(os.getpid(), signal.SIGTERM)
