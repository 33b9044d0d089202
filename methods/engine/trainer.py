"""One training run of a resolved protocol: SGD + step decay, evaluated every epoch, checkpointed, resumable."""
from __future__ import annotations

import contextlib
import math
import os
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from methods.data import load_splits, make_batches
from methods.data.batches import stratified_subset
from methods.data.image_store import as_store
from methods.engine import checkpoint, distributed, provenance
from methods.engine.device import describe, pick_device
from methods.engine.evaluate import evaluate, topk_hits
from methods.engine.faults import fault_point
from methods.engine.preemption import EpochProgress, Preempted, stop_on_signals
from methods.engine.speed import EngineOptions
from methods.engine.weights import load_model, versions, write_model
from methods.method import recorded_options
from methods.models import build_model
from methods.plan.world import SINGLE, World
from methods.plan.protocol import Protocol
from methods.plan.runtime import Runtime
from methods.plan.spec import RunSpec
from methods.zoo import get_method_class
from methods.runs.artifacts import LAST, ArtifactError, RunArtifacts
from methods.runs.epoch_log import EpochLog


class RunError(RuntimeError):
    pass


class RunPreempted(RunError):
    """Stopped by a preemption signal after writing a checkpoint; the rerun resumes there."""


def require_weights(reference: Protocol, runtime: Runtime, root: Path) -> None:
    """The trainer's own check of a reference: its weights must be here (methods.engine.lifecycle rebuilds missing
    ones by a verified retraining before it trains)."""
    artifacts = RunArtifacts(reference.spec, root, reference)
    present = artifacts.model_path.exists() or (artifacts.restore_dir / artifacts.model_path.name).exists()
    if artifacts.metrics_path.exists() and not present:
        raise RunError(f"reference {reference.spec.directory} has no weights here; rebuild them first: python -m "
                       f"methods verify {reference.spec.directory} --install-weights")


def train_run(protocol: Protocol, runtime: Runtime, root: Path = Path("."), world: World = SINGLE,
              prepare_reference=require_weights) -> dict:
    """Train one run of a resolved protocol into its directory, holding the directory's lock (one writer at a
    time). With several processes (`world`, as the launcher placed this one) rank 0 holds the lock and writes every
    file; the others train their share and stay silent. prepare_reference(reference, runtime, root) runs under the
    lock before anything is seeded: the lifecycle (methods.engine.lifecycle) passes the one that rebuilds weights."""
    if protocol.processes != world.size:
        raise RunError(f"{protocol.spec.directory}: its protocol trains with {protocol.processes} process(es), this "
                       f"one was started as {world.size}; start it with python -m methods train "
                       f"{protocol.spec.directory} (which launches {protocol.processes} with torchrun, or srun inside a "
                       "SLURM allocation of as many tasks)")
    artifacts = RunArtifacts(protocol.spec, root, protocol)
    device = None
    if world.distributed:   # every process joins before any of them decides anything
        device = distributed.device_for(world) or torch.device("cpu")
        distributed.start(world, device)
    try:
        with artifacts.exclusive() if world.main else contextlib.nullcontext(), _silent_unless(world.main):
            return _train_locked(protocol, runtime, artifacts, root, world, device, prepare_reference)
    except ArtifactError as error:
        raise RunError(str(error)) from None
    finally:
        distributed.stop()


@contextlib.contextmanager
def _silent_unless(speaks: bool):
    """Rank 0 speaks for the run; the other processes print only errors."""
    if speaks:
        yield
        return
    with open(os.devnull, "w") as nowhere, contextlib.redirect_stdout(nowhere):
        yield


