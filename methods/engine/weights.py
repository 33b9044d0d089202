"""A run's deployed network on disk (model.pt, snapshots): written with what rebuilding it needs, and loaded back
checked against the run's current protocol."""
from __future__ import annotations

from pathlib import Path

import torch

import numpy

import methods
from methods.engine import checkpoint
from methods.method import recorded_options
from methods.models import build_model
from methods.zoo import get_method_class
from methods.runs.artifacts import MODEL, RESTORE, ArtifactError, RunArtifacts
import platform


def write_model(artifacts: RunArtifacts, network: torch.nn.Module, path: Path | None = None) -> None:
    """model.pt (or a snapshot at `path`): the deployed network and what load_model needs to rebuild it."""
    checkpoint.save_torch(deployed_payload(artifacts, network), path or artifacts.model_path)


def deployed_payload(artifacts: RunArtifacts, network: torch.nn.Module) -> dict:
    protocol = artifacts.protocol
    return {"arch": protocol.spec.arch, "num_classes": protocol.facts.num_classes, "family": protocol.facts.arch_family,
            "in_channels": protocol.facts.channels, "method": protocol.spec.run.method,
            "options": protocol.record["options"], "protocol_hash": protocol.hash,
            "state_dict": {k: v.detach().cpu() for k, v in network.state_dict().items()}}


def install_snapshot(snapshot: Path, artifacts: RunArtifacts) -> None:
    """A donor's snapshot installed as a derived run's model.pt, stamped with the derived run's protocol."""
    saved = torch.load(snapshot, map_location="cpu", weights_only=True)
    checkpoint.save_torch({**saved, "protocol_hash": artifacts.protocol.hash}, artifacts.model_path)


def load_model(artifacts: RunArtifacts, role: str = "reference run") -> torch.nn.Module:
    """The deployed network of a finished run, checked to be of the protocol the config gives now; a model.pt that
    differs from its sealed checksum is healed from restore/ first."""
    if artifacts.heal_weights():
        print(f"[{artifacts.spec.directory}] {MODEL} differed from its sealed copy: healed from {RESTORE}/", flush=True)
    artifacts.current_metrics(role)
    try:
        saved = torch.load(artifacts.model_path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ArtifactError(f"{artifacts.model_path} is unreadable ({type(error).__name__}: truncated?) and "
                            f"{RESTORE}/ has no intact copy; rebuild it, checked against the run's record: python -m "
                            f"methods verify {artifacts.spec.directory} --install-weights") from None
    model = build_model(saved["arch"], saved["num_classes"], family=saved["family"], in_channels=saved["in_channels"])
    method_cls = get_method_class(saved["method"])
    network = method_cls.deployed_network(model, saved["num_classes"],
                                          recorded_options(saved["method"], saved["options"]))
    network.load_state_dict(saved["state_dict"])
    return network


def versions() -> dict:
    import timm   # timm (~1 s) and torchvision: read for their versions, only when a record is written
    import torchvision   # (as timm)
    return {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
            "timm": timm.__version__, "numpy": numpy.__version__, "methods": methods.__version__}
