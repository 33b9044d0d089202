"""Verifying a finished run by retraining it: `python -m methods verify <run dir> [--epochs k]`.

The run's first k epochs are retrained in a scratch place (the run directory is only read) with the thread count
the run recorded, and every epochs.csv column but the timings is compared as written, digit for digit. The
same rerun, over every epoch, rebuilds the weights of a published run whose model.pt is not committed: they are
installed only when the whole record came out identical (rebuild_weights).
"""
from __future__ import annotations

import csv
import re
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import torch

from methods.engine import provenance
from methods.engine.trainer import RunError, train_run
from methods.plan.protocol import Protocol
from methods.plan.spec import RunSpec
from methods.runs import files
from methods.runs.artifacts import EPOCHS, METRICS, MODEL, VERIFIED, ArtifactError, RunArtifacts, add_verifications

TIMINGS = ("epoch_time_s", "elapsed_s")


class VerifyError(RuntimeError):
    pass


@dataclass(frozen=True)
class Difference:
    epoch: int
    column: str
    recorded: str | None
    rerun: str | None

    def __str__(self) -> str:
        return f"epoch {self.epoch}, column {self.column}: recorded {self.recorded}, rerun {self.rerun}"


@dataclass
class Outcome:
    spec: RunSpec
    epochs: int
    difference: Difference | None
    provenance_changes: dict = field(default_factory=dict)   # key -> (recorded, this machine)
    this_machine: dict = field(default_factory=dict)
    recorded_provenance: bool = False
    host: str = provenance.UNKNOWN   # this machine against those that trained the run (provenance.host_relation)
    weights: bytes | None = None   # the rerun's model.pt, when it ran every epoch and came out identical

    @property
    def identical(self) -> bool:
        return self.difference is None

    def lines(self) -> list[str]:
        here = f"  rerun on {self.host}"
        if self.identical:
            return [f"{self.spec.directory}: identical for {self.epochs} epoch{'s' if self.epochs != 1 else ''}", here]
        lines = [f"{self.spec.directory}: DIFFERS at {self.difference}", here]
        if not self.recorded_provenance:
            lines.append("  the run recorded no provenance (made before metrics.json had it); this machine: "
                         + _describe(self.this_machine))
        elif self.provenance_changes:
            lines += [f"  provenance differs: {key}: recorded {old!r}, here {new!r}"
                      for key, (old, new) in self.provenance_changes.items()]
        else:
            lines.append("  the recorded provenance equals this machine's: a change of code or library versions?")
        return lines

    def record(self) -> dict:
        return {"checked": datetime.now(timezone.utc).isoformat(timespec="seconds"), "epochs": self.epochs,
                "identical": self.identical, "difference": str(self.difference) if self.difference else None,
                "provenance": self.this_machine, "host": self.host,
                "command": f"python -m methods verify {self.spec.directory} --epochs {self.epochs}"}


def read_raw_rows(path: Path) -> list[dict[str, str]]:
    """epochs.csv as written (strings), so the comparison is exact to the last printed digit."""
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def first_difference(recorded: list[dict[str, str]], rerun: list[dict[str, str]], epochs: int) -> Difference | None:
    """The first row (by epoch) and column where two records differ, ignoring the timings; rows after `epochs`
    are not compared."""
    rerun_by_epoch = {int(row["epoch"]): row for row in rerun}
    for row in recorded:
        epoch = int(row["epoch"])
        if epoch > epochs:
            break
        other = rerun_by_epoch.get(epoch)
        if other is None:
            return Difference(epoch, "(row)", "present", "missing")
        for column in dict.fromkeys([*row, *other]):
            if column not in TIMINGS and row.get(column) != other.get(column):
                return Difference(epoch, column, row.get(column), other.get(column))
    return None


def recorded_threads(metrics: dict) -> int | None:
    """The thread count a run trained with (metrics.json `threads`, or its device line, 'cpu (2 cores, 1 threads)')."""
    if metrics.get("threads"):
        return int(metrics["threads"])
    match = re.search(r"(\d+) threads", metrics.get("device", ""))
    return int(match.group(1)) if match else None


REBUILD = "rebuild"   # <run dir>/rebuild/: a weights rebuild in progress (git-ignored)


def verify_run(protocol: Protocol, epochs: int | None, runtime, root: Path = Path("."), scratch: Path | None = None,
               say=print) -> Outcome:
    """Retrain the first `epochs` epochs (None: all) of a finished run under `scratch` (default: a temporary
    folder, deleted after) and compare. A scratch folder given by the caller is kept, and a rerun left there
    (interrupted or finished) is resumed or reused."""
    spec = protocol.spec
    artifacts = RunArtifacts(spec, root, protocol)
    metrics = _finished_metrics(artifacts)
    recorded = read_raw_rows(artifacts.epochs_path)
    last_epoch = int(recorded[-1]["epoch"])
    epochs = last_epoch if epochs is None else epochs
    if not int(recorded[0]["epoch"]) <= epochs <= last_epoch:
        raise VerifyError(f"{spec.directory} has epochs {recorded[0]['epoch']}..{last_epoch}; ask for --epochs "
                          f"within them")
    threads = recorded_threads(metrics)
    runtime = replace(runtime, threads=threads or runtime.threads, stop_after_epoch=epochs, snapshot_epochs=())
    owned = scratch is None
    scratch = Path(tempfile.mkdtemp(prefix="focusnet-verify-")) if owned else Path(scratch)
    try:
        if protocol.reference is not None:
            stage_reference(protocol.reference, root, scratch, runtime, say)
        say(f"[{spec.directory}] retraining epochs 1..{epochs} in {scratch} with {runtime.threads} thread(s)")
        rerun_files = RunArtifacts(spec, scratch, protocol)
        if rerun_files.read_metrics() is None:
            try:
                train_run(protocol, runtime, scratch)
            except RunError as error:
                raise VerifyError(str(error)) from None
        else:
            say(f"[{spec.directory}] reusing the finished rerun in {scratch}")
        difference = first_difference(recorded, read_raw_rows(rerun_files.epochs_path), epochs)
        outcome = _outcome(spec, epochs, difference, metrics)
        if outcome.identical and epochs == last_epoch and rerun_files.model_path.exists():
            outcome.weights = rerun_files.model_path.read_bytes()
        return outcome
    finally:
        if owned:
            shutil.rmtree(scratch, ignore_errors=True)


