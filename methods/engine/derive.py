"""Derived runs: a constant-lr run stopped at epoch k is the first k epochs of a longer constant-lr run of the
same spec (same seed, same data order, same lr), so it is read off that run's snapshot instead of retrained.

Fig. 4 needs ResNet-18 baselines stopped at epochs 1, 10, ..., 60: one 60-epoch run instead of seven.
"""
from __future__ import annotations

from pathlib import Path

from methods.engine.trainer import RunError, say_done
from methods.engine.weights import install_snapshot, versions
from methods.plan.protocol import Protocol
from methods.runs.artifacts import ArtifactError, RunArtifacts
from methods.runs.epoch_log import EpochLog


def comparable(record: dict) -> dict:
    """A protocol record without its epoch count: equal for a run and the longer run it can be read off."""
    return {**record, "schedule": {**record["schedule"], "epochs": None}}


def check_derivable(protocol: Protocol, donor: Protocol) -> None:
    spec, epochs, donor_epochs = protocol.spec, protocol.epochs, donor.epochs
    if protocol.schedule["milestones"] or donor.schedule["milestones"]:
        raise RunError(f"{spec.directory}: only constant-lr runs can be read off a longer run")
    if comparable(protocol.record) != comparable(donor.record) or not 0 < epochs < donor_epochs:
        raise RunError(f"{spec.directory} is not the first {epochs} epochs of {donor.spec.directory}")


def derive_run(protocol: Protocol, donor: Protocol, root: Path = Path(".")) -> dict:
    check_derivable(protocol, donor)
    spec, epochs = protocol.spec, protocol.epochs
    donor_files, run_files = RunArtifacts(donor.spec, root, donor), RunArtifacts(spec, root, protocol)
    try:
        donor_metrics = donor_files.current_metrics("donor run")
    except ArtifactError as error:
        raise RunError(str(error)) from None
    snapshot = donor_files.snapshot_path(epochs)
    if not snapshot.exists():
        raise RunError(f"{snapshot} is missing: the donor run did not save epoch {epochs}; rerun it with "
                       f"snakemake --forcerun {donor.spec.directory}/metrics.json so it saves that snapshot")
    rows = [row for row in donor_files.read_epochs() if row["epoch"] <= epochs]
    with run_files.exclusive():
        EpochLog(run_files.epochs_path, rows)
        install_snapshot(snapshot, run_files)
        metrics = run_files.write_metrics(rows, derived_from=str(donor.spec.directory),
                                          deployed_params=donor_metrics["deployed_params"],
                                          device=donor_metrics["device"], train_time_s=0.0,
                                          versions=versions(),
                                          **{key: donor_metrics[key] for key in ("provenance", "threads")
                                             if key in donor_metrics})
    say_done(spec, metrics)
    return metrics
