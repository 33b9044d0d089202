"""The check_data rule: `python -m methods check-data` in this job's process."""
import sys

from methods.cli import main

settings = snakemake.config   # runtime settings, not params: changing them must not rerun finished jobs
sys.exit(main(["check-data", snakemake.wildcards.preset, snakemake.wildcards.dataset, snakemake.output[0],
               "--data-root", settings["data_root"], "--cache-dir", settings["cache_dir"], "--cpu-isa", settings["cpu_isa"],
               "--log", snakemake.log[0]]))
