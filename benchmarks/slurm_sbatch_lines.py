"""The sbatch line profiles/slurm gives each kind of job of the paper preset, as the SLURM executor plugin builds it,
without a cluster of that size: Snakemake runs with the shipped profile against stand-in SLURM commands (a
`sinfo` describing one partition of 8-GPU nodes, an `sbatch` that records its command line and hands back a job
id, a `squeue` that reports every job FAILED at once, so nothing waits and nothing runs). The data stamps and the
donor's record a job waits for are written as empty files in a scratch directory first, so that each kind of job
is ready to submit. Prints one block per job: the rule, the run (or file) and the recorded sbatch line.

    .venv/bin/python benchmarks/slurm_sbatch_lines.py            # benchmarks/slurm-local.md, section 8
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DONOR = "results/paper/cub200/resnet18/baseline~e60-const/seed0"
# one target per kind of job: a data check, a 1-GPU training job, an 8-process one (ImageNet), an evaluation of
# published weights, a read-off of a donor's snapshot, a complexity count
TARGETS = [
    "results/paper/data/tiny_imagenet.json",
    "results/paper/cub200/resnet18/baseline/seed0/metrics.json",
    "results/paper/imagenet/resnet18/baseline/seed0/metrics.json",
    "results/paper/imagenet/resnet18/pretrained~e0/seed0/metrics.json",
    "results/paper/cub200/resnet18/baseline~e1-const/seed0/metrics.json",
    "results/paper/complexity/baseline-resnet18-small-200c-64px.json",
]
STAMPS = ["cub200", "imagenet"]

SINFO = """#!/bin/sh
# sinfo -h -p <partition> -o "%c|%m|%l|%G" (planning's check) and sinfo -h -o "%P %a %D %t" (the partition's state)
case "$*" in
  *%c*) echo "128|1000000|2-00:00:00|gpu:8" ;;
  *) echo "gpu* up 16 idle" ;;
esac
"""
SBATCH = """#!/bin/sh
n=$(( $(cat "$FAKE_SLURM/next" 2>/dev/null || echo 1000) + 1 )); echo $n > "$FAKE_SLURM/next"
printf '%s\\n' "$n $*" >> "$FAKE_SLURM/sbatch.log"
echo $n
"""
SQUEUE = """#!/bin/sh
# the plugin's status query (squeue --format=%i|%T --states=all --noheader --name <run uuid>): every job FAILED
case "$*" in *--name*) cut -d' ' -f1 "$FAKE_SLURM/sbatch.log" 2>/dev/null | sed 's/$/|FAILED/' ;; esac
"""
SCONTROL = """#!/bin/sh
echo "MinJobAge = 300 sec"
"""


def stand_ins(folder: Path) -> None:
    for name, text in {"sinfo": SINFO, "sbatch": SBATCH, "squeue": SQUEUE, "scontrol": SCONTROL,
                       "sacct": "#!/bin/sh\nexit 0\n", "scancel": "#!/bin/sh\nexit 0\n"}.items():
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)


def ready_inputs(workdir: Path) -> None:
    for name in STAMPS:
        stamp = workdir / "results/paper/data" / f"{name}.json"
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text("{}\n")
    donor = workdir / DONOR / "metrics.json"
    donor.parent.mkdir(parents=True, exist_ok=True)
    donor.write_text("{}\n")


def main() -> int:
    scratch = Path(tempfile.mkdtemp(prefix="sbatch-lines-"))
    bin_dir, workdir = scratch / "bin", scratch / "work"
    bin_dir.mkdir()
    stand_ins(bin_dir)
    ready_inputs(workdir)
    env = {**os.environ, "FAKE_SLURM": str(scratch), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("SLURM_JOB_ID", None)
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
               "--profile", str(REPO / "profiles/slurm"), "--keep-going", "--latency-wait", "0",
               "--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1",
               "--", *TARGETS]
    head = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    log = scratch / "sbatch.log"
    if not log.exists():
        print(head.stdout[-4000:] + head.stderr[-4000:], file=sys.stderr)
        return 1
    for line in log.read_text().splitlines():
        job, call = line.split(" ", 1)
        call = re.sub(r"--wrap=.*$", '--wrap="<snakemake --executor slurm-jobstep ... of this job>"', call)
        call = re.sub(r"--job-name \S+", "--job-name <run uuid>", call.replace(str(workdir), "<workdir>"))
        comment = re.search(r"--comment (\S+)", call)
        print(f"{comment.group(1) if comment else job}:\n  sbatch {call}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
