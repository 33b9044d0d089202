"""What a job would trip on is caught when the DAG is planned (`snakemake -n`), before any job starts, as one line
that names the file, the entry and the fix: a method entry without a class or with an unknown one, a data source a
dataset cannot be read from, a preset naming a table or dataset that does not exist, an option value of the wrong
type."""
import os
import shutil
import subprocess
import sys

import pytest

from methods import PROJECT_ROOT

SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(PROJECT_ROOT / "Snakefile"), "-n", "--cores", "1"]


def plan(tmp_path, edit, target: str) -> subprocess.CompletedProcess:
    """`snakemake -n <target>` with a copy of config/ changed by edit(folder)."""
    folder = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", folder)
    edit(folder)
    work = tmp_path / "work"
    work.mkdir()
    return subprocess.run([*SNAKEMAKE, target], cwd=work, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "FOCUSNET_CONFIG_DIR": str(folder)})


def replace_in(path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def append(path, text: str) -> None:
    path.write_text(path.read_text() + "\n" + text + "\n")


CASES = {
    "a method entry without a class":
        (lambda c: replace_in(c / "methods.yaml", "  class: dropmax.DropMax\n", ""), "tables/smoke/table2.md",
         "methods.yaml: entry 'dropmax' names no class: add class: dropmax.DropMax"),
    "a method entry naming a class that does not exist":
        (lambda c: replace_in(c / "methods.yaml", "class: dropmax.DropMax", "class: dropmax.DropMaxx"),
         "tables/smoke/table2.md",
         "entry 'dropmax': class 'dropmax.DropMaxx' is not a class under methods/zoo/ registered as 'dropmax'; "
         "write class: dropmax.DropMax"),
    "a data source the dataset cannot be read from":
        (lambda c: replace_in(c / "presets.yaml", "data_source: synthetic\n", "data_source: digits\n"),
         "tables/smoke/table2.md", "preset smoke: data source 'digits' cannot give mnist (its sources: real, synthetic)"),
    "a preset naming a table that does not exist":
        (lambda c: replace_in(c / "presets.yaml", "tables: [demo, demo_kd, demo_sd]", "tables: [demo, demo_kd, demo_sdd]"),
         "tables/demo.md", "preset 'demo' names tables ['demo_sdd'] that config/grid.yaml does not define"),
    "a preset overriding a dataset that does not exist":
        (lambda c: replace_in(c / "presets.yaml", "    mnist: {image_size: 28}", "    mnsit: {image_size: 28}"),
         "tables/smoke/table2.md",
         "preset 'smoke': dataset_overrides names datasets ['mnsit'] that config/datasets.yaml does not define"),
    "an option value of the wrong type":
        (lambda c: append(c / "grid.yaml", "t_bad:\n  title: t\n  paper_table: null\n  columns: [{dataset: mnist, "
                                           "arch: lenet5}]\n  rows: [{label: x, run: \"kd-temperature=hot@lenet5.baseline\"}]")
         or replace_in(c / "presets.yaml", "           fig4_mnist, cifar10_jpeg]", "           fig4_mnist, cifar10_jpeg, t_bad]"),
         "tables/smoke/t_bad.md", "option temperature='hot' is not a float"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_planning_names_what_a_job_would_trip_on(tmp_path, case):
    edit, target, message = CASES[case]
    result = plan(tmp_path, edit, target)
    assert result.returncode != 0, result.stdout[-2000:]
    output = result.stdout + result.stderr
    assert message in output, output[-3000:]
    assert "KeyError" not in output and "Job stats" not in output   # no job was planned, let alone started


def test_the_unchanged_config_plans(tmp_path):
    result = plan(tmp_path, lambda folder: None, "tables/smoke/table2.md")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
