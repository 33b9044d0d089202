"""The Snakemake DAG: dry runs list exactly each table's cells, and the smoke preset runs end to end."""
import json
import os
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
        outputs = re.search(r"^\s+output: (\S+?\.(?:json|md|png))(?:,|$)", block, re.M)   # run names hold commas
        if match and outputs:
            jobs.setdefault(match.group(1), []).append(outputs.group(1))
    return jobs


def train_dirs(output: str) -> set[str]:
    return {path.removesuffix("/metrics.json") for path in planned_jobs(output).get("train", [])}


TABLE2_ROWS = ("baseline", "dropmax", "focusnet@{arch}.baseline",
               "focusnet-label_smoothing=0.1,warm=softmax@{arch}.baseline")
TABLE2_RUNS = 7 * len(TABLE2_ROWS) + 3 * (len(TABLE2_ROWS) + 1)   # MNIST: 3 seeds and the warm-up row


def test_dry_run_table2_lists_its_rows_on_all_eight_datasets(tmp_path):
    result = snakemake(tmp_path, "-n", "tables/table2.md")
    expected = set()
    for dataset in DATASETS:
        arch = "lenet5" if dataset == "mnist" else "resnet18"
        rows = TABLE2_ROWS + (("focusnet~w1@{arch}.baseline",) if dataset == "mnist" else ())
        for seed in ((0, 1, 2) if dataset == "mnist" else (0,)):
            expected |= {f"results/paper/{dataset}/{arch}/{row.format(arch=arch)}/seed{seed}" for row in rows}
    assert train_dirs(result.stdout) == expected and len(expected) == TABLE2_RUNS
    assert sorted(planned_jobs(result.stdout)["check_data"]) == sorted(f"results/paper/data/{d}.json" for d in DATASETS)


def test_dry_run_shares_runs_across_tables(tmp_path):
    table10 = train_dirs(snakemake(tmp_path, "-n", "tables/table10.md").stdout)
    assert len(table10) == 10 + 15   # CUB-200 and Stanford Dogs, one seed; the suite's MNIST column, 3 seeds
    both = train_dirs(snakemake(tmp_path, "-n", "tables/table2.md", "tables/table10.md").stdout)
    assert len(both) == TABLE2_RUNS + 25 - 10   # Table 10's Baseline and FocusNet rows are Table 2's runs


def test_dry_run_table4_is_three_complexity_jobs(tmp_path):
    jobs = planned_jobs(snakemake(tmp_path, "-n", "tables/table4.md").stdout)
    assert sorted(jobs["complexity"]) == [f"results/paper/complexity/baseline-{a}-small-200c-64px.json"
                                          for a in ("mobilenetv2", "resnet18", "resnet34")]
    assert "train" not in jobs


def test_dry_run_table7_lists_its_60_cells_sharing_runs(tmp_path):
    table7 = train_dirs(snakemake(tmp_path, "-n", "tables/table7.md").stdout)
    assert len(table7) == 55 + 5     # the paper's 55 cells and the suite's released-code FocusNet row
    with_table2 = train_dirs(snakemake(tmp_path, "-n", "tables/table2.md", "tables/table7.md").stdout)
    # Baseline and both FocusNet forms of CIFAR-100, CUB-200, Stanford Dogs, Tiny ImageNet, ImageNet Dogs are shared
    assert len(with_table2) == 60 + TABLE2_RUNS - 5 * 3
    assert {d for d in table7 if "/tfkd_self@resnet18.baseline/" in d} and \
        all(d.replace("tfkd_self@resnet18.baseline", "baseline") in table7 for d in table7 if "tfkd_self" in d)


def test_dry_run_fig4_trains_one_60_epoch_baseline_per_dataset(tmp_path):
    result = snakemake(tmp_path, "-n", "tables/fig4.png").stdout
    dirs = train_dirs(result)
    assert len(dirs) == 32
    for dataset in ("cub200", "stanford_dogs"):
        donor = f"results/paper/{dataset}/resnet18/baseline~e60-const/seed0/metrics.json"
        block = re.search(r"rule train:\n\s+input: ([^\n]*)\n\s+output: results/paper/" + dataset +
                          r"/resnet18/baseline~e10-const/", result)
        assert block and donor in block.group(1)


