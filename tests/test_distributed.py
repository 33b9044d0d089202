"""Several processes training one run (torch.distributed, DistributedDataParallel, gloo on CPU): the shards, the
protocol, and real 2-process runs of a smoke cell (one thread each) that are killed, resumed and compared."""
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import methods
from helpers import BN_RUN, TIMING_COLUMNS, bn_config, config_with, processes_in, run_outcome, same
from helpers import train_launched as train
from methods import PROJECT_ROOT
from methods.data.batches import make_batches, shard_of
from methods.engine import trainer
from methods.engine.distributed import Group, Solo
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
    assert two.processes == 2 and two.record["distributed"] == {
        "processes": 2, "per_process_batch": 4, "buffers": "rank 0's before every evaluation and save",
        "rng": "seed + rank"}
    assert two.hash != single.hash   # a cell never mixes a 1-process run with a 2-process one


def test_the_trainer_builds_its_batches_with_the_loader_workers_its_team_asks_for(monkeypatch):
    """One process forks its loader workers; a Group's start from a fork server (forking a rank that holds gloo or
    NCCL threads can hang the worker, tests/test_data_batches.py)."""
    asked = {}
    monkeypatch.setattr(trainer, "make_batches", lambda *args, **options: asked.update(options))
    for team, start in ((Solo(), "fork"), (Group(World(0, 2, 0)), "forkserver")):
        training = SimpleNamespace(protocol=SimpleNamespace(facts=None, batch_size=4), spec=SimpleNamespace(seed=0),
                                   device="cpu", runtime=SimpleNamespace(num_workers=2), team=team)
        trainer._Training.batches(training, None, True, 0)
        assert asked["worker_start"] == start and asked["shard"] == team.shard


def test_a_batch_that_does_not_split_over_the_processes_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(methods, "CONFIG_DIR", config_with(tmp_path, processes=3))
    with pytest.raises(SpecError, match="batch size 8 does not split over 3 processes"):
        resolve(RUN)


def test_the_paper_trains_imagenet_on_eight_processes_and_nothing_else_on_several():
    from methods.plan.grid import preset_runs
    several = {run.dataset for run in preset_runs("paper") if resolve(run).processes > 1}
    assert several == {"imagenet"}
    assert resolve(RunSpec.from_parts("paper", "imagenet", "resnet18", "baseline", 0)).record["distributed"] == {
        "processes": 8, "per_process_batch": 32, "buffers": "rank 0's before every evaluation and save",
        "rng": "seed + rank"}
    evaluated = resolve(RunSpec.from_parts("paper", "imagenet", "resnet18", "pretrained~e0", 0))
    assert evaluated.processes == 1 and "distributed" not in evaluated.record   # exact on one: one GPU, minutes


def test_a_process_started_alone_for_a_run_of_several_is_told_how_to_start_it(tmp_path, monkeypatch):
    from methods.engine.trainer import RunError, train_run
    from methods.plan.runtime import Runtime
    monkeypatch.setattr(methods, "CONFIG_DIR", config_with(tmp_path))
    with pytest.raises(RunError, match="trains with 2 process.* python -m methods train"):
        train_run(resolve(RUN), Runtime(num_workers=0, threads=1), root=tmp_path)


@pytest.fixture(scope="module")
def uninterrupted_two(tmp_path_factory):
    """The smoke MNIST cell trained by two processes, uninterrupted: (its root, its config)."""
    root = tmp_path_factory.mktemp("two-processes")
    config = config_with(root)
    whole = train(root / "whole", config)
    assert whole.returncode == 0, whole.stdout[-3000:] + whole.stderr[-3000:]
    assert "launching 2 processes" in whole.stdout and "x 2 processes" in whole.stdout
    return root, config


@pytest.mark.slow
def test_two_processes_killed_mid_epoch_resume_identical_and_agree_with_one(tmp_path, uninterrupted_two):
    """Rank 1 is stopped by SIGTERM after step 1 of epoch 1 (of 2 steps): both processes stop at that step, rank 0
    writes the checkpoint, the launch exits 143; the rerun resumes there and ends identical (every epochs.csv
    column but the timings, and the weights) to an uninterrupted 2-process run. LeNet-5 has no BatchNorm and MNIST
    no augmentation, so the 1-process run differs only by the order of float additions: within 1e-5 in the losses,
    equal in the accuracies."""
    root, config = uninterrupted_two
    killed = train(tmp_path / "killed", config, fault="rank1:sigterm@step-1-1")
    assert killed.returncode == 143, killed.stdout[-3000:] + killed.stderr[-3000:]
    assert (tmp_path / "killed" / RUN.directory / "last.pt").exists()
    assert not (tmp_path / "killed" / RUN.directory / "metrics.json").exists()
    resumed = train(tmp_path / "killed", config)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "resuming at epoch 1, step 2" in resumed.stdout
    assert same(run_outcome(tmp_path / "killed", RUN), run_outcome(root / "whole", RUN))

    alone = train(tmp_path / "alone", None)
    assert alone.returncode == 0, alone.stderr[-3000:]
    two, one = run_outcome(root / "whole", RUN), run_outcome(tmp_path / "alone", RUN)
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




