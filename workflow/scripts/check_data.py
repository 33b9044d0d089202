"""The check_data rule: `python -m methods check-data`, in this process or forked from a warm one (see train.py)."""
import sys

from methods.forkserver import command

settings = snakemake.config   # runtime settings, not params: changing them must not rerun finished jobs
argv = ["check-data", snakemake.wildcards.preset, snakemake.wildcards.dataset, snakemake.output[0],
        "--data-root", settings["data_root"], "--cache-dir", settings["cache_dir"], "--log", snakemake.log[0]]
sys.exit(command(argv, forked=settings["forkserver"]))
