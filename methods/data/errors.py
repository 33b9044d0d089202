"""DatasetError and the messages that tell the user how to fix a data problem."""
from __future__ import annotations

from pathlib import Path

from methods.plan.facts import DatasetFacts, fetch_entry


class DatasetError(Exception):
    """Any data problem; the message names the fix."""


def where_to_get(facts: DatasetFacts) -> str:
    fetch = (f" Or let the suite fetch it: python -m methods fetch-data {facts.name}."
             if _fetchable(facts.name) else "")
    return f"Expected layout: {facts.layout}. Get it from: {facts.get_it}.{fetch}"


def _fetchable(name: str) -> bool:
    try:
        return bool(fetch_entry(name))
    except KeyError:   # facts made up for a test, of no dataset in config/datasets.yaml
        return False


def missing_data(facts: DatasetFacts, looked_in: Path | str, what: str) -> DatasetError:
    return DatasetError(f"{facts.name}: {what} not found in {looked_in}. {where_to_get(facts)} "
                        f"The data root is set by the `data_root` config key.")


def unreadable_file(path: Path | str, cause: object) -> DatasetError:
    return DatasetError(f"cannot read {path} ({cause}): the file is corrupt or truncated; "
                        f"re-download the dataset or replace this file.")