def _train_locked(protocol: Protocol, runtime: Runtime, artifacts: RunArtifacts, root: Path, world: World,
                  device: torch.device | None, prepare_reference) -> dict:
    spec, digest = protocol.spec, protocol.hash
    restored = None
    if world.main:
        restored = _refuse_finished(artifacts, digest) or _restore_or_set_aside(spec, artifacts)
    restored = distributed.broadcast(restored, world)
    if restored is not None:
        _say(spec, f"restoring the finished run from {artifacts.restore_dir.name}/: nothing to train")
        say_done(spec, restored)
        return restored
    if protocol.reference is not None and world.main:   # before seeding: a rebuild trains, not moving this RNG
        prepare_reference(protocol.reference, runtime, root)
    distributed.barrier(world)
    if runtime.threads:
        torch.set_num_threads(runtime.threads)
    _seed_everything(spec.seed)
    device = device or pick_device(runtime.gpu_slots, runtime.slots_per_gpu)
    shard = (world.rank, world.size)
    facts = protocol.facts
    train_split, val_split = load_splits(facts, protocol.data_source, runtime.data_root,
                                         synthetic=protocol.synthetic, cache_dir=runtime.cache_dir)
    engine = EngineOptions(**vars(protocol.engine))
    if engine.image_store:
        train_split, val_split = (as_store(split, engine.image_store, runtime.cache_dir)
                                  for split in (train_split, val_split))
    method = _build_method(protocol, root).to(device)
    optimizer = torch.optim.SGD([p for p in method.parameters() if p.requires_grad],
                                lr=protocol.optimizer["lr"], momentum=protocol.optimizer["momentum"],
                                weight_decay=protocol.optimizer["weight_decay"])
    schedule = protocol.schedule
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, schedule["milestones"], schedule["gamma"])
    start_epoch, elapsed, rows, partial, attempts = _resume(spec, artifacts, digest, method, optimizer, scheduler,
                                                            world)
    attempts.append({"epoch": start_epoch + 1, "step": partial["step"] if partial else 0,
                     "provenance": provenance.collect(device)})
    engine.prepare_model(method)   # after loading the checkpoint: compile wraps the restored weights
    step_module = _ddp(method, device) if world.distributed else None
    log = EpochLog(artifacts.epochs_path if world.main else None, rows)
    where = ("evaluating the network as built (0 epochs)" if schedule["epochs"] == 0 else
             f"restoring the finished run from {LAST}" if start_epoch == schedule["epochs"] and start_epoch else
             f"resuming at epoch {start_epoch + 1}" + (f", step {partial['step'] + 1}" if partial else "")
             if start_epoch or partial else "starting epoch 1")
    _say(spec, f"{where}{'/' + str(schedule['epochs']) if schedule['epochs'] else ''} on {describe(device)}"
               + (f" x {world.size} processes" if world.distributed else "")
               + f"; {len(train_split)} train / {len(val_split)} val images")
    # a truncated evaluation scores a fixed class-balanced subset, never the first (perhaps one-class) batches
    eval_indices = (None if protocol.max_eval_batches is None else
                    stratified_subset(val_split.labels, protocol.max_eval_batches * protocol.batch_size))

    def validate(epoch: int) -> dict:
        return evaluate(method, make_batches(val_split, facts, train=False, batch_size=protocol.batch_size,
                                             device=device, seed=spec.seed, epoch=epoch, indices=eval_indices,
                                             num_workers=runtime.num_workers, shard=shard), engine=engine,
                        world=world)

    def save_checkpoint(epoch: int, progress: EpochProgress | None = None) -> None:
        """last.pt, written by rank 0 at the same step on every process: with several, it holds each process's
        RNG state and interrupted-epoch sums (in rank order)."""
        rng, state = checkpoint.rng_state(), progress.state() if progress else None
        if world.distributed:
            rng, state = distributed.gather(rng, world), distributed.gather(_on_cpu(state), world)
        if world.main:
            checkpoint.save_torch({"epoch": epoch, "elapsed_s": elapsed, "protocol_hash": digest,
                                   "method": method.trainable_state_dict(), "optimizer": optimizer.state_dict(),
                                   "scheduler": scheduler.state_dict(), "rng": rng, "rows": log.rows,
                                   "partial": state, "attempts": attempts},
                                  artifacts.last_path)
        distributed.barrier(world)   # no process leaves before rank 0 has written it
        fault_point(f"after-last-{epoch}" + (f"-step{progress.step}" if progress else ""))

    if schedule["epochs"] == 0 and not log.rows:   # evaluation only, e.g. published pretrained weights
        val = validate(0)
        log.append({"epoch": 0, "lr": 0.0, "val_top1": val["top1"], "val_top5": val["top5"]})
    with stop_on_signals() as stop:
        for epoch in range(start_epoch + 1, schedule["epochs"] + 1):
            if runtime.stop_after_epoch is not None and epoch > runtime.stop_after_epoch:
                _say(spec, f"stopped after epoch {runtime.stop_after_epoch} as asked; {LAST} kept")
                return {"stopped_after": runtime.stop_after_epoch, "rows": log.rows}
            tic = time.time()
            lr = optimizer.param_groups[0]["lr"]
            method.start_epoch(epoch, schedule["epochs"])
            batches = make_batches(train_split, facts, train=True, batch_size=protocol.batch_size, device=device,
                                   seed=spec.seed, epoch=epoch, num_workers=runtime.num_workers,
                                   views=method.views, class_pairs=method.class_pairs, shard=shard)
            def run_epoch(resume: EpochProgress | None, stop_flag) -> dict:
                return train_epoch(spec, method, optimizer, batches, protocol.max_steps_per_epoch, runtime, engine,
                                   warmup=(epoch, schedule.get("warmup_epochs", 0)), resume=resume, stop=stop_flag,
                                   world=world, step_module=step_module)

            stopped_at = None
            try:
                if "stop_at_val_top1" in schedule:
                    train_stats, stopped_at = train_until_accuracy(spec, schedule["stop_at_val_top1"], run_epoch,
                                                                   lambda: validate(epoch), stop)
                else:
                    train_stats = run_epoch(EpochProgress.from_state(partial, device), stop)
            except Preempted as preempted:
                elapsed += time.time() - tic
                save_checkpoint(epoch - 1, preempted.progress)
                raise RunPreempted(f"{spec.directory}: {preempted}; checkpoint written at epoch {epoch}, step "
                                   f"{preempted.progress.step}: rerun to resume there") from None
            partial = None
            scheduler.step()
            val = validate(epoch)
            elapsed += time.time() - tic
            log.append({"epoch": epoch, "lr": train_stats.pop("lr", lr), **train_stats, "val_top1": val["top1"],
                        "val_top5": val["top5"], **({"stopped_at_step": stopped_at} if stopped_at else {}),
                        "epoch_time_s": round(time.time() - tic, 3), "elapsed_s": round(elapsed, 3)})
            if epoch in runtime.snapshot_epochs and epoch < schedule["epochs"] and world.main:   # before last.pt moves on
                write_model(artifacts, method.deploy_model(), artifacts.snapshot_path(epoch))
            save_checkpoint(epoch)
            _say(spec, f"epoch {epoch}/{schedule['epochs']} loss {train_stats['train_loss']:.4f} "
                       f"train-top1 {train_stats['train_top1']:.2f} val-top1 {val['top1']:.2f} "
                       f"val-top5 {val['top5']:.2f} lr {lr:g} {time.time() - tic:.1f}s")
            if _agreed(bool(stop), world, device) and epoch < schedule["epochs"]:
                raise RunPreempted(f"{spec.directory}: stopped by {stop.signal_name or 'a signal to another process'} "
                                   f"after epoch {epoch}; checkpoint written: rerun to resume")
    if not world.main:
        return {"rank": world.rank}
    return _finish(spec, method, log, device, elapsed, artifacts, attempts)


