"""The experiment grid (config/grid.yaml) expanded into table cells and the runs each cell needs."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

from methods.plan.facts import get_facts
from methods.plan import config
from methods.plan.layout import MAX_SEED, table_target
from methods.plan.spec import RunSpec, SpecError, parse_run_name


@dataclass(frozen=True)
class Cell:
    row: str                  # row label as the table prints it
    column: str               # column label as the table prints it
    paper_row: str | None
    paper_column: str | None
    metric: str
    runs: tuple[RunSpec, ...] = ()           # one per seed; empty for pending rows and complexity cells
    pending: str | None = None               # the row's method has not landed yet
    not_run: str | None = None               # the preset does not run this row (e.g. needs a download)
    complexity: dict | None = None           # for complexity tables: method, arch and setting
    series: str | None = None                # for figures: which curve the cell belongs to, and its x
    x: int | None = None
    marker: str | None = None                # for figures: a point's annotation


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


def table_targets(preset: str) -> list[str]:
    """tables/<...>.md of every table of the preset."""
    return [str(table_target(preset, name)) + ".md" for name in table_names(preset)]


def preset_of_target(target: str) -> tuple[str, str]:
    """The (preset, table) a target path like tables/smoke/table2 names; the path alone selects the preset."""
    for preset in config.presets():
        for name in table_names(preset):
            if str(table_target(preset, name)) == target:
                return preset, name
    known = [str(table_target(p, n)) + ".md" for p in config.presets() for n in table_names(p)]
    raise SpecError(f"no table target {target}.md; known targets: {', '.join(known)}")


def build_table(preset: str, name: str, seeds: tuple[int, ...] | None = None) -> Table:
    """The table's cells and the runs each shows. `seeds` (a user's --config seeds=... / --seeds) replaces the
    seeds of every cell; otherwise a cell runs its column's `seeds`, else its table's, else the preset's."""
    grid = config.grid()
    if name not in grid:
        raise SpecError(f"table {name!r} is not in config/grid.yaml")
    spec = grid[name]
    table = Table(name, preset, spec)
    for row in _expand_rows(spec["rows"]):
        for column in spec["columns"]:
            cell_seeds = list(seeds) if seeds else column_seeds(preset, spec, column)
            table.cells.append(_cell(preset, spec, row, column, cell_seeds))
    return table


def column_seeds(preset: str, spec: dict, column: dict) -> list[int]:
    """A column's own `seeds`, else its table's, else the preset's (grid.yaml; e.g. 3 seeds for the cheap MNIST
    column of Table 2 without making every GPU cell three times as expensive)."""
    return list(column.get("seeds") or spec.get("seeds") or config.preset(preset)["seeds"])


MAX_SEEDS = 1000   # seeds one request may name (a range is expanded: 0-100000000 would be a typo, not a plan)


def parse_seeds(text: str | int | list | tuple | None) -> tuple[int, ...] | None:
    """Seeds as a user writes them (`--seeds`, `--config seeds=`): '0,1,2', '0-4' (first <= last), an int or a
    list; None or '' for the grid's own. The same rule for every way in: whole numbers 0..MAX_SEED in ASCII
    digits, distinct, at most MAX_SEEDS of them; anything else is SpecError naming the form."""
    if text is None or text == "" or text == [] or text == ():
        return None
    items = text if isinstance(text, (list, tuple)) else [text] if isinstance(text, int) else str(text).split(",")
    seeds: list[int] = []
    for item in items:
        first, dash, last = str(item).strip().partition("-")
        if not _is_seed(first) or (dash and not _is_seed(last)):
            raise SpecError(f"seeds {text!r}: write seeds as 0,1,2 or a range 0-2 (whole numbers 0..{MAX_SEED})")
        low, high = int(first), int(last) if dash else int(first)
        if high < low:
            raise SpecError(f"seeds {text!r}: the range {item} runs backwards; write it first-last, e.g. 0-2")
        if len(seeds) + high - low + 1 > MAX_SEEDS:
            raise SpecError(f"seeds {text!r}: more than {MAX_SEEDS} seeds; ask for fewer")
        seeds += range(low, high + 1)
    if len(set(seeds)) != len(seeds):
        raise SpecError(f"seeds {text!r}: each seed once")
    return tuple(seeds)


def _is_seed(text: str) -> bool:
    return text.isascii() and text.isdigit() and int(text) <= MAX_SEED


def _expand_rows(rows: list[dict]) -> list[dict]:
    """A row with `for_epochs: [k, ...]` stands for one row per k, `{epochs}` filled in its text fields."""
    expanded = []
    for row in rows:
        if "for_epochs" not in row:
            expanded.append(row)
            continue
        for epochs in row["for_epochs"]:
            concrete = {key: value.replace("{epochs}", str(epochs)) if isinstance(value, str) else value
                        for key, value in row.items() if key != "for_epochs"}
            expanded.append({**concrete, "x": epochs})
    return expanded


