"""Datasets: real readers, synthetic and digits sources, and on-device batching (see load_splits, make_batches).

Names are imported on first use (PEP 562), so reading dataset facts (the grid, run specs, DAG planning) does not
import torch."""
from importlib import import_module

_HOMES = {
    "BatchStream": "batches", "make_batches": "batches", "plan_batches": "batches",
    "DatasetError": "errors",
    "DatasetFacts": "facts", "dataset_names": "facts", "get_facts": "facts",
    "check_sizes": "loading", "load_splits": "loading", "valid_sources": "loading",
    "FileSplit": "splits", "TensorSplit": "splits", "describe_split": "splits",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'methods.data' has no attribute {name!r}")
    return getattr(import_module(f"methods.data.{_HOMES[name]}"), name)
