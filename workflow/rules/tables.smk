# Every table-like output (a table, a figure, a complexity table, the report, Table 1) is written by
# workflow/scripts/table.py from the records that exist; the kinds differ only in what they read, which files they
# write and which targets they own, so one rule is made per kind from TABLE_KINDS.

for kind, (reads, extra_inputs, files, shown, targets, log_suffix) in TABLE_KINDS.items():
    rule:
        name: kind
        input:
            reads,
            paper=PAPER_RESULTS,
            **extra_inputs,
        output:
            **_outputs(files, shown),
        log:
            f".snakemake/logs/tables/{{target}}{log_suffix}.log",
        conda:
            CONDA_ENV
        wildcard_constraints:
            target=_names(targets()),
        threads: 1
        localrule: True
        script:
            "../scripts/table.py"


rule all_tables:
    """Every table and report of every preset (the paper preset needs all datasets)."""
    input:
        all_table_targets(),
        [t + ".png" for t in figure_targets()],
        report_targets(),
        [str(table1_target(p)) + ".md" for p in table1_presets()],
    localrule: True
