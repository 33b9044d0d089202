rule check_data:
    """Load a dataset once through its real loader (Table 1 split sizes and class counts are checked)."""
    output:
        "results/{preset}/data/{dataset}.json",
    log:
        "results/{preset}/data/{dataset}.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        cpus_per_task=config["check_data_cpus"],
        **CLUSTER,
    script:
        "../scripts/check_data.py"
