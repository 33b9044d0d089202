from pathlib import Path

from methods.cli import check_data, tee_output

with tee_output(snakemake.log[0]):
    check_data(snakemake.wildcards.preset, snakemake.wildcards.dataset, snakemake.params.data_root,
               snakemake.params.cache_dir, Path(snakemake.output[0]))
