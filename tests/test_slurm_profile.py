"""profiles/slurm: the dry-run DAG asks SLURM for one GPU per training job with the per-dataset runtime and
memory of config/config.yaml; and (slow, only where a SLURM answers) smoke training jobs really run through it (one
requeued mid-epoch, a 2-task one) and through the hand-written sbatch (stopped three ways), ending identical to
runs never interrupted.

A local single-node SLURM for the slow test: sudo tests/slurm/start_local_slurm.sh (.ci/run starts one; see
benchmarks/slurm-local.md). Where none answers the test skips, saying why.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from helpers import (BN_RUN, bn_config, config_with, processes_in, run_outcome, same, train_in_subprocess,
                     train_launched)
from methods.plan.grid import build_table, required_runs
from methods.plan.spec import RunSpec

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm"


def snakemake(*args, workdir: Path, timeout: float, on_cluster: bool = False) -> subprocess.CompletedProcess:
    """This python's Snakemake, run from the repository root, writing only under workdir (-d). Unless on_cluster,
    it plans as from a machine outside any cluster (no sinfo answers: the partition's sizes are not checked), so
    the paper-sized requests it prints do not depend on the test node this may run beside."""
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
               "--profile", str(PROFILE), *args]
    env = os.environ if on_cluster else {**os.environ, "PATH": f"{no_cluster_bin()}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)


@lru_cache(maxsize=None)
def no_cluster_bin() -> str:
    """A folder whose `sinfo` fails at once, as on a machine outside any cluster (a misconfigured real one retries
    for a minute), and whose `squeue` and `sacct` answer nothing: the SLURM executor plugin looks for one of them
    when it reads its settings, also in a dry run, so a dry run needs no SLURM client on the machine."""
    folder = Path(tempfile.mkdtemp(prefix="no-cluster-"))
    (folder / "sinfo").write_text("#!/bin/sh\necho 'sinfo: no cluster here' >&2\nexit 1\n")
    for tool in ("squeue", "sacct"):
        (folder / tool).write_text("#!/bin/sh\nexit 0\n")
    for tool in ("sinfo", "squeue", "sacct"):
        (folder / tool).chmod(0o755)
    return str(folder)


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
        assert resources["gpu"] == "1" and "tasks" not in resources and "mpi" not in resources, job
        assert int(resources["runtime"]) == wanted["runtime"], job
        assert int(resources["mem_mb"]) == wanted["mem_mb"], job
        assert resources["slurm_partition"] == "gpu", job
        assert int(resources["cpus_per_task"]) == wanted["cpus"], job
        assert "--signal=USR1@300 --requeue" in resources["slurm_extra"], job
    assert seen == expected_runs
    assert not any(tmp_path.glob("results/**/metrics.json")), "a dry run must not train"


def test_an_imagenet_run_asks_for_one_node_of_eight_gpus_one_task_each(tmp_path):
    """presets.yaml gives the paper's ImageNet cells 8 processes on one node: each run is one job of 8 tasks, one
    GPU per task, started by srun inside (the mpi resource); the CPUs are per task, the memory per node."""
    result = snakemake("-n", "tables/table3.md", workdir=tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    jobs = job_blocks(result.stdout + result.stderr, "train")
    assert len(jobs) == 6 and all(job["wildcards"]["dataset"] == "imagenet" for job in jobs)
    trained = [job for job in jobs if not job["wildcards"]["run"].startswith("pretrained")]
    assert len(trained) == 4   # the Baseline and FocusNet (from the evaluated weights) of ResNet-18 and -34
    for job in trained:
        resources = job["resources"]
        assert (resources["gpu"], resources["tasks"], resources["tasks_per_gpu"], resources["nodes"],
                resources["mpi"]) == ("8", "8", "1", "1", "srun"), job
        assert (resources["cpus_per_task"], resources["mem_mb"]) == ("12", "256000"), job
    light = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["job_resources"]["light"]
    for evaluated in [job["resources"] for job in jobs if job not in trained]:   # torchvision's weights, evaluated
        assert evaluated["gpu"] == "1" and "tasks" not in evaluated and "mpi" not in evaluated, evaluated
        assert (int(evaluated["runtime"]), int(evaluated["mem_mb"]), int(evaluated["cpus_per_task"])) == (
            light["runtime"], light["mem_mb"], light["cpus"])


def test_a_read_off_run_asks_for_the_light_resources(tmp_path):
    """Fig. 4's early-stopped baselines are read off one longer run's snapshots: their jobs copy a file."""
    result = snakemake("-n", "tables/fig4.png", workdir=tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    light = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["job_resources"]["light"]
    jobs = job_blocks(result.stdout + result.stderr, "train")
    from methods.plan.grid import donor_for
    from methods.plan.spec import RunSpec
    def spec(job):
        w = job["wildcards"]
        return RunSpec.from_parts(w["preset"], w["dataset"], w["arch"], w["run"], int(w["seed"]))
    read_off = [job for job in jobs if donor_for(spec(job)) is not None]
    assert len(read_off) >= 5, [job["wildcards"]["run"] for job in jobs]
    for job in jobs:
        runtime = int(job["resources"]["runtime"])
        assert (runtime == light["runtime"]) == (job in read_off), job


def test_partition_and_account_are_one_setting_that_keeps_the_other_resources(tmp_path):
    result = snakemake("-n", "tables/table10.md", "--config", "slurm_partition=a100", "slurm_account=proj",
                       workdir=tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    jobs = job_blocks(result.stdout + result.stderr, "train")
    assert jobs and all(j["resources"]["slurm_partition"] == "a100" and j["resources"]["slurm_account"] == "proj"
                        and j["resources"]["gpu"] == "1" and int(j["resources"]["mem_mb"]) >= 4000 for j in jobs)
    assert not any(tmp_path.glob("results/**/metrics.json")), "a dry run must not train"


def slurm_is_up() -> str | None:
    """None when sinfo answers, else why not."""
    missing = [tool for tool in ("sinfo", "squeue", "sacct", "sbatch", "srun") if shutil.which(tool) is None]
    if missing:
        return (f"no {', '.join(missing)} on PATH (no SLURM client); set one up with: sudo "
                "tests/slurm/start_local_slurm.sh")
    try:
        probe = subprocess.run(["sinfo", "-h", "-o", "%P %t"], capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return "sinfo timed out: no slurmctld answering"
    if probe.returncode != 0 or not probe.stdout.strip():
        return f"sinfo fails ({(probe.stderr or probe.stdout).strip()[:200]}): no SLURM controller answering"
    return None


# A smoke MNIST run trained as a SLURM job, held at epoch 1, step 1 (FOCUSNET_FAULT=pause@step-1-1) so that it can
# be requeued mid-run, at a known step. DropMax draws its masks from the global RNG every step: a resume that
# restored it wrongly would change its weights. (A plain scancel and a resubmission: the hand-written sbatch's test.)
REQUEUED = RunSpec.from_parts("smoke", "mnist", "lenet5", "dropmax", 0)
TWO_TASK = RunSpec.from_parts("smoke", "mnist", "lenet5", "baseline", 0)   # the 2-task job's run


def slurm_head(workdir: Path, fault: str | None) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("FOCUSNET_FAULT", None)
    if fault:
        env["FOCUSNET_FAULT"] = fault   # sbatch --export=ALL hands it to the jobs
    targets = [f"{REQUEUED.directory}/metrics.json"]
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
               "--profile", str(PROFILE),   # the shipped profile and config, unchanged
               # poll a one-node test cluster sooner than a real one needs (the plugin's defaults: 40 s, then 10 s)
               "--slurm-init-seconds-before-status-checks", "5", "--seconds-between-status-checks", "3",
               "--", *targets]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(condition, timeout: float, what: str, head: subprocess.Popen):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = condition()
        if found:
            return found
        if head.poll() is not None:
            raise AssertionError(f"the Snakemake head ended ({head.returncode}) before {what}:\n"
                                 + head.stdout.read()[-6000:])
        time.sleep(1)
    head.kill()
    raise AssertionError(f"timed out waiting for {what}:\n" + head.communicate()[0][-6000:])


def job_of(run: RunSpec) -> str | None:
    """The SLURM job id of a run's training job (the plugin puts the wildcards in the job's comment)."""
    listing = subprocess.run(["squeue", "-h", "-o", "%i|%k"], capture_output=True, text=True, timeout=30).stdout
    wanted = f"rule_train_wildcards_smoke_mnist_lenet5_{run.run}_{run.seed}"
    return next((line.split("|")[0] for line in listing.splitlines() if line.split("|")[1] == wanted), None)


@pytest.mark.slow
def test_a_training_job_through_real_slurm_survives_a_requeue(tmp_path):
    """A training job of the smoke DAG goes to a real SLURM with one GPU, its time and memory; requeued mid-epoch
    (SIGTERM: it writes a checkpoint at its step), it resumes by itself and ends identical to a run never
    interrupted."""
    reason = slurm_is_up()
    if reason:
        pytest.skip(reason)
    reference = tmp_path / "uninterrupted"
    reference.mkdir()
    assert train_in_subprocess(reference, REQUEUED).returncode == 0
    workdir = tmp_path / "cluster"
    attempts = workdir / REQUEUED.directory / "attempts.log"

    head = slurm_head(workdir, fault="pause@step-1-1")
    wait_for(lambda: attempts.exists() and "fault: paused at step-1-1" in attempts.read_text(),
             600, "the training job to reach epoch 1, step 1", head)
    job = job_of(REQUEUED)
    assert job
    shown = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True).stdout
    assert re.search(r"TresPerJob=gres[:/]gpu:1", shown), shown            # sbatch --gpus=1
    assert "TimeLimit=00:15:00" in shown, shown                            # preset_resources: smoke
    assert re.search(r"MinMemoryNode=3000M", shown) and "NumCPUs=1" in shown, shown   # preset_resources: smoke
    subprocess.run(["scontrol", "requeue", job], check=True, timeout=30)
    # SLURM holds a requeued job back (its BeginTime two minutes on); the test node need not wait for that
    wait_for(lambda: re.search(r"JobState=PENDING", subprocess.run(["scontrol", "show", "job", job],
                                                                   capture_output=True, text=True).stdout),
             120, "the requeued job to be pending again", head)
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True, timeout=30)
    output = head.communicate(timeout=900)[0]
    assert head.returncode == 0, output[-6000:]
    log = attempts.read_text()
    assert "preempted:" in log and "resuming at epoch 1, step 2" in log, log
    assert same(run_outcome(workdir, REQUEUED), run_outcome(reference, REQUEUED))


@pytest.mark.slow
def test_a_run_of_two_processes_is_one_slurm_job_of_two_tasks_started_by_srun(tmp_path):
    """A smoke cell configured for two processes goes through the shipped profile as one job: --ntasks=2, one GPU
    per task; inside, srun starts the two processes (gloo on this CPU node), and rank 0 writes the run."""
    reason = slurm_is_up()
    if reason:
        pytest.skip(reason)
    workdir = tmp_path / "cluster"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FOCUSNET_CONFIG_DIR": str(config_with(tmp_path))}
    env.pop("FOCUSNET_FAULT", None)
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
               "--profile", str(PROFILE), "--verbose",
               "--slurm-init-seconds-before-status-checks", "5", "--seconds-between-status-checks", "3",
               "--", f"{TWO_TASK.directory}/metrics.json"]
    head = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    output = head.stdout + head.stderr
    assert head.returncode == 0, output[-6000:]
    sbatch = next(line for line in output.splitlines() if "sbatch" in line and "rule_train" in line)
    for flag in ("--ntasks=2", "--gpus=2", "--ntasks-per-gpu=1", "--nodes=1", "--cpus-per-task=1"):
        assert flag in sbatch, sbatch
    log = (workdir / TWO_TASK.directory / "attempts.log").read_text()
    assert "launching 2 processes (srun)" in log and "x 2 processes" in log, log
    assert (workdir / TWO_TASK.directory / "metrics.json").exists()


ONE_RUN_SBATCH = PROFILE / "one-run.sbatch"   # the hand-written sbatch of docs/running.md


def sbatch_one_run(workdir: Path, config: Path, fault: str | None = None) -> str:
    """profiles/slurm/one-run.sbatch of BN_RUN (two processes, BatchNorm, two loader workers each), submitted from
    `workdir` as a user would, its sizes overridden on the sbatch line for the test node; the job's id."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FOCUSNET_CONFIG_DIR": str(config), "PYTHONPATH": str(REPO),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}   # the README's environment
    env.pop("FOCUSNET_FAULT", None)
    if fault:
        env["FOCUSNET_FAULT"] = fault
    submitted = subprocess.run(["sbatch", "--parsable", "--ntasks=2", "--gpus=2", "--cpus-per-task=1", "--mem=3000",
                                "--time=15", str(ONE_RUN_SBATCH), str(BN_RUN.directory)],
                               cwd=workdir, env=env, capture_output=True, text=True, timeout=60)
    assert submitted.returncode == 0, submitted.stderr
    return submitted.stdout.strip().split(";")[0]


