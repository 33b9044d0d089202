rule figure:
    """A figure (grid kind 'figure'): tables/<...>.png and .pdf, with its data in the table's .md/.tex/.csv."""
    input:
        table_inputs,
        paper=PAPER_RESULTS,
    output:
        md="tables/{target}.md",
        tex="tables/{target}.tex",
        csv=report("tables/{target}.csv", category="Figures", subcategory="{target}", labels=figure_label),
        png=report("tables/{target}.png", category="Figures", subcategory="{target}", labels=figure_label),
        pdf="tables/{target}.pdf",
        curves=report("tables/{target}_curves.png", category="Learning curves", labels=table_label),
    log:
        ".snakemake/logs/tables/{target}.figure.log",
    conda:
        CONDA_ENV
    wildcard_constraints:
        target="|".join(t.removeprefix("tables/") for t in figure_targets()),
    threads: 1
    localrule: True
    script:
        "../scripts/table.py"


rule table:
    """A table from metrics files and the paper's numbers: tables/<...>.md, .tex and .csv, and its learning curves
    (<table>_curves.png, from the runs' epochs.csv)."""
    input:
        table_inputs,
        paper=PAPER_RESULTS,
    output:
        md="tables/{target}.md",
        tex="tables/{target}.tex",
        csv=report("tables/{target}.csv", category="Tables", labels=table_label),
        curves=report("tables/{target}_curves.png", category="Learning curves", labels=table_label),
    log:
        ".snakemake/logs/tables/{target}.log",
    conda:
        CONDA_ENV
    wildcard_constraints:
        target="|".join(t.removesuffix(".md").removeprefix("tables/") for t in all_table_targets()
                        if t.removesuffix(".md") not in figure_targets() + complexity_targets()),
    threads: 1
    localrule: True
    script:
        "../scripts/table.py"


rule complexity_table:
    """A complexity table (parameters and FLOPs, no training curves): tables/<...>.md, .tex and .csv."""
    input:
        table_inputs,
        paper=PAPER_RESULTS,
    output:
        md="tables/{target}.md",
        tex="tables/{target}.tex",
        csv=report("tables/{target}.csv", category="Tables", labels=table_label),
    log:
        ".snakemake/logs/tables/{target}.log",
    conda:
        CONDA_ENV
    wildcard_constraints:
        target="|".join(t.removeprefix("tables/") for t in complexity_targets()),
    threads: 1
    localrule: True
    script:
        "../scripts/table.py"


rule report:
    """The comparison with the paper over every table of a preset (methods/report/comparison.py): its target is the whole
    grid of the preset. tables/report.{md,tex,csv,png,pdf} (paper), tables/smoke/report.*, tables/demo_report.*"""
    input:
        report_inputs,
        claims=PAPER_CLAIMS,
        paper=PAPER_RESULTS,
    output:
        md=report("tables/{target}.md", category="Report", labels={"file": "claims and agreement (Markdown)"}),
        tex="tables/{target}.tex",
        csv=report("tables/{target}.csv", category="Report", labels={"file": "claims and agreement (CSV)"}),
        png=report("tables/{target}.png", category="Report", labels={"file": "ours against the paper"}),
        pdf="tables/{target}.pdf",
    log:
        ".snakemake/logs/tables/{target}.log",
    conda:
        CONDA_ENV
    wildcard_constraints:
        target="|".join(t.removesuffix(".md").removeprefix("tables/") for t in report_targets()),
    threads: 1
    localrule: True
    script:
        "../scripts/table.py"


rule table1:
    """Table 1 from the data checks of the datasets present (methods/report/table1.py): it never asks for a dataset that is
    not on disk; a new data check changes its inputs, which reruns it."""
    input:
        table1_inputs,
        paper=PAPER_RESULTS,
    output:
        md="tables/{target}.md",
        tex="tables/{target}.tex",
        csv=report("tables/{target}.csv", category="Tables", labels=table_label),
    log:
        ".snakemake/logs/tables/{target}.log",
    conda:
        CONDA_ENV
    wildcard_constraints:
        target="|".join(str(table1_target(p)).removeprefix("tables/") for p in table1_presets()),
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
