"""The experiment grid (config/grid.yaml) expanded into table cells and the runs each cell needs."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from methods import config
from methods.data.facts import get_facts
from methods.spec import RunSpec, SpecError, parse_run_name


@dataclass(frozen=True)
class Cell:
    row: str                  # row label as the table prints it
    column: str               # column label as the table prints it
    paper_row: str | None
    paper_column: str | None
    metric: str
    runs: tuple[RunSpec, ...] = ()           # one per seed; empty for pending rows and complexity cells
    pending: str | None = None
    complexity: dict | None = None           # for complexity tables: arch and setting


@dataclass
class Table:
    name: str
    preset: str
    spec: dict
    cells: list[Cell] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.spec.get("kind", "accuracy")

    @property
    def rows(self) -> list[str]:
        return list(dict.fromkeys(cell.row for cell in self.cells))

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(cell.column for cell in self.cells))


def table_names(preset: str) -> list[str]:
    return list(config.preset(preset)["tables"])


def table_target(preset: str, name: str) -> Path:
    """tables/<name> for the paper preset and the demo, tables/<preset>/<name> otherwise (config table_dir)."""
    return Path(config.preset(preset)["table_dir"]) / name


def preset_of_target(target: str) -> tuple[str, str]:
    """The (preset, table) a target path like tables/smoke/table2 names; the path alone selects the preset."""
    for preset in config.presets():
        for name in table_names(preset):
            if str(table_target(preset, name)) == target:
                return preset, name
    known = [str(table_target(p, n)) + ".md" for p in config.presets() for n in table_names(p)]
    raise SpecError(f"no table target {target}.md; known targets: {', '.join(known)}")


def build_table(preset: str, name: str) -> Table:
    grid = config.grid()
    if name not in grid:
        raise SpecError(f"table {name!r} is not in config/grid.yaml")
    spec = grid[name]
    seeds = config.preset(preset)["seeds"]
    table = Table(name, preset, spec)
    for row in spec["rows"]:
        for column in spec["columns"]:
            table.cells.append(_cell(preset, spec, row, column, seeds))
    return table


def _cell(preset: str, spec: dict, row: dict, column: dict, seeds: list[int]) -> Cell:
    arch = row.get("arch", column.get("arch"))
    dataset = row.get("dataset", column.get("dataset"))
    metric = row.get("metric", column.get("metric", spec.get("metric")))
    paper_column = column.get("paper") or (get_facts(dataset).paper_name if dataset else None)
    label = column.get("label") or paper_column or dataset or arch
    common = dict(row=row["label"], column=label, paper_row=row.get("paper"), paper_column=paper_column,
                  metric=metric)
    if spec.get("kind") == "complexity":
        return Cell(**common, complexity={"arch": arch, **spec["setting"]})
    if "pending" in row:
        return Cell(**common, pending=row["pending"])
    run = parse_run_name(row["run"].format(arch=arch))
    return Cell(**common, runs=tuple(RunSpec(preset, dataset, arch, run, seed) for seed in seeds))


def required_runs(table: Table) -> list[RunSpec]:
    """Every run a table's cells show, without duplicates, in grid order."""
    return list(dict.fromkeys(run for cell in table.cells for run in cell.runs))


def complexity_path(preset: str, setting: dict) -> Path:
    return Path("results", preset, "complexity",
                f"{setting['arch']}-{setting['family']}-{setting['num_classes']}c-{setting['image_size']}px.json")
