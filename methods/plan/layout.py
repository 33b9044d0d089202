"""Where everything lies: every path pattern under results/ and tables/, written here once, and the one parser of a
run directory. The Snakemake rules use the patterns as their wildcard patterns; the package formats and parses
paths only through this module."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from methods.plan import config

RUN_DIR_PATTERN = "results/{preset}/{dataset}/{arch}/{run}/seed{seed}"
DATA_STAMP_PATTERN = "results/{preset}/data/{dataset}"                # + .json (the data check's stamp), .log
FETCH_RECORD_PATTERN = "results/fetched/{dataset}"                     # + .json (fetch-data's record), .log
COMPLEXITY_PATTERN = "results/{preset}/complexity/{method}-{arch}-{family}-{classes}c-{size}px"   # + .json, .log

# ASCII only ([0-9], never \d, which also matches other scripts' digits: `seed١` would name seed 1's directory)
NAME_PART = re.compile(r"^[a-z0-9_]+$")
SEED_PART = re.compile(r"^seed(0|[1-9][0-9]{0,8})$")
MAX_SEED = 999_999_999


class LayoutError(ValueError):
    pass


@dataclass(frozen=True)
class RunDirectory:
    """The parts of a run directory, as written (the run name not yet parsed)."""
    preset: str
    dataset: str
    arch: str
    run: str
    seed: int


def run_directory(preset: str, dataset: str, arch: str, run, seed: int) -> Path:
    return Path(RUN_DIR_PATTERN.format(preset=preset, dataset=dataset, arch=arch, run=run, seed=seed))


def arch_directory(preset: str, dataset: str, arch: str) -> Path:
    """results/<preset>/<dataset>/<arch>: where the runs of one dataset and architecture lie."""
    return Path(RUN_DIR_PATTERN.split("/{run}")[0].format(preset=preset, dataset=dataset, arch=arch))


def parse_run_directory(path: str | Path) -> RunDirectory:
    """results/<preset>/<dataset>/<arch>/<run>/seed<k>, checked part by part; nothing outside results/."""
    parts = Path(path).parts
    if len(parts) != 6 or parts[0] != "results" or not SEED_PART.match(parts[5]):
        raise LayoutError(f"{path}: a run directory reads results/<preset>/<dataset>/<arch>/<run>/seed<k> "
                          f"(k: 0..{MAX_SEED}), e.g. results/paper/mnist/lenet5/baseline/seed0")
    for what, value in zip(("preset", "dataset", "arch"), parts[1:4]):
        if not NAME_PART.match(value):
            raise LayoutError(f"{path}: {what} {value!r} must be lower-case letters, digits or _")
    return RunDirectory(parts[1], parts[2], parts[3], parts[4], int(parts[5].removeprefix("seed")))


def run_directories(root: Path, preset: str) -> list[Path]:
    """Every run directory of a preset under `root` that holds a metrics.json (finished runs)."""
    pattern = RUN_DIR_PATTERN.format(preset=preset, dataset="*", arch="*", run="*", seed="*")
    return sorted(path.parent.relative_to(root) for path in root.glob(f"{pattern}/metrics.json"))


def fetch_record_path(dataset: str) -> Path:
    return Path(FETCH_RECORD_PATTERN.format(dataset=dataset) + ".json")


def stamp_path(preset: str, dataset: str) -> Path:
    return Path(DATA_STAMP_PATTERN.format(preset=preset, dataset=dataset) + ".json")


def complexity_path(preset: str, setting: dict) -> Path:
    return Path(COMPLEXITY_PATTERN.format(preset=preset, method=setting["method"], arch=setting["arch"],
                                          family=setting["family"], classes=setting["num_classes"],
                                          size=setting["image_size"]) + ".json")


def table_target(preset: str, name: str) -> Path:
    """tables/<name> for the paper preset and the demo, tables/<preset>/<name> otherwise (presets.yaml table_dir),
    without a suffix: the table writes .md, .tex and .csv (a figure also .png and .pdf) beside each other."""
    return Path(config.preset(preset)["table_dir"]) / name


def curves_path(preset: str, name: str) -> Path:
    """A table's learning curves, beside it."""
    return table_target(preset, name).with_name(f"{name}_curves.png")


def report_target(preset: str) -> Path:
    """tables/report (paper), tables/smoke/report, tables/demo_report: beside the preset's tables, never shared."""
    return table_target(preset, config.preset(preset).get("report_name", "report"))
