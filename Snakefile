# FocusNet benchmark suite: every table cell of the paper as one training job.
#   snakemake --profile profiles/local tables/demo.md          (real digits data, a few CPU minutes)
#   snakemake --profile profiles/local tables/table2.md        (the paper protocol; needs the datasets)
#   snakemake --profile profiles/slurm tables/table2.md        (the same DAG on a SLURM cluster)
# The target path alone selects the preset: tables/<table>.md is the paper protocol, tables/smoke/<table>.md
# the synthetic smoke preset, tables/demo.md the digits demo. See README.md.

import os

from snakemake.utils import min_version, validate

min_version("9.11.0")   # the oldest the rules are tested with (methods/plan/snakemake_session.py SUPPORTED)

configfile: os.path.join(workflow.basedir, "config/config.yaml")
validate(config, "workflow/schemas/config.schema.yaml")

include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/tables.smk"

onstart:
    watch_the_cluster()   # on SLURM: pending jobs reported with their reason; SIGTERM cancels the jobs (common.smk)
