"""Fault injection: a run killed at each deterministic point (methods/engine/faults.py), or preempted by SIGTERM
mid-epoch, then rerun, ends with the metrics, per-epoch rows and weights of a run never interrupted; a finished run
whose outputs were deleted is restored, not retrained; one writer per run directory; bad input is one line."""
import fcntl
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers import run_outcome, same, train_in_subprocess
from methods.plan.spec import RunSpec

# DropMax draws its Bernoulli masks from the global RNG in every step: resuming must restore that RNG exactly.
RUN = RunSpec.from_parts("smoke", "mnist", "lenet5", "dropmax", 0)     # 2 epochs x 2 steps


def train(root: Path, run: RunSpec = RUN, fault: str | None = None) -> subprocess.CompletedProcess:
    return train_in_subprocess(root, run, fault)


def outcome(root: Path, run: RunSpec = RUN) -> tuple:
    return run_outcome(root, run)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    root = tmp_path_factory.mktemp("uninterrupted")
    assert train(root).returncode == 0
    return outcome(root)


@pytest.mark.parametrize("fault", ["step-1-1", "after-last-1", "step-2-1", "before-metrics", "after-metrics",
                                   "after-seal"])
def test_killed_at_each_point_then_rerun_equals_uninterrupted(tmp_path, uninterrupted, fault):
    killed = train(tmp_path, fault=fault)
    assert killed.returncode == 137, killed.stderr[-2000:]
    if fault in ("after-metrics", "after-seal"):   # finished, the head died before recording it: outputs deleted
        for name in ("metrics.json", "epochs.csv", "model.pt"):
            (tmp_path / RUN.directory / name).unlink()
    else:
        for name in ("epochs.csv", "model.pt"):   # what Snakemake deletes of an incomplete job
            (tmp_path / RUN.directory / name).unlink(missing_ok=True)
    rerun = train(tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert same(outcome(tmp_path), uninterrupted)
    if fault in ("after-metrics", "after-seal"):
        assert "restoring the finished run" in rerun.stdout and "epoch 1/2 loss" not in rerun.stdout
    assert not list((tmp_path / RUN.directory).glob(".*.tmp"))


def test_preempted_mid_epoch_by_sigterm_resumes_at_that_step_bit_identical(tmp_path, uninterrupted):
    stopped = train(tmp_path, fault="sigterm@step-1-1")
    assert stopped.returncode == 143, stopped.stderr[-2000:]
    assert "preempted:" in stopped.stderr and "epoch 1, step 1" in stopped.stderr
    state = torch.load(tmp_path / RUN.directory / "last.pt", weights_only=False)
    assert state["epoch"] == 0 and state["partial"]["step"] == 1
    rerun = train(tmp_path)
    assert rerun.returncode == 0 and "resuming at epoch 1, step 2" in rerun.stdout
    assert same(outcome(tmp_path), uninterrupted)
    attempts = (tmp_path / RUN.directory / "attempts.log").read_text()
    assert "preempted:" in attempts and "done: best top1" in attempts      # both attempts kept


def test_an_unreadable_checkpoint_is_moved_aside_and_the_run_restarts(tmp_path, uninterrupted):
    assert train(tmp_path, fault="after-last-1").returncode == 137
    last = tmp_path / RUN.directory / "last.pt"
    last.write_bytes(last.read_bytes()[:100])                       # truncated, as by a crash or a full disk
    rerun = train(tmp_path)
    assert rerun.returncode == 0 and "is unreadable" in rerun.stdout and "starting afresh" in rerun.stdout
    assert list(last.parent.glob("last.pt.unreadable-*"))
    assert same(outcome(tmp_path), uninterrupted)


def test_a_second_writer_stops_naming_the_holder(tmp_path):
    directory = tmp_path / RUN.directory
    directory.mkdir(parents=True)
    with open(directory / ".lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("PID 4242 on host node7 since 2026-12-01 10:00:00\n")
        held.flush()
        second = train(tmp_path)
    assert second.returncode == 1
    assert second.stderr.strip().splitlines() == [
        f"error: {RUN.directory} is being written by PID 4242 on host node7 since 2026-12-01 10:00:00 "
        f"(lock {RUN.directory}/.lock); wait for it to finish or stop it, then rerun"]
    assert not (directory / "metrics.json").exists()


@pytest.mark.parametrize("run, message", [
    (RunSpec.from_parts("smoke", "mnist", "lenet5", "focusnet@lenet5.baseline", 0),
     "reference run results/smoke/mnist/lenet5/baseline/seed0 is not finished"),
    (RunSpec.from_parts("smoke", "cifar10", "lenet5", "baseline", 0), "LeNet-5 takes 28x28 inputs"),
    (RunSpec.from_parts("smoke", "mnist", "lenet5", "focusnet-warm=sofmax@lenet5.baseline", 0),
     "run name focusnet-warm=sofmax@lenet5.baseline: option warm='sofmax' not one of ('logit', 'softmax')"),
])
def test_bad_input_is_one_line_naming_the_fix(tmp_path, run, message):
    result = train(tmp_path, run)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


REFERENCE = RunSpec.from_parts("smoke", "mnist", "lenet5", "baseline", 0)
FOCUSNET = RunSpec.from_parts("smoke", "mnist", "lenet5", "focusnet@lenet5.baseline", 0)


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:200])   # in place: the same inode, as a crash or a bad copy leaves it


