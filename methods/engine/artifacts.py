"""What a run directory holds, and whether it is current under the config: the one place that knows a run's files.

results/<preset>/<dataset>/<arch>/<run name>/seed<k>/ (RunSpec.directory) holds
  metrics.json   final and best epoch, the resolved protocol and its hash (written last: a run is finished when
                 it exists)
  epochs.csv     one row per epoch: the single source of every number a table shows
  model.pt       the deployed network (what a run referencing this one loads)
  train.log      what the trainer printed in its last attempt (Snakemake clears it when it reruns a job)
  attempts.log   every attempt's output, appended (never a Snakemake output, so never cleared)
  last.pt        the resume checkpoint: written every epoch (and at the step a preemption signal stopped it);
                 deleted once the run is sealed
  restore/       the finished run's outputs, sealed after metrics.json is written: model.pt as a hard link (no
                 second copy on disk), metrics.json and epochs.csv as copies. Snakemake deletes the outputs of a
                 job whose head died before recording it; the rerun then restores them from here at once.
  snapshots/     epoch<k>.pt: the network at epochs that shorter constant-lr runs are read off
  .lock          held (flock) by the one process writing the directory; it names that process
"""
from __future__ import annotations

import csv
import fcntl
import json
import math
import os
import re
import shutil
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from methods.spec import RunSpec, protocol_hash, resolve

METRICS, EPOCHS, MODEL, LAST, LOG, SNAPSHOTS = "metrics.json", "epochs.csv", "model.pt", "last.pt", "train.log", "snapshots"
ATTEMPTS, LOCK, RESTORE = "attempts.log", ".lock", "restore"
SEALED = ((EPOCHS, False), (MODEL, True), (METRICS, False))   # what restore/ keeps, hard-linked or copied; metrics last

# A run has collapsed when its last epoch's training top-1 is below this multiple of chance (100 / K %): a network
# that predicts one class, or a uniform output, for every input. Trained networks sit far above it (MNIST: >95 %).
COLLAPSE_FACTOR = 1.5
_RESUMED = re.compile(r"resuming at epoch (\d+)(?:, step (\d+))?")


class ArtifactError(RuntimeError):
    pass


