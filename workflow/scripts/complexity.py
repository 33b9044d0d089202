from pathlib import Path

from methods.cli import complexity

wc = snakemake.wildcards
complexity(wc.method, wc.arch, wc.family, int(wc.classes), int(wc.size), Path(snakemake.output[0]))
