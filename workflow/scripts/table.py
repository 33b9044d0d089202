"""The table, figure, Table 1 and report rules: written from the records that exist."""
import sys

from methods.jobs import table_rule

sys.exit(table_rule(snakemake.output, snakemake.config, snakemake.log))
