"""The training engine: one run spec in, metrics.json / epochs.csv / model.pt out, resumable from last.pt."""