def test_a_truncated_reference_is_healed_from_its_sealed_copy(tmp_path):
    assert train(tmp_path, REFERENCE).returncode == 0
    model = tmp_path / REFERENCE.directory / "model.pt"
    intact = model.read_bytes()
    truncate(model)
    result = train(tmp_path, FOCUSNET)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "healed from restore/" in result.stdout and model.read_bytes() == intact


def test_a_truncated_reference_and_copy_name_a_command_that_works(tmp_path):
    assert train(tmp_path, REFERENCE).returncode == 0
    for path in (tmp_path / REFERENCE.directory / "model.pt", tmp_path / REFERENCE.directory / "restore/model.pt"):
        truncate(path)
    result = train(tmp_path, FOCUSNET)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    command = f"python -m methods verify {REFERENCE.directory} --install-weights"
    assert f"{REFERENCE.directory}/model.pt is unreadable" in result.stderr and command in result.stderr
    rebuilt = subprocess.run([sys.executable, "-m", "methods", *command.split()[3:]], cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
    assert rebuilt.returncode == 0 and "identical for 2 epochs" in rebuilt.stdout, rebuilt.stderr[-2000:]
    assert train(tmp_path, FOCUSNET).returncode == 0


def test_a_damaged_seal_is_never_restored_but_set_aside(tmp_path):
    assert train(tmp_path, RUN).returncode == 0
    directory = tmp_path / RUN.directory
    for name in ("metrics.json", "epochs.csv", "model.pt"):   # the head died: Snakemake deleted the outputs
        (directory / name).unlink()
    truncate(directory / "restore/epochs.csv")
    rerun = train(tmp_path)
    assert rerun.returncode == 0 and "epoch 1/2 loss" in rerun.stdout and "sealed copy is damaged" in rerun.stdout
    assert (directory / "metrics.json").exists() and len(list((directory / "superseded").iterdir())) == 1


def test_a_full_disk_is_one_line_whatever_words_the_writer_uses(tmp_path, monkeypatch):
    """torch.save words a full disk 'basic_ios::clear: iostream error ... unexpected pos' (no errno): the space left
    decides; a write that fails with space to spare keeps its own error."""
    import shutil
    from collections import namedtuple
    from methods.runs import files as checkpoint
    usage = namedtuple("usage", "total used free")

    def torch_save_on_a_full_disk(tmp):
        raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0 basic_ios::clear: "
                           "iostream error")
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage(10 << 30, 10 << 30, 4096))
    with pytest.raises(checkpoint.DiskFullError, match=f"no space left on {tmp_path} while writing last.pt"):
        checkpoint.atomic_write(tmp_path / "last.pt", torch_save_on_a_full_disk)
    assert list(tmp_path.iterdir()) == []                       # no temporary file left behind
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage(10 << 30, 1 << 30, 9 << 30))
    with pytest.raises(RuntimeError, match="unexpected pos"):
        checkpoint.atomic_write(tmp_path / "last.pt", torch_save_on_a_full_disk)


def test_a_log_on_a_full_disk_is_dropped_with_one_line_and_the_output_goes_on(tmp_path, capsys):
    import errno
    from methods.jobs import _Tee

    class FullLog:
        name = "results/x/train.log"

        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass
    terminal = sys.stdout
    tee = _Tee(terminal, FullLog())
    tee.write("error: no space left on results/x while writing metrics.json; free space and rerun\n")
    tee.write("second line\n")
    out = capsys.readouterr().out
    assert out.count("dropped") == 1 and "No space left on device" in out
    assert "error: no space left" in out and "second line" in out


def test_a_full_disk_while_caching_decoded_images_is_one_line_and_leaves_no_temporary(tmp_path, monkeypatch):
    """The image cache wrote with its own writer: a raw `OSError: Not enough free space` traceback and a .tmp file
    left behind. Now the project's one-line message, nothing left, and the command that reported it exits 1."""
    import errno
    import numpy as np
    from methods.data import npy_cache
    from methods.runs.files import DiskFullError

    def save_on_a_full_disk(file, array):
        file.write(b"\x93NUMPY")
        raise OSError(errno.ENOSPC, "Not enough free space to write 4800000 bytes")
    monkeypatch.setattr(np, "save", save_on_a_full_disk)
    cache = tmp_path / "cache"
    with pytest.raises(DiskFullError, match=f"no space left on {cache} while caching decoded images .*free space"):
        npy_cache.cached_arrays(cache, "set-train-64px", ("images",), lambda: {"images": np.zeros((2, 3))},
                                sources=[])
    assert list(cache.iterdir()) == []