@pytest.fixture(scope="module")
def uninterrupted_bn(tmp_path_factory):
    root = tmp_path_factory.mktemp("bn")
    config = bn_config(root)
    whole = train(root / "whole", config, run=BN_RUN, workers=2)
    assert whole.returncode == 0, whole.stdout[-3000:] + whole.stderr[-3000:]
    return root, config


# Every way a scheduler or a user stops a job, each at step 1 of epoch 1 of the BN run (8 steps an epoch)
STOPS = [
    ("rank0:sigterm-group@step-1-1", 143),    # scancel without --signal: SIGTERM to every process, workers included
    ("rank0:sigterm-launcher@step-1-1", 143),  # the launcher (torchrun), which passes it on
    ("rank0:sigusr1-launcher@step-1-1", 143),  # SLURM's warning before the time limit, to the launcher
    ("rank0:kill-launcher@step-1-1", -9),     # kill -9 of the launcher: its processes get SIGTERM from the kernel
]


def stop_bn(root, config, fault, status):
    """The BN run in its own folder under `root`, stopped by `fault`: it exits `status`, without a traceback
    (but for kill -9), leaving last.pt and no process. Its folder."""
    where = root / fault.replace(":", "-").replace("@", "-")
    stopped = train(where, config, fault=fault, run=BN_RUN, workers=2)
    assert stopped.returncode == status, stopped.stdout[-3000:] + stopped.stderr[-3000:]
    assert "Traceback" not in stopped.stderr or status == -9, stopped.stderr[-3000:]
    assert (where / BN_RUN.directory / "last.pt").exists(), stopped.stdout[-3000:] + stopped.stderr[-3000:]
    assert processes_in(where) == []
    return where


def training_state(folder):
    """What a resume starts from in folder's last.pt: all of it but the time spent and the attempts' provenance."""
    saved = torch.load(folder / BN_RUN.directory / "last.pt", map_location="cpu", weights_only=False)
    saved["rows"] = [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in saved["rows"]]
    return {k: v for k, v in saved.items() if k not in ("elapsed_s", "attempts")}


