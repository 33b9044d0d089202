"""Portable CPU numerics (methods/cpu_isa.py), provenance in metrics.json, and `python -m methods verify`: a rerun
compared digit for digit with a run's record, the weights of a published run rebuilt only after that check, and
the committed runs guarded (CI fails when a change alters their first epochs)."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from methods.plan.protocol import resolve

from methods import PROJECT_ROOT, cpu_isa
from methods.plan.config import read_yaml, validate, ConfigError
from methods.engine import lifecycle, provenance
from methods.engine.trainer import RunError, Runtime, train_run
from methods.engine.verify import (Difference, VerifyError, first_difference, rebuild_weights, recorded_threads,
                                   verify_run)
from methods.plan.spec import RunSpec

RUNTIME = Runtime(num_workers=0, threads=1)
BASELINE = RunSpec.from_parts("smoke", "mnist", "lenet5", "baseline", 0)
FOCUSNET = RunSpec.from_parts("smoke", "mnist", "lenet5", "focusnet@lenet5.baseline", 0)
SHARED_MNIST = PROJECT_ROOT.parent / "shared" / "datasets"
HAS_AVX2 = "avx2" in Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else False


def methods_cli(*args, cwd: Path = PROJECT_ROOT, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "methods", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


# --- the setting --------------------------------------------------------------------------------------------------

def test_an_unknown_cpu_isa_names_the_choices_and_where_to_set_them():
    with pytest.raises(cpu_isa.CpuIsaError, match="avx2, native.*config/config.yaml"):
        cpu_isa.check("avx512")


def test_the_tests_run_pinned_to_the_configured_setting():
    import torch
    assert os.environ[cpu_isa.SETTING] == read_yaml(PROJECT_ROOT / "config" / "config.yaml")["cpu_isa"] == "avx2"
    if HAS_AVX2:
        assert torch.backends.cpu.get_cpu_capability() == "AVX2"


def test_pinning_after_torch_loaded_is_refused_rather_than_silently_ignored():
    import torch  # noqa: F401  (loaded, as in every test process)
    with pytest.raises(cpu_isa.CpuIsaError, match="already loaded"):
        cpu_isa.pin("native")
    assert cpu_isa.pin("avx2") == "avx2"   # the setting in force: nothing to change, allowed


@pytest.mark.skipif(not HAS_AVX2, reason="the host has no AVX2: there is nothing to pin to")
@pytest.mark.parametrize("choice, aten, onednn", [("avx2", "AVX2", "AVX2"), ("native", None, None)])
def test_pin_before_import_selects_the_kernels_in_a_fresh_process(choice, aten, onednn):
    code = ("from methods import cpu_isa; cpu_isa.pin(%r); from methods.engine import provenance; "
            "import json; print(json.dumps(provenance.collect()))" % choice)
    env = {k: v for k, v in os.environ.items() if k not in (cpu_isa.SETTING, cpu_isa.ATEN, cpu_isa.ONEDNN)}
    result = subprocess.run([sys.executable, "-c", code], env={**env, "PYTHONPATH": str(PROJECT_ROOT)},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["cpu_isa"] == choice and record["threads"] >= 1 and record["host_cpu"]
    if aten:
        assert record["aten_cpu_capability"] == aten and onednn in record["onednn_isa"]


def test_config_schema_refuses_a_bad_cpu_isa():
    config = read_yaml(PROJECT_ROOT / "config" / "config.yaml")
    schema = read_yaml(PROJECT_ROOT / "workflow" / "schemas" / "config.schema.yaml")
    validate(config, schema, "config")
    with pytest.raises(ConfigError, match="cpu_isa"):
        validate({**config, "cpu_isa": "fast"}, schema, "config")


def test_a_bad_cpu_isa_flag_is_one_line_before_any_training(tmp_path):
    result = methods_cli("train", str(BASELINE.directory), "--cpu-isa", "avx9", cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "avx9" in result.stderr
    assert not (tmp_path / "results").exists()


# --- comparing records --------------------------------------------------------------------------------------------

def rows(*values: tuple[str, str, str]) -> list[dict[str, str]]:
    return [{"epoch": e, "train_loss": loss, "val_top1": top1, "epoch_time_s": "1.0"} for e, loss, top1 in values]


def test_first_difference_ignores_timings_and_names_epoch_and_column():
    recorded = rows(("1", "0.5", "90.0"), ("2", "0.4", "91.0"), ("3", "0.3", "92.0"))
    rerun = [dict(row, epoch_time_s="9.9") for row in recorded]
    assert first_difference(recorded, rerun, 3) is None
    rerun[1]["val_top1"] = "91.01"
    assert first_difference(recorded, rerun, 3) == Difference(2, "val_top1", "91.0", "91.01")
    assert first_difference(recorded, rerun, 1) is None        # only the first k epochs are compared
    assert first_difference(recorded, rerun[:1], 2) == Difference(2, "(row)", "present", "missing")
    extra = [dict(row, lr="0.1") for row in recorded]
    assert first_difference(recorded, extra, 1) == Difference(1, "lr", None, "0.1")


def test_recorded_threads_from_metrics_or_the_device_line():
    assert recorded_threads({"threads": 2}) == 2
    assert recorded_threads({"device": "cpu (2 cores, 1 threads)"}) == 1
    assert recorded_threads({"device": "NVIDIA H200 (cuda:0)"}) is None


# --- verify and rebuild on the smoke preset -----------------------------------------------------------------------

@pytest.fixture
def finished(tmp_path):
    train_run(resolve(BASELINE), RUNTIME, root=tmp_path)
    return tmp_path


def test_metrics_record_provenance_and_no_resumes(finished):
    metrics = json.loads((finished / BASELINE.directory / "metrics.json").read_text())
    assert metrics["provenance"]["cpu_isa"] == "avx2" and metrics["provenance"]["threads"] == 1
    assert {"host_cpu", "aten_cpu_capability", "onednn_version", "onednn_isa"} <= set(metrics["provenance"])
    assert metrics["resumes"] == []


def test_the_host_identity_is_a_keyed_hash_of_each_id_the_host_has(tmp_path):
    machine, boot, empty = tmp_path / "machine-id", tmp_path / "boot_id", tmp_path / "empty"
    machine.write_text("3d1219c7c4c5404aaa1f6d2a48adfda4\n")
    boot.write_text("a06c2384-13d6-41b0-8a3b-978b2b8b7d21\n")
    empty.write_text("\n")
    identity = provenance.host_identity({"machine": machine, "boot": boot, "none": tmp_path / "absent",
                                         "blank": empty})
    assert set(identity) == {"machine", "boot"}
    assert all(len(value) == 16 and int(value, 16) >= 0 for value in identity.values())
    assert "3d1219c7" not in json.dumps(identity) and "a06c2384" not in json.dumps(identity)   # never the raw ids
    machine.write_text("3d1219c7c4c5404aaa1f6d2a48adfda5\n")   # one digit off: another hash
    assert provenance.host_identity({"machine": machine})["machine"] != identity["machine"]
    assert provenance.host_identity({"boot": boot}) == {"boot": identity["boot"]}   # stable, whitespace stripped


def test_the_host_relation_is_the_closest_of_the_machines_that_trained_a_run():
    def attempt(machine=None, boot=None):
        return {"host_identity": {k: v for k, v in (("machine", machine), ("boot", boot)) if v}}
    here = attempt("m1", "b1")
    relation = provenance.host_relation
    assert relation([attempt("m1", "b1")], here) == provenance.SAME_BOOT
    assert relation([attempt("m1", "b0")], here) == provenance.SAME_MACHINE
    assert relation([attempt("m2", "b2")], here) == provenance.ANOTHER_MACHINE
    assert relation([{}], here) == relation([attempt(boot="b0")], here) == provenance.UNKNOWN
    assert relation([attempt("m2", "b2")], {}) == provenance.UNKNOWN   # this host has no ids to compare
    # a run resumed here is not verified elsewhere, and one resumed where no identity was kept is not known to be
    assert relation([attempt("m2", "b2"), attempt("m1", "b0")], here) == provenance.SAME_MACHINE
    assert relation([attempt("m2", "b2"), {}], here) == provenance.UNKNOWN
    assert relation([attempt("m2", "b2"), attempt("m3", "b3")], here) == provenance.ANOTHER_MACHINE


def test_verify_says_whether_it_ran_on_another_machine_than_the_run(finished):
    path = finished / BASELINE.directory / "metrics.json"
    metrics = json.loads(path.read_text())
    assert metrics["provenance"]["host_identity"] == provenance.host_identity()
    metrics["provenance"]["host_identity"] = {"machine": "0" * 16, "boot": "1" * 16}
    path.write_text(json.dumps(metrics))
    outcome = verify_run(resolve(BASELINE), 1, RUNTIME, root=finished)
    assert outcome.identical and outcome.host == provenance.ANOTHER_MACHINE
    assert outcome.record()["host"] == provenance.ANOTHER_MACHINE
    metrics["resumes"] = [{"epoch": 1, "step": 3, "provenance": {}}]   # resumed where no identity was kept
    path.write_text(json.dumps(metrics))
    assert verify_run(resolve(BASELINE), 1, RUNTIME, root=finished).host == provenance.UNKNOWN


def test_stop_after_epoch_keeps_the_checkpoint_and_writes_no_metrics(tmp_path):
    from dataclasses import replace
    result = train_run(resolve(BASELINE), replace(RUNTIME, stop_after_epoch=1), root=tmp_path)
    directory = tmp_path / BASELINE.directory
    assert result["stopped_after"] == 1 and len(result["rows"]) == 1
    assert (directory / "last.pt").exists() and not (directory / "metrics.json").exists()


def test_verify_says_identical_and_never_touches_the_run(finished):
    directory = finished / BASELINE.directory
    before = {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file() and path.name != ".lock"}
    outcome = verify_run(resolve(BASELINE), 1, RUNTIME, root=finished)
    assert outcome.identical and outcome.lines() == [f"{BASELINE.directory}: identical for 1 epoch",
                                                     f"  rerun on {provenance.SAME_BOOT}"]
    after = {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file() and path.name != ".lock"}
    assert after == before


def tamper(path: Path, epoch: int, column: str) -> str:
    with path.open(newline="") as handle:
        records = list(csv.DictReader(handle))
    row = next(r for r in records if r["epoch"] == str(epoch))
    row[column] = str(float(row[column]) + 1e-9)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    return row[column]


def test_verify_names_the_first_difference_and_the_provenance(finished):
    tampered = tamper(finished / BASELINE.directory / "epochs.csv", 2, "train_loss")
    outcome = verify_run(resolve(BASELINE), 2, RUNTIME, root=finished)
    assert not outcome.identical
    assert outcome.difference.epoch == 2 and outcome.difference.column == "train_loss"
    assert outcome.difference.recorded == tampered
    assert "the recorded provenance equals this machine's" in "\n".join(outcome.lines())


def test_verify_cli_exits_1_on_a_difference_and_records_when_asked(finished):
    tamper(finished / BASELINE.directory / "epochs.csv", 1, "val_top1")
    result = methods_cli("verify", str(BASELINE.directory), "--epochs", "1", "--record", cwd=finished)
    assert result.returncode == 1 and "DIFFERS at epoch 1, column val_top1" in result.stdout
    record = json.loads((finished / BASELINE.directory / "verified.json").read_text())
    assert record[-1]["identical"] is False and record[-1]["provenance"]["cpu_isa"] == "avx2"


def test_verify_refuses_an_unfinished_run_and_epochs_out_of_range(tmp_path, finished):
    with pytest.raises(VerifyError, match="not a finished run"):
        verify_run(resolve(BASELINE), 1, RUNTIME, root=tmp_path / "empty")
    with pytest.raises(VerifyError, match="--epochs within"):
        verify_run(resolve(BASELINE), 3, RUNTIME, root=finished)


def test_a_reference_without_weights_is_rebuilt_verified_before_the_run_trains(finished):
    directory = finished / BASELINE.directory
    original = (directory / "model.pt").read_bytes()
    import shutil
    shutil.rmtree(directory / "restore")
    (directory / "model.pt").unlink()
    with pytest.raises(RunError, match="has no weights here; rebuild them first"):   # the trainer alone never rebuilds
        train_run(resolve(FOCUSNET), RUNTIME, root=finished)
    lifecycle.train_run(resolve(FOCUSNET), RUNTIME, root=finished)          # the lifecycle does, verified
    assert (finished / FOCUSNET.directory / "metrics.json").exists()
    import torch
    rebuilt = torch.load(directory / "model.pt", weights_only=True)["state_dict"]
    import io
    saved = torch.load(io.BytesIO(original), weights_only=True)["state_dict"]
    assert rebuilt.keys() == saved.keys() and all(torch.equal(rebuilt[k], saved[k]) for k in saved)


def test_a_reference_whose_record_does_not_reproduce_is_never_rebuilt(finished):
    directory = finished / BASELINE.directory
    import shutil
    shutil.rmtree(directory / "restore")
    (directory / "model.pt").unlink()
    tamper(directory / "epochs.csv", 2, "train_top1")
    record = (directory / "epochs.csv").read_bytes()
    with pytest.raises(VerifyError, match=r"DIFFERS at epoch 2, column train_top1.*not rebuilt"):
        rebuild_weights(resolve(BASELINE), RUNTIME, root=finished, say=lambda _: None)
    assert not (directory / "model.pt").exists() and (directory / "epochs.csv").read_bytes() == record
    result = methods_cli("train", str(FOCUSNET.directory), cwd=finished)
    assert result.returncode == 1 and result.stderr.count("error:") == 1 and "epoch 2" in result.stderr
    assert not (finished / FOCUSNET.directory / "metrics.json").exists()


def test_verify_works_for_a_run_with_a_reference(finished):
    train_run(resolve(FOCUSNET), RUNTIME, root=finished)
    assert verify_run(resolve(FOCUSNET), 2, RUNTIME, root=finished).identical


# --- the committed runs: CI fails when their first epochs change -------------------------------------------------

@pytest.mark.skipif(not (SHARED_MNIST / "mnist").is_dir(),
                    reason=f"real MNIST is not at {SHARED_MNIST}/mnist (CI has it beside the clone)")
def test_committed_mnist_baseline_reproduces_its_first_two_epochs(tmp_path):
    result = methods_cli("verify", "results/paper/mnist/lenet5/baseline/seed0", "--epochs", "2", "--data-root",
                         str(SHARED_MNIST), "--scratch", str(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "identical for 2 epochs" in result.stdout
    assert f"rerun on {provenance.UNKNOWN}" in result.stdout   # committed before records held a host identity


def test_committed_demo_run_reproduces_its_first_two_epochs(tmp_path):
    run = "results/demo/digits/resnet18/baseline/seed1"
    result = methods_cli("verify", run, "--epochs", "2", "--scratch", str(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "identical for 2 epochs" in result.stdout