def _agreed(flag: bool, world: World, device: torch.device) -> bool:
    """A stop request every process acts on at the same step: one process's signal stops them all."""
    return distributed.any_(flag, world, device) if world.distributed else flag


class _TrainStep(torch.nn.Module):
    """The method's training forward as a module's forward, which DistributedDataParallel wraps."""

    def __init__(self, method):
        super().__init__()
        self.method = method

    def forward(self, images, targets):
        return self.method.forward_train(images, targets)


def _ddp(method, device: torch.device):
    """The training step wrapped in DistributedDataParallel: gradients averaged over the processes (each loss is the
    mean over its own share, so the average is the mean over the global batch), buffers (BatchNorm statistics)
    broadcast from rank 0 each step, as torchvision's reference scripts train."""
    from torch.nn.parallel import DistributedDataParallel
    return DistributedDataParallel(_TrainStep(method), device_ids=[device.index] if device.type == "cuda" else None)


def _on_cpu(state):
    if isinstance(state, torch.Tensor):
        return state.cpu()
    if isinstance(state, dict):
        return {key: _on_cpu(value) for key, value in state.items()}
    return state


def train_epoch(spec, method, optimizer, batches, max_steps, runtime, engine: EngineOptions,
                warmup: tuple[int, int] = (1, 0), resume: EpochProgress | None = None, stop=None,
                world: World = SINGLE, step_module=None) -> dict:
    """One epoch. Loss sums and hit counts stay on the device: the host waits for the GPU only at progress
    reports and at the end of the epoch, where a non-finite loss stops the run.
    warmup = (epoch, warm-up epochs): during those epochs step s of the run trains at lr x (s + 1) / (warm-up
    steps); the scheduler's lr is restored at the end of the epoch (checkpoints hold the scheduled lr).
    resume: an interrupted epoch's progress; its consumed batches are drawn again (same order and augmentation
    stream) and skipped. stop: truthy once a preemption signal came: Preempted after the current step (with several
    processes, after the step at which any of them got one). step_module: the DDP-wrapped training forward, whose
    backward averages the gradients; the epoch's sums and hits are summed over the processes at its end."""
    method.train()
    progress = resume or EpochProgress()
    last_report = time.time()
    steps = len(batches) if max_steps is None else min(max_steps, len(batches))
    epoch, warmup_epochs = warmup
    scheduled_lrs = [group["lr"] for group in optimizer.param_groups]
    try:
        for step, (images, targets) in enumerate(batches):
            if step >= steps:
                break
            if step < progress.step:
                continue
            if epoch <= warmup_epochs:
                factor = ((epoch - 1) * steps + step + 1) / (warmup_epochs * steps)
                for group, lr in zip(optimizer.param_groups, scheduled_lrs):
                    group["lr"] = lr * factor
            with engine.autocast(targets.device):
                forward = step_module if step_module is not None else method.forward_train
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
            progress.step = step + 1
            fault_point(f"step-{epoch}-{progress.step}", stop)
            if _agreed(bool(stop), world, targets.device) and progress.step < steps:
                raise Preempted(progress, stop.signal_name or "a signal to another process")
            if time.time() - last_report > runtime.progress_every_s:
                _check_finite(spec, progress.sums, progress.seen, f"step {step + 1}")
                _say(spec, f"  step {step + 1}/{steps} loss {progress.sums['loss'].item() / progress.seen:.4f}")
                last_report = time.time()
    finally:
        for group, lr in zip(optimizer.param_groups, scheduled_lrs):
            group["lr"] = lr
    if progress.seen == 0:
        raise RunError(f"{spec.directory}: no training batch (fewer training samples than the batch size?)")
    sums, correct, seen = progress.sums, progress.correct, progress.seen
    if world.distributed:   # the epoch's row is the whole batch's: each process's sums added up
        names = list(sums)
        totals = distributed.sum_(torch.stack([sums[name] for name in names] + [correct[0].float(),
                                  torch.tensor(float(seen), device=correct.device)]), world)
        sums, correct, seen = dict(zip(names, totals[:-2])), totals[-2:-1].round().long(), int(totals[-1].item())
    stats = _check_finite(spec, sums, seen, "the end of the epoch")
    stats["train_top1"] = 100.0 * correct.item() / seen
    if epoch <= warmup_epochs:   # the lr applied, not the scheduler's: the mean over the epoch's ramped steps
        stats["lr"] = scheduled_lrs[0] * warmup_mean_factor(epoch, warmup_epochs, steps)
    return stats


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
            stats = _check_finite(spec, progress.sums, progress.seen, f"step {progress.step}")
            stats["train_top1"] = 100.0 * progress.correct.sum().item() / progress.seen
            _say(spec, f"validation top-1 reached {target} % at step {progress.step}: stopped there")
            return stats, progress.step