def same_state(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same_state, a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    return a == b


@pytest.fixture(scope="module")
def stopped_and_resumed_bn(uninterrupted_bn):
    """The first of STOPS, its training state read, then resumed to its end: (that state, its folder)."""
    root, config = uninterrupted_bn
    where = stop_bn(root, config, *STOPS[0])
    state = training_state(where)
    resumed = train(where, config, run=BN_RUN, workers=2)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "resuming at epoch 1, step 2" in resumed.stdout
    return state, where


@pytest.mark.slow
def test_a_run_stopped_mid_epoch_with_loader_workers_resumes_identical(uninterrupted_bn, stopped_and_resumed_bn):
    root, _ = uninterrupted_bn
    _, where = stopped_and_resumed_bn
    assert same(run_outcome(where, BN_RUN), run_outcome(root / "whole", BN_RUN))


def test_two_checkpoints_differing_in_one_weight_or_rng_state_are_not_the_same_state():
    state = {"method": {"w": torch.zeros(3)}, "rng": {"numpy": ("MT19937", np.arange(4), 0)}, "epoch": 1}
    assert same_state(state, {"method": {"w": torch.zeros(3)}, "rng": {"numpy": ("MT19937", np.arange(4), 0)},
                              "epoch": 1})
    assert not same_state(state, {**state, "method": {"w": torch.tensor([0.0, 0.0, 1e-7])}})
    assert not same_state(state, {**state, "rng": {"numpy": ("MT19937", np.arange(1, 5), 0)}})
    assert not same_state(state, {**state, "epoch": 0})


@pytest.mark.slow
@pytest.mark.parametrize("fault, status", STOPS[1:])
def test_a_stop_signal_to_any_process_checkpoints_exits_143_leaves_no_process_and_the_first_stops_state(
        uninterrupted_bn, stopped_and_resumed_bn, fault, status):
    """Each other stop leaves the very checkpoint the first stop left (whose resume is identical to the
    uninterrupted run, above): so each would resume identical too, without training each to its end."""
    root, config = uninterrupted_bn
    first, _ = stopped_and_resumed_bn
    where = stop_bn(root, config, fault, status)
    assert same_state(training_state(where), first)


@pytest.mark.slow
def test_a_two_process_runs_reported_accuracy_is_what_its_saved_weights_score_alone(uninterrupted_bn):
    """Every rank evaluates rank 0's BatchNorm statistics (shared before each evaluation), so the top-1 a run
    records is its saved network's, evaluated in one process over the same validation subset."""
    from methods.data import load_splits, make_batches
    from methods.data.batches import stratified_subset
    from methods.engine.evaluate import evaluate
    from methods.engine.weights import load_model
    from methods.runs.artifacts import RunArtifacts
    root, config = uninterrupted_bn
    old = methods.CONFIG_DIR
    methods.CONFIG_DIR = config
    try:
        protocol = resolve(BN_RUN)
        artifacts = RunArtifacts(BN_RUN, root / "whole", protocol)
        network = load_model(artifacts)
        _, val = load_splits(protocol.facts, protocol.data_source, None, synthetic=protocol.synthetic)
        indices = stratified_subset(val.labels, protocol.max_eval_batches * protocol.batch_size)
        seed, epochs = BN_RUN.seed, protocol.schedule["epochs"]
        batches = make_batches(val, protocol.facts, train=False, batch_size=protocol.batch_size, device="cpu",
                               seed=seed, epoch=epochs, indices=indices)
        alone = evaluate(_Deployed(network, protocol.facts.num_classes), batches)
    finally:
        methods.CONFIG_DIR = old
    assert alone["top1"] == artifacts.read_metrics()["final"]["top1"]


class _Deployed(torch.nn.Module):
    def __init__(self, network, num_classes):
        super().__init__()
        self.network, self.num_classes = network, num_classes

    def forward_test(self, images):
        return self.network(images)


def test_a_lock_whose_holder_died_is_taken_over_saying_so(tmp_path, capsys):
    from methods.runs.artifacts import RunArtifacts
    artifacts = RunArtifacts(RUN, tmp_path)
    with artifacts.exclusive():
        pass
    assert "took over" not in capsys.readouterr().out   # released cleanly: nothing to say next time
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket
    (tmp_path / RUN.directory / ".lock").write_text(f"PID {dead.stdout.strip()} on host {socket.gethostname()} "
                                                    "since 2026-12-07 00:00:00\n")
    with artifacts.exclusive():
        pass
    assert f"took over the lock of PID {dead.stdout.strip()}" in capsys.readouterr().out


def test_local_ranks_each_take_a_whole_gpu_of_their_own_by_its_slot_locks(tmp_path, monkeypatch):
    """torchrun locally: a rank takes a free GPU by the same slot locks every local job takes, never another's; more
    processes than GPUs is refused, naming the fix."""
    from functools import partial
    from methods.engine import device, distributed
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(distributed, "inside_slurm_job", lambda: False)
    monkeypatch.setattr(device, "take_gpu_slots", partial(device.take_gpu_slots, lock_dir=tmp_path))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    taken = [distributed.Group(World(rank, 2, rank))._own_device(slots_per_gpu=4) for rank in (1, 0)]
    assert sorted(map(str, taken)) == ["cuda:0", "cuda:1"]
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "3")
    with pytest.raises(RuntimeError, match="3 processes on this machine, 2 GPU.*profiles/slurm"):
        distributed.Group(World(2, 3, 2))._own_device(slots_per_gpu=4)


def test_planning_refuses_a_local_run_of_more_processes_than_gpus(tmp_path):
    env = {**os.environ, "FOCUSNET_CONFIG_DIR": str(config_with(tmp_path)), "CUDA_VISIBLE_DEVICES": "0"}
    env.pop("SLURM_JOB_ID", None)
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(PROJECT_ROOT / "Snakefile"), "-d",
                             str(tmp_path / "work"), "-n", "--cores", "2", f"{RUN.directory}/metrics.json"],
                            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "2 processes, one GPU each, but this machine shows 1 GPU(s)" in result.stdout + result.stderr


def test_the_inner_srun_asks_only_for_what_the_step_needs(tmp_path, monkeypatch):
    """No GPU option (the job's binding holds; --gpus-per-task conflicts with --ntasks-per-gpu), the job's CPUs per
    task passed on (srun no longer inherits them), every variable exported, rendezvous on the first node."""
    from methods.engine.launcher import srun_command
    fake = tmp_path / "scontrol"
    fake.write_text("#!/bin/sh\n[ \"$1 $2 $3\" = 'show hostnames gpu[07-08]' ] && printf 'gpu07\\ngpu08\\n'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    environ = {"SLURM_JOB_ID": "4242", "SLURM_CPUS_PER_TASK": "8", "SLURM_JOB_NODELIST": "gpu[07-08]",
               "CUDA_VISIBLE_DEVICES": "0,1"}
    command, step = srun_command(["train", "results/x/seed0"], 16, environ)
    assert command[:5] == ["srun", "--ntasks=16", "--cpus-per-task=8", "--export=ALL", "--kill-on-bad-exit=1"]
    assert not any(arg.startswith("--gpus") for arg in command)
    assert step["MASTER_ADDR"] == "gpu07" and step["SRUN_CPUS_PER_TASK"] == "8" and step["MASTER_PORT"] == "33742"


