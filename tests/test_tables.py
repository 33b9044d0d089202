"""Table aggregation: only metrics files and the paper's numbers; missing, stale and pending cells shown as such."""
import csv
import json
from pathlib import Path

import pytest

from methods.plan.grid import build_table, required_runs
from methods.plan.protocol import protocol_hash, resolve
from methods.report.tables import collect, paper_values, render_markdown, write_table


def fake_metrics(root: Path, run, top1: float, top5: float = 99.0, digest: str | None = None,
                 train_top1: float = 90.0, metrics_top1: float | None = None) -> None:
    """A finished run as the engine leaves it (the fields tables read): epochs.csv with the best epoch (top1) then
    a final one (top1 - 1), and metrics.json summarising it (best top-1 `metrics_top1` if given, else top1)."""
    directory = root / run.directory
    directory.mkdir(parents=True, exist_ok=True)
    protocol = resolve(run).record
    rows = [{"epoch": 1, "train_top1": train_top1, "val_top1": top1, "val_top5": top5},
            {"epoch": 2, "train_top1": train_top1, "val_top1": top1 - 1, "val_top5": top5}]
    with (directory / "epochs.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    best = metrics_top1 if metrics_top1 is not None else top1
    (directory / "metrics.json").write_text(json.dumps({
        "protocol_hash": digest or protocol_hash(protocol), "protocol": protocol,
        "best": {"epoch": 1, "top1": best, "top5": top5}, "final": {"epoch": 2, "top1": top1 - 1, "top5": top5}}))


def row_cells(markdown: str, label: str) -> list[str]:
    """The cells after the label of one row of a Markdown table."""
    line = next(line for line in markdown.splitlines() if line.startswith(f"| {label} "))
    return [cell.strip() for cell in line.strip().strip("|").split("|")][1:]


def test_paper_numbers_come_from_the_copied_csv():
    paper = paper_values()
    assert paper[("table2", "FocusNet", "CUB-200", "top1")] == 63.43
    assert paper[("table1", "ImageNet Dogs", "# Training", "count")] == 147873
    assert len(paper) == 191 + 9 * 3   # Tables 2-10 and Fig. 4, and Table 1's nine datasets


def test_mean_std_over_seeds_and_paper_difference(tmp_path):
    table = build_table("paper", "table10")
    baseline_cub = next(c for c in table.cells if c.row.startswith("Baseline") and c.column == "CUB-200")
    fake_metrics(tmp_path, baseline_cub.runs[0], 51.29)
    values = {(v.cell.row, v.cell.column): v for v in collect(table, tmp_path)}
    cell = values[("Baseline (cross-entropy)", "CUB-200")]
    assert cell.mean == pytest.approx(51.29) and cell.diff == pytest.approx(1.0)
    text = render_markdown(table, list(values.values()))
    # the suite's MNIST column has no paper number: its cell is ours alone
    assert row_cells(text, "Baseline (cross-entropy)") == ["51.29 / 50.29 (+1.00)", "missing / 63.32 (—)", "missing"]
    assert "missing (24)" in text   # 9 on CUB-200 and Stanford Dogs, 15 on MNIST (5 rows x 3 seeds)


def test_demo_seeds_are_averaged(tmp_path):
    table = build_table("demo", "demo")
    runs = [c for c in table.cells if c.row == "Baseline"][0].runs
    for run, top1 in zip(runs, (97.0, 98.0, 99.0)):
        fake_metrics(tmp_path, run, top1)
    value = [v for v in collect(table, tmp_path) if v.cell.row == "Baseline"][0]
    assert (value.mean, value.std) == (pytest.approx(98.0), pytest.approx(1.0))
    assert "98.00 ± 1.00 (n=3)" in render_markdown(table, collect(table, tmp_path))


def test_final_epoch_when_the_preset_reports_final(tmp_path, monkeypatch):
    from methods.plan import config
    table = build_table("demo", "demo")
    run = [c for c in table.cells if c.row == "Baseline"][0].runs[0]
    fake_metrics(tmp_path, run, 97.0)
    preset = {**config.preset("demo"), "report": "final"}
    monkeypatch.setattr(config, "preset", lambda name: preset)
    value = [v for v in collect(table, tmp_path) if v.cell.row == "Baseline"][0]
    assert value.values == [96.0]


def test_stale_protocol_is_not_shown(tmp_path):
    table = build_table("paper", "table10")
    cell = table.cells[0]
    fake_metrics(tmp_path, cell.runs[0], 60.0, digest="0123456789abcdef")
    values = collect(table, tmp_path)
    assert values[0].values == [] and values[0].stale == [str(cell.runs[0].directory)]
    assert "stale" in render_markdown(table, values) and "--forcerun" in render_markdown(table, values)


def test_written_files_agree(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    table = build_table("paper", "table10")
    for run in required_runs(table):
        fake_metrics(tmp_path, run, 60.0)
    paths = write_table("paper", "table10", tmp_path)
    assert [p.suffix for p in paths] == [".md", ".tex", ".csv"]
    rows = list(csv.DictReader(paths[2].open()))
    assert len(rows) == 15 and all(r["status"] == "ok" and r["ours_mean"] == "60.0000" for r in rows)
    assert all(r["ours_final_mean"] == "59.0000" for r in rows)   # fake runs end 1 point under their best
    latex = paths[1].read_text()
    assert r"\begin{tabular}{lccc}" in latex and "60.00 / 63.43 (-3.43)" in latex


def committed_tables():
    from methods import PROJECT_ROOT
    from methods.plan import config
    from methods.plan.grid import table_names
    from methods.plan.layout import table_target
    for preset in config.presets():
        for name in table_names(preset):
            path = PROJECT_ROOT / table_target(preset, name).with_suffix(".md")
            if path.exists() and "smoke" not in path.parts:
                yield pytest.param(preset, name, path, id=f"{preset}-{name}")


@pytest.mark.parametrize("preset,name,path", list(committed_tables()))
def test_committed_tables_match_committed_metrics(preset, name, path):
    """Every committed table is what the committed metrics files (and nothing else) give, byte for byte."""
    from methods import PROJECT_ROOT
    table = build_table(preset, name)
    assert render_markdown(table, collect(table, PROJECT_ROOT)) == path.read_text()


def test_collapsed_seeds_are_flagged_and_never_averaged(tmp_path):
    table = build_table("demo", "demo")
    runs = [c for c in table.cells if c.row == "Baseline"][0].runs
    fake_metrics(tmp_path, runs[0], 97.0)
    fake_metrics(tmp_path, runs[1], 99.0)
    fake_metrics(tmp_path, runs[2], 11.0, train_top1=10.1)   # training top-1 at chance (K = 10): collapsed
    value = [v for v in collect(table, tmp_path) if v.cell.row == "Baseline"][0]
    assert value.values == [97.0, 99.0] and value.collapsed == [11.0]
    text = render_markdown(table, collect(table, tmp_path))
    assert "98.00 ± 1.41 (n=2) + 1/3 collapsed" in text and "collapsed (1 runs)" in text


def test_a_cell_whose_every_seed_collapsed_reads_collapsed_without_a_difference(tmp_path):
    table = build_table("paper", "table10")
    cell = table.cells[0]
    fake_metrics(tmp_path, cell.runs[0], 0.6, train_top1=0.5)   # CUB-200: chance is 0.5 %
    text = render_markdown(table, collect(table, tmp_path))
    assert row_cells(text, "Baseline (cross-entropy)")[0] == "collapsed (1/1 seeds end at chance; their best: 0.60) / 50.29"


def test_metrics_that_disagree_with_the_epochs_csv_are_flagged_and_the_csv_wins(tmp_path):
    table = build_table("paper", "table10")
    cell = table.cells[0]
    fake_metrics(tmp_path, cell.runs[0], 60.0, metrics_top1=70.0)
    values = collect(table, tmp_path)
    assert values[0].values == [60.0] and values[0].inconsistent == [str(cell.runs[0].directory)]
    assert "inconsistent (1)" in render_markdown(table, values)


def test_a_broken_metrics_file_names_itself_and_the_fix(tmp_path):
    from methods.runs.artifacts import ArtifactError
    table = build_table("paper", "table10")
    path = tmp_path / table.cells[0].runs[0].directory / "metrics.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"protocol_hash": "01')
    with pytest.raises(ArtifactError, match=f"{path} is unreadable.*--forcerun"):
        collect(table, tmp_path)


def test_an_unknown_table_target_is_one_line(tmp_path):
    import os
    import subprocess
    import sys
    from methods import PROJECT_ROOT
    for command in (["table", "tables/paper/table2.md"], ["runs", "tables/nope.md"]):
        result = subprocess.run([sys.executable, "-m", "methods", *command], capture_output=True, text=True,
                                cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: no table target"), lines


def test_missing_runs_are_listed_under_their_dataset_and_arch_directory_named_once():
    from methods.report.tables import grouped_by_cell_directory
    paths = ["results/paper/mnist/lenet5/dropmax/seed1", "results/paper/mnist/lenet5/dropmax/seed2",
             "results/paper/cub200/resnet18/baseline/seed0", "/tmp/x/results/paper/complexity/table4.json"]
    assert grouped_by_cell_directory(paths) == (
        "results/paper/mnist/lenet5/: dropmax/seed1, dropmax/seed2; results/paper/cub200/resnet18/: baseline/seed0; "
        "/tmp/x/results/paper/complexity/table4.json")


def test_resumed_and_transient_runs_are_listed_in_the_notes(tmp_path):
    table = build_table("paper", "table10")
    cell = next(c for c in table.cells if c.column.startswith("MNIST") and c.row.startswith("Baseline"))
    fake_metrics(tmp_path, cell.runs[0], 99.0)
    fake_metrics(tmp_path, cell.runs[1], 99.0)
    directory = tmp_path / cell.runs[0].directory
    (directory / "attempts.log").write_text("[x] starting epoch 1/200\n[x] resuming at epoch 9\n")
    with (directory / "epochs.csv").open("a", newline="") as handle:   # epoch 3 at chance (K = 10), not the last
        csv.writer(handle).writerow([3, 90.0, 11.35, 50.0])
        csv.writer(handle).writerow([4, 90.0, 98.0, 99.0])
    metrics = json.loads((tmp_path / cell.runs[1].directory / "metrics.json").read_text())
    metrics["resumes"] = [{"epoch": 3, "step": 40, "provenance": {}}]
    (tmp_path / cell.runs[1].directory / "metrics.json").write_text(json.dumps(metrics))
    text = render_markdown(table, collect(table, tmp_path))
    assert "resumed (2)" in text and "baseline/seed0 at epoch 9" in text and "baseline/seed1 at epoch 3 (step 41)" in text
    assert "transient (1)" in text and "baseline/seed0 at epoch 3" in text


def test_a_record_with_its_epochs_csv_deleted_or_edited_is_named_never_a_traceback(tmp_path):
    from methods.engine.trainer import Runtime, train_run
    table = build_table("smoke", "table10")
    runs = [run for run in required_runs(table) if run.dataset == "mnist" and run.seed in (0, 1)
            and str(run.run) == "baseline"]
    for run in runs:
        train_run(resolve(run), Runtime(num_workers=0, threads=1), root=tmp_path)
    (tmp_path / runs[0].directory / "epochs.csv").unlink()
    edited = tmp_path / runs[1].directory / "epochs.csv"
    edited.write_text(edited.read_text().replace(",", ",", 1) + "\n")   # a byte more than it sealed
    text = render_markdown(table, collect(table, tmp_path))
    assert "damaged (2)" in text
    assert f"{runs[0].directory}: epochs.csv is missing" in text
    assert f"{runs[1].directory}: epochs.csv differ from the copy sealed when it finished" in text
    assert "snakemake <run dir>/epochs.csv" in text


def test_a_run_is_called_recovered_only_when_its_validation_came_back_above_chance():
    from methods.runs.artifacts import ended_at_chance_on_validation, transient
    trained = {"train_top1": 90.0}
    recovered = [{"epoch": 1, **trained, "val_top1": 11.35}, {"epoch": 2, **trained, "val_top1": 95.0}]
    assert transient(recovered, 10) == [1] and not ended_at_chance_on_validation(recovered, 10)
    stuck = [{"epoch": 1, **trained, "val_top1": 95.0}, {"epoch": 2, **trained, "val_top1": 11.35}]
    assert transient(stuck, 10) == [] and ended_at_chance_on_validation(stuck, 10)
    collapsed_run = [{"epoch": 1, "train_top1": 10.0, "val_top1": 11.35}]
    assert transient(collapsed_run, 10) == [] and not ended_at_chance_on_validation(collapsed_run, 10)