def warmup_mean_factor(epoch: int, warmup_epochs: int, steps: int) -> float:
    """The mean of the warm-up factors (s + 1) / (warm-up steps) over epoch `epoch`'s steps (closed form, so a resumed
    epoch logs the same value)."""
    return ((epoch - 1) * steps + (steps + 1) / 2) / (warmup_epochs * steps)


def _check_finite(spec, sums: dict[str, torch.Tensor], seen: int, where: str) -> dict[str, float]:
    means = {f"train_{name}": total.item() / seen for name, total in sums.items()}
    if not all(math.isfinite(value) for value in means.values()):
        run = getattr(spec, "run", None)   # a benchmark's loop passes a bare stand-in for the spec
        options = ", ".join(f"{k}={v}" for k, v in (run.options if run else ())) or "its method's defaults"
        raise RunError(f"{spec.directory}: the training loss is not finite at {where} (mean terms {means}); the run "
                       f"trains with {options} (config/methods.yaml): check those values, lower the lr, or check the "
                       "data")
    return means


def _build_method(protocol: Protocol, root: Path):
    spec, facts = protocol.spec, protocol.facts
    model = build_model(spec.arch, facts.num_classes, family=facts.arch_family, in_channels=facts.channels)
    method_cls = get_method_class(spec.run.method)
    options = recorded_options(spec.run.method, protocol.record["options"])
    reference = load_reference(protocol.reference, root) if protocol.reference else None
    return method_cls(model, facts.num_classes, options, reference)


def load_reference(reference: Protocol, root: Path = Path(".")) -> torch.nn.Module:
    """The deployed network of a finished run, checked to be of the protocol the config resolves to now."""
    try:
        return load_model(RunArtifacts(reference.spec, root, reference), "reference run")
    except ArtifactError as error:
        raise RunError(str(error)) from None


