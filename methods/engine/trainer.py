"""One training run of a resolved protocol: SGD + step decay, evaluated every epoch, checkpointed, resumable.
In phases: set-up (`_set_up`: seed, data, method, optimiser, the checkpoint restored), each epoch (`_epoch`: train,
evaluate, log, checkpoint), the seal (`_finish`). What several processes do differently is the team's
(methods.engine.distributed); the checkpoint's format is methods.engine.checkpoint's."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from methods.data import load_splits, make_batches
from methods.data.batches import stratified_subset
from methods.data.image_store import as_store
from methods.engine import checkpoint, provenance
from methods.engine.checkpoint import Checkpoint
from methods.engine.device import describe, pick_device
from methods.engine.distributed import Solo, team_of
from methods.engine.epoch import RunError, say as _say, train_epoch, train_until_accuracy
from methods.engine.evaluate import evaluate
from methods.engine.faults import fault_point
from methods.engine.preemption import EpochProgress, Preempted, stop_on_signals
from methods.engine.switches import EngineOptions
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
    team = team_of(world)
    device = team.join(runtime.slots_per_gpu)   # every process joins before any of them decides anything
    try:
        with team.holding(artifacts.exclusive()), team.speaking():
            return _train_locked(protocol, runtime, artifacts, root, team, device, prepare_reference)
    except ArtifactError as error:
        raise RunError(str(error)) from None
    finally:
        team.leave()


def _train_locked(protocol: Protocol, runtime: Runtime, artifacts: RunArtifacts, root: Path, team: Solo,
                  device: torch.device | None, prepare_reference) -> dict:
    spec, epochs = protocol.spec, protocol.schedule["epochs"]
    restored = team.broadcast(_finished_record(artifacts, protocol.hash) if team.main else None)
    if restored is not None:
        _say(spec, f"restoring the finished run from {artifacts.restore_dir.name}/: nothing to train")
        say_done(spec, restored)
        return restored
    if protocol.reference is not None and team.main:   # before seeding: a rebuild trains, not moving this RNG
        prepare_reference(protocol.reference, runtime, root)
    team.barrier()
    run = _set_up(protocol, runtime, artifacts, root, team, device)
    if epochs == 0 and not run.log.rows:   # evaluation only, e.g. published pretrained weights
        val = run.validate(0)
        run.log.append({"epoch": 0, "lr": 0.0, "val_top1": val["top1"], "val_top5": val["top5"]})
    with stop_on_signals() as stop:
        for epoch in range(run.start_epoch + 1, epochs + 1):
            if runtime.stop_after_epoch is not None and epoch > runtime.stop_after_epoch:
                _say(spec, f"stopped after epoch {runtime.stop_after_epoch} as asked; {LAST} kept")
                return {"stopped_after": runtime.stop_after_epoch, "rows": run.log.rows}
            _epoch(run, epoch, stop)
    if not team.main:
        return {"rank": team.world.rank}
    return _finish(spec, run.method, run.log, run.device, run.elapsed, artifacts, run.attempts)


@dataclass
class _Training:
    """A run being trained: what the set-up built and what the epochs move on."""
    protocol: Protocol
    runtime: Runtime
    artifacts: RunArtifacts
    team: Solo
    device: torch.device
    train_split: object
    val_split: object
    engine: EngineOptions
    method: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    start_epoch: int = 0
    elapsed: float = 0.0
    partial: dict | None = None      # the interrupted epoch's progress, until that epoch is trained
    attempts: list = field(default_factory=list)
    log_rows: list = field(default_factory=list)   # the checkpoint's log rows, until the log is opened over them
    log: EpochLog | None = None
    step_module: torch.nn.Module | None = None
    eval_indices: object = None

    @property
    def spec(self) -> RunSpec:
        return self.protocol.spec

    def batches(self, split, train: bool, epoch: int, **extra):
        return make_batches(split, self.protocol.facts, train=train, batch_size=self.protocol.batch_size,
                            device=self.device, seed=self.spec.seed, epoch=epoch,
                            num_workers=self.runtime.num_workers, shard=self.team.shard,
                            worker_start=self.team.worker_start, **extra)

    def validate(self, epoch: int) -> dict:
        self.team.share_buffers(self.method)   # every process evaluates the network rank 0 saves
        return evaluate(self.method, self.batches(self.val_split, False, epoch, indices=self.eval_indices),
                        engine=self.engine, team=self.team)

    def save_checkpoint(self, epoch: int, progress: EpochProgress | None = None) -> None:
        """last.pt, written by rank 0 at the same step on every process: with several, it holds each process's
        RNG state and interrupted-epoch sums (in rank order)."""
        self.team.share_buffers(self.method)
        rng = self.team.per_process(checkpoint.rng_state())
        state = self.team.per_process(progress.state() if progress else None)
        if self.team.main:
            checkpoint.write(Checkpoint(epoch, self.elapsed, self.protocol.hash, self.method.trainable_state_dict(),
                                        self.optimizer.state_dict(), self.scheduler.state_dict(), rng, self.log.rows,
                                        state, self.attempts), self.artifacts.last_path)
        self.team.barrier()   # no process leaves before rank 0 has written it
        fault_point(f"after-last-{epoch}" + (f"-step{progress.step}" if progress else ""))


def _set_up(protocol: Protocol, runtime: Runtime, artifacts: RunArtifacts, root: Path, team: Solo,
            device: torch.device | None) -> _Training:
    """Seeded, then (in this order, which the RNG streams depend on) the data, the method, the optimiser, and the
    checkpoint's state restored over them."""
    if runtime.threads:
        torch.set_num_threads(runtime.threads)
    _seed_everything(protocol.spec.seed)
    device = device or pick_device(runtime.gpu_slots, runtime.slots_per_gpu)
    train_split, val_split = load_splits(protocol.facts, protocol.data_source, runtime.data_root,
                                         synthetic=protocol.synthetic, cache_dir=runtime.cache_dir)
    engine = EngineOptions(**vars(protocol.engine))
    if engine.image_store:
        train_split, val_split = (as_store(split, engine.image_store, runtime.cache_dir)
                                  for split in (train_split, val_split))
    method = _build_method(protocol, root).to(device)
    team.own_random_streams(protocol.spec.seed)
    optimizer = torch.optim.SGD([p for p in method.parameters() if p.requires_grad],
                                lr=protocol.optimizer["lr"], momentum=protocol.optimizer["momentum"],
                                weight_decay=protocol.optimizer["weight_decay"])
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, protocol.schedule["milestones"],
                                                     protocol.schedule["gamma"])
    run = _Training(protocol, runtime, artifacts, team, device, train_split, val_split, engine, method, optimizer,
                    scheduler)
    _resume(run)
    run.attempts.append({"epoch": run.start_epoch + 1, "step": run.partial["step"] if run.partial else 0,
                         "provenance": provenance.collect(device)})
    engine.prepare_model(method)   # after loading the checkpoint: compile wraps the restored weights
    run.step_module = team.training_step(method)
    run.log = EpochLog(artifacts.epochs_path if team.main else None, run.log_rows)
    _say(protocol.spec, _where(run) + f" on {describe(device)}"
         + (f" x {team.world.size} processes" if team.world.distributed else "")
         + f"; {len(train_split)} train / {len(val_split)} val images")
    # a truncated evaluation scores a fixed class-balanced subset, never the first (perhaps one-class) batches
    run.eval_indices = (None if protocol.max_eval_batches is None else
                        stratified_subset(val_split.labels, protocol.max_eval_batches * protocol.batch_size))
    return run


