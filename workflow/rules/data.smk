rule fetch_data:
    """Download, verify and lay out a dataset under data_root (python -m methods fetch-data): on the machine that
    runs Snakemake, once per dataset however many jobs need it; a copy already in place is kept as it is."""
    output:
        f"{FETCH_RECORD_PATTERN}.json",
    log:
        f"{FETCH_RECORD_PATTERN}.log",
    localrule: True
    conda:
        CONDA_ENV
    threads: 1
    script:
        "../scripts/fetch_data.py"


rule check_data:
    """Load a dataset once through its real loader (Table 1 split sizes and class counts are checked)."""
    input:
        fetched=fetch_inputs,   # its fetch, for a real dataset not yet checked (common.smk)
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
