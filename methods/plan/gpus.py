"""How many GPUs this machine shows, and whether local GPU sharing applies, without importing torch (the
Snakefile asks this when it plans)."""
from __future__ import annotations

import os
import shutil
import subprocess


def inside_slurm_job() -> bool:
    """A SLURM job has its GPU to itself (the scheduler placed it): no local sharing, no host-wide slot locks."""
    return os.environ.get("SLURM_JOB_ID") is not None


def visible_gpus() -> int:
    """GPUs this machine shows to local jobs (CUDA_VISIBLE_DEVICES if set, else nvidia-smi); 0 inside a SLURM job."""
    if inside_slurm_job():
        return 0
    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
        return len([d for d in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if d.strip()])
    if shutil.which("nvidia-smi") is None:
        return 0
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return listing.stdout.count("GPU ") if listing.returncode == 0 else 0
