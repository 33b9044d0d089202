"""A reference stopped at an accuracy (`baseline~a<k>`: epoch 1 at constant lr, the validation top-1 after every
step, stopped after the first step that reaches k %): its steps are the uninterrupted epoch's, it says where it
stopped, and a protocol stop is no collapse."""
import json

import pytest
import torch

from methods.engine.trainer import Runtime, train_run
from methods.plan.protocol import resolve
from methods.plan.spec import RunSpec, SpecError, parse_run_name
from methods.runs.artifacts import collapsed

RUNTIME = Runtime(num_workers=0, threads=1)


def spec(run: str, seed: int = 0) -> RunSpec:
    return RunSpec("smoke", "mnist", "lenet5", parse_run_name(run), seed)


def weights(root, run: RunSpec) -> dict:
    return torch.load(root / run.directory / "model.pt", weights_only=True)["state_dict"]


def test_the_schedule_is_epoch_one_at_constant_lr_with_its_target_recorded():
    schedule = resolve(spec("baseline~a20")).schedule
    assert schedule == {"epochs": 1, "milestones": [], "gamma": 0.1, "stop_at_val_top1": 20}
    assert "stop_at_val_top1" not in resolve(spec("baseline~e1-const")).schedule   # other runs' hashes unchanged
    with pytest.raises(SpecError, match="stands alone"):
        parse_run_name("baseline~a20-const")


def test_a_target_never_reached_runs_the_whole_epoch_step_by_step_and_equals_the_uninterrupted_epoch(tmp_path):
    """Every step is train_epoch resumed where the previous one stopped, with an evaluation between: the network
    is bit for bit the one the epoch trained straight through (the smoke preset's epoch: 2 steps)."""
    stepwise = train_run(resolve(spec("baseline~a100")), RUNTIME, root=tmp_path)
    straight = train_run(resolve(spec("baseline~e1-const")), RUNTIME, root=tmp_path)
    a, b = weights(tmp_path, spec("baseline~a100")), weights(tmp_path, spec("baseline~e1-const"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert stepwise["final"]["top1"] == straight["final"]["top1"]
    rows = (tmp_path / spec("baseline~a100").directory / "epochs.csv").read_text()
    assert "stopped_at_step" not in rows   # not reached: the epoch ran to its end


def test_a_target_reached_at_the_first_step_stops_there_and_is_no_collapse(tmp_path):
    run = spec("baseline~a0")   # any accuracy reaches 0 %: stopped after step 1
    metrics = train_run(resolve(run), RUNTIME, root=tmp_path)
    rows = (tmp_path / run.directory / "epochs.csv").read_text().splitlines()
    header, row = rows[0].split(","), rows[1].split(",")
    assert dict(zip(header, row))["stopped_at_step"] == "1"
    assert metrics["collapsed"] is False
    assert not collapsed([{"epoch": 1, "train_top1": 10.0, "val_top1": 20.0, "stopped_at_step": 3}], 10)
    assert collapsed([{"epoch": 1, "train_top1": 10.0, "val_top1": 20.0}], 10)
    assert json.loads((tmp_path / run.directory / "metrics.json").read_text())["protocol"]["schedule"][
        "stop_at_val_top1"] == 0
