rule check_data:
    """Load a dataset once through its real loader (Table 1 split sizes and class counts are checked)."""
    output:
        f"{DATA_STAMP_PATTERN}.json",
    log:
        f"{DATA_STAMP_PATTERN}.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        cpus_per_task=data_check_cpus,   # the preset's where it has them (config preset_resources)
        **CLUSTER,
    script:
        "../scripts/check_data.py"
