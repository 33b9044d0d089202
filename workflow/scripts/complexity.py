"""The complexity rule: methods.cli.complexity, its output also in the rule's log."""
from pathlib import Path

from methods.cli import complexity, tee_output

wc = snakemake.wildcards
with tee_output(snakemake.log[0]):
    print(complexity(wc.method, wc.arch, wc.family, int(wc.classes), int(wc.size), Path(snakemake.output[0])))