@dataclass(frozen=True)
class RunArtifacts:
    spec: RunSpec
    root: Path = Path(".")

    @property
    def directory(self) -> Path:
        return self.root / self.spec.directory

    @property
    def metrics_path(self) -> Path:
        return self.directory / METRICS

    @property
    def epochs_path(self) -> Path:
        return self.directory / EPOCHS

    @property
    def model_path(self) -> Path:
        return self.directory / MODEL

    @property
    def last_path(self) -> Path:
        return self.directory / LAST

    @property
    def restore_dir(self) -> Path:
        return self.directory / RESTORE

    @property
    def attempts_path(self) -> Path:
        return self.directory / ATTEMPTS

    def snapshot_path(self, epoch: int) -> Path:
        return self.directory / SNAPSHOTS / f"epoch{epoch}.pt"

    @contextmanager
    def exclusive(self):
        """Hold the directory's lock while writing it: a second process (a rerun started while the old trainer
        still lives) stops at once, naming the holder. The OS releases the lock when the holder dies."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / LOCK
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise ArtifactError(f"{self.spec.directory} is being written by {holder} (lock {path}); wait for it "
                                "to finish or stop it, then rerun") from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"PID {os.getpid()} on host {socket.gethostname()} since "
                         f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
            handle.flush()
            self._remove_leftover_temporaries()
            yield self
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def _remove_leftover_temporaries(self) -> None:
        """Temporary files of atomic writes a killed process left behind (only the lock holder may do this)."""
        for folder in (self.directory, self.directory / SNAPSHOTS, self.restore_dir):
            for leftover in folder.glob(".*.tmp") if folder.is_dir() else ():
                leftover.unlink(missing_ok=True)

    def seal(self) -> None:
        """Keep the finished run's outputs under restore/ (written last; only then is last.pt deleted), so that a
        rerun after Snakemake deleted them restores them instead of retraining. model.pt is hard-linked (a file
        replaced later gets a new inode, so the link keeps the sealed weights); the small files are copied, so an
        in-place edit of metrics.json never reaches the sealed copy."""
        from methods.engine import checkpoint
        for name, link in SEALED:
            checkpoint.atomic_write(self.restore_dir / name, _linker(self.directory / name, link))
        self.last_path.unlink(missing_ok=True)

    def restore(self) -> dict | None:
        """The sealed outputs put back (metrics.json last) when they are of protocol `expected_hash`; their
        metrics, or None when nothing is sealed. A seal of another protocol stops the run, naming the fix."""
        from methods.engine import checkpoint
        sealed_metrics = self.restore_dir / METRICS
        if not all((self.restore_dir / name).exists() for name, _ in SEALED):
            return None
        try:
            metrics = json.loads(sealed_metrics.read_text())
            found = metrics["protocol_hash"]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
            raise ArtifactError(f"{sealed_metrics} is unreadable; delete {self.restore_dir} to retrain the run") from None
        if found != self.expected_hash:
            raise ArtifactError(f"{self.restore_dir} holds this run finished under protocol {found}, the config now "
                                f"gives {self.expected_hash}; restore the config, or delete {self.restore_dir} "
                                "to retrain it")
        for name, link in SEALED:
            checkpoint.atomic_write(self.directory / name, _linker(self.restore_dir / name, link))
        return metrics

    @cached_property
    def expected_hash(self) -> str:
        return protocol_hash(resolve(self.spec))

    def read_metrics(self) -> dict | None:
        """metrics.json, or None when the run has not finished; an unreadable file names itself and the fix."""
        if not self.metrics_path.exists():
            return None
        try:
            metrics = json.loads(self.metrics_path.read_text())
            metrics["protocol_hash"]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
            raise ArtifactError(f"{self.metrics_path} is unreadable (truncated or edited); delete it and rerun "
                                f"the run (snakemake --forcerun {self.metrics_path})") from None
        return metrics

    def status(self) -> str:
        """'missing' (not finished), 'stale' (finished under another protocol than the config gives now), 'current'."""
        metrics = self.read_metrics()
        if metrics is None:
            return "missing"
        return "current" if metrics["protocol_hash"] == self.expected_hash else "stale"

    def current_metrics(self, role: str = "run") -> dict:
        """The metrics of a finished run of the current protocol, or an error naming what to do."""
        metrics = self.read_metrics()
        if metrics is None or not self.model_path.exists():
            raise ArtifactError(f"{role} {self.spec.directory} is not finished (no {MODEL} / {METRICS}); train it "
                                f"first: snakemake {self.spec.directory}/{METRICS}")
        if metrics["protocol_hash"] != self.expected_hash:
            raise ArtifactError(f"{role} {self.spec.directory} was trained under another protocol "
                                f"({metrics['protocol_hash']}, config now gives {self.expected_hash}); rerun it "
                                f"(snakemake --forcerun {self.spec.directory}/{METRICS})")
        return metrics

    def read_epochs(self) -> list[dict]:
        return read_epochs(self.epochs_path)

    def resumes(self, metrics: dict) -> list[str]:
        """Where a finished run was resumed ('epoch 9', 'epoch 3 (step 41)'): metrics.json's `resumes`, or for runs
        finished before it recorded them, the trainer's 'resuming at epoch ...' lines in its logs."""
        if "resumes" in metrics:
            return [f"epoch {r['epoch']}" + (f" (step {r['step'] + 1})" if r.get("step") else "")
                    for r in metrics["resumes"]]
        for log in (self.attempts_path, self.directory / LOG):   # attempts.log holds every attempt; else train.log
            if log.exists():
                found = _RESUMED.findall(log.read_text(errors="replace"))
                return [f"epoch {epoch}" + (f" (step {step})" if step else "") for epoch, step in found]
        return []

    def write_model(self, protocol: dict, digest: str, network, path: Path | None = None) -> None:
        """model.pt (or a snapshot at `path`): the deployed network and what load_model needs to rebuild it."""
        from methods.engine import checkpoint
        checkpoint.save_torch(deployed_payload(self.spec, protocol, digest, network), path or self.model_path)

    def load_model(self, role: str = "reference run"):
        """The deployed network of this finished run, checked to be of the protocol the config gives now."""
        self.current_metrics(role)
        import torch
        from methods.method import parse_options
        from methods.models import build_model
        from methods.registry import get_method_class
        try:
            saved = torch.load(self.model_path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise ArtifactError(f"{self.model_path} is unreadable ({type(error).__name__}: truncated?); retrain the "
                                f"{role}: snakemake --forcerun {self.spec.directory}/{METRICS}") from None
        model = build_model(saved["arch"], saved["num_classes"], family=saved["family"],
                            in_channels=saved["in_channels"])
        method_cls = get_method_class(saved["method"])
        network = method_cls.deployed_network(model, saved["num_classes"],
                                              parse_options(method_cls.Options, saved["options"]))
        network.load_state_dict(saved["state_dict"])
        return network

    def write_metrics(self, protocol: dict, digest: str, rows: list[dict], **extra) -> dict:
        """metrics.json, written last: best and final epoch (from the rows), collapse, protocol and its hash."""
        from datetime import datetime, timezone
        from methods.engine import checkpoint
        metrics = {
            "run": str(self.spec.directory), "preset": self.spec.preset, "dataset": self.spec.dataset,
            "arch": self.spec.arch, "method": self.spec.run.method, "run_name": str(self.spec.run),
            "seed": self.spec.seed, **best_and_final(rows),
            "collapsed": collapsed(rows, protocol["facts"]["num_classes"]),
            "protocol_hash": digest, "protocol": protocol, "versions": versions(),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"), **extra,
        }
        checkpoint.save_json(metrics, self.metrics_path)
        return metrics


def _linker(source: Path, hard_link: bool):
    """An atomic_write writer that hard-links `source` (a copy where the file system has no hard links)."""
    def write(tmp: str) -> None:
        if hard_link:
            os.unlink(tmp)
            try:
                os.link(source, tmp)
                return
            except OSError:
                pass
        shutil.copyfile(source, tmp)
    return write


def deployed_payload(spec: RunSpec, protocol: dict, digest: str, network) -> dict:
    return {"arch": spec.arch, "num_classes": protocol["facts"]["num_classes"],
            "family": protocol["facts"]["arch_family"], "in_channels": protocol["facts"]["channels"],
            "method": spec.run.method, "options": protocol["options"], "protocol_hash": digest,
            "state_dict": {k: v.detach().cpu() for k, v in network.state_dict().items()}}


def versions() -> dict:
    import platform
    import numpy
    import timm
    import torch
    import torchvision
    import methods
    return {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
            "timm": timm.__version__, "numpy": numpy.__version__, "methods": methods.__version__}


def read_epochs(path: Path) -> list[dict]:
    """The rows of an epochs.csv; empty fields (e.g. no training loss at an evaluation-only epoch 0) are absent."""
    try:
        with path.open(newline="") as handle:
            return [{key: int(value) if key == "epoch" else float(value) for key, value in row.items() if value}
                    for row in csv.DictReader(handle)]
    except (ValueError, TypeError, csv.Error):
        raise ArtifactError(f"{path} is unreadable (truncated or edited); delete the run directory's "
                            f"{METRICS} and rerun it (snakemake --forcerun {path.parent}/{METRICS})") from None


def best_and_final(rows: list[dict]) -> dict:
    """The final epoch and the best one by validation top-1 (earliest on ties), as metrics.json records them."""
    final = rows[-1]
    best = max(rows, key=lambda row: (row["val_top1"], -row["epoch"]))
    return {"final": {"epoch": final["epoch"], "top1": final["val_top1"], "top5": final["val_top5"]},
            "best": {"epoch": best["epoch"], "top1": best["val_top1"], "top5": best["val_top5"]}}


def collapsed(rows: list[dict], num_classes: int) -> bool:
    """True when the last trained epoch's training top-1 is at chance level (COLLAPSE_FACTOR x 100 / K)."""
    trained = [row for row in rows if "train_top1" in row]
    if not trained:
        return False
    return trained[-1]["train_top1"] < COLLAPSE_FACTOR * 100.0 / num_classes


def transient(rows: list[dict], num_classes: int) -> list[int]:
    """The trained epochs whose validation top-1 was at chance level (as collapsed() measures it) in a run that was
    not collapsed at its end: a run that fell to chance and recovered."""
    if collapsed(rows, num_classes):
        return []
    return [row["epoch"] for row in rows
            if "train_top1" in row and row["val_top1"] < COLLAPSE_FACTOR * 100.0 / num_classes]


def agrees(recorded: dict, recomputed: dict) -> bool:
    """metrics.json's best/final against the ones recomputed from epochs.csv (to the CSV's float precision)."""
    return all(recorded[which]["epoch"] == recomputed[which]["epoch"]
               and all(math.isclose(recorded[which][k], recomputed[which][k], abs_tol=1e-6) for k in ("top1", "top5"))
               for which in ("best", "final"))