def test_dry_run_table9_teachers_are_poorly_trained_mobilenets(tmp_path):
    dirs = train_dirs(snakemake(tmp_path, "-n", "tables/table9.md").stdout)
    assert "results/paper/cifar10/mobilenetv2/baseline~e1-const/seed0" in dirs
    assert "results/paper/cub200/resnet18/focusnet@mobilenetv2.baseline~e50-const/seed0" in dirs
    assert len(dirs) == 28 + 7      # and the suite's De-reverse KD row in the Tf-KD repo's reduction


def test_dry_run_tables_3_5_8_share_their_teachers_and_imagenet_runs(tmp_path):
    imagenet = train_dirs(snakemake(tmp_path, "-n", "tables/table3.md", "tables/table8.md").stdout)
    assert imagenet == {f"results/paper/imagenet/{arch}/{run}/seed0" for arch in ("resnet18", "resnet34")
                        for run in ("pretrained~e0", "baseline", f"focusnet@{arch}.pretrained~e0", "frskd")}
    kd = train_dirs(snakemake(tmp_path, "-n", "tables/table2.md", "tables/table5.md").stdout)
    assert len(kd) == TABLE2_RUNS + 35 - 7   # Table 5's teacher row is Table 2's ResNet-18 Baseline on 7 datasets


def test_dry_run_cifar10_jpeg_table_is_its_own_two_runs(tmp_path):
    dirs = train_dirs(snakemake(tmp_path, "-n", "tables/cifar10_jpeg.md").stdout)
    assert dirs == {"results/paper/cifar10_jpeg/resnet18/baseline/seed0",
                    "results/paper/cifar10_jpeg/resnet18/focusnet@resnet18.baseline/seed0"}


def test_unknown_target_is_refused_with_the_known_ones(tmp_path):
    result = snakemake(tmp_path, "-n", "tables/smoke/table99.md", check=False)
    assert result.returncode != 0
    assert "MissingRuleException" in result.stdout + result.stderr or "No rule to produce" in result.stdout + result.stderr