def job_state(job: str) -> dict[str, str]:
    """JobState, ExitCode and the other fields `scontrol show job` gives (finished jobs stay for MinJobAge)."""
    shown = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True, timeout=30).stdout
    return dict(re.findall(r"(\w+)=(\S*)", shown))


def wait_for_job(job: str, timeout: float, until=lambda state: state.get("JobState") not in (
        "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED"), what: str = "to end") -> dict[str, str]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = job_state(job)
        if until(state):
            return state
        time.sleep(1)
    subprocess.run(["scancel", job], timeout=30)
    raise AssertionError(f"SLURM job {job} did not {what} within {timeout} s: {job_state(job)}")


@pytest.mark.slow
def test_the_hand_written_sbatch_runs_bn_and_workers_through_every_stop_and_ends_identical(tmp_path):
    """profiles/slurm/one-run.sbatch (docs/running.md) trains a run of two processes, each reading files with two
    DataLoader workers into a BatchNorm network. It is stopped mid-epoch three ways: SIGTERM to one rank; SIGTERM
    to the launcher alone (the batch step, `scancel --batch`); a plain `scancel` (SIGTERM to every process of the
    job, the workers included). Each time every process checkpoints at one step, the job exits 143 (or is
    cancelled), nothing of it is left running, and the same sbatch line resumes it; it ends identical to the same
    run trained by two processes uninterrupted (torchrun)."""
    reason = slurm_is_up()
    if reason:
        pytest.skip(reason)
    config = bn_config(tmp_path)
    (config / "config.yaml").write_text((config / "config.yaml").read_text().replace(
        "\nnum_workers: 8 ", "\nnum_workers: 2 ", 1))
    whole = train_launched(tmp_path / "whole", config, run=BN_RUN, workers=2)
    assert whole.returncode == 0, whole.stdout[-3000:] + whole.stderr[-3000:]
    workdir = tmp_path / "cluster"
    workdir.mkdir()
    attempts = workdir / BN_RUN.directory / "attempts.log"

    def paused_at(point: str):
        return lambda state: attempts.exists() and f"fault: paused at {point}" in attempts.read_text()

    job = sbatch_one_run(workdir, config, fault="rank1:sigterm@step-1-1")
    assert wait_for_job(job, 300)["ExitCode"] == "143:0", job_state(job)
    job = sbatch_one_run(workdir, config, fault="pause@step-1-3")
    wait_for_job(job, 300, until=paused_at("step-1-3"), what="pause at epoch 1, step 3")
    subprocess.run(["scancel", "--batch", "--signal=TERM", job], check=True, timeout=30)
    assert wait_for_job(job, 300)["ExitCode"] == "143:0", job_state(job)
    job = sbatch_one_run(workdir, config, fault="pause@step-1-5")
    wait_for_job(job, 300, until=paused_at("step-1-5"), what="pause at epoch 1, step 5")
    subprocess.run(["scancel", job], check=True, timeout=30)
    assert wait_for_job(job, 300)["JobState"] == "CANCELLED", job_state(job)
    time.sleep(2)   # slurmd reaps the step's processes just after the job is marked cancelled
    assert processes_in(workdir) == [], processes_in(workdir)
    assert not (workdir / BN_RUN.directory / "metrics.json").exists()

    job = sbatch_one_run(workdir, config)
    assert wait_for_job(job, 300)["ExitCode"] == "0:0", job_state(job)
    log = attempts.read_text()
    for step in (2, 4, 6):
        assert f"resuming at epoch 1, step {step}" in log, log
    assert "launching 2 processes (srun)" in log and "launcher stopped by SIGTERM" in "".join(
        p.read_text() for p in workdir.glob("slurm-*.log")), log
    assert processes_in(workdir) == []
    assert same(run_outcome(workdir, BN_RUN), run_outcome(tmp_path / "whole", BN_RUN))


