"""The Snakemake DAG: dry runs list exactly each table's cells, and the smoke preset runs end to end."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from methods import PROJECT_ROOT

SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(PROJECT_ROOT / "Snakefile")]
DATASETS = ["mnist", "cifar10", "imagewoof", "cifar100", "cub200", "stanford_dogs", "tiny_imagenet",
            "imagenet_dogs"]


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([*SNAKEMAKE, "-d", str(workdir), *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def planned_jobs(output: str) -> dict[str, list[str]]:
    """rule name -> first output of each job in a dry run's listing."""
    jobs: dict[str, list[str]] = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", output):
        match = re.match(r"(?:local)?rule (\w+):", block.strip())
        outputs = re.search(r"^\s+output: ([^,\n]+)", block, re.M)
        if match and outputs:
            jobs.setdefault(match.group(1), []).append(outputs.group(1))
    return jobs


def train_dirs(output: str) -> set[str]:
    return {path.removesuffix("/metrics.json") for path in planned_jobs(output).get("train", [])}


def test_dry_run_table2_lists_baseline_and_focusnet_of_all_eight_datasets(tmp_path):
    result = snakemake(tmp_path, "-n", "tables/table2.md")
    expected = set()
    for dataset in DATASETS:
        arch = "lenet5" if dataset == "mnist" else "resnet18"
        expected |= {f"results/paper/{dataset}/{arch}/baseline/seed0",
                     f"results/paper/{dataset}/{arch}/focusnet@{arch}.baseline/seed0"}
    assert train_dirs(result.stdout) == expected
    assert sorted(planned_jobs(result.stdout)["check_data"]) == sorted(f"results/paper/data/{d}.json" for d in DATASETS)


def test_dry_run_shares_runs_across_tables(tmp_path):
    table10 = train_dirs(snakemake(tmp_path, "-n", "tables/table10.md").stdout)
    assert len(table10) == 10
    both = train_dirs(snakemake(tmp_path, "-n", "tables/table2.md", "tables/table10.md").stdout)
    assert len(both) == 16 + 6   # Table 10's Baseline and FocusNet rows are Table 2's runs


def test_dry_run_table4_is_three_complexity_jobs(tmp_path):
    jobs = planned_jobs(snakemake(tmp_path, "-n", "tables/table4.md").stdout)
    assert sorted(jobs["complexity"]) == [f"results/paper/complexity/{a}-small-200c-64px.json"
                                          for a in ("mobilenetv2", "resnet18", "resnet34")]
    assert "train" not in jobs


def test_unknown_target_is_refused_with_the_known_ones(tmp_path):
    result = snakemake(tmp_path, "-n", "tables/smoke/table99.md", check=False)
    assert result.returncode != 0
    assert "MissingRuleException" in result.stdout + result.stderr or "No rule to produce" in result.stdout + result.stderr


@pytest.mark.slow
def test_smoke_preset_end_to_end(tmp_path):
    targets = ["tables/smoke/table2.md", "tables/smoke/table4.md", "tables/smoke/table10.md"]
    snakemake(tmp_path, "--cores", "2", "--config", "train_threads=1", "--", *targets)
    for target in targets:
        text = (tmp_path / target).read_text()
        assert text.startswith(f"# {Path(target).stem} [smoke preset]")
        assert "missing" not in text and "stale" not in text
        for suffix in (".tex", ".csv"):
            assert (tmp_path / target).with_suffix(suffix).exists()
    metrics = sorted((tmp_path / "results/smoke").glob("*/*/*/seed0/metrics.json"))
    assert len(metrics) == 16 + 6
    for path in metrics:
        saved = json.loads(path.read_text())
        assert saved["preset"] == "smoke" and saved["protocol"]["data_source"] == "synthetic"
        assert (path.parent / "epochs.csv").exists() and (path.parent / "model.pt").exists()
    assert not list((tmp_path / "results").glob("paper")), "the smoke preset wrote outside results/smoke"
    again = snakemake(tmp_path, "--cores", "2", "--", *targets)
    assert "Nothing to be done" in again.stdout + again.stderr
