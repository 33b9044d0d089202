from methods.cli import table

table(snakemake.output.md, snakemake.config.get("seeds"))