def test_a_job_no_node_of_the_partition_can_hold_is_refused_while_planning():
    """SLURM holds such a job PENDING forever (Reason=PartitionConfig) and Snakemake waits silently: the plan names
    the job, the resource and the setting instead."""
    from methods.plan.slurm import misfit, parse_minutes, parse_sinfo
    limits = parse_sinfo("gpu", "2|19000|infinite|gpu:2\n")
    assert (limits.cpus, limits.mem_mb, limits.minutes, limits.gpus) == (2, 19000, float("inf"), 2)
    assert misfit("train x", {"cpus": 1, "mem_mb": 3000, "runtime": 15, "gpus": 1}, limits, "preset_resources.smoke") is None
    problem = misfit("train results/paper/cub200/resnet18/baseline/seed0",
                     {"cpus": 8, "mem_mb": 24000, "runtime": 480, "gpus": 1}, limits, "job_resources.cub200")
    assert problem.startswith("train results/paper/cub200/resnet18/baseline/seed0 asks SLURM for cpus=8")
    assert "offers at most 2" in problem and "job_resources.cub200" in problem and "slurm_partition" in problem
    short = parse_sinfo("debug", "4|8000|30:00|(null)\n")
    assert short.minutes == 30 and short.gpus == 0
    assert "runtime=480" in misfit("train y", {"runtime": 480}, short, "job_resources.default")
    assert "gpus=1" in misfit("train y", {"gpus": 1}, short, "job_resources.default")
    assert [parse_minutes(t) for t in ("1-02:03:00", "02:00:00", "45:00", "90")] == [1563, 120, 45, 90]


