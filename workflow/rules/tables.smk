rule figure:
    """A figure (grid kind 'figure'): tables/<...>.png and .pdf, with its data in the table's .md/.tex/.csv."""
    input:
        table_inputs,
        paper=os.path.join(workflow.basedir, "tables/paper_results.csv"),
    output:
        md="tables/{target}.md",
        tex="tables/{target}.tex",
        csv="tables/{target}.csv",
        png="tables/{target}.png",
        pdf="tables/{target}.pdf",
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
    """A table from metrics files and the paper's numbers: tables/<...>.md, .tex and .csv."""
    input:
        table_inputs,
        paper=os.path.join(workflow.basedir, "tables/paper_results.csv"),
    output:
        md="tables/{target}.md",
        tex="tables/{target}.tex",
        csv="tables/{target}.csv",
    log:
        ".snakemake/logs/tables/{target}.log",
    conda:
        CONDA_ENV
    wildcard_constraints:
        target="|".join(t.removesuffix(".md").removeprefix("tables/") for t in all_table_targets()
                        if t.removesuffix(".md") not in figure_targets()),
    threads: 1
    localrule: True
    script:
        "../scripts/table.py"


rule all_tables:
    """Every table of every preset (the paper preset needs all datasets)."""
    input:
        all_table_targets(),
        [t + ".png" for t in figure_targets()],
    localrule: True