def _outcome(spec, epochs, difference, metrics: dict) -> Outcome:
    here = provenance.collect(torch.device("cuda") if torch.cuda.is_available() else None)
    recorded = metrics.get("provenance")
    changes = {} if not recorded else {key: (recorded.get(key), here.get(key)) for key in provenance.NUMERIC_KEYS
                                       if (key in recorded or key in here) and recorded.get(key) != here.get(key)}
    attempts = [recorded or {}] + [resume.get("provenance") or {} for resume in metrics.get("resumes") or []]
    return Outcome(spec, epochs, difference, changes, here, recorded is not None,
                   provenance.host_relation(attempts, here))


def _finished_metrics(artifacts: RunArtifacts) -> dict:
    try:
        metrics = artifacts.read_metrics()
    except ArtifactError as error:
        raise VerifyError(str(error)) from None
    if metrics is None or not artifacts.epochs_path.exists():
        raise VerifyError(f"{artifacts.spec.directory} is not a finished run (no {METRICS} / {EPOCHS}); only a "
                          "finished run can be verified")
    if metrics["protocol_hash"] != artifacts.expected_hash:
        raise VerifyError(f"{artifacts.spec.directory} was trained under protocol {metrics['protocol_hash']}, the "
                          f"config now gives {artifacts.expected_hash}: a rerun cannot reproduce it; restore the "
                          "config it was made with")
    return metrics


def weights_of(artifacts: RunArtifacts) -> Path | None:
    """The run's deployed weights on this machine: model.pt, or the sealed copy under restore/."""
    for path in (artifacts.model_path, artifacts.restore_dir / MODEL):
        if path.exists():
            return path
    return None


def rebuild_weights(protocol: Protocol, runtime, root: Path = Path("."), say=print) -> Path:
    """A published run's model.pt, which is not committed, rebuilt by retraining it whole in a scratch place:
    installed only when every epoch of the rerun equals the committed epochs.csv; otherwise VerifyError names the
    run, the first differing epoch and the provenance that differs, and the published record is left as it is."""
    spec = protocol.spec
    artifacts = RunArtifacts(spec, root, protocol)
    scratch = rebuild_scratch(artifacts)
    say(f"[{spec.directory}] has no {MODEL} here: rebuilding it by retraining the whole run in {scratch} (kept "
        f"until it is done, so an interrupted rebuild resumes) and checking every epoch against its committed {EPOCHS}")
    outcome = verify_run(protocol, None, runtime, root, scratch=scratch, say=say)
    if not outcome.identical:
        raise VerifyError(" / ".join(outcome.lines()) + "; its weights were not rebuilt (rerun with the "
                          "recorded provenance, e.g. --cpu-isa avx2)")
    install_rebuilt_weights(outcome, root)
    shutil.rmtree(scratch, ignore_errors=True)
    say(f"[{spec.directory}] {MODEL} rebuilt: identical for {outcome.epochs} epochs")
    return artifacts.model_path


def rebuild_scratch(artifacts: RunArtifacts) -> Path:
    """Where a run's weights are rebuilt: inside its directory (git-ignored), kept until the rebuild is installed,
    so a rebuild that is interrupted resumes from its checkpoint there."""
    return artifacts.directory / REBUILD


def install_rebuilt_weights(outcome: Outcome, root: Path = Path(".")) -> Path:
    """The weights of an identical rerun of every epoch, written as the run's model.pt (under its lock)."""
    if outcome.weights is None:
        raise VerifyError(f"{outcome.spec.directory}: no weights to install: only a rerun of every epoch that came "
                          "out identical has them (drop --epochs)")
    artifacts = RunArtifacts(outcome.spec, root)
    with artifacts.exclusive():
        files.atomic_write(artifacts.model_path, lambda tmp: Path(tmp).write_bytes(outcome.weights))
        artifacts.seal()   # restore/ gets an intact copy of the rebuilt weights, with its checksum
    return artifacts.model_path


def stage_reference(reference: Protocol, root: Path, scratch: Path, runtime, say=print) -> None:
    """Put a reference run's metrics.json and weights under `scratch`, rebuilding the weights first if absent."""
    source = RunArtifacts(reference.spec, root, reference)
    _finished_metrics(source)
    weights = weights_of(source) or rebuild_weights(reference, replace(runtime, stop_after_epoch=None), root, say)
    target = RunArtifacts(reference.spec, scratch, reference)
    target.directory.mkdir(parents=True, exist_ok=True)
    for path, name in ((source.metrics_path, METRICS), (source.epochs_path, EPOCHS), (weights, MODEL)):
        shutil.copyfile(path, target.directory / name)


def append_record(outcome: Outcome, root: Path = Path(".")) -> Path:
    """Add the outcome to the run directory's verified.json (earlier records kept)."""
    path = RunArtifacts(outcome.spec, root).directory / VERIFIED
    add_verifications(path, [outcome.record()])
    return path


def _describe(record: dict) -> str:
    return ", ".join(f"{key} {record[key]}" for key in provenance.NUMERIC_KEYS if key in record)
