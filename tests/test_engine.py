"""The training engine: outputs, metrics, resume after an interruption, and refusing to overwrite."""
import csv
import hashlib
import json
from pathlib import Path

import pytest
import torch

from methods.engine import trainer
from methods.engine.trainer import RunError, Runtime, load_reference, train_run
from methods.plan.protocol import resolve
from methods.plan.spec import RunSpec

RUNTIME = Runtime(num_workers=0, threads=1)


def current_umask() -> int:
    import os
    mask = os.umask(0)
    os.umask(mask)
    return mask


def spec(run="baseline", dataset="cifar10", arch="resnet18", seed=0):
    return RunSpec.from_parts("smoke", dataset, arch, run, seed)


def test_run_writes_metrics_epochs_and_model(tmp_path):
    metrics = train_run(resolve(spec()), RUNTIME, root=tmp_path)
    run_dir = tmp_path / spec().directory
    assert {p.name for p in run_dir.iterdir()} >= {"metrics.json", "epochs.csv", "model.pt"}
    # sealed: an independent copy of record and weights with their checksums (a file damaged in place never
    # reaches the copy), which a rerun whose outputs were deleted restores
    assert not (run_dir / "last.pt").exists()
    assert (run_dir / "restore/model.pt").stat().st_ino != (run_dir / "model.pt").stat().st_ino
    sums = json.loads((run_dir / "restore/checksums.json").read_text())
    for name in ("metrics.json", "epochs.csv", "model.pt"):
        assert (run_dir / "restore" / name).read_bytes() == (run_dir / name).read_bytes()
        assert sums[name] == hashlib.sha256((run_dir / name).read_bytes()).hexdigest()
    assert oct((run_dir / "metrics.json").stat().st_mode & 0o777) == oct(0o666 & ~current_umask())
    rows = list(csv.DictReader((run_dir / "epochs.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert {"lr", "train_loss", "train_ce", "train_top1", "val_top1", "val_top5", "epoch_time_s"} <= set(rows[0])
    assert float(rows[0]["lr"]) == pytest.approx(0.1) and float(rows[1]["lr"]) == pytest.approx(0.01)
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    assert saved["protocol_hash"] == resolve(spec()).hash
    assert saved["final"]["epoch"] == 2 and saved["final"]["top1"] == float(rows[1]["val_top1"])
    assert saved["best"]["top1"] == max(float(r["val_top1"]) for r in rows)
    assert {"torch", "torchvision", "python"} <= set(saved["versions"]) and saved["device"]


def test_same_seed_same_result(tmp_path):
    first = train_run(resolve(spec()), RUNTIME, root=tmp_path / "a")
    second = train_run(resolve(spec()), RUNTIME, root=tmp_path / "b")
    assert first["final"] == second["final"]


def test_interrupted_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    reference = train_run(resolve(spec()), RUNTIME, root=tmp_path / "straight")
    calls = {"n": 0}
    real_evaluate = trainer.evaluate

    def crash_in_second_epoch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("simulated kill")
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(trainer, "evaluate", crash_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        train_run(resolve(spec()), RUNTIME, root=tmp_path / "resumed")
    run_dir = tmp_path / "resumed" / spec().directory
    assert (run_dir / "last.pt").exists() and not (run_dir / "metrics.json").exists()
    (run_dir / "epochs.csv").unlink()  # Snakemake deletes a failed job's outputs: the rows must survive in last.pt
    monkeypatch.setattr(trainer, "evaluate", real_evaluate)
    resumed = train_run(resolve(spec()), RUNTIME, root=tmp_path / "resumed")
    assert resumed["final"] == reference["final"] and resumed["best"] == reference["best"]
    assert [int(r["epoch"]) for r in csv.DictReader((run_dir / "epochs.csv").open())] == [1, 2]


def test_checkpoint_of_another_protocol_is_refused(tmp_path, monkeypatch):
    run_dir = tmp_path / spec().directory
    run_dir.mkdir(parents=True)
    torch.save({"protocol_hash": "0000", "epoch": 1}, run_dir / "last.pt")
    with pytest.raises(RunError, match="another protocol|protocol 0000"):
        train_run(resolve(spec()), RUNTIME, root=tmp_path)
    assert (run_dir / "last.pt").exists()


def reseal_as_another_protocol(run_dir: Path) -> bytes:
    """restore/ holding this run finished under protocol 0000 (its checksum updated: an intact, older seal)."""
    sealed = run_dir / "restore/metrics.json"
    sealed.write_text(sealed.read_text().replace(resolve(spec()).hash, "0000"))
    sums = json.loads((run_dir / "restore/checksums.json").read_text())
    sums["metrics.json"] = hashlib.sha256(sealed.read_bytes()).hexdigest()
    (run_dir / "restore/checksums.json").write_text(json.dumps(sums))
    return sealed.read_bytes()


def test_a_seal_of_another_protocol_is_set_aside_and_the_run_retrains(tmp_path, capsys):
    """The fix for a `stale` cell (--forcerun deletes the live record): the old run is kept, the run retrains."""
    train_run(resolve(spec()), RUNTIME, root=tmp_path)
    run_dir = tmp_path / spec().directory
    for name in ("metrics.json", "epochs.csv"):
        (run_dir / name).unlink()
    old = reseal_as_another_protocol(run_dir)
    metrics = train_run(resolve(spec()), RUNTIME, root=tmp_path)
    assert metrics["protocol_hash"] == resolve(spec()).hash
    aside = list((run_dir / "superseded").iterdir())
    assert len(aside) == 1 and (aside[0] / "restore/metrics.json").read_bytes() == old
    assert "earlier record is kept in" in capsys.readouterr().out


def test_a_forced_retrain_sets_the_finished_record_aside_and_trains(tmp_path, capsys):
    from methods.runs.artifacts import RunArtifacts
    first = train_run(resolve(spec()), RUNTIME, root=tmp_path)
    run_dir = tmp_path / spec().directory
    sealed = (run_dir / "restore/metrics.json").read_bytes()
    for name in ("metrics.json", "epochs.csv"):     # what Snakemake deletes before a forced job
        (run_dir / name).unlink()
    RunArtifacts(spec(), tmp_path).request_retrain("snakemake --forcerun")
    second = train_run(resolve(spec()), RUNTIME, root=tmp_path)
    out = capsys.readouterr().out
    assert "retrained on purpose" in out and "epoch 1/2" in out and "restoring" not in out
    assert second["best"] == first["best"] and not (run_dir / ".retrain").exists()
    aside = list((run_dir / "superseded").iterdir())
    assert (aside[0] / "restore/metrics.json").read_bytes() == sealed


def test_finished_run_is_never_overwritten(tmp_path):
    train_run(resolve(spec()), RUNTIME, root=tmp_path)
    metrics_path = tmp_path / spec().directory / "metrics.json"
    before = metrics_path.read_text()
    with pytest.raises(RunError, match="never overwritten"):
        train_run(resolve(spec()), RUNTIME, root=tmp_path)
    assert metrics_path.read_text() == before


def test_focusnet_loads_its_reference_and_logs_each_term(tmp_path):
    train_run(resolve(spec()), RUNTIME, root=tmp_path)
    focus = spec("focusnet@resnet18.baseline")
    metrics = train_run(resolve(focus), RUNTIME, root=tmp_path)
    header = next(csv.reader((tmp_path / focus.directory / "epochs.csv").open()))
    assert {"train_cls", "train_attention", "train_neg_entropy"} <= set(header)
    assert metrics["protocol"]["reference"] == str(spec().directory)
    baseline_params = sum(p.numel() for p in load_reference(resolve(spec()), tmp_path).parameters())
    assert metrics["deployed_params"] == baseline_params   # inference costs exactly the baseline network


def test_missing_reference_names_the_command(tmp_path):
    with pytest.raises(RunError, match="snakemake results/smoke/cifar10/resnet18/baseline/seed0/metrics.json"):
        train_run(resolve(spec("focusnet@resnet18.baseline")), RUNTIME, root=tmp_path)


def test_stale_reference_is_refused(tmp_path):
    train_run(resolve(spec()), RUNTIME, root=tmp_path)
    metrics_path = tmp_path / spec().directory / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["protocol_hash"] = "feedfacefeedface"
    metrics_path.write_text(json.dumps(metrics))
    with pytest.raises(RunError, match="another protocol"):
        train_run(resolve(spec("focusnet@resnet18.baseline")), RUNTIME, root=tmp_path)


def test_constant_lr_run_read_off_a_longer_one_equals_training_it(tmp_path):
    from methods.engine.derive import derive_run
    donor = spec("baseline~e3-const")
    train_run(resolve(donor), Runtime(num_workers=0, threads=1, snapshot_epochs=(1, 2)), root=tmp_path / "shared")
    assert sorted(p.name for p in (tmp_path / "shared" / donor.directory / "snapshots").iterdir()) == \
        ["epoch1.pt", "epoch2.pt"]
    short = spec("baseline~e2-const")
    derived = derive_run(resolve(short), resolve(donor), root=tmp_path / "shared")
    trained = train_run(resolve(short), RUNTIME, root=tmp_path / "alone")
    assert derived["final"] == trained["final"] and derived["best"] == trained["best"]
    assert derived["protocol_hash"] == trained["protocol_hash"] and derived["derived_from"] == str(donor.directory)
    weights = [torch.load(root / short.directory / "model.pt", weights_only=True)["state_dict"]
               for root in (tmp_path / "shared", tmp_path / "alone")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_derivation_needs_a_longer_constant_lr_run_of_the_same_spec(tmp_path):
    from methods.engine.derive import derive_run
    with pytest.raises(RunError, match="not the first"):
        derive_run(resolve(spec("baseline~e3-const")), resolve(spec("baseline~e2-const")), root=tmp_path)
    with pytest.raises(RunError, match="constant-lr"):
        derive_run(resolve(spec("baseline~e1")), resolve(spec("baseline~e3")), root=tmp_path)


def test_warm_up_ramps_the_lr_per_step_and_restores_the_scheduled_lr():
    """w2 over 4 steps an epoch: epoch 1 trains at lr x 1/8 .. 4/8, epoch 2 at 5/8 .. 8/8, epoch 3 at the lr."""
    from types import SimpleNamespace
    from methods.engine.switches import EngineOptions
    from methods.engine.epoch import train_epoch
    from methods.plan.runtime import Runtime
    from methods.zoo.baseline import Baseline
    method = Baseline(torch.nn.Linear(4, 3), 3, Baseline.Options())
    optimizer = torch.optim.SGD(method.parameters(), lr=0.8)
    seen = []
    optimizer.register_step_pre_hook(lambda opt, args, kwargs: seen.append(opt.param_groups[0]["lr"]))
    batches = [(torch.randn(2, 4), torch.tensor([0, 1]))] * 4
    label = SimpleNamespace(directory="test/warmup")
    logged = []
    for epoch in (1, 2, 3):
        stats = train_epoch(label, method, optimizer, batches, None, Runtime(), EngineOptions(), warmup=(epoch, 2))
        assert optimizer.param_groups[0]["lr"] == 0.8
        logged.append(stats.get("lr"))
    assert seen == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] + [0.8] * 4)
    # epochs.csv logs the lr applied: the mean of the ramp's steps (0.25 and 0.65), the scheduler's lr after it
    assert logged[:2] == pytest.approx([0.25, 0.65]) and logged[2] is None


def test_a_timm_architecture_trains_through_a_run_name(tmp_path):
    """A researcher's own network with no code: the smoke preset's CUB-200 on timm's resnet10t, Baseline then
    FocusNet against it and DropMax (which splits the network at its classifier)."""
    for run in ("baseline", "focusnet@timm_resnet10t.baseline", "dropmax"):
        metrics = train_run(resolve(spec(run, dataset="cub200", arch="timm_resnet10t")), RUNTIME, root=tmp_path)
        assert metrics["arch"] == "timm_resnet10t" and metrics["versions"]["timm"]
        assert metrics["protocol"]["facts"]["num_classes"] == 200
