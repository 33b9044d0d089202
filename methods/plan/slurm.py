"""What a SLURM partition can ever give one job, and whether a job's request fits it: checked while planning, so a
job SLURM would hold PENDING forever (Reason=PartitionConfig, ReqNodeNotAvail) is named with the resource and the
setting to change instead of being submitted. Torch-free."""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Limits:
    partition: str
    cpus: int            # the most CPUs of one node that can take a job
    mem_mb: int          # the most memory of one such node
    minutes: float       # the partition's time limit (inf: none)
    gpus: int            # the most GPUs (gres gpu) of one such node
    available: str = "up"          # the partition's state (sinfo %a): up, down, drain, inact
    nodes_down: tuple[str, ...] = ()   # the states of the nodes that cannot take a job (down, drain, fail, ...)
    gpu_types: tuple[str, ...] = ()    # the GPU models its nodes name in their gres (gpu:a100:4 -> a100)


# node states (sinfo %t) in which a node takes no new job
UNUSABLE = ("down", "drain", "drng", "fail", "maint", "inval", "futr", "unk", "powered_down", "pow_dn")


def parse_minutes(text: str) -> float:
    """SLURM's time limit (`infinite`, `D-HH:MM:SS`, `HH:MM:SS`, `MM:SS`, `MM`) in minutes."""
    text = text.strip()
    if text in ("infinite", "UNLIMITED", "n/a", ""):
        return float("inf")
    days, _, clock = text.rpartition("-")
    parts = [int(part) for part in clock.split(":")]
    hours, minutes, seconds = ([0] * (3 - len(parts)) + parts) if len(parts) > 1 else (0, parts[0], 0)
    return (int(days or 0) * 24 + hours) * 60 + minutes + seconds / 60


def parse_sinfo(partition: str, output: str) -> Limits | None:
    """Limits from `sinfo -h -p <partition> -o "%c|%m|%l|%G|%a|%t"` (one line per node group): the sizes of the
    nodes that can take a job, the partition's state and the states of those that cannot; None for no nodes."""
    cpus, mem, gpus, minutes, available, down, seen, types = 0, 0, 0, 0.0, "up", [], False, set()
    for line in filter(None, (line.strip() for line in output.splitlines())):
        cpu_text, mem_text, time_text, gres, avail, state = (line.split("|") + [""] * 6)[:6]
        seen = True
        available = avail.strip() or available
        minutes = max(minutes, parse_minutes(time_text))
        if state.strip().rstrip("*~#!%$@^-").lower().startswith(UNUSABLE):
            down.append(state.strip())
            continue
        cpus = max(cpus, int(re.sub(r"\D.*", "", cpu_text) or 0))
        mem = max(mem, int(re.sub(r"\D.*", "", mem_text) or 0))
        found = re.search(r"gpu(?::[^:,(]+)?:(\d+)", gres)
        gpus = max(gpus, int(found.group(1)) if found else 0)
        types.update(re.findall(r"gpu:([^:,(]+):\d+", gres))
    if not seen:
        return None
    return Limits(partition, cpus, mem, minutes, gpus, available, tuple(down), tuple(sorted(types)))