def test_local_gpu_sharing_gives_small_cells_a_share_of_one_gpu(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "0,1"}     # two GPUs, as nvidia-smi would show them
    result = subprocess.run([*SNAKEMAKE, "-d", str(tmp_path), "-n", "--cores", "8", "tables/table2.md",
                             "tables/table5.md"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    slots = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", result.stdout):
        if re.match(r"rule train:", block.strip()):
            arch = re.search(r"arch=(\w+)", block).group(1)
            slots.setdefault(arch, set()).add(int(re.search(r"gpu_slot=(\d+)", block).group(1)))
    assert slots == {"lenet5": {1}, "mobilenetv2": {2}, "resnet18": {4}}   # config gpu_slots 4, gpu_share


SMOKE_TABLES = ["table2", "table3", "table4", "table5", "table6", "table7", "table8", "table9", "table10",
                "focus_controls", "cifar10_jpeg"]
SMOKE_TARGETS = [f"tables/smoke/{name}.md" for name in SMOKE_TABLES] + ["tables/smoke/fig4.png", "tables/smoke/fig4_mnist.png"]


@pytest.mark.slow
def test_smoke_grid_trains_in_one_process_in_dependency_order(tmp_path, monkeypatch):
    """Every run of every smoke table, trained in this process in the order `python -m methods runs` gives (each
    reference and donor first), then every table built: the whole grid's plumbing without Snakemake's per-job
    interpreter start-up. The Snakemake DAG itself is run for real on a slice below."""
    from methods import jobs
    from methods.plan.runtime import Runtime
    from methods.plan.grid import build_table, in_dependency_order, preset_of_target, required_runs
    from methods.plan.layout import complexity_path
    from methods.plan.protocol import resolve
    monkeypatch.chdir(tmp_path)
    tables = [build_table(*preset_of_target(str(Path(t).with_suffix("")))) for t in SMOKE_TARGETS]
    runs = in_dependency_order(run for table in tables for run in required_runs(table))
    for run in runs:
        jobs.train(resolve(run), Runtime(num_workers=0, threads=1))
    for table in tables:
        for cell in table.cells:
            if cell.complexity and not complexity_path("smoke", cell.complexity).exists():
                setting = cell.complexity
                jobs.complexity(setting["method"], setting["arch"], setting["family"], setting["num_classes"],
                               setting["image_size"], complexity_path("smoke", setting))
    for target in SMOKE_TARGETS:
        jobs.tables(target)
        text = (tmp_path / target).with_suffix(".md").read_text()
        assert text.startswith(f"# {Path(target).stem} [smoke preset]")
        assert "missing" not in text and "stale" not in text and "inconsistent" not in text
        for suffix in (".tex", ".csv"):
            assert (tmp_path / target).with_suffix(suffix).exists()
    assert (tmp_path / "tables/smoke/fig4.pdf").exists()
    from methods.report.comparison import build_report, load_claims
    jobs.tables("tables/smoke/report.md")
    assert (tmp_path / "tables/smoke/report.md").read_text().startswith("# report [smoke preset]")
    report = build_report("smoke", tmp_path)
    assert list(report["claims"]["claim"]) == [c["id"] for c in load_claims()["claims"]]
    compared = report["comparisons"]
    assert len(compared) and set(compared["table"]) <= set(SMOKE_TABLES) | {"fig4", "fig4_mnist"}
    # two steps on synthetic data leave most smoke runs at chance (collapsed): a comparison holds them at that
    # accuracy, on the seeds both cells finished, or on none (the verdicts themselves are tested on real runs in
    # tests/test_report.py)
    cells = {(name, v.cell.column, v.cell.row): v for name, (_, values) in report["tables"].items() for v in values}
    for row in compared.itertuples():
        better, worse = cells[(row.table, row.column, row.better)], cells[(row.table, row.column, row.worse)]
        assert row.n == len(set(better.compared_by_seed) & set(worse.compared_by_seed))
        assert row.n > 0 or row.verdict == "not enough runs"
    assert (compared["n"] > 0).all()   # every smoke cell trains, so every comparison has its seeds
    assert (tmp_path / "tables/smoke/report.png").exists()
    metrics = sorted((tmp_path / "results/smoke").glob("*/*/*/seed*/metrics.json"))
    assert len(metrics) == len(runs)
    for path in metrics:
        saved = json.loads(path.read_text())
        assert saved["preset"] == "smoke" and saved["protocol"]["data_source"] == "synthetic"
        assert (path.parent / "epochs.csv").exists() and (path.parent / "model.pt").exists()
    assert {json.loads(p.read_text())["seed"] for p in metrics} == {0, 1, 2}   # Table 2's MNIST column: 3 seeds
    assert not list((tmp_path / "results").glob("paper")), "the smoke preset wrote outside results/smoke"


@pytest.mark.slow
def test_snakemake_runs_a_slice_of_the_smoke_dag_end_to_end_and_then_has_nothing_to_do(tmp_path):
    """Table 10 (three datasets: Baselines, then FocusNet and its ablations against them; seed 0 only) through the
    real DAG: check_data, train with references, table and its learning curves. Runtime settings are not params:
    other values rerun nothing."""
    target = "tables/smoke/table10.md"
    snakemake(tmp_path, "--cores", "2", "--config", "train_threads=1", "num_workers=0", "seeds=0", "--", target)
    text = (tmp_path / target).read_text()
    assert text.startswith("# table10 [smoke preset]") and "missing" not in text and "stale" not in text
    assert len(list((tmp_path / "results/smoke").glob("*/*/*/seed*/metrics.json"))) == 15
    assert sorted(p.name for p in (tmp_path / "results/smoke/data").glob("*.json")) == [
        "cub200.json", "mnist.json", "stanford_dogs.json"]
    assert (tmp_path / "tables/smoke/table10_curves.png").exists()
    again = snakemake(tmp_path, "--cores", "2", "--config", "train_threads=2", "num_workers=1", "seeds=0", "--", target)
    assert "Nothing to be done" in again.stdout + again.stderr
    # Snakemake's own HTML report of what ran: the table and its curves are in it, under the suite's categories
    snakemake(tmp_path, "--report", str(tmp_path / "report.html"), "--config", "seeds=0", "--", target)
    html = (tmp_path / "report.html").read_text(errors="replace")
    assert "table10.csv" in html and "Tables" in html and "table10_curves.png" in html
    # Table 1 from the data checks that ran (CUB-200 and Stanford Dogs: synthetic stand-ins, sized as the preset says)
    snakemake(tmp_path, "--cores", "1", "--", "tables/smoke/table1.md")
    table1 = (tmp_path / "tables/smoke/table1.md").read_text()
    assert "| CUB-200       | 200 / 200 |" in table1 and "3 of 9 checked" in table1


def test_snakemake_lint_is_clean():
    result = subprocess.run([*SNAKEMAKE, "--lint"], capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_local_gpu_sharing_stays_off_inside_a_slurm_job(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "0", "SLURM_JOB_ID": "42"}
    result = subprocess.run([*SNAKEMAKE, "-d", str(tmp_path), "-n", "--cores", "4", "tables/table2.md"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "gpu_slot=0" in result.stdout and "gpu_slot=4" not in result.stdout and "gpu_slot=1" not in result.stdout


def test_an_existing_table_with_missing_runs_still_plans_them(tmp_path):
    """A committed table (its cells `missing`) is an existing output; its missing runs must still be trained."""
    (tmp_path / "tables").mkdir()
    for suffix in (".md", ".tex", ".csv"):
        (tmp_path / "tables" / f"table10{suffix}").write_text((PROJECT_ROOT / "tables" / f"table10{suffix}").read_text())
    assert len(train_dirs(snakemake(tmp_path, "-n", "tables/table10.md").stdout)) == 10 + 15


def test_a_bad_option_value_in_a_run_path_fails_the_dry_run(tmp_path):
    """A run asked for by its path, not through a table: its option values are checked when the DAG is built, before
    its reference would train."""
    target = "results/smoke/mnist/lenet5/focusnet-warm=sofmax@lenet5.baseline/seed0/metrics.json"
    result = snakemake(tmp_path, "-n", target, check=False)
    assert result.returncode != 0
    assert "option warm='sofmax' not one of ('logit', 'softmax')" in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("target, message", [
    ("results/smoke/mnist/lenet9/baseline/seed0/metrics.json", "unknown arch 'lenet9'"),
    ("results/smoke/mnistt/lenet5/baseline/seed0/metrics.json", "unknown dataset 'mnistt'"),
    ("results/smok/mnist/lenet5/baseline/seed0/metrics.json", "unknown preset 'smok'"),
    ("results/smoke/mnist/lenet5/focusnet-alpha=nan@lenet5.baseline/seed0/metrics.json", "not a finite number"),
])
def test_bad_input_in_a_run_path_fails_the_dry_run(tmp_path, target, message):
    result = snakemake(tmp_path, "-n", target, check=False)
    assert result.returncode != 0 and message in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("seeds, message", [("-1", "0,1,2"), ("1-0", "backwards"), ("0-100000000", "more than 1000")])
def test_bad_config_seeds_fail_the_dry_run_naming_the_form(tmp_path, seeds, message):
    result = snakemake(tmp_path, "-n", "--config", f"seeds={seeds}", "--", "tables/demo.md", check=False)
    assert result.returncode != 0 and message in result.stdout + result.stderr


def test_a_broken_dataset_entry_blocks_only_the_tables_that_use_it(tmp_path):
    """A wrong type in config/datasets.yaml's CUB-200 entry: the demo (digits) still plans; Table 10 names it."""
    import shutil
    copy = tmp_path / "repo"
    shutil.copytree(PROJECT_ROOT, copy, ignore=shutil.ignore_patterns(".git", ".venv", "results", "tables", "*.pt",
                                                                       ".snakemake", "__pycache__", "my-demo"))
    shutil.copytree(PROJECT_ROOT / "tables", copy / "tables")
    datasets = copy / "config" / "datasets.yaml"
    text = datasets.read_text()
    start = text.index("\ncub200:")
    datasets.write_text(text[:start] + text[start:].replace("num_classes: 200", 'num_classes: "two hundred"', 1))
    env = {**os.environ, "PYTHONPATH": str(copy)}
    command = [sys.executable, "-m", "snakemake", "-s", str(copy / "Snakefile"), "-d", str(copy), "-n"]
    demo = subprocess.run([*command, "tables/demo.md"], capture_output=True, text=True, env=env, cwd=copy)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    table10 = subprocess.run([*command, "tables/table10.md"], capture_output=True, text=True, env=env, cwd=copy)
    assert table10.returncode != 0 and "cub200" in table10.stdout + table10.stderr
    assert "num_classes" in table10.stdout + table10.stderr
