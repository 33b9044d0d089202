import os
import shutil
import subprocess

from methods import config as suite_config
from methods.grid import (build_table, complexity_path, donor_for, preset_of_target, required_runs,
                          snapshot_epochs_for, table_names, table_target)
from methods.spec import RunSpec

wildcard_constraints:
    preset="[a-z0-9_]+",
    method="[a-z0-9_]+",
    dataset="[a-z0-9_]+",
    arch="[a-z0-9_]+",
    run="[^/]+",
    seed=r"\d+",


def visible_gpus() -> int:
    """GPUs this machine shows (CUDA_VISIBLE_DEVICES if set), without importing torch."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
        return len([d for d in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if d.strip()])
    if shutil.which("nvidia-smi") is None:
        return 0
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return listing.stdout.count("GPU ") if listing.returncode == 0 else 0


GPUS = visible_gpus()
# Locally, Snakemake would start as many GPU jobs as cores allow; cap them at the GPUs present unless the user
# gave --resources gpu=N. On SLURM each job asks the scheduler for its own GPU instead.
if workflow.local_exec and GPUS and "gpu" not in workflow.global_resources:
    workflow.register_resource("gpu", GPUS)


def all_table_targets():
    return [str(table_target(p, n)) + ".md" for p in suite_config.presets() for n in table_names(p)]


def figure_targets():
    return [str(table_target(p, n)) for p in suite_config.presets() for n in table_names(p)
            if build_table(p, n).kind == "figure"]


def run_directory(wc) -> str:
    return f"results/{wc.preset}/{wc.dataset}/{wc.arch}/{wc.run}/seed{wc.seed}"


def spec_of(wc) -> RunSpec:
    return RunSpec.from_parts(wc.preset, wc.dataset, wc.arch, wc.run, wc.seed)


def job_resources(dataset: str) -> dict:
    table = config["job_resources"]
    return table.get(dataset, table["default"])
