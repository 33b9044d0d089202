from methods.cli import spec_from_dir, tee_output, train

with tee_output(snakemake.log[0]):
    train(spec_from_dir(snakemake.params.run_dir), snakemake.params.data_root, snakemake.params.cache_dir,
          snakemake.params.num_workers, snakemake.threads, snakemake.params.donor, snakemake.params.snapshot_epochs)
