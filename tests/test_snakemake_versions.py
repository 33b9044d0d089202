"""The rules parse and plan alike under the oldest and the newest Snakemake the suite supports
(methods/plan/snakemake_session.py SUPPORTED), and what they read of the invocation is read in one place."""
import re
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace

import pytest

from methods import PROJECT_ROOT
from methods.plan.snakemake_session import SUPPORTED, Invocation, UnsupportedSnakemake

OLDEST, NEWEST = SUPPORTED


@pytest.fixture(scope="module")
def oldest_snakemake(tmp_path_factory) -> Path:
    """The oldest supported Snakemake (and the dependencies it pins) in a folder put first on PYTHONPATH."""
    target = tmp_path_factory.mktemp(f"snakemake-{OLDEST}")
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                              "--target", str(target), f"snakemake=={OLDEST}"], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-2000:]
    return target


def plan(workdir: Path, *targets: str, pythonpath: Path | None = None) -> list[str]:
    """The dry run's jobs, as sorted 'rule: first output' lines."""
    env = None
    if pythonpath is not None:
        import os
        env = {**os.environ, "PYTHONPATH": f"{pythonpath}{os.pathsep}{PROJECT_ROOT}"}
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(PROJECT_ROOT / "Snakefile"), "-d",
                             str(workdir), "-n", "--cores", "1", *targets], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    jobs = re.findall(r"^(?:local)?rule (\w+):\n(?:.*\n)*?\s+output: ([^,\n]+)", result.stdout, re.M)
    assert jobs, result.stdout[-2000:]
    return sorted(f"{rule}: {output}" for rule, output in jobs)


def test_the_newest_supported_is_the_one_installed():
    assert version("snakemake") == NEWEST, f"pyproject pins snakemake {version('snakemake')}; SUPPORTED ends at {NEWEST}"


def test_the_oldest_and_newest_snakemake_plan_the_same_jobs(tmp_path, oldest_snakemake):
    """The smoke grid's tables and report, and a committed table whose runs are missing (the rebuild the rules ask
    for from an input function): the same jobs under both versions."""
    copy_committed(tmp_path, ["results/paper/data/mnist.json"]
                   + [str(path.relative_to(PROJECT_ROOT)) for name in ("metrics.json", "epochs.csv")
                      for path in (PROJECT_ROOT / "results/paper/mnist").rglob(name)])
    time.sleep(0.05)   # the table newer than the runs it has: up to date, but for the runs it lacks
    copy_committed(tmp_path, ["tables/table10.md", "tables/table10.tex", "tables/table10.csv"])
    targets = ("tables/smoke/report.md", "tables/table10.md")
    newest, oldest = plan(tmp_path, *targets), plan(tmp_path, *targets, pythonpath=oldest_snakemake)
    assert oldest == newest
    assert "table: tables/table10.md" in newest and sum(job.startswith("train:") for job in newest) > 25


def copy_committed(root: Path, paths: list[str]) -> None:
    """Committed files copied under `root`, written in the order given."""
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes((PROJECT_ROOT / path).read_bytes())


def fake_workflow(**overrides):
    settings = SimpleNamespace(forceall=False, forcerun=[], forcetargets=False, targets=["tables/table2.md"])
    fields = dict(is_main_process=True, dryrun=False, local_exec=True, dag_settings=settings,
                  execution_settings=SimpleNamespace(use_threads=False), global_resources={"_cores": 2},
                  register_resource=lambda name, amount: registered.append((name, amount)), dag=None)
    registered: list = []
    fields.update(overrides)
    return SimpleNamespace(**fields), registered


def test_a_snakemake_without_what_the_rules_read_is_one_line_naming_the_supported_versions():
    workflow, _ = fake_workflow()
    del workflow.dag_settings
    with pytest.raises(UnsupportedSnakemake, match=rf"has no workflow.dag_settings.*snakemake>={OLDEST},<={NEWEST}"):
        Invocation(workflow, "8.0.0")


@pytest.mark.parametrize("settings, forced", [
    (dict(), False),
    (dict(forceall=True), True),
    (dict(forcerun=["train"]), True),                                  # -R train: every train job
    (dict(forcerun=["results/x/metrics.json"]), True),                 # -R <its record>
    (dict(forcerun=["results/y/metrics.json"]), False),
    (dict(forcetargets=True, targets=["results/x/metrics.json"]), True),   # -f <its record>
    (dict(forcetargets=True), False),                                  # -f on another target
])
def test_forced_reads_every_way_of_forcing_a_job(settings, forced):
    workflow, _ = fake_workflow()
    vars(workflow.dag_settings).update(settings)
    assert Invocation(workflow).forced({"results/x/metrics.json", "results/x/epochs.csv"}, "train") is forced


def test_a_jobs_own_process_does_not_know_what_was_forced():
    workflow, _ = fake_workflow(dag_settings=None, is_main_process=False)
    assert Invocation(workflow).forced({"results/x/metrics.json"}, "train") is None


def test_a_local_resource_cap_is_set_once_and_never_over_the_users():
    workflow, registered = fake_workflow()
    Invocation(workflow).limit_local_resource("gpu_slot", 8)
    assert registered == [("gpu_slot", 8)]
    workflow, registered = fake_workflow(global_resources={"gpu_slot": 2})
    Invocation(workflow).limit_local_resource("gpu_slot", 8)
    workflow, on_a_cluster = fake_workflow(local_exec=False)
    Invocation(workflow).limit_local_resource("gpu_slot", 8)
    assert registered == [] and on_a_cluster == []


def test_a_dry_run_for_slurm_is_planning_for_a_cluster():
    """Snakemake swaps in its dry-run executor (local) but keeps use_threads from the one asked for."""
    workflow, _ = fake_workflow(execution_settings=SimpleNamespace(use_threads=True))
    assert Invocation(workflow).plans_for_a_cluster
    workflow, _ = fake_workflow()
    assert not Invocation(workflow).plans_for_a_cluster


def test_only_the_session_module_reads_snakemakes_internals():
    """The rules use the public Snakefile API (workflow.basedir) and INVOCATION, nothing else of `workflow`."""
    rules = "\n".join(path.read_text() for path in [PROJECT_ROOT / "Snakefile",
                                                    *sorted((PROJECT_ROOT / "workflow" / "rules").glob("*.smk"))])
    assert set(re.findall(r"\bworkflow\.(\w+)", rules)) == {"basedir"}
