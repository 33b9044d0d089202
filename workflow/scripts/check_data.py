"""The check_data rule: `python -m methods check-data`, in this process or forked from a warm one (see train.py)."""
import sys
from pathlib import Path

settings = snakemake.config   # runtime settings, not params: changing them must not rerun finished jobs
argv = ["check-data", snakemake.wildcards.preset, snakemake.wildcards.dataset, snakemake.output[0],
        "--data-root", settings["data_root"], "--cache-dir", settings["cache_dir"], "--log", snakemake.log[0]]

if settings["forkserver"]:
    from methods.forkserver import SOCKET, run
    sys.exit(run(Path(SOCKET), argv))
from methods.cli import main
sys.exit(main(argv))