def _cell(preset: str, spec: dict, row: dict, column: dict, seeds: list[int]) -> Cell:
    arch = row.get("arch", column.get("arch"))
    dataset = row.get("dataset", column.get("dataset"))
    metric = row.get("metric", column.get("metric", spec.get("metric")))
    paper_column = column.get("paper") or (get_facts(dataset).paper_name if dataset else None)
    label = column.get("label") or (f"{paper_column} {metric}" if column.get("metric") else paper_column)
    common = dict(row=row["label"], column=label or dataset or arch, paper_row=row.get("paper"),
                  paper_column=paper_column, metric=metric, series=row.get("series"), x=row.get("x"),
                  marker=row.get("marker"))
    if spec.get("kind") == "complexity":
        method = row.get("method", column.get("method", "baseline"))
        return Cell(**common, complexity={"method": method, "arch": arch, **spec["setting"]})
    if "pending" in row:
        return Cell(**common, pending=row["pending"])
    if "presets" in row and preset not in row["presets"]:
        return Cell(**common, not_run=f"run by the {', '.join(row['presets'])} preset only")
    if "datasets" in row and dataset not in row["datasets"]:
        return Cell(**common, not_run=f"run on {', '.join(row['datasets'])} only")
    if "run" not in row:
        raise SpecError(f"grid row {row['label']!r} names neither a run nor pending")
    variables = {**config.preset(preset).get("grid_vars", {}), **column.get("vars", {}), "arch": arch}
    try:
        text = row["run"].format(**variables)
    except KeyError as error:
        raise SpecError(f"grid row {row['label']!r}: run {row['run']!r} uses {error}, which neither the "
                        f"column's vars nor the preset's grid_vars define") from None
    run = parse_run_name(text)
    return Cell(**common, runs=tuple(RunSpec(preset, dataset, arch, run, seed) for seed in seeds))


def required_runs(table: Table) -> list[RunSpec]:
    """Every run a table's cells show, without duplicates, in grid order."""
    return list(dict.fromkeys(run for cell in table.cells for run in cell.runs))


def in_dependency_order(runs) -> list[RunSpec]:
    """`runs` and every run they need (a reference, a donor they are read off), each after what it needs: the
    order to train them in without Snakemake (`python -m methods runs <target>`)."""
    ordered: dict[RunSpec, None] = {}

    def visit(run: RunSpec) -> None:
        if run in ordered:
            return
        for needed in (run.reference, donor_for(run)):
            if needed is not None:
                visit(needed)
        ordered[run] = None

    for run in runs:
        visit(run)
    return list(ordered)


@lru_cache(maxsize=None)
def preset_runs(preset: str, seeds: tuple[int, ...] | None = None) -> tuple[RunSpec, ...]:
    """Every run any table of the preset shows, and the runs those reference."""
    runs: dict[RunSpec, None] = {}
    for name in table_names(preset):
        for run in required_runs(build_table(preset, name, seeds)):
            while run is not None:
                runs[run] = None
                run = run.reference
    return tuple(runs)


def _epochs_token(run: RunSpec) -> tuple[int, int] | None:
    """(index, epochs) of the e<k> token of a constant-lr run's schedule, else None."""
    tokens = run.run.schedule
    if "const" not in tokens:
        return None
    return next(((i, int(t[1:])) for i, t in enumerate(tokens) if t.startswith("e")), None)


def _with_epochs(run: RunSpec, index: int, epochs: int) -> RunSpec:
    tokens = list(run.run.schedule)
    tokens[index] = f"e{epochs}"
    return replace(run, run=replace(run.run, schedule=tuple(tokens)))


def donor_for(run: RunSpec) -> RunSpec | None:
    """The longest constant-lr run of the same spec that the preset trains anyway, if longer than `run`."""
    token = _epochs_token(run)
    if token is None:
        return None
    index, epochs = token
    longer = [other_epochs for other in preset_runs(run.preset)
              if (other_token := _epochs_token(other)) and other_token[0] == index
              and (other_epochs := other_token[1]) > epochs
              and _with_epochs(replace(other, seed=run.seed), index, epochs) == run]
    return _with_epochs(run, index, max(longer)) if longer else None


def snapshot_epochs_for(run: RunSpec) -> list[int]:
    """Epochs at which `run` must save its network, for the shorter runs read off it."""
    return sorted(other_token[1] for other in preset_runs(run.preset)
                  if (other_token := _epochs_token(other)) and donor_for(replace(other, seed=run.seed)) == run)



@dataclass(frozen=True)
class RunPlan:
    """What the grid says about one run that its job needs: the longer run it is read off (if any) and the epochs at
    which it saves its network for shorter runs read off it. The Snakemake head works it out while planning and
    hands it to the job (the train rule's params), so a job never rebuilds the grid."""
    donor: str | None = None                     # the donor's run directory
    snapshot_epochs: tuple[int, ...] = ()

    @classmethod
    def of(cls, run: RunSpec) -> "RunPlan":
        donor = donor_for(run)
        return cls(None if donor is None else str(donor.directory), tuple(snapshot_epochs_for(run)))

    def as_params(self) -> dict:
        return {"donor": self.donor, "snapshot_epochs": list(self.snapshot_epochs)}

    @classmethod
    def from_params(cls, params: dict) -> "RunPlan":
        return cls(params["donor"], tuple(params["snapshot_epochs"]))
