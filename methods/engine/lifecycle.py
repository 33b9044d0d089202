"""A run's lifecycle, the one entry that trains: the references it needs made present (published runs commit no
weights: a missing reference's are rebuilt by a verified retraining), then the trainer (lock, restore, train,
seal). It calls training and verification, so neither knows the other."""
from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path

from methods.engine.trainer import RunError, require_weights, train_run as train_locked_run
from methods.engine.verify import VerifyError, rebuild_weights, weights_of
from methods.plan.protocol import Protocol
from methods.plan.runtime import Runtime
from methods.plan.world import SINGLE, World
from methods.runs.artifacts import RunArtifacts


def train_run(protocol: Protocol, runtime: Runtime, root: Path = Path("."), world: World = SINGLE) -> dict:
    """Train one run; a reference whose weights are missing here is rebuilt first (in a single process; a run of
    several processes, which would wait on it, names the command that rebuilds them instead)."""
    prepare = require_weights if world.distributed else ensure_weights
    return train_locked_run(protocol, runtime, root, world, prepare_reference=prepare)


def ensure_weights(reference: Protocol, runtime: Runtime, root: Path) -> None:
    """A finished reference whose weights are not on this machine gets them rebuilt by a verified retraining
    (methods.engine.verify.rebuild_weights): installed only when every epoch came out identical."""
    artifacts = RunArtifacts(reference.spec, root, reference)
    if artifacts.metrics_path.exists() and weights_of(artifacts) is None:
        try:
            rebuild_weights(reference, replace(runtime, stop_after_epoch=None, snapshot_epochs=()), root,
                            say=partial(print, flush=True))
        except VerifyError as error:
            raise RunError(str(error)) from None