def test_identical_weights_are_identical_bytes(tmp_path):
    """torch.save to a path names the archive's inner folder after the (random) temporary file: two saves of the
    same weights differed, so their checksums did too. Saved through a buffer they are the same bytes."""
    import torch
    from methods.engine.checkpoint import save_torch
    state = {"state_dict": {"w": torch.arange(6.0).reshape(2, 3)}, "protocol_hash": "abc"}
    save_torch(state, tmp_path / "a.pt")
    save_torch(state, tmp_path / "b.pt")
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    assert torch.equal(torch.load(tmp_path / "a.pt", weights_only=True)["state_dict"]["w"], state["state_dict"]["w"])


def test_an_unreadable_record_is_answered_with_the_cheapest_way_back(tmp_path):
    """'snakemake --forcerun' retrains all 200 epochs; a sealed copy restores at once and a committed file is one
    git command away: the message names the cheapest that exists."""
    from methods.engine.trainer import Runtime, train_run
    from methods.plan.protocol import resolve
    from methods.plan.spec import RunSpec
    from methods.runs.artifacts import ArtifactError, RunArtifacts
    run = RunSpec.from_parts("smoke", "mnist", "lenet5", "baseline", 0)
    train_run(resolve(run), Runtime(num_workers=0, threads=1), root=tmp_path)
    artifacts = RunArtifacts(run, tmp_path)
    artifacts.metrics_path.write_text("{ truncated")
    with pytest.raises(ArtifactError, match=r"unreadable .*delete it and rerun the run as usual .* restored at once "
                                            r"from its sealed copy in restore/, nothing retrains"):
        artifacts.read_metrics()
    import shutil
    shutil.rmtree(artifacts.restore_dir)
    with pytest.raises(ArtifactError, match=r"no intact copy exists: retrain it \(snakemake --forcerun"):
        artifacts.read_metrics()


@pytest.mark.parametrize("fault", ["seal-after-epochs.csv", "seal-after-model.pt", "seal-after-metrics.json"])
@pytest.mark.parametrize("entry", ["cli", "snakemake"])
def test_killed_inside_the_seal_a_rerun_completes_it_from_either_entry(tmp_path, uninterrupted, fault, entry):
    """kill -9 between the seal's copies leaves restore/ partial, without checksums, and last.pt in place. A
    Snakemake rerun (which deletes an incomplete job's outputs first) restores the run from last.pt; a plain
    `python -m methods train` rerun used to refuse ('metrics.json already exists') and left the seal partial for
    ever: it now completes the seal. Both end with the uninterrupted run's record, a complete seal and no last.pt."""
    killed = train(tmp_path, fault=fault)
    assert killed.returncode == 137, killed.stderr[-2000:]
    directory = tmp_path / RUN.directory
    assert not (directory / "restore" / "checksums.json").exists() and (directory / "last.pt").exists()
    if entry == "snakemake":
        for name in ("metrics.json", "epochs.csv"):
            (directory / name).unlink()
    rerun = train(tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "epoch 1/2 loss" not in rerun.stdout                     # nothing retrained
    assert same(outcome(tmp_path), uninterrupted)
    assert (directory / "restore" / "checksums.json").exists() and not (directory / "last.pt").exists()
    from methods.plan.protocol import resolve
    from methods.runs.artifacts import RunArtifacts
    assert RunArtifacts(RUN, tmp_path, resolve(RUN)).sealed_record() is not None   # every copy matches its sum


def test_an_interrupted_reference_rebuild_resumes_where_it_stopped(tmp_path):
    """A job whose reference has no weights here rebuilds them by a verified retraining. Killed during that
    rebuild, its rerun started the rebuild from epoch 1 again (the scratch folder was temporary); the rebuild now
    trains in <reference>/rebuild/, kept until its weights are installed, and the rerun resumes it."""
    import shutil
    from methods.plan.spec import RunSpec
    focusnet = RunSpec.from_parts("smoke", "mnist", "lenet5", "focusnet@lenet5.baseline", 0)
    baseline = focusnet.reference
    assert train(tmp_path, baseline).returncode == 0          # the reference, 2 epochs
    reference = tmp_path / baseline.directory
    original = torch.load(reference / "model.pt", weights_only=True)["state_dict"]
    (reference / "model.pt").unlink()
    shutil.rmtree(reference / "restore")
    killed = train_in_subprocess(tmp_path, focusnet, fault="after-last-1")   # the rebuild's first checkpoint
    assert killed.returncode == 137, killed.stderr[-2000:]
    assert (reference / "rebuild").is_dir() and not (reference / "model.pt").exists()
    rerun = train_in_subprocess(tmp_path, focusnet)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "resuming at epoch 2" in rerun.stdout and rerun.stdout.count("starting epoch 1") == 1   # FocusNet's own
    rebuilt = torch.load(reference / "model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(rebuilt[k], original[k]) for k in original)
    assert not (reference / "rebuild").exists()               # removed once installed
