"""Datasets: real readers, synthetic and digits sources, and on-device batching (see load_splits, make_batches)."""
from methods.data.batches import BatchStream, make_batches, plan_batches
from methods.data.errors import DatasetError
from methods.data.facts import DatasetFacts, dataset_names, get_facts
from methods.data.loading import check_sizes, load_splits, valid_sources
from methods.data.splits import FileSplit, TensorSplit, describe_split

__all__ = ["BatchStream", "DatasetError", "DatasetFacts", "FileSplit", "TensorSplit", "check_sizes",
           "dataset_names", "describe_split", "get_facts", "load_splits", "make_batches", "plan_batches",
           "valid_sources"]