# A stand-in srun that behaves as SLURM 22.05's on the stop signals: it passes USR1 on to its tasks (which
# checkpoint and exit 143), and answers SIGTERM by killing them ("forcing job termination", 137).
FAKE_SRUN = """#!/usr/bin/env python3
import signal, sys, time, pathlib
said = pathlib.Path(sys.argv[0]).with_name("srun-got")
def usr1(*_): said.write_text("USR1"); sys.exit(143)
def term(*_): said.write_text("TERM"); sys.exit(137)
signal.signal(signal.SIGUSR1, usr1); signal.signal(signal.SIGTERM, term)
pathlib.Path(sys.argv[0]).with_name("srun-started").write_text("")
time.sleep(60)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1])
def test_a_stop_signal_to_the_srun_launcher_reaches_srun_as_usr1_and_is_a_preemption(tmp_path, signum):
    """`scancel --batch` (or a `--signal=B:` warning) signals the job's batch step, where the launcher waits on
    srun: srun gets USR1, which it passes to every task (SIGTERM would make it SIGKILL them), and the launcher
    exits 143 with one line, not killed by the signal itself."""
    srun = tmp_path / "srun"
    srun.write_text(FAKE_SRUN)
    srun.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}", "SLURM_JOB_ID": "7",
           "PYTHONPATH": str(PROJECT_ROOT)}
    launcher = subprocess.Popen([sys.executable, "-c", "import sys; from methods.engine.launcher import _srun; "
                                 "sys.exit(_srun(['train', 'x'], 2))"], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (tmp_path / "srun-started").exists() and time.time() < deadline:
        time.sleep(0.05)
    launcher.send_signal(signum)
    assert launcher.wait(timeout=60) == 143, launcher.stderr.read()
    assert (tmp_path / "srun-got").read_text() == "USR1"
    assert f"launcher stopped by {signal.Signals(signum).name}" in launcher.stderr.read()


@pytest.mark.slow
def test_two_nodes_of_one_process_each_train_bit_for_bit_as_one_node_of_two(tmp_path, uninterrupted_two):
    """Multi-node rendezvous, on one host: two torchrun launchers (--nnodes 2, a node rank each, static rendezvous
    on 127.0.0.1) start one process each; the run is the 1-node 2-process run, bit for bit."""
    import socket
    one_node, config = uninterrupted_two
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "OMP_NUM_THREADS": "1", "FOCUSNET_CONFIG_DIR": str(config)}
    env.pop("FOCUSNET_FAULT", None)
    root = tmp_path / "two"
    root.mkdir()
    nodes = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes=2", f"--node-rank={rank}",
                               "--nproc-per-node=1", "--master-addr=127.0.0.1", f"--master-port={port}",
                               "-m", "methods", "train", str(RUN.directory), "--threads", "1", "--num-workers", "0"],
                              cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for rank in (0, 1)]
    outputs = [node.communicate(timeout=600)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(output[-2000:] for output in outputs)
    assert "x 2 processes" in outputs[0]
    assert same(run_outcome(root, RUN), run_outcome(one_node / "whole", RUN))


def _share_buffers_in(rank: int, port: int, results) -> None:
    import torch.distributed as dist
    from methods.engine.distributed import Group
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        network = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
        network.train()
        torch.manual_seed(rank)   # each rank's running statistics from its own share
        network(torch.randn(8, 3, 8, 8) + rank)
        before = [buffer.clone() for buffer in network.buffers()]
        Group(World(rank, 2, rank)).share_buffers(network)
        results[rank] = ([b.tolist() for b in before], [b.tolist() for b in network.buffers()])
    finally:
        dist.destroy_process_group()


def test_every_rank_takes_rank_0s_batchnorm_statistics_before_an_evaluation():
    import socket
    import torch.multiprocessing as mp
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_share_buffers_in, args=(port, results), nprocs=2)
        (before0, after0), (before1, after1) = results[0], results[1]
    assert before0 != before1   # the ranks' statistics differed
    assert after0 == before0 and after1 == before0   # now rank 0's on both
