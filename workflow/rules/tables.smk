# Every table-like output (a table, a figure, a complexity table, the report, Table 1) is written by
# workflow/scripts/table.py from the records that exist; the kinds differ only in what they read, which files they
# write and which targets they own, so one rule is made per kind from TABLE_KINDS.

FILES = {"md": "tables/{target}.md", "tex": "tables/{target}.tex", "csv": "tables/{target}.csv",
         "png": "tables/{target}.png", "pdf": "tables/{target}.pdf", "curves": "tables/{target}_curves.png"}


def _outputs(files: tuple[str, ...], shown: dict) -> dict:
    """The kind's files; those in `shown` ({file: (category, labels, subcategory)}) go to `snakemake --report`."""
    outputs = {}
    for name in files:
        if name in shown:
            category, labels, subcategory = shown[name]
            outputs[name] = report(FILES[name], category=category, labels=labels,
                                   **({"subcategory": subcategory} if subcategory else {}))
        else:
            outputs[name] = FILES[name]
    return outputs


def _names(targets) -> str:
    """A wildcard constraint matching exactly these targets (tables/<name>.md -> <name>)."""
    return "|".join(str(t).removesuffix(".md").removeprefix("tables/") for t in targets) or "(?!)"


def _plain_tables():
    return [t for t in all_table_targets() if t.removesuffix(".md") not in figure_targets() + complexity_targets()]


CURVES = ("Learning curves", table_label, None)
REPORT = {"md": ("Report", {"file": "claims and agreement (Markdown)"}, None),
          "csv": ("Report", {"file": "claims and agreement (CSV)"}, None),
          "png": ("Report", {"file": "ours against the paper"}, None)}
TABLE_KINDS = {
    # rule: (what it reads, its other inputs, its files, those shown in the report, its targets, log suffix)
    "table": (table_inputs, {}, ("md", "tex", "csv", "curves"),
              {"csv": ("Tables", table_label, None), "curves": CURVES}, _plain_tables, ""),
    "figure": (table_inputs, {}, ("md", "tex", "csv", "png", "pdf", "curves"),
               {"csv": ("Figures", figure_label, "{target}"), "png": ("Figures", figure_label, "{target}"),
                "curves": CURVES}, figure_targets, ".figure"),
    "complexity_table": (table_inputs, {}, ("md", "tex", "csv"), {"csv": ("Tables", table_label, None)},
                         complexity_targets, ""),
    "report": (report_inputs, {"claims": PAPER_CLAIMS}, ("md", "tex", "csv", "png", "pdf"), REPORT, report_targets,
               ""),
    "table1": (table1_inputs, {}, ("md", "tex", "csv"), {"csv": ("Tables", table_label, None)},
               lambda: [table1_target(p) for p in table1_presets()], ""),
}

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
