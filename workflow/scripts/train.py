"""The train rule: `python -m methods train <run dir>` in this job's process, with the config's runtime settings
(read here, not passed as params: changing where the data lie, workers or threads reruns nothing)."""
import sys

from methods.cli import main

settings = snakemake.config
argv = ["train", snakemake.params.run_dir, "--data-root", settings["data_root"], "--cache-dir", settings["cache_dir"],
        "--num-workers", str(settings["num_workers"]), "--threads", str(snakemake.threads),
        "--slots-per-gpu", str(settings["gpu_slots"]), "--cpu-isa", settings["cpu_isa"], "--log", snakemake.log[0]]
if snakemake.resources.get("gpu_slot"):
    argv += ["--gpu-slots", str(snakemake.resources["gpu_slot"])]
sys.exit(main(argv))
