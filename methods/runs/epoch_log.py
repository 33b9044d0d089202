"""The per-epoch CSV: the single source of every number a table shows."""
from __future__ import annotations

import csv
from pathlib import Path

from methods.runs.files import atomic_write


class EpochLog:
    """Rows live in memory and in every checkpoint (Snakemake deletes a failed job's outputs, epochs.csv among
    them, so a resumed run restores its rows from last.pt, a sealed one from restore/); the CSV is rewritten
    atomically each epoch."""

    def __init__(self, path: Path | None, rows: list[dict] | None = None):
        self.path = path   # None: rows in memory only (a process that is not the run's writer)
        self.rows: list[dict] = list(rows or [])
        self._write()

    def append(self, row: dict) -> None:
        self.rows.append(row)
        self._write()

    def _write(self) -> None:
        if self.path is None:
            return
        if not self.rows:
            self.path.unlink(missing_ok=True)
            return
        columns = list(dict.fromkeys(key for row in self.rows for key in row))

        def write(tmp: str) -> None:
            with open(tmp, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=columns)
                writer.writeheader()
                writer.writerows(self.rows)
        atomic_write(self.path, write)
