"""The check_data rule: a dataset loaded once through its real loader, its stamp written."""
import sys

from methods.jobs import check_data_rule

sys.exit(check_data_rule(snakemake.wildcards, snakemake.output, snakemake.config, snakemake.log))
