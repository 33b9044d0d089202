rule train:
    """One run spec -> metrics.json and epochs.csv (its record); resumes from last.pt after an interruption. Its
    weights (model.pt) are a product, not a declared output: published runs commit no weights, so a committed run is
    up to date without them, and a job that needs a reference's weights rebuilds them by a verified retraining
    (methods/engine/verify.py)."""
    # ancient(): that the data were checked, and that a reference (or donor) finished, is what a run needs; their
    # files' times are not (a fresh clone gives committed files the order of checkout), so a newer stamp or
    # reference never retrains a finished run (a changed protocol shows as `stale` instead)
    input:
        data=ancient(f"{DATA_STAMP_PATTERN}.json"),
        reference=reference_inputs,
        donor=donor_inputs,
    output:
        metrics=f"{RUN_DIR_PATTERN}/metrics.json",
        epochs=f"{RUN_DIR_PATTERN}/epochs.csv",
    # What is stale is decided by the protocol hash, not by Snakemake params: the trainer refuses a checkpoint
    # of another protocol and a table shows a finished run of another protocol as `stale`
    # (docs/reading-tables-and-report.md). Runtime settings (data_root, workers, threads) are read from the config
    # by the script, so changing them reruns nothing.
    params:
        retrain=retrain_requested,   # leaves <run dir>/.retrain for a forced job (common.smk)
        plan=run_plan,   # the run's donor and snapshot epochs, worked out here so the job never rebuilds the grid
    log:
        f"{RUN_DIR_PATTERN}/train.log",
    conda:
        CONDA_ENV
    threads: train_threads   # train_threads per process (common.smk)
    resources:
        gpu=train_gpus,   # on a cluster: one GPU per process (common.smk)
        gpu_model=train_gpu_model,   # config slurm_gpu_model, checked against the partition's GPU types at -n
        gpu_slot=gpu_slots_of,   # locally: a share of one GPU, or whole GPUs for several processes (common.smk)
        runtime=lambda wc: job_resources(wc)["runtime"],   # job_resources.light for a job that trains nothing
        mem_mb=lambda wc: job_resources(wc)["mem_mb"],
        cpus_per_task=train_cpus,   # per task; checked against the SLURM partition while planning (common.smk)
        tasks=distributed_resource("tasks"),   # several processes: one task each, srun starts them (common.smk)
        tasks_per_gpu=distributed_resource("tasks_per_gpu"),
        nodes=distributed_resource("nodes"),
        mpi=distributed_resource("mpi"),
        **CLUSTER,
    script:
        "../scripts/train.py"


rule complexity:
    """Parameters and FLOPs (2 x multiply-adds) of what the paper counts for a method (Tables 4 and 6)."""
    output:
        f"{COMPLEXITY_PATTERN}.json",
    log:
        f"{COMPLEXITY_PATTERN}.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **CLUSTER,
    script:
        "../scripts/complexity.py"