@lru_cache(maxsize=None)
def partition_limits(partition: str) -> Limits | None:
    """The partition's limits as sinfo reports them; None where no sinfo answers (a laptop planning for a cluster)."""
    if shutil.which("sinfo") is None:
        return None
    try:
        probe = subprocess.run(["sinfo", "-h", "-p", partition, "-o", "%c|%m|%l|%G|%a|%t"], capture_output=True,
                               text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    if probe.returncode != 0:
        return None
    return parse_sinfo(partition, probe.stdout) or Limits(partition, 0, 0, 0.0, 0)


def misfit(job: str, request: dict, limits: Limits, setting: str) -> str | None:
    """None when `request` (cpus, mem_mb, runtime in minutes, gpus) fits one node of the partition, else one line
    naming the job, the resource, what the partition offers and the setting to change."""
    where = f"(sinfo -p {limits.partition})"
    if limits.available != "up":
        return (f"SLURM partition {limits.partition!r} is {limits.available} {where}: every job would sit PENDING "
                "(PartitionDown/PartitionInactive); ask its admins to bring it up, or choose another with --config "
                "slurm_partition=<name>")
    if limits.cpus == 0 and limits.nodes_down:
        return (f"SLURM partition {limits.partition!r} has no node that takes jobs (node states: "
                f"{', '.join(sorted(set(limits.nodes_down)))}) {where}: every job would sit PENDING "
                "(ReqNodeNotAvail); wait for its nodes, or choose another partition with --config slurm_partition=<name>")
    if limits.cpus == 0:
        return (f"SLURM partition {limits.partition!r} has no nodes {where}: set another with "
                "--config slurm_partition=<name>")
    model = request.get("gpu_model")
    if model and request.get("gpus") and model not in limits.gpu_types:
        has = f"GPUs of the types {', '.join(limits.gpu_types)}" if limits.gpu_types else "no typed GPUs (gres gpu:<n>)"
        return (f"{job} asks SLURM for GPU model {model!r} but partition {limits.partition!r} has {has} {where}, so "
                "SLURM would refuse or hold it; set --config slurm_gpu_model=<one of them> (or empty for any GPU), or "
                "choose a partition that has it (--config slurm_partition=<name>)")
    offered = {"cpus": limits.cpus, "mem_mb": limits.mem_mb, "runtime": limits.minutes, "gpus": limits.gpus}
    for resource, wanted in request.items():
        if resource == "gpu_model":
            continue
        if wanted and wanted > offered[resource]:
            change = ("the preset's processes (config/presets.yaml: one GPU per process)" if resource == "gpus"
                      else f"{setting} (config/config.yaml)")
            return (f"{job} asks SLURM for {resource}={wanted} but partition {limits.partition!r} offers at most "
                    f"{offered[resource]:g} per node that takes jobs, so SLURM would hold it PENDING forever; lower "
                    f"{change} or choose a partition that has it (--config slurm_partition=<name>)")
    return None


def pending_jobs(workdir: str) -> list[tuple[str, str, str]]:
    """(job id, its comment: the rule and wildcards, SLURM's reason) of this user's pending jobs submitted from
    `workdir` (squeue %Z), i.e. this workflow's."""
    try:
        listing = subprocess.run(["squeue", "--me", "-h", "-t", "PENDING", "-o", "%i|%k|%r|%Z"], capture_output=True,
                                 text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    jobs = []
    for line in listing.stdout.splitlines():
        fields = line.split("|")
        if len(fields) == 4 and fields[3].rstrip("/") == workdir.rstrip("/"):
            jobs.append((fields[0], fields[1], fields[2]))
    return jobs


def report_pending(workdir: str, every_s: float, say, stop) -> None:
    """Every `every_s` seconds (the first time after that long), one line per pending job of this workflow with
    SLURM's reason, until `stop` (a threading.Event) is set: a job that waits is never waited on in silence."""
    while not stop.wait(every_s):
        for job, comment, reason in pending_jobs(workdir):
            say(f"SLURM job {job} ({comment}) is pending: {reason}" + _WHAT_TO_DO.get(reason, ""))


_WHAT_TO_DO = {
    "PartitionDown": " (the partition is down: ask its admins, or --config slurm_partition=<another>)",
    "PartitionInactive": " (the partition is inactive: --config slurm_partition=<another>)",
    "ReqNodeNotAvail": " (no node that could run it is available: wait, or --config slurm_partition=<another>)",
    "JobHeldUser": " (held: scontrol release <job id>)",
    "JobHeldAdmin": " (held by an admin)",
    "QOSMaxJobsPerUserLimit": " (your QOS allows no more running jobs: they start as others finish)",
    "AssocGrpGRES": " (your account's GPU limit: they start as others finish)",
}
