"""The fetch_data rule: a dataset downloaded, verified and laid out under data_root, its fetch record written."""
import sys

from methods.jobs import fetch_data_rule

sys.exit(fetch_data_rule(snakemake.wildcards, snakemake.output, snakemake.config, snakemake.log))