def test_a_job_uses_no_more_threads_than_slurm_gave_it(monkeypatch):
    from methods.jobs import within_allocation
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    assert within_allocation(2) == 1 and within_allocation(None) == 1
    monkeypatch.delenv("SLURM_CPUS_PER_TASK")
    assert within_allocation(2) == 2


def test_smoke_and_demo_jobs_ask_for_what_they_need(tmp_path):
    result = snakemake("-n", "tables/smoke/table10.md", workdir=tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    jobs = job_blocks(result.stdout + result.stderr, "train") + job_blocks(result.stdout + result.stderr, "check_data")
    assert jobs and all(j["resources"]["cpus_per_task"] == "1" and int(j["resources"]["mem_mb"]) <= 4000
                        for j in jobs)


def test_on_a_small_cluster_paper_sized_jobs_are_refused_while_planning(tmp_path):
    """The test node has 2 CPUs: Table 2's data checks ask for 4, its CUB-200 jobs for 8. The dry run names the
    job, the resource and the setting; the smoke preset, sized for what it needs, plans."""
    why = slurm_is_up()
    if why:
        pytest.skip(why)
    refused = snakemake("-n", "tables/table2.md", workdir=tmp_path, timeout=120, on_cluster=True)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "asks SLURM for cpus=" in output, output[-3000:]
    assert "lower check_data_cpus" in output or "lower job_resources." in output, output[-3000:]
    smoke = snakemake("-n", "tables/smoke/table10.md", workdir=tmp_path, timeout=120, on_cluster=True)
    assert smoke.returncode == 0, smoke.stdout[-3000:] + smoke.stderr[-3000:]


def test_a_partition_that_is_down_or_has_no_node_taking_jobs_is_refused_while_planning():
    """With the partition DOWN a job sat PENDING (PartitionDown) and nothing was printed; with every node down or
    drained (ReqNodeNotAvail) the same. A missing GPU named the CPU/memory setting; it names the processes now."""
    from methods.plan.slurm import misfit, parse_sinfo
    request = {"cpus": 1, "mem_mb": 3000, "runtime": 15, "gpus": 1}
    down = parse_sinfo("gpu", "2|19000|infinite|gpu:2|down|idle\n")
    assert misfit("train x", request, down, "preset_resources.smoke").startswith(
        "SLURM partition 'gpu' is down (sinfo -p gpu): every job would sit PENDING")
    drained = parse_sinfo("gpu", "2|19000|infinite|gpu:2|up|drain\n2|19000|infinite|gpu:2|up|down*\n")
    problem = misfit("train x", request, drained, "preset_resources.smoke")
    assert "has no node that takes jobs (node states: down*, drain)" in problem and "ReqNodeNotAvail" in problem
    mixed = parse_sinfo("gpu", "8|64000|infinite|gpu:8|up|down\n2|19000|infinite|gpu:2|up|idle\n")
    assert (mixed.cpus, mixed.gpus) == (2, 2)            # the down node's size is no offer
    gpus = misfit("train y", {"gpus": 8}, mixed, "job_resources.imagenet")
    assert "gpus=8" in gpus and "the preset's processes (config/presets.yaml" in gpus
    assert "job_resources.imagenet" not in gpus


def test_a_down_partition_on_the_real_slurm_stops_planning_with_one_line(tmp_path):
    why = slurm_is_up()
    if why:
        pytest.skip(why)
    partition = subprocess.run(["sinfo", "-h", "-o", "%R"], capture_output=True, text=True).stdout.split()[0]
    assert subprocess.run(["scontrol", "update", f"PartitionName={partition}", "State=DOWN"]).returncode == 0
    try:
        result = snakemake("-n", "tables/smoke/table10.md", "--config", f"slurm_partition={partition}",
                           workdir=tmp_path, timeout=120, on_cluster=True)
    finally:
        subprocess.run(["scontrol", "update", f"PartitionName={partition}", "State=UP"])
    output = result.stdout + result.stderr
    assert result.returncode != 0 and f"SLURM partition '{partition}' is down" in output, output[-3000:]


def test_a_gpu_model_the_partition_lacks_is_refused_while_planning():
    from methods.plan.slurm import misfit, parse_sinfo
    typed = parse_sinfo("gpu", "32|256000|2-00:00:00|gpu:a100:4(S:0-1)|up|idle\n"
                               "16|128000|2-00:00:00|gpu:v100:2|up|mix\n")
    assert typed.gpu_types == ("a100", "v100")
    job = {"cpus": 4, "mem_mb": 8000, "runtime": 60, "gpus": 1}
    assert misfit("train x", {**job, "gpu_model": "a100"}, typed, "job_resources.default") is None
    assert misfit("train x", {**job, "gpu_model": "h100"}, typed, "job_resources.default") == (
        "train x asks SLURM for GPU model 'h100' but partition 'gpu' has GPUs of the types a100, v100 (sinfo -p gpu), "
        "so SLURM would refuse or hold it; set --config slurm_gpu_model=<one of them> (or empty for any GPU), or "
        "choose a partition that has it (--config slurm_partition=<name>)")
    untyped = parse_sinfo("gpu", "2|19000|infinite|gpu:2|up|idle\n")
    assert "has no typed GPUs (gres gpu:<n>)" in misfit("train x", {**job, "gpu_model": "h100"}, untyped, "s")


def test_a_gpu_model_the_real_slurm_lacks_stops_planning_with_one_line(tmp_path):
    """The CI's single-node SLURM has untyped fake GPUs (gres gpu:2): asking for an H100 fails the dry run."""
    why = slurm_is_up()
    if why:
        pytest.skip(why)
    partition = subprocess.run(["sinfo", "-h", "-o", "%R"], capture_output=True, text=True).stdout.split()[0]
    result = snakemake("-n", "tables/smoke/table2.md", "--config", f"slurm_partition={partition}",
                       "slurm_gpu_model=h100", workdir=tmp_path, timeout=180, on_cluster=True)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "asks SLURM for GPU model 'h100'" in output, output[-3000:]


HELD = RunSpec.from_parts("smoke", "mnist", "lenet5", "baseline", 1)   # a run no other test submits


@pytest.mark.slow
def test_a_pending_job_is_reported_with_its_reason_and_sigterm_to_the_head_cancels_it(tmp_path):
    """A training job SLURM holds (here: not to begin for an hour, reason BeginTime) is reported by the head with
    SLURM's reason within the report interval (config pending_report_s; 2 s here), never waited on in silence;
    SIGTERM to the head then cancels the job (as Ctrl-C does) and the head exits."""
    reason = slurm_is_up()
    if reason:
        pytest.skip(reason)
    workdir = tmp_path / "cluster"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FOCUSNET_PENDING_REPORT_S": "2"}
    env.pop("FOCUSNET_FAULT", None)
    head = subprocess.Popen([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
                             "--profile", str(PROFILE), "--set-resources", "train:slurm_extra='--begin=now+3600'",
                             "--slurm-init-seconds-before-status-checks", "5", "--seconds-between-status-checks", "3",
                             "--", f"{HELD.directory}/metrics.json"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(head.stdout), daemon=True)
    reader.start()
    try:
        job = wait_for(lambda: job_of(HELD), 300, "the training job to be submitted", head)
        wait_for(lambda: any(f"SLURM job {job} " in line and "is pending: BeginTime" in line for line in lines),
                 120, "the pending job to be reported with its reason", head)
        head.send_signal(signal.SIGTERM)
        head.wait(timeout=120)
        reader.join(timeout=10)
        output = "".join(lines)
        assert "cancelling this workflow's SLURM jobs" in output, output[-4000:]
        deadline = time.time() + 60
        while job_of(HELD) is not None and time.time() < deadline:
            time.sleep(1)
        assert job_of(HELD) is None, "the head's SIGTERM left its job in the queue"
    finally:   # never leave a held job behind for the next test
        left = job_of(HELD)
        if left:
            subprocess.run(["scancel", left], timeout=30)
        if head.poll() is None:
            head.kill()
