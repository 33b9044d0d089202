"""The train rule: one run trained (or read off a longer run) in this job's process."""
import sys

from methods.jobs import train_rule

sys.exit(train_rule(snakemake.wildcards, snakemake.config, snakemake.threads, snakemake.resources, snakemake.log,
                    snakemake.params))
