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
  restore/       an independent copy of the finished run's metrics.json, epochs.csv and model.pt with their
                 SHA-256s (checksums.json), sealed after metrics.json is written. Snakemake deletes the outputs of a
                 job whose head died before recording it; the rerun restores them from here at once. A damaged
                 model.pt is healed from it; a damaged copy is never used.
  .retrain       asks the next training to retrain the run on purpose (written by the Snakemake head for
                 --forcerun); the finished record is then set aside in superseded/
  snapshots/     epoch<k>.pt: the network at epochs that shorter constant-lr runs are read off
  verified.json  every recorded `python -m methods verify` of the run (its outcome and the machine)
  superseded/    <time>/: a finished record set aside when the run is retrained on purpose or under a new protocol
                 (restore/, verified.json, model.pt, and for a published run its files at git HEAD); never deleted
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
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

from methods.plan.protocol import Protocol, resolve
from methods.plan.spec import RunSpec
from methods.runs.checksums import hash_file
from methods.runs import files

METRICS, EPOCHS, MODEL, LAST, LOG, SNAPSHOTS = "metrics.json", "epochs.csv", "model.pt", "last.pt", "train.log", "snapshots"
ATTEMPTS, LOCK, RESTORE, SUPERSEDED, VERIFIED = "attempts.log", ".lock", "restore", "superseded", "verified.json"
SEALED = (EPOCHS, MODEL, METRICS)   # what restore/ keeps an independent copy of (with CHECKSUMS, written last)
CHECKSUMS, RETRAIN = "checksums.json", ".retrain"

# A run has collapsed when its last epoch's training top-1 is below this multiple of chance (100 / K %): a network
# that predicts one class, or a uniform output, for every input. Trained networks sit far above it (MNIST: >95 %).
COLLAPSE_FACTOR = 1.5
_RESUMED = re.compile(r"resuming at epoch (\d+)(?:, step (\d+))?")


def add_verifications(path: Path, records: list[dict]) -> list[dict]:
    """Add to a run's verified.json the records it does not hold yet, after the ones it holds (none is ever
    dropped: two copies of one run, each checked elsewhere, merge); the records added."""
    held = json.loads(path.read_text()) if path.exists() else []
    added = [record for record in records if record not in held]
    if added:
        files.save_json(held + added, path)
    return added


class ArtifactError(RuntimeError):
    pass


