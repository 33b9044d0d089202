"""The complexity rule: a method's parameters and FLOPs."""
import sys

from methods.jobs import complexity_rule

sys.exit(complexity_rule(snakemake.wildcards, snakemake.output, snakemake.log))
