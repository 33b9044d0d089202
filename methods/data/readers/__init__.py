"""One reader per on-disk format, chosen by a dataset's `reader:` in config/datasets.yaml (never by its name):
reader(facts, data_dir, cache_dir) -> (train, val), labels 0..K-1. A new dataset in one of these formats needs
only a YAML entry. Each format says which `storage:` it gives; the module of a reader is imported on first use,
so checking an entry against this table needs no torch."""
from __future__ import annotations

from importlib import import_module
from typing import Callable

from methods.plan.formats import FORMATS, Format  # noqa: F401  (re-exported: the table lives with planning)


def reader_of(format_name: str) -> Callable:
    """The reader function of a format (its module imported on first use)."""
    entry = FORMATS[format_name]
    return getattr(import_module(f"methods.data.readers.{entry.module}"), entry.function)