def _where(run: _Training) -> str:
    epochs = run.protocol.schedule["epochs"]
    where = ("evaluating the network as built (0 epochs)" if epochs == 0 else
             f"restoring the finished run from {LAST}" if run.start_epoch == epochs and run.start_epoch else
             f"resuming at epoch {run.start_epoch + 1}" + (f", step {run.partial['step'] + 1}" if run.partial else "")
             if run.start_epoch or run.partial else "starting epoch 1")
    return where + (f"/{epochs}" if epochs else "")


def _resume(run: _Training) -> None:
    """The checkpoint's state put back into the run: epochs done, time, log rows, the interrupted epoch's progress,
    the earlier attempts, the method's, optimiser's, scheduler's and RNG states. An unreadable checkpoint (truncated
    by a crash or a full disk) is moved aside, said, and the run starts afresh."""
    path, digest = run.artifacts.last_path, run.protocol.hash
    try:
        saved = checkpoint.read(path, digest, set_aside=run.team.main)
    except checkpoint.OfAnotherProtocol as error:
        raise RunError(f"{path} was written under protocol {error.found}, the config now gives {digest}; "
                       "restore the config, or move the checkpoint away to start this run afresh") from None
    except checkpoint.Unreadable as error:
        _say(run.spec, f"{path} is unreadable ({type(error.cause).__name__}); moved it to {error.aside.name} and "
                       "starting afresh")
        return
    if saved is None:
        return
    run.method.load_trainable_state_dict(saved.method)
    run.optimizer.load_state_dict(saved.optimizer)
    run.scheduler.load_state_dict(saved.scheduler)
    checkpoint.set_rng_state(run.team.own(saved.rng))   # with several processes, each takes back its own
    run.start_epoch, run.elapsed, run.log_rows = saved.epoch, saved.elapsed_s, saved.rows
    run.partial, run.attempts = run.team.own(saved.partial), saved.attempts


