"""A plain `scancel` of profiles/slurm/one-run.sbatch (the smoke Imagewoof cell: 2 srun tasks, BatchNorm, 2 loader
workers each) held at epoch 1, step 1, N times: did every rank checkpoint, is anything left, what did srun say?
Needs a SLURM (tests/slurm/start_local_slurm.sh). benchmarks/slurm-local.md, section 9:

    .venv/bin/python benchmarks/slurm_scancel_trials.py /tmp/scancel-trials 3
"""
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from helpers import BN_RUN, bn_config, processes_in  # noqa: E402  (the tests' own run and config)


def trial(work: Path, env: dict) -> None:
    work.mkdir()
    job = subprocess.run(["sbatch", "--parsable", "--ntasks=2", "--gpus=2", "--cpus-per-task=1", "--mem=3000",
                          "--time=15", str(REPO / "profiles/slurm/one-run.sbatch"), str(BN_RUN.directory)],
                         cwd=work, env=env, capture_output=True, text=True, check=True).stdout.strip()
    attempts = work / BN_RUN.directory / "attempts.log"
    while not (attempts.exists() and "fault: paused" in attempts.read_text()):
        time.sleep(0.5)
    subprocess.run(["scancel", job], check=True)
    while subprocess.run(["squeue", "-h", "-j", job], capture_output=True, text=True).stdout.strip():
        time.sleep(0.5)
    time.sleep(2)
    output = (work / f"slurm-focusnet-run-{job}.log").read_text()
    print(f"{work.name} job {job}: checkpoint at step 1: {'checkpoint written at epoch 1, step 1' in output}; "
          f"last.pt: {(work / BN_RUN.directory / 'last.pt').exists()}; processes left: {len(processes_in(work))}")
    print("   " + "\n   ".join(line for line in output.splitlines()
                               if "srun" in line or "preempted" in line or "error" in line.lower()))


def main(root: Path, trials: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    config = bn_config(root)
    settings = config / "config.yaml"
    settings.write_text(settings.read_text().replace("\nnum_workers: 8 ", "\nnum_workers: 2 ", 1))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FOCUSNET_CONFIG_DIR": str(config), "PYTHONPATH": str(REPO),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "FOCUSNET_FAULT": "pause@step-1-1"}
    for number in range(trials):
        trial(root / f"trial{number}", env)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
