"""load_splits: the train/val splits of a dataset from its real files, a synthetic stand-in, or sklearn's digits."""
from __future__ import annotations

from pathlib import Path

from methods.data.errors import DatasetError, where_to_get
from methods.plan.facts import DatasetFacts
from methods.data.readers import reader_of
from methods.plan.facts import valid_sources  # noqa: F401  (re-exported)
from methods.data.splits import Split
from methods.data.synthetic import synthetic_splits
from methods.data.progress import map_with_progress
from methods.data.splits import FileSplit


def load_splits(facts: DatasetFacts, source: str, root: str | Path | None, *, synthetic: dict | None = None,
                cache_dir: Path | None = None) -> tuple[Split, Split]:
    """(train, val). "real" reads <root>/<facts.root_dir>; "real" and "digits" are checked against the facts."""
    sources = valid_sources(facts)
    if source not in sources:
        raise DatasetError(f"data source {source!r} is not valid for {facts.name}; valid sources: "
                           f"{', '.join(sources)}")
    if source == "synthetic":
        return synthetic_splits(facts, synthetic)
    if source == "digits":
        from methods.data.digits import digits_splits   # scikit-learn: imported only for the demo
        train, val = digits_splits()
    else:
        train, val = reader_of(facts.reader)(facts, _data_dir(facts, root), cache_dir)
    check_sizes(facts, train, val)
    return train, val


def _data_dir(facts: DatasetFacts, root: str | Path | None) -> Path:
    if root is None:
        raise DatasetError(f"{facts.name}: no data root given; set the `data_root` config key to the folder that "
                           f"holds {facts.root_dir}/. {where_to_get(facts)}")
    return Path(root) / facts.root_dir


def check_sizes(facts: DatasetFacts, train: Split, val: Split) -> None:
    """The class count and split sizes must be those of the facts (paper Table 1)."""
    found = (train.num_classes_present(), val.num_classes_present(), len(train), len(val))
    expected = (facts.num_classes, facts.num_classes, facts.train_size, facts.val_size)
    if found != expected:
        raise DatasetError(
            f"{facts.name}: found {found[0]} classes in train and {found[1]} in val, {found[2]} train and "
            f"{found[3]} val images; expected {expected[0]} classes, {expected[2]} train and {expected[3]} val "
            f"images (paper Table 1). The copy is incomplete or a different release. {where_to_get(facts)}")


def check_decodable(split: Split, what: str) -> None:
    """Decode every image of a file split once (progress shown): a corrupt or truncated file stops the data check
    with a DatasetError naming it, instead of a training job hours later. Tensor splits are decoded already."""
    if isinstance(split, FileSplit):
        map_with_progress(lambda item: split.open_image(item).size, split.items, what)
