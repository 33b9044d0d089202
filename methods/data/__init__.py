"""Datasets: real readers, synthetic and digits sources, and on-device batching (see load_splits, make_batches).

Names are imported on first use (PEP 562). The dataset facts (config/datasets.yaml) are planning data and live in
methods.plan.facts; they are re-exported here for the readers' convenience."""
from importlib import import_module

_HOMES = {
    "BatchStream": "batches", "make_batches": "batches", "plan_batches": "batches",
    "DatasetError": "errors",
    "DatasetFacts": "methods.plan.facts", "dataset_names": "methods.plan.facts", "get_facts": "methods.plan.facts",
    "check_sizes": "loading", "load_splits": "loading", "valid_sources": "loading",
    "FileSplit": "splits", "TensorSplit": "splits", "describe_split": "splits",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'methods.data' has no attribute {name!r}")
    home = _HOMES[name]
    return getattr(import_module(home if home.startswith("methods.") else f"methods.data.{home}"), name)