def _restore_or_set_aside(spec: RunSpec, artifacts: RunArtifacts) -> dict | None:
    """Before training: the finished record put back when it is only missing here (Snakemake deleted the outputs of
    a job whose head died; a file was deleted), else whatever is left of an earlier record set aside, never deleted
    (a retrain asked for with snakemake --forcerun, a new protocol, a damaged copy). A run with a checkpoint is in
    the middle of training and resumes."""
    if artifacts.last_path.exists():
        return None
    if artifacts.retrain_marker.exists():
        why = "retrained on purpose (snakemake --forcerun)"
    else:
        try:
            restored = artifacts.restore()
        except ArtifactError as error:
            why = f"its sealed copy is damaged ({error})"
        else:
            if restored is not None:
                return restored
            why = "trained afresh: the earlier record is of another protocol or incomplete"
    aside = artifacts.set_aside(why)
    if aside is not None:
        _say(spec, f"{why}; the earlier record is kept in {aside.relative_to(artifacts.root)}/ (nothing is deleted)")
    return None


def _refuse_finished(artifacts: RunArtifacts, digest: str) -> dict | None:
    """A finished run is never retrained over; one that finished but was stopped inside its seal has the seal
    completed (what a Snakemake rerun gets by restoring from last.pt), and its record is returned."""
    metrics = artifacts.read_metrics()
    if metrics is not None and metrics["protocol_hash"] == digest and artifacts.seal_interrupted():
        if not artifacts.model_path.exists() or not artifacts.epochs_path.exists():
            raise RunError(f"{artifacts.directory}: finished, but stopped inside its seal with "
                           f"{'model.pt' if not artifacts.model_path.exists() else 'epochs.csv'} gone; move "
                           "metrics.json away and rerun: it resumes from last.pt and finishes again")
        artifacts.seal()
        _say(artifacts.spec, "finished earlier but stopped inside its seal: seal completed, nothing retrained")
        return metrics
    if metrics is not None:
        raise RunError(f"{artifacts.metrics_path} already exists (protocol {metrics['protocol_hash']}, requested "
                       f"{digest}); it is never overwritten: move it away first if you mean to retrain")


def _resume(spec, artifacts: RunArtifacts, digest: str, method, optimizer, scheduler, world: World = SINGLE):
    """(epochs done, elapsed s, log rows, the interrupted epoch's progress or None, the earlier attempts) from
    last.pt. An unreadable checkpoint (truncated by a crash or a full disk) is moved aside, said, and the run starts
    afresh."""
    path = artifacts.last_path
    if not path.exists():
        return 0, 0.0, [], None, []
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        found = state["protocol_hash"]
    except Exception as error:   # a truncated zip, a pickle error, a missing key: all mean "unreadable"
        aside = path.with_name(f"{LAST}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
        if world.main:
            path.replace(aside)
        _say(spec, f"{path} is unreadable ({type(error).__name__}); moved it to {aside.name} and starting afresh")
        return 0, 0.0, [], None, []
    if found != digest:
        raise RunError(f"{path} was written under protocol {found}, the config now gives {digest}; "
                       "restore the config, or move the checkpoint away to start this run afresh")
    method.load_trainable_state_dict(state["method"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    rng, partial = state["rng"], state.get("partial")
    if world.distributed:   # each process takes back its own
        rng, partial = rng[world.rank], partial[world.rank] if partial else None
    checkpoint.set_rng_state(rng)
    return state["epoch"], state["elapsed_s"], state["rows"], partial, list(state.get("attempts", []))


def _finish(spec, method, log: EpochLog, device, elapsed, artifacts: RunArtifacts, attempts: list[dict]) -> dict:
    network = method.deploy_model()
    write_model(artifacts, network)
    fault_point("before-metrics")
    metrics = artifacts.write_metrics(log.rows, versions=versions(), device=describe(device),
                                      deployed_params=sum(p.numel() for p in network.parameters()),
                                      train_time_s=round(elapsed, 1), threads=torch.get_num_threads(),
                                      provenance=attempts[0]["provenance"], resumes=attempts[1:])
    say_done(spec, metrics)
    fault_point("after-metrics")
    artifacts.seal(after_each=lambda name: fault_point(f"seal-after-{name}"))   # from here a rerun whose outputs
    fault_point("after-seal")                                                     # were deleted restores them at once
    return metrics


def say_done(spec: RunSpec, metrics: dict) -> None:
    best, final = metrics["best"], metrics["final"]
    _say(spec, f"done: best top1 {best['top1']:.2f} (epoch {best['epoch']}), final {final['top1']:.2f}"
               + ("; COLLAPSED: training accuracy at chance level" if metrics["collapsed"] else ""))


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _say(spec: RunSpec, message: str) -> None:
    print(f"[{spec.directory}] {message}", file=sys.stdout, flush=True)
