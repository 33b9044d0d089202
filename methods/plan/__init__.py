"""What to run, torch-free: the config, run names and specs, the path layout, method declarations, protocols, the grid of tables, and what a SLURM partition can hold."""
