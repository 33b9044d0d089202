"""Preemption: on SIGTERM or SIGUSR1 (a cluster's warning before its time limit, a requeue, `scancel`) the trainer
finishes the step it is in, writes a checkpoint at that step and exits; the rerun resumes mid-epoch, on the same
data order, skipping the batches already consumed, bit-identical to a run never interrupted."""
from __future__ import annotations

import signal
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
EXIT_CODE = 143   # 128 + SIGTERM: what a scheduler expects of a job that stopped on its signal


@dataclass
class EpochProgress:
    """How far an interrupted epoch got: batches consumed and the running sums that make its log row."""
    step: int = 0
    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    correct: torch.Tensor | None = None
    seen: int = 0

    def state(self) -> dict:
        return {"step": self.step, "sums": self.sums, "correct": self.correct, "seen": self.seen}

    @classmethod
    def from_state(cls, state: dict | None, device) -> "EpochProgress":
        if not state:
            return cls()
        return cls(state["step"], {k: v.to(device) for k, v in state["sums"].items()},
                   None if state["correct"] is None else state["correct"].to(device), state["seen"])


class Preempted(Exception):
    def __init__(self, progress: EpochProgress, signal_name: str):
        super().__init__(f"stopped by {signal_name} after step {progress.step}")
        self.progress, self.signal_name = progress, signal_name


class StopFlag:
    """Set by the signal handlers; the training loop looks at it after every step."""

    def __init__(self):
        self.signal_name: str | None = None

    def __bool__(self) -> bool:
        return self.signal_name is not None


@contextmanager
def stop_on_signals():
    """A StopFlag raised by SIGTERM / SIGUSR1 while the block runs (previous handlers restored after)."""
    flag = StopFlag()

    def handler(signum, _frame):
        flag.signal_name = signal.Signals(signum).name

    try:
        previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}
    except ValueError:        # not the main thread (e.g. inside a test runner's worker): no handlers
        yield flag
        return
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
