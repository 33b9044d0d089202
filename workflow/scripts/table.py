"""The table and figure rules: methods.cli.table, its output also in the rule's log."""
from methods.cli import table, tee_output

with tee_output(snakemake.log[0]):
    for path in table(snakemake.output.md, snakemake.config.get("seeds")):
        print(path)
