"""Shared checks for the method tests (pytest puts this folder on sys.path: `from helpers import ...`)."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from methods import PROJECT_ROOT
from methods.method import default_options
from methods.plan.spec import RunSpec


def method_options(key: str, **overrides):
    """A method's Options at its config/methods.yaml defaults, with run-name-style overrides."""
    return default_options(key, overrides)


def train_steps(method, images, targets, steps=2, lr=0.01, momentum=0.0, check=None):
    """Run `steps` SGD steps of forward_train -> sum(terms) -> zero_grad/backward/step; return the last (logits, terms).

    Asserts every term and the loss are finite. `check(logits, terms)`, if given, runs each step after backward
    and before the optimizer step (gradients are in place)."""
    optimizer = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=lr, momentum=momentum)
    for _ in range(steps):
        logits, terms = method.forward_train(images, targets)
        assert all(torch.isfinite(value) for value in terms.values())
        loss = sum(terms.values())
        assert torch.isfinite(loss)
        optimizer.zero_grad()
        loss.backward()
        if check is not None:
            check(logits, terms)
        optimizer.step()
    return logits, terms


def assert_reference_frozen(method_cls, options):
    """A Linear+BatchNorm1d reference stays frozen in eval mode while a Linear student trains one backward pass."""
    reference = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    student = torch.nn.Linear(4, 3)
    method = method_cls(student, 3, options, reference=reference)
    method.train()
    assert not reference.training and student.training
    running_mean = reference[1].running_mean.clone()
    _, terms = method.forward_train(torch.randn(8, 4), torch.randint(0, 3, (8,)))
    sum(terms.values()).backward()
    assert all(p.grad is None and not p.requires_grad for p in reference.parameters())
    assert all(p.grad is not None for p in student.parameters())
    assert torch.equal(reference[1].running_mean, running_mean)
    assert not any(key.startswith("reference.") for key in method.trainable_state_dict())


TIMING_COLUMNS = {"epoch_time_s", "elapsed_s"}


def train_in_subprocess(root: Path, run, fault: str | None = None) -> subprocess.CompletedProcess:
    """`python -m methods train <run dir>` in `root`, one thread, FOCUSNET_FAULT=fault (methods/engine/faults.py)."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("FOCUSNET_FAULT", None)
    if fault:
        env["FOCUSNET_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "methods", "train", str(run.directory), "--threads", "1",
                           "--num-workers", "0"], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def run_outcome(root: Path, run) -> tuple:
    """(best, final, epochs.csv rows without their timings, model.pt's weights) of a finished run under root."""
    directory = root / run.directory
    metrics = json.loads((directory / "metrics.json").read_text())
    rows = [{k: v for k, v in row.items() if k not in TIMING_COLUMNS}
            for row in csv.DictReader((directory / "epochs.csv").open())]
    weights = torch.load(directory / "model.pt", weights_only=True)["state_dict"]
    return metrics["best"], metrics["final"], rows, weights


def same(a: tuple, b: tuple) -> bool:
    return a[:3] == b[:3] and a[3].keys() == b[3].keys() and all(torch.equal(a[3][k], b[3][k]) for k in a[3])


def config_with(tmp_path: Path, processes: int = 2, preset: str = "smoke", dataset: str = "mnist") -> Path:
    """A copy of config/ in which `preset` trains `dataset`'s runs with `processes` processes (point
    FOCUSNET_CONFIG_DIR, or methods.CONFIG_DIR, at it)."""
    import shutil
    import methods
    folder = tmp_path / "config"
    shutil.copytree(methods.CONFIG_DIR, folder)
    presets = folder / "presets.yaml"
    text = presets.read_text()
    anchor = text.index("  max_steps_per_epoch:", text.index(f"\n{preset}:\n"))
    block = f"  processes:\n    {dataset}: {{per_node: {processes}}}\n"
    presets.write_text(text[:anchor] + block + text[anchor:])
    return folder


SMOKE_MNIST = RunSpec.from_parts("smoke", "mnist", "lenet5", "baseline", 0)
# A BatchNorm network on a files dataset read by DataLoader workers: the smoke Imagewoof cell (ResNet-18, the PIL
# pipeline at 32 px), trained by two processes (bn_config), two loader workers each.
BN_RUN = RunSpec.from_parts("smoke", "imagewoof", "resnet18", "baseline", 0)


def bn_config(tmp_path: Path) -> Path:
    """config_with's two processes for BN_RUN's dataset, and 8 steps an epoch, so that a stop at step 1 leaves
    batches the loader workers must still read."""
    config = config_with(tmp_path, dataset=BN_RUN.dataset)
    presets = config / "presets.yaml"
    text = presets.read_text()
    smoke = text.index("\nsmoke:\n")
    text = (text[:smoke] + text[smoke:].replace("  synthetic: {train_per_class: 2, val_per_class: 1}",
                                                "  synthetic: {train_per_class: 7, val_per_class: 2}", 1)
            .replace("  max_steps_per_epoch: 2\n", "  max_steps_per_epoch: 8\n", 1))
    presets.write_text(text)
    return config


def train_launched(root: Path, config: Path | None, fault: str | None = None, run=SMOKE_MNIST,
                   workers: int = 0) -> subprocess.CompletedProcess:
    """`python -m methods train` of a smoke cell in `root`: with `config`'s two processes it launches them itself
    (torchrun, gloo, one thread each). Its own session (process group), as a scheduler's job step has."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("FOCUSNET_FAULT", None)
    env.pop("FOCUSNET_CONFIG_DIR", None)
    if config:
        env["FOCUSNET_CONFIG_DIR"] = str(config)
    if fault:
        env["FOCUSNET_FAULT"] = fault
    root.mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, "-m", "methods", "train", str(run.directory), "--threads", "1",
                           "--num-workers", str(workers)], cwd=root, env=env, capture_output=True, text=True,
                          timeout=600, start_new_session=True)


def processes_in(root: Path) -> list[str]:
    """Every live process whose working directory is `root` (a run's launcher, ranks, loader workers)."""
    found = []
    for cwd in Path("/proc").glob("[0-9]*/cwd"):
        try:
            if cwd.resolve() == root.resolve():
                found.append((cwd.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return found