@dataclass(frozen=True)
class RunArtifacts:
    spec: RunSpec
    root: Path = Path(".")
    resolved: Protocol | None = field(default=None, compare=False, repr=False)   # the job's, when it has it

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
            _say_if_taken_over(self.spec.directory, handle.read().strip())
            handle.seek(0)
            handle.truncate()
            handle.write(f"PID {os.getpid()} on host {socket.gethostname()} since "
                         f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
            handle.flush()
            self._remove_leftover_temporaries()
            yield self
        finally:
            handle.seek(0)
            handle.truncate()   # released cleanly: a holder named in the file at the next start died holding it
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def _remove_leftover_temporaries(self) -> None:
        """Temporary files of atomic writes a killed process left behind (only the lock holder may do this)."""
        for folder in (self.directory, self.directory / SNAPSHOTS, self.restore_dir):
            for leftover in folder.glob(".*.tmp") if folder.is_dir() else ():
                leftover.unlink(missing_ok=True)

    def seal(self, after_each=lambda name: None) -> None:
        """Keep an independent copy of the finished run's record and weights under restore/, with their SHA-256s
        (restore/checksums.json, written last; only then is last.pt deleted). The copy heals a damaged or deleted
        file (restore(), heal_weights()) and is itself checked before it is used. after_each(name) runs after each
        file is copied (the fault tests stop there)."""
        sums = {}
        for name in SEALED:
            if (self.directory / name).exists():
                files.atomic_write(self.restore_dir / name,
                                        lambda tmp, name=name: shutil.copyfile(self.directory / name, tmp))
                sums[name] = sha256_of(self.restore_dir / name)
                after_each(name)
        files.save_json(sums, self.restore_dir / CHECKSUMS)
        self.last_path.unlink(missing_ok=True)
        self.retrain_marker.unlink(missing_ok=True)

    @property
    def retrain_marker(self) -> Path:
        return self.directory / RETRAIN

    def request_retrain(self, why: str) -> None:
        """Ask the next training of this run to retrain it on purpose, its finished record set aside
        (snakemake --forcerun: written by the Snakemake head, read by the job)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.retrain_marker.write_text(why + "\n")

    def seal_interrupted(self) -> bool:
        """Whether the run finished (metrics.json written) but its seal did not complete: restore/ lacks its
        checksums and last.pt is still there (it is deleted only once the seal is complete)."""
        return (self.metrics_path.exists() and self.last_path.exists()
                and not (self.restore_dir / CHECKSUMS).exists())

    def sealed_record(self) -> dict | None:
        """restore/'s metrics when its copy is complete and every file matches its checksum; None when nothing is
        sealed; ArtifactError naming the file when the copy is damaged."""
        sums_path = self.restore_dir / CHECKSUMS
        if not sums_path.exists():
            return None
        try:
            sums = json.loads(sums_path.read_text())
            metrics = json.loads((self.restore_dir / METRICS).read_text())
            metrics["protocol_hash"]
        except (OSError, json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
            raise ArtifactError(f"{self.restore_dir} is damaged (unreadable {CHECKSUMS} or {METRICS})") from None
        for name, digest in sums.items():
            path = self.restore_dir / name
            if not path.exists() or sha256_of(path) != digest:
                raise ArtifactError(f"{path} does not match its checksum")
        return metrics

    def set_aside(self, why: str) -> Path | None:
        """Move what is left of this run's finished record (restore/, verified.json, model.pt, epochs.csv, and the
        record committed at git HEAD where the run is published) to superseded/<time>/, never deleting it: before a
        run is retrained on purpose or under a new protocol. The folder, or None when there was nothing to keep."""
        published = _committed_files(self.root, self.spec.directory) if not self.metrics_path.exists() else {}
        present = [name for name in (RESTORE, VERIFIED, MODEL, EPOCHS) if (self.directory / name).exists()]
        if METRICS not in published and not present:
            return None
        aside = self.directory / SUPERSEDED / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        aside.mkdir(parents=True, exist_ok=True)
        (aside / "why.txt").write_text(why + "\n")
        for name, content in published.items() if METRICS in published else ():
            (aside / "committed" / name).parent.mkdir(parents=True, exist_ok=True)
            (aside / "committed" / name).write_bytes(content)
        for name in present:
            (self.directory / name).replace(aside / name)
        return aside

    def restore(self) -> dict | None:
        """The finished record put back when the live one is gone and a copy of the current protocol exists: from
        restore/ (checked against its checksums), else, for a published run, from git HEAD. Its metrics, or None
        when there is none to restore (a copy of another protocol is not one: the caller sets it aside)."""
        sealed = self.sealed_record()
        if sealed is not None:
            if sealed["protocol_hash"] != self.expected_hash:
                return None
            for name in SEALED:
                if (self.restore_dir / name).exists():
                    files.atomic_write(self.directory / name,
                                            lambda tmp, name=name: shutil.copyfile(self.restore_dir / name, tmp))
            return sealed
        published = _committed_files(self.root, self.spec.directory)
        try:
            metrics = json.loads(published[METRICS]) if METRICS in published and EPOCHS in published else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            metrics = None
        if metrics is None or metrics.get("protocol_hash") != self.expected_hash:
            return None
        for name in (EPOCHS, METRICS):
            files.atomic_write(self.directory / name,
                                    lambda tmp, name=name: Path(tmp).write_bytes(published[name]))
        return metrics

    def edited_since_seal(self) -> list[str]:
        """The record files (metrics.json, epochs.csv) that differ from the copy sealed when the run finished."""
        try:
            sums = json.loads((self.restore_dir / CHECKSUMS).read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            return []
        return [name for name in (METRICS, EPOCHS) if name in sums and (self.directory / name).exists()
                and sha256_of(self.directory / name) != sums[name]]

    def heal_weights(self) -> bool:
        """model.pt replaced by restore/'s copy when it is missing or differs from the checksum sealed with it and
        the copy is intact; True when healed."""
        try:
            sealed = self.sealed_record()
        except ArtifactError:
            return False
        digest = json.loads((self.restore_dir / CHECKSUMS).read_text()).get(MODEL) if sealed else None
        if digest is None or (self.model_path.exists() and sha256_of(self.model_path) == digest):
            return False
        files.atomic_write(self.model_path, lambda tmp: shutil.copyfile(self.restore_dir / MODEL, tmp))
        return True

    @cached_property
    def protocol(self) -> Protocol:
        """The protocol the config gives this run now (resolved once)."""
        return self.resolved or resolve(self.spec)

    @property
    def expected_hash(self) -> str:
        return self.protocol.hash

    def _restoring_advice(self) -> str:
        """How to get an unreadable record back, cheapest first: its sealed copy, the committed file, a retrain."""
        if (self.restore_dir / CHECKSUMS).exists():
            return (f"delete it and rerun the run as usual (python -m methods train {self.spec.directory}, or the "
                    f"snakemake target): it is restored at once from its sealed copy in {RESTORE}/, nothing retrains")
        if _committed_files(self.root, self.spec.directory).get(METRICS):
            return f"restore the committed file: git checkout -- {self.metrics_path}"
        return f"no intact copy exists: retrain it (snakemake --forcerun {self.metrics_path})"

    def read_metrics(self) -> dict | None:
        """metrics.json, or None when the run has not finished; an unreadable file names itself and the fix."""
        if not self.metrics_path.exists():
            return None
        try:
            metrics = json.loads(self.metrics_path.read_text())
            metrics["protocol_hash"]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
            raise ArtifactError(f"{self.metrics_path} is unreadable (truncated or edited); {self._restoring_advice()}"
                                ) from None
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
        entries = metrics["resumes"] if "resumes" in metrics else self.resumes_from_logs()[0]
        return [f"epoch {r['epoch']}" + (f" (step {r['step'] + 1})" if r.get("step") else "") for r in entries]

    def resumes_from_logs(self) -> tuple[list[dict], str | None]:
        """The resumes the trainer's 'resuming at epoch E[, step S]' lines record, as metrics.json writes them
        ({epoch: E, step: S - 1, the step index within the epoch; 0 at an epoch's start}), and the log they come
        from: attempts.log holds every attempt, else train.log; (no entries, None) without either."""
        for log in (self.attempts_path, self.directory / LOG):
            if log.exists():
                found = _RESUMED.findall(log.read_text(errors="replace"))
                return [{"epoch": int(epoch), "step": int(step) - 1 if step else 0} for epoch, step in found], log.name
        return [], None

    def backfill_resumes(self) -> bool:
        """Give a finished record made before metrics.json kept `resumes` that field, derived from its own log
        (`resumes_derived_from` names the log; no provenance, which the log does not hold); every other field, and
        so every trained number, stays as it is. True when the record was rewritten."""
        metrics = self.read_metrics()
        if metrics is None or "resumes" in metrics:
            return False
        entries, source = self.resumes_from_logs()
        files.save_json({**metrics, "resumes": entries, "resumes_derived_from": source or "no log: none recorded"},
                        self.metrics_path)
        return True

    def write_metrics(self, rows: list[dict], **extra) -> dict:
        """metrics.json, written last: best and final epoch (from the rows), collapse, the protocol and its hash, and
        what the caller adds (versions, device, provenance, ...)."""
        metrics = {
            "run": str(self.spec.directory), "preset": self.spec.preset, "dataset": self.spec.dataset,
            "arch": self.spec.arch, "method": self.spec.run.method, "run_name": str(self.spec.run),
            "seed": self.spec.seed, **best_and_final(rows),
            "collapsed": collapsed(rows, self.protocol.num_classes),
            "protocol_hash": self.protocol.hash, "protocol": self.protocol.record,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"), **extra,
        }
        files.save_json(metrics, self.metrics_path)
        return metrics


def _committed_files(root: Path, directory: Path) -> dict[str, bytes]:
    """The files of a run directory as committed at git HEAD (name relative to the directory -> bytes), leaving
    out earlier superseded records; {} outside a git work tree or where git is missing."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=60)
    try:
        prefix = git("rev-parse", "--show-prefix")   # where root lies in the work tree
        if prefix.returncode != 0:
            return {}
        folder = prefix.stdout.decode().strip() + str(directory) + "/"
        listing = git("ls-tree", "-r", "-z", "--full-tree", "--name-only", "HEAD", "--", folder)
        committed = {}
        for path in filter(None, listing.stdout.decode().split("\0")) if listing.returncode == 0 else ():
            name = path.removeprefix(folder)
            if not name.startswith(SUPERSEDED + "/"):
                committed[name] = git("show", f"HEAD:{path}").stdout
        return committed
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}


def sha256_of(path: Path) -> str:
    return hash_file(path, "sha256")["sha256"]


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
    """True when the last trained epoch's training top-1 is at chance level (COLLAPSE_FACTOR x 100 / K). An epoch
    the protocol stopped early on purpose (`stopped_at_step`: a reference stopped at an accuracy) is no sign of it."""
    trained = [row for row in rows if "train_top1" in row and "stopped_at_step" not in row]
    if not trained:
        return False
    return trained[-1]["train_top1"] < COLLAPSE_FACTOR * 100.0 / num_classes


def transient(rows: list[dict], num_classes: int) -> list[int]:
    """The trained epochs whose validation top-1 was at chance level (as collapsed() measures it) in a run that
    came back: not collapsed at its end, and its last epoch's validation top-1 above chance again."""
    if collapsed(rows, num_classes) or ended_at_chance_on_validation(rows, num_classes):
        return []
    return [row["epoch"] for row in rows
            if "train_top1" in row and row["val_top1"] < COLLAPSE_FACTOR * 100.0 / num_classes]


def ended_at_chance_on_validation(rows: list[dict], num_classes: int) -> bool:
    """A run whose training accuracy ended above chance but whose last validation top-1 is at chance: it did not
    recover where it is measured (never called 'recovered')."""
    trained = [row for row in rows if "train_top1" in row]
    return (bool(trained) and not collapsed(rows, num_classes)
            and trained[-1]["val_top1"] < COLLAPSE_FACTOR * 100.0 / num_classes)


def agrees(recorded: dict, recomputed: dict) -> bool:
    """metrics.json's best/final against the ones recomputed from epochs.csv (to the CSV's float precision)."""
    return all(recorded[which]["epoch"] == recomputed[which]["epoch"]
               and all(math.isclose(recorded[which][k], recomputed[which][k], abs_tol=1e-6) for k in ("top1", "top5"))
               for which in ("best", "final"))


def _say_if_taken_over(directory, previous: str) -> None:
    """The lock's last holder, when it died holding it (killed, its node lost): the OS released the lock, and the
    new holder says whose it takes over, so a reader of the log knows the earlier attempt ended unclean."""
    match = re.match(r"PID (\d+) on host (\S+) since (.+)$", previous)
    if not match or match.group(2) != socket.gethostname() or int(match.group(1)) == os.getpid():
        return
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        print(f"[{directory}] took over the lock of PID {match.group(1)} (since {match.group(3)}), which died "
              "holding it", flush=True)
    except PermissionError:   # alive, another user's: not ours to judge
        pass