def _epoch(run: _Training, epoch: int, stop) -> None:
    """Train epoch `epoch`, evaluate it, log it, checkpoint it; a preemption signal checkpoints where it stopped."""
    tic, lr = time.time(), run.optimizer.param_groups[0]["lr"]
    train_stats, stopped_at = _train_steps(run, epoch, stop, tic)
    run.partial = None
    run.scheduler.step()
    val = run.validate(epoch)
    run.elapsed += time.time() - tic
    run.log.append({"epoch": epoch, "lr": train_stats.pop("lr", lr), **train_stats, "val_top1": val["top1"],
                    "val_top5": val["top5"], **({"stopped_at_step": stopped_at} if stopped_at else {}),
                    "epoch_time_s": round(time.time() - tic, 3), "elapsed_s": round(run.elapsed, 3)})
    epochs = run.protocol.schedule["epochs"]
    if epoch in run.runtime.snapshot_epochs and epoch < epochs and run.team.main:   # before last.pt moves on
        write_model(run.artifacts, run.method.deploy_model(), run.artifacts.snapshot_path(epoch))
    run.save_checkpoint(epoch)
    _say(run.spec, f"epoch {epoch}/{epochs} loss {train_stats['train_loss']:.4f} "
                   f"train-top1 {train_stats['train_top1']:.2f} val-top1 {val['top1']:.2f} "
                   f"val-top5 {val['top5']:.2f} lr {lr:g} {time.time() - tic:.1f}s")
    if run.team.agree(bool(stop), run.device) and epoch < epochs:
        raise RunPreempted(f"{run.spec.directory}: stopped by {stop.signal_name or 'a signal to another process'} "
                           f"after epoch {epoch}; checkpoint written: rerun to resume")


def _train_steps(run: _Training, epoch: int, stop, tic: float) -> tuple[dict, int | None]:
    """The epoch's training steps (all of them, or epoch 1 until an accuracy): their means, and the step it stopped
    at. A preemption signal writes the checkpoint at the step and raises RunPreempted."""
    protocol = run.protocol
    schedule = protocol.schedule
    run.method.start_epoch(epoch, schedule["epochs"])
    batches = run.batches(run.train_split, True, epoch, views=run.method.views, class_pairs=run.method.class_pairs)

    def run_epoch(resume: EpochProgress | None, stop_flag) -> dict:
        return train_epoch(run.spec, run.method, run.optimizer, batches, protocol.max_steps_per_epoch, run.runtime,
                           run.engine, warmup=(epoch, schedule.get("warmup_epochs", 0)), resume=resume,
                           stop=stop_flag, team=run.team, step_module=run.step_module)

    try:
        if "stop_at_val_top1" in schedule:
            return train_until_accuracy(run.spec, schedule["stop_at_val_top1"], run_epoch,
                                        lambda: run.validate(epoch), stop)
        return run_epoch(EpochProgress.from_state(run.partial, run.device), stop), None
    except Preempted as preempted:
        run.elapsed += time.time() - tic
        run.save_checkpoint(epoch - 1, preempted.progress)
        raise RunPreempted(f"{run.spec.directory}: {preempted}; checkpoint written at epoch {epoch}, step "
                           f"{preempted.progress.step}: rerun to resume there") from None


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


def _finished_record(artifacts: RunArtifacts, digest: str) -> dict | None:
    return _refuse_finished(artifacts, digest) or _restore_or_set_aside(artifacts.spec, artifacts)


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

