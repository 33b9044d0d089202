"""Several processes training one run (torch.distributed, DistributedDataParallel, gloo on CPU): the shards, the
protocol, and real 2-process runs of a smoke cell (one thread each) that are killed, resumed and compared."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import methods
from helpers import config_with, run_outcome, same
from methods import PROJECT_ROOT
from methods.data.batches import make_batches, shard_of
from methods.plan.world import SINGLE, World, launched_world
from methods.plan.protocol import resolve
from methods.plan.spec import RunSpec, SpecError

RUN = RunSpec.from_parts("smoke", "mnist", "lenet5", "baseline", 0)


@pytest.mark.parametrize("environ,world", [
    ({}, SINGLE),
    ({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}, World(1, 2, 1)),                       # torchrun
    ({"FOCUSNET_LAUNCHER": "srun", "SLURM_PROCID": "3", "SLURM_NTASKS": "4", "SLURM_LOCALID": "1"}, World(3, 4, 1)),
    ({"SLURM_PROCID": "0", "SLURM_NTASKS": "2"}, SINGLE),   # a SLURM batch script itself is not a launched process
])
def test_a_process_learns_its_place_from_its_launcher(environ, world):
    assert launched_world(environ) == world


def test_each_process_takes_a_contiguous_share_of_every_global_batch():
    batch = torch.arange(8)
    assert [shard_of(batch, r, 2).tolist() for r in range(2)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    paired = torch.tensor([0, 1, 2, 3, 10, 11, 12, 13])   # 4 samples, then their 4 class partners
    assert [shard_of(paired, r, 2, class_pairs=True).tolist() for r in range(2)] == [[0, 1, 10, 11], [2, 3, 12, 13]]


def test_shards_partition_the_same_seeded_batches_and_the_evaluation():
    from methods.plan.facts import get_facts
    from methods.data.splits import TensorSplit
    facts = get_facts("mnist").replace(augment="none")
    split = TensorSplit(torch.zeros(40, 1, 28, 28, dtype=torch.uint8), torch.arange(40) % 10)
    whole = make_batches(split, facts, train=True, batch_size=8, device="cpu", seed=3, epoch=2).batches
    shares = [make_batches(split, facts, train=True, batch_size=8, device="cpu", seed=3, epoch=2,
                           shard=(r, 2)).batches for r in range(2)]
    assert all(torch.equal(torch.cat([shares[0][i], shares[1][i]]), whole[i]) for i in range(len(whole)))
    evaluated = [torch.cat(make_batches(split, facts, train=False, batch_size=8, device="cpu", seed=3, epoch=2,
                                        shard=(r, 3)).batches) for r in range(3)]
    assert torch.equal(torch.cat(evaluated), torch.arange(40))


def test_processes_enter_the_protocol_only_when_there_are_several(tmp_path, monkeypatch):
    single = resolve(RUN)
    assert single.processes == 1 and "distributed" not in single.record
    monkeypatch.setattr(methods, "CONFIG_DIR", config_with(tmp_path))
    two = resolve(RUN)
    assert two.processes == 2 and two.record["distributed"] == {"processes": 2, "per_process_batch": 4}
    assert two.hash != single.hash   # a cell never mixes a 1-process run with a 2-process one


def test_a_batch_that_does_not_split_over_the_processes_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(methods, "CONFIG_DIR", config_with(tmp_path, processes=3))
    with pytest.raises(SpecError, match="batch size 8 does not split over 3 processes"):
        resolve(RUN)


def test_the_paper_trains_imagenet_on_eight_processes_and_nothing_else_on_several():
    from methods.plan.grid import preset_runs
    several = {run.dataset for run in preset_runs("paper") if resolve(run).processes > 1}
    assert several == {"imagenet"}
    assert resolve(RunSpec.from_parts("paper", "imagenet", "resnet18", "baseline", 0)).record["distributed"] == {
        "processes": 8, "per_process_batch": 32}


def test_a_process_started_alone_for_a_run_of_several_is_told_how_to_start_it(tmp_path, monkeypatch):
    from methods.engine.trainer import RunError, train_run
    from methods.plan.runtime import Runtime
    monkeypatch.setattr(methods, "CONFIG_DIR", config_with(tmp_path))
    with pytest.raises(RunError, match="trains with 2 process.* python -m methods train"):
        train_run(resolve(RUN), Runtime(num_workers=0, threads=1), root=tmp_path)


def train(root: Path, config: Path | None, fault: str | None = None) -> subprocess.CompletedProcess:
    """`python -m methods train` of the smoke cell in `root`: with `config`'s two processes it launches them itself
    (torchrun, gloo, one thread each)."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("FOCUSNET_FAULT", None)
    env.pop("FOCUSNET_CONFIG_DIR", None)
    if config:
        env["FOCUSNET_CONFIG_DIR"] = str(config)
    if fault:
        env["FOCUSNET_FAULT"] = fault
    root.mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, "-m", "methods", "train", str(RUN.directory), "--threads", "1",
                           "--num-workers", "0"], cwd=root, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_two_processes_killed_mid_epoch_resume_identical_and_agree_with_one(tmp_path):
    """Rank 1 is stopped by SIGTERM after step 1 of epoch 1 (of 2 steps): both processes stop at that step, rank 0
    writes the checkpoint, the launch exits 143; the rerun resumes there and ends identical (every epochs.csv
    column but the timings, and the weights) to an uninterrupted 2-process run. LeNet-5 has no BatchNorm and MNIST
    no augmentation, so the 1-process run differs only by the order of float additions: within 1e-5 in the losses,
    equal in the accuracies."""
    config = config_with(tmp_path)
    whole = train(tmp_path / "whole", config)
    assert whole.returncode == 0, whole.stdout[-3000:] + whole.stderr[-3000:]
    assert "launching 2 processes" in whole.stdout and "x 2 processes" in whole.stdout

    killed = train(tmp_path / "killed", config, fault="rank1:sigterm@step-1-1")
    assert killed.returncode == 143, killed.stdout[-3000:] + killed.stderr[-3000:]
    assert (tmp_path / "killed" / RUN.directory / "last.pt").exists()
    assert not (tmp_path / "killed" / RUN.directory / "metrics.json").exists()
    resumed = train(tmp_path / "killed", config)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "resuming at epoch 1, step 2" in resumed.stdout
    assert same(run_outcome(tmp_path / "killed", RUN), run_outcome(tmp_path / "whole", RUN))

    alone = train(tmp_path / "alone", None)
    assert alone.returncode == 0, alone.stderr[-3000:]
    two, one = run_outcome(tmp_path / "whole", RUN), run_outcome(tmp_path / "alone", RUN)
    for row_two, row_one in zip(two[2], one[2], strict=True):
        assert {k: v for k, v in row_two.items() if "top" in k} == {k: v for k, v in row_one.items() if "top" in k}
        for key in ("train_loss", "train_ce"):
            assert abs(float(row_two[key]) - float(row_one[key])) < 1e-5, (key, row_two, row_one)


@pytest.mark.slow
def test_the_train_rule_starts_a_run_of_two_processes_with_torchrun(tmp_path):
    """Locally, the same train rule reserves both processes' cores and its script starts them with torchrun; rank 0
    writes the rule's log beside the run's attempts.log."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "OMP_NUM_THREADS": "1",
           "FOCUSNET_CONFIG_DIR": str(config_with(tmp_path))}
    env.pop("FOCUSNET_FAULT", None)
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(PROJECT_ROOT / "Snakefile"), "-d",
                             str(tmp_path / "work"), "--cores", "2", "--", f"{RUN.directory}/metrics.json"],
                            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = (tmp_path / "work" / RUN.directory / "train.log").read_text()
    assert "launching 2 processes (torchrun)" in log and "x 2 processes" in log and "done: best top1" in log, log
