"""Published runs are kept: a fresh clone's table targets plan only the missing runs (weights are not a declared
output, and times of checked-out files trigger nothing), and `--forcerun` on a published run retrains it with its
committed record kept aside. (A reference rebuilt by a verified retraining: tests/test_reproducibility.py.)"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from methods import PROJECT_ROOT
from methods.plan.grid import preset_of_target
from methods.runs.artifacts import add_verifications

SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(PROJECT_ROOT / "Snakefile")]


def run(command: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory) -> Path:
    if not (PROJECT_ROOT / ".git").exists():
        pytest.skip("not a git checkout: there is no committed state to clone")
    clone = tmp_path_factory.mktemp("clone") / "repo"
    run(["git", "clone", "--quiet", str(PROJECT_ROOT), str(clone)], cwd=PROJECT_ROOT)
    return clone


def committed_targets(clone: Path) -> list[str]:
    """Every committed table of the paper and demo presets (Table 1 and the reports included)."""
    targets = []
    for path in sorted((clone / "tables").glob("*.md")):
        target = str(path.relative_to(clone))
        try:
            preset_of_target(target.removesuffix(".md"))
        except ValueError:
            if path.stem not in ("table1", "report", "demo_report"):
                continue
        targets.append(target)
    return targets


def test_a_fresh_clone_plans_no_job_for_a_committed_run(fresh_clone):
    targets = committed_targets(fresh_clone)
    assert "tables/table2.md" in targets and "tables/demo.md" in targets and "tables/report.md" in targets
    dry = run([*SNAKEMAKE, "-d", str(fresh_clone), "-n", "--", *targets], cwd=fresh_clone)
    planned = [line.split("output: ", 1)[1].split("/metrics.json")[0] for line in dry.stdout.splitlines()
               if line.strip().startswith("output: results/") and "/metrics.json" in line]
    assert planned, "the paper's GPU cells are missing: some jobs must be planned"
    committed = [directory for directory in planned if (fresh_clone / directory / "metrics.json").exists()]
    assert committed == [], f"committed runs planned: {committed}"
    assert not any(directory.startswith("results/demo/") for directory in planned)


def test_the_demo_targets_have_nothing_to_do_and_change_no_file(fresh_clone):
    demo = ["tables/demo.md", "tables/demo_kd.md", "tables/demo_sd.md", "tables/demo_report.md"]
    result = run([*SNAKEMAKE, "-d", str(fresh_clone), "--cores", "1", "--", *demo], cwd=fresh_clone)
    assert "Nothing to be done" in result.stdout + result.stderr
    status = run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=fresh_clone).stdout
    assert status == ""


@pytest.mark.slow
def test_forcerun_on_a_published_run_retrains_it_and_keeps_the_committed_record_aside(tmp_path):
    """A smoke run trained through Snakemake and committed (published), then `snakemake --forcerun` on it: it
    retrains, its committed record is in superseded/<time>/ byte for byte, and the job says so."""
    run_dir = "results/smoke/mnist/lenet5/baseline/seed0"
    target = f"{run_dir}/metrics.json"
    settings = ["--cores", "1", "--config", "train_threads=1", "num_workers=0"]
    run([*SNAKEMAKE, "-d", str(tmp_path), *settings, "--", target], cwd=tmp_path)
    for command in (["git", "init", "--quiet"], ["git", "add", "results"],
                    ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "published"]):
        run(command, cwd=tmp_path)
    committed = {name: (tmp_path / run_dir / name).read_bytes() for name in ("metrics.json", "epochs.csv")}
    forced = run([*SNAKEMAKE, "-d", str(tmp_path), *settings, "--forcerun", target, "--", target], cwd=tmp_path)
    log = (tmp_path / run_dir / "train.log").read_text()
    assert "retrained on purpose (snakemake --forcerun)" in log and "epoch 1/2" in log, forced.stdout[-2000:]
    asides = list((tmp_path / run_dir / "superseded").iterdir())
    assert len(asides) == 1
    assert {name: (asides[0] / "committed" / name).read_bytes() for name in committed} == committed
    assert (asides[0] / "restore" / "checksums.json").exists()       # the local sealed copy went aside too
    assert not (tmp_path / run_dir / ".retrain").exists()
    # an unforced rerun after the outputs were deleted (a head that died before recording the job) restores them
    for name in ("metrics.json", "epochs.csv"):
        (tmp_path / run_dir / name).unlink()
    again = run([*SNAKEMAKE, "-d", str(tmp_path), *settings, "--", target], cwd=tmp_path)
    assert "restoring the finished run" in (tmp_path / run_dir / "train.log").read_text(), again.stdout[-2000:]
    assert len(list((tmp_path / run_dir / "superseded").iterdir())) == 1
    # one file of the record deleted: the command the table names restores it from the sealed copy
    record = (tmp_path / run_dir / "epochs.csv").read_bytes()
    (tmp_path / run_dir / "epochs.csv").unlink()
    run([*SNAKEMAKE, "-d", str(tmp_path), *settings, "--", f"{run_dir}/epochs.csv"], cwd=tmp_path)
    assert (tmp_path / run_dir / "epochs.csv").read_bytes() == record
    assert "restoring the finished run" in (tmp_path / run_dir / "train.log").read_text()
    retrained = json.loads((tmp_path / run_dir / "metrics.json").read_text())
    assert retrained["best"] == json.loads(committed["metrics.json"])["best"]   # the same numbers, portable kernels


def test_every_committed_record_says_where_it_was_resumed():
    """metrics.json's `resumes` is in every committed record (those finished before the trainer wrote it carry it
    derived from their own log by `python -m methods backfill-resumes`), and it agrees with the log."""
    from methods.plan import config, layout
    from methods.plan.spec import RunSpec
    from methods.runs.artifacts import RunArtifacts
    checked = 0
    for preset in config.presets():
        for directory in layout.run_directories(PROJECT_ROOT, preset):
            metrics = json.loads((PROJECT_ROOT / directory / "metrics.json").read_text())
            assert "resumes" in metrics, f"{directory}: run `python -m methods backfill-resumes`"
            from_log, source = RunArtifacts(RunSpec.from_directory(directory), PROJECT_ROOT).resumes_from_logs()
            if source is not None:
                assert [(r["epoch"], r["step"]) for r in metrics["resumes"]] == [
                    (r["epoch"], r["step"]) for r in from_log], directory
            checked += 1
    assert checked >= 50


def test_backfilling_resumes_adds_the_field_from_the_log_and_changes_nothing_else(tmp_path):
    from methods import jobs
    run = tmp_path / "results/paper/mnist/lenet5/dropmax/seed1"
    run.mkdir(parents=True)
    record = {"best": {"epoch": 150, "top1": 99.05}, "final": {"epoch": 200, "top1": 99.01},
              "protocol_hash": "abc", "seed": 1}
    (run / "metrics.json").write_text(json.dumps(record))
    (run / "attempts.log").write_text("[x] starting epoch 1/200 on cpu\n[x] epoch 1/200 loss 0.6\n"
                                      "[x] resuming at epoch 9/200 on cpu\n"
                                      "[x] resuming at epoch 17, step 14/200 on cpu\n")
    assert jobs.backfill_resumes(tmp_path) == [Path("results/paper/mnist/lenet5/dropmax/seed1")]
    written = json.loads((run / "metrics.json").read_text())
    # the log prints the step counted from 1; metrics.json keeps the step index the checkpoint holds (13)
    assert written.pop("resumes") == [{"epoch": 9, "step": 0}, {"epoch": 17, "step": 13}]
    assert written.pop("resumes_derived_from") == "attempts.log"
    assert written == record
    before = (run / "metrics.json").read_bytes()
    assert jobs.backfill_resumes(tmp_path) == [] and (run / "metrics.json").read_bytes() == before   # once only


def test_checks_of_one_run_made_in_two_places_merge_without_losing_or_repeating_one(tmp_path):
    path = tmp_path / "verified.json"
    mine, theirs = {"checked": "2026-12-07T10:00:00+00:00", "epochs": 2}, {"checked": "2026-12-06T09:00:00+00:00"}
    assert add_verifications(path, [mine]) == [mine]
    assert add_verifications(path, [theirs, mine]) == [theirs]   # the one held already is not added again
    assert json.loads(path.read_text()) == [mine, theirs]
    assert add_verifications(path, [mine]) == [] and json.loads(path.read_text()) == [mine, theirs]
