"""One training epoch (steps, warm-up, progress, the epoch's log row), and epoch 1 stopped at an accuracy."""
from __future__ import annotations

import math
import sys
import time

import torch

from methods.engine.distributed import Solo
from methods.engine.evaluate import topk_hits
from methods.engine.faults import fault_point
from methods.engine.preemption import EpochProgress, Preempted
from methods.engine.switches import EngineOptions


class RunError(RuntimeError):
    pass


def train_epoch(spec, method, optimizer, batches, max_steps, runtime, engine: EngineOptions,
                warmup: tuple[int, int] = (1, 0), resume: EpochProgress | None = None, stop=None,
                team: Solo = Solo(), step_module=None) -> dict:
    """One epoch. Loss sums and hit counts stay on the device: the host waits for the GPU only at progress
    reports and at the end of the epoch, where a non-finite loss stops the run.
    warmup = (epoch, warm-up epochs): during those epochs step s of the run trains at lr x (s + 1) / (warm-up
    steps); the scheduler's lr is restored at the end of the epoch (checkpoints hold the scheduled lr).
    resume: an interrupted epoch's progress; its consumed batches are drawn again (same order and augmentation
    stream) and skipped. stop: truthy once a preemption signal came: Preempted after the current step (with several
    processes, after the step at which any of them got one). step_module: the training forward whose backward
    averages the gradients over the processes (team.training_step); the epoch's sums and hits are summed over the
    processes at its end."""
    method.train()
    progress = resume or EpochProgress()
    steps = len(batches) if max_steps is None else min(max_steps, len(batches))
    epoch, warmup_epochs = warmup
    scheduled_lrs = [group["lr"] for group in optimizer.param_groups]
    forward = step_module if step_module is not None else method.forward_train
    last_report = time.time()
    try:
        for step, (images, targets) in enumerate(batches):
            if step >= steps:
                break
            if step < progress.step:
                continue
            if epoch <= warmup_epochs:
                factor = ((epoch - 1) * steps + step + 1) / (warmup_epochs * steps)
                _set_lrs(optimizer, [lr * factor for lr in scheduled_lrs])
            _step(method, forward, optimizer, engine, images, targets, progress)
            progress.step = step + 1
            fault_point(f"step-{epoch}-{progress.step}", stop)
            if team.agree(bool(stop), targets.device) and progress.step < steps:
                raise Preempted(progress, stop.signal_name or "a signal to another process")
            if time.time() - last_report > runtime.progress_every_s:
                check_finite(spec, progress.sums, progress.seen, f"step {step + 1}")
                say(spec, f"  step {step + 1}/{steps} loss {progress.sums['loss'].item() / progress.seen:.4f}")
                last_report = time.time()
    finally:
        _set_lrs(optimizer, scheduled_lrs)
    if progress.seen == 0:
        raise RunError(f"{spec.directory}: no training batch (fewer training samples than the batch size?)")
    sums, correct, seen = team.epoch_totals(progress.sums, progress.correct, progress.seen)
    stats = check_finite(spec, sums, seen, "the end of the epoch")
    stats["train_top1"] = 100.0 * correct.item() / seen
    if epoch <= warmup_epochs:   # the lr applied, not the scheduler's: the mean over the epoch's ramped steps
        stats["lr"] = scheduled_lrs[0] * warmup_mean_factor(epoch, warmup_epochs, steps)
    return stats


def _step(method, forward, optimizer, engine: EngineOptions, images, targets, progress: EpochProgress) -> None:
    """One optimiser step; its loss terms and top-1 hits added to the epoch's sums (on the device)."""
    with engine.autocast(targets.device):
        logits, terms = forward(engine.prepare_images(images), targets)
    loss = sum(terms.values())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    batch = len(targets)
    for name, value in (("loss", loss), *terms.items()):
        weighted = value.detach().float() * batch
        progress.sums[name] = weighted if name not in progress.sums else progress.sums[name] + weighted
    hits = topk_hits(logits.detach(), targets, (1,))
    progress.correct = hits if progress.correct is None else progress.correct + hits
    progress.seen += batch


def _set_lrs(optimizer, lrs: list[float]) -> None:
    for group, lr in zip(optimizer.param_groups, lrs):
        group["lr"] = lr


def warmup_mean_factor(epoch: int, warmup_epochs: int, steps: int) -> float:
    """The mean of the warm-up factors (s + 1) / (warm-up steps) over epoch `epoch`'s steps (closed form, so a resumed
    epoch logs the same value)."""
    return ((epoch - 1) * steps + (steps + 1) / 2) / (warmup_epochs * steps)


class _AfterEveryStep:
    """A stop flag that is up after every step, so train_epoch hands back its progress for an accuracy check."""
    signal_name = "an accuracy check"

    def __bool__(self) -> bool:
        return True


def train_until_accuracy(spec, target: float, run_epoch, validate, stop) -> tuple[dict, int | None]:
    """Epoch 1 step by step, the validation top-1 after each step; stopped after the first step that reaches
    `target` %. Each step is the epoch resumed where the last one stopped (as after a preemption), so the steps are
    those of the uninterrupted epoch: the network is the Baseline of the same seed at that step. Returns the steps'
    training means and the step (None when the whole epoch ran without reaching it). A real stop signal ends the
    run without a checkpoint: it takes seconds, and a rerun repeats it exactly."""
    progress = None
    while True:
        try:
            return run_epoch(progress, _AfterEveryStep()), None
        except Preempted as stopped:
            progress = stopped.progress
        if bool(stop):
            raise RunError(f"{spec.directory}: stopped by {stop.signal_name} at step {progress.step} of its accuracy "
                           "search; rerun it (it restarts from its first step, which gives the same network)")
        if validate()["top1"] >= target:
            stats = check_finite(spec, progress.sums, progress.seen, f"step {progress.step}")
            stats["train_top1"] = 100.0 * progress.correct.sum().item() / progress.seen
            say(spec, f"validation top-1 reached {target} % at step {progress.step}: stopped there")
            return stats, progress.step


def check_finite(spec, sums: dict[str, torch.Tensor], seen: int, where: str) -> dict[str, float]:
    """The mean of each loss term; a non-finite one stops the run, naming the options it trains with."""
    means = {f"train_{name}": total.item() / seen for name, total in sums.items()}
    if not all(math.isfinite(value) for value in means.values()):
        run = getattr(spec, "run", None)   # a benchmark's loop passes a bare stand-in for the spec
        options = ", ".join(f"{k}={v}" for k, v in (run.options if run else ())) or "its method's defaults"
        raise RunError(f"{spec.directory}: the training loss is not finite at {where} (mean terms {means}); the run "
                       f"trains with {options} (config/methods.yaml): check those values, lower the lr, or check the "
                       "data")
    return means


def say(spec, message: str) -> None:
    print(f"[{spec.directory}] {message}", file=sys.stdout, flush=True)
