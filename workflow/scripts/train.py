"""The train rule: `python -m methods train <run dir>` with the runtime settings of the config, in this process or
forked from a warm one (config forkserver; methods/forkserver.py). Only the standard library is imported here
before that choice, so a forked job pays no interpreter start-up."""
import sys

from methods.forkserver import command

settings = snakemake.config   # runtime settings, not params: changing them must not rerun finished jobs
argv = ["train", snakemake.params.run_dir, "--data-root", settings["data_root"], "--cache-dir", settings["cache_dir"],
        "--num-workers", str(settings["num_workers"]), "--threads", str(snakemake.threads),
        "--slots-per-gpu", str(settings["gpu_slots"]), "--log", snakemake.log[0]]
if snakemake.resources.get("gpu_slot"):
    argv += ["--gpu-slots", str(snakemake.resources["gpu_slot"])]
sys.exit(command(argv, forked=settings["forkserver"]))
