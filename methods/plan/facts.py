"""Dataset facts (class counts, split sizes, image geometry, recipe defaults) read from config/datasets.yaml."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import methods
from methods.plan.config import SCHEMA_DIR, ConfigError, read_yaml, validate
from methods.plan.formats import FORMATS



@dataclass(frozen=True)
class DatasetFacts:
    name: str
    paper_name: str | None
    num_classes: int
    train_size: int
    val_size: int
    image_size: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    storage: str            # "tensor" | "files"
    augment: str            # "none" | "crop_flip" | "imagenet"
    epochs: int
    milestones: tuple[int, ...]
    batch_size: int
    arch_family: str        # "small" (3x3 stride-1 stems) | "standard"
    root_dir: str | None
    layout: str
    get_it: str
    reader: str | None = None   # the on-disk format (methods/plan/formats.py FORMATS); None: no real files (digits)

    def replace(self, **changes) -> "DatasetFacts":
        return dataclasses.replace(self, **changes)


@lru_cache(maxsize=None)
def _read(path: str) -> dict:
    return read_yaml(Path(path))


def datasets_path() -> Path:
    return methods.CONFIG_DIR / "datasets.yaml"


def dataset_names(path: Path | None = None) -> list[str]:
    return list(_read(str(path or datasets_path())))


def get_facts(name: str, path: Path | None = None) -> DatasetFacts:
    """One entry of config/datasets.yaml, checked on its own (a broken entry never breaks another dataset)."""
    return _facts(name, str(path or datasets_path()))


@lru_cache(maxsize=None)
def _facts(name: str, path: str) -> DatasetFacts:
    table = _read(path)
    if name not in table:
        raise KeyError(f"unknown dataset {name!r}; known datasets ({path}): {', '.join(table)}")
    entry = _checked(path, name, table[name])
    entry.pop("published_md5", None)   # not a fact a run depends on (published_checksums): never in a protocol
    entry.pop("fetch", None)           # where the files come from (fetch_entry): never in a protocol either
    for key in ("mean", "std", "milestones"):
        entry[key] = tuple(entry[key])
    return DatasetFacts(name=name, **entry)


def published_checksums(name: str, path: Path | None = None) -> dict[str, str]:
    """File name -> published MD5 of a dataset's files (config/datasets.yaml `published_md5`), or {}."""
    get_facts(name, path)   # the entry's checks
    return dict(_read(str(path or datasets_path()))[name].get("published_md5") or {})


def fetch_entry(name: str, path: Path | None = None) -> dict | None:
    """A dataset's files, where they come from and how they unpack (config/datasets.yaml `fetch`), or None."""
    get_facts(name, path)   # the entry's checks
    return _read(str(path or datasets_path()))[name].get("fetch")


@lru_cache(maxsize=None)
def _entry_schema() -> dict:
    return read_yaml(SCHEMA_DIR / "datasets.schema.yaml")["additionalProperties"]


def _checked(path: Path, name: str, entry) -> dict:
    validate(entry, _entry_schema(), f"{path}: entry {name!r}")
    entry = dict(entry)
    reader = entry.get("reader")
    if reader is not None:
        if reader not in FORMATS:
            raise ConfigError(f"{path}: entry {name!r}: reader {reader!r} is not a format the suite reads; "
                              f"formats: {', '.join(FORMATS)}")
        if FORMATS[reader].storage != entry["storage"]:
            raise ConfigError(f"{path}: entry {name!r}: storage {entry['storage']!r} cannot be honoured by reader "
                              f"{reader!r}, which gives {FORMATS[reader].storage!r} splits; write storage: "
                              f"{FORMATS[reader].storage}")
    for key in ("mean", "std"):   # one value per channel: a short list would broadcast or fail at the first batch
        if len(entry[key]) != entry["channels"]:
            raise ConfigError(f"{path}: entry {name!r}: {key} has {len(entry[key])} value(s) for {entry['channels']} "
                              f"channel(s); give one per channel, e.g. {key}: {[entry[key][0]] * entry['channels']}")
    return entry


def valid_sources(facts: DatasetFacts) -> list[str]:
    """The data sources a dataset can be read from: real files where it has a reader, scikit-learn's digits for
    the digits set, synthetic stand-ins always."""
    if facts.reader:
        return ["real", "synthetic"]
    if facts.name == "digits":
        return ["digits", "synthetic"]
    return ["synthetic"]
