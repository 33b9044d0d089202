"""profiles/slurm: the dry-run DAG asks SLURM for one GPU per training job with the per-dataset runtime and
memory of config/config.yaml; and (slow, only where a SLURM answers) the smoke table4 really runs through it.

A local single-node SLURM for the slow test: sudo tests/slurm/start_local_slurm.sh (see benchmarks/slurm-local.md).
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from methods.grid import build_table, required_runs

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm"


def snakemake(*args, workdir: Path, timeout: float) -> subprocess.CompletedProcess:
    """This python's Snakemake, run from the repository root, writing only under workdir (-d)."""
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
               "--profile", str(PROFILE), *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def job_blocks(output: str, rule: str) -> list[dict[str, str]]:
    """The wildcards and resources of every job of one rule in Snakemake's dry-run printout."""
    blocks = re.split(r"\n(?=(?:local)?rule \w+:)", output)
    jobs = []
    for block in blocks:
        if not re.match(rf"(?:local)?rule {rule}:", block.lstrip()):
            continue
        fields = {}
        for key in ("wildcards", "resources"):
            line = re.search(rf"^\s+{key}: (.*)$", block, re.MULTILINE)
            assert line, f"no {key} line in the dry-run block:\n{block}"
            fields[key] = dict(item.split("=", 1) for item in line.group(1).split(", "))
        jobs.append(fields)
    return jobs


def test_slurm_profile_dry_run_requests_one_gpu_and_config_resources(tmp_path):
    result = snakemake("-n", "tables/table2.md", workdir=tmp_path, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Using profile" in output and "slurm" in output

    job_resources = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["job_resources"]
    expected_runs = {str(run.directory) for run in required_runs(build_table("paper", "table2"))}
    jobs = job_blocks(output, "train")
    assert len(jobs) == len(expected_runs)  # every run of Table 2 is one SLURM training job
    stats = re.search(r"^train\s+(\d+)$", output, re.MULTILINE)
    assert stats and int(stats.group(1)) == len(jobs)

    seen = set()
    for job in jobs:
        wildcards, resources = job["wildcards"], job["resources"]
        seen.add(f"results/{wildcards['preset']}/{wildcards['dataset']}/{wildcards['arch']}/{wildcards['run']}"
                 f"/seed{wildcards['seed']}")
        wanted = job_resources.get(wildcards["dataset"], job_resources["default"])
        assert resources["gpu"] == "1", job
        assert int(resources["runtime"]) == wanted["runtime"], job
        assert int(resources["mem_mb"]) == wanted["mem_mb"], job
        assert resources["slurm_partition"] == "gpu", job
        assert int(resources["cpus_per_task"]) == wanted["cpus"], job
        assert "--signal=USR1@300 --requeue" in resources["slurm_extra"], job
    assert seen == expected_runs
    assert not any(tmp_path.glob("results/**/metrics.json")), "a dry run must not train"


def test_partition_and_account_are_one_setting_that_keeps_the_other_resources(tmp_path):
    result = snakemake("-n", "tables/table10.md", "--config", "slurm_partition=a100", "slurm_account=proj",
                       workdir=tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    jobs = job_blocks(result.stdout + result.stderr, "train")
    assert jobs and all(j["resources"]["slurm_partition"] == "a100" and j["resources"]["slurm_account"] == "proj"
                        and j["resources"]["gpu"] == "1" and int(j["resources"]["mem_mb"]) > 4000 for j in jobs)
    assert not any(tmp_path.glob("results/**/metrics.json")), "a dry run must not train"


def slurm_is_up() -> str | None:
    """None when sinfo answers, else why not."""
    if shutil.which("sinfo") is None:
        return "no sinfo on PATH (no SLURM client); set one up with: sudo tests/slurm/start_local_slurm.sh"
    try:
        probe = subprocess.run(["sinfo", "-h", "-o", "%P %t"], capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return "sinfo timed out: no slurmctld answering"
    if probe.returncode != 0 or not probe.stdout.strip():
        return f"sinfo fails ({(probe.stderr or probe.stdout).strip()[:200]}): no SLURM controller answering"
    return None


@pytest.mark.slow
def test_smoke_table4_runs_through_real_slurm(tmp_path):
    reason = slurm_is_up()
    if reason:
        pytest.skip(reason)
    # The complexity jobs ask for 1 CPU and 4000 MB (the profile's defaults): they fit any SLURM node.
    # No account is given: without one the plugin tries to guess it and else submits without -A (as here, where
    # there is no accounting); a cluster that needs one gets slurm_account in profiles/slurm/config.yaml.
    result = snakemake("--config", "train_threads=1", "--", "tables/smoke/table4.md", workdir=tmp_path, timeout=1800)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert re.search(r"submitted with SLURM jobid \d+", output), output[-6000:]
    table = tmp_path / "tables" / "smoke" / "table4.md"
    assert table.is_file(), output[-6000:]
    assert table.read_text().startswith("# table4")
    assert list(tmp_path.glob("results/smoke/complexity/*.json")), "no complexity job ran"
