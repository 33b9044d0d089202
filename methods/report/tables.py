"""Tables from metrics files and the paper's numbers only: Markdown, LaTeX and a tidy CSV per table."""
from __future__ import annotations

import csv
import json
import statistics
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from methods import PROJECT_ROOT
from methods.plan import config, layout
from methods.plan.grid import Cell, Table, build_table
from methods.plan.layout import complexity_path, curves_path, table_target
from methods.runs.artifacts import (ArtifactError, RunArtifacts, agrees, best_and_final, collapsed,
                                    ended_at_chance_on_validation, transient)

PAPER_RESULTS = PROJECT_ROOT / "tables" / "paper_results.csv"
SCALE = {"params_m": 1e-6, "flops_g": 1e-9}   # complexity metrics: counts -> millions / billions
SOURCE = {"params_m": "params", "flops_g": "flops"}


@dataclass
class CellValue:
    cell: Cell
    values: list[float]          # one per finished seed that trained (collapsed seeds are counted apart)
    paper: float | None
    missing: list[str]           # run directories without metrics
    stale: list[str]             # run directories whose protocol differs from what the config resolves now
    inconsistent: list[str] = field(default_factory=list)  # metrics.json disagrees with its epochs.csv
    seeds: list[int] = field(default_factory=list)         # the seed of each entry of `values`
    train_s: dict[str, float] = field(default_factory=dict)   # run directory -> recorded train time (s)
    devices: set[str] = field(default_factory=set)            # where the finished runs trained
    final: list[float] = field(default_factory=list)          # the final epoch's metric, beside each of `values`
    resumed: dict[str, list[str]] = field(default_factory=dict)   # run directory -> where it was resumed
    transient: dict[str, list[int]] = field(default_factory=dict)  # run directory -> epochs at chance, recovered
    damaged: dict[str, str] = field(default_factory=dict)     # run directory -> what is wrong with its record
    collapsed_by_seed: dict[int, tuple[float, float]] = field(default_factory=dict)   # seed -> (metric, final one)
    val_at_chance: list[str] = field(default_factory=list)    # run directories trained above chance, validated at it

    @property
    def collapsed(self) -> list[float]:
        """The metric of each finished seed that collapsed (counted apart, never in the cell's mean)."""
        return [metric for metric, _ in self.collapsed_by_seed.values()]

    @property
    def by_seed(self) -> dict[int, float]:
        return dict(zip(self.seeds, self.values))

    @property
    def final_by_seed(self) -> dict[int, float]:
        return dict(zip(self.seeds, self.final))

    @property
    def compared_by_seed(self) -> dict[int, float]:
        """Every finished seed's metric, collapsed ones included: what a claim's comparison holds (a seed that
        collapsed under the protocol is an outcome of it, at its chance-level accuracy), never a cell's mean."""
        return {**self.by_seed, **{seed: pair[0] for seed, pair in self.collapsed_by_seed.items()}}

    @property
    def compared_final_by_seed(self) -> dict[int, float]:
        return {**self.final_by_seed, **{seed: pair[1] for seed, pair in self.collapsed_by_seed.items()}}

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def final_mean(self) -> float | None:
        return statistics.fmean(self.final) if self.final else None

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.values) if len(self.values) > 1 else None

    @property
    def diff(self) -> float | None:
        return None if self.mean is None or self.paper is None else self.mean - self.paper

    @property
    def finished(self) -> int:
        return len(self.values) + len(self.collapsed)


@lru_cache(maxsize=None)
def paper_values(path: Path = PAPER_RESULTS) -> Mapping[tuple[str, str, str, str], float]:
    """(table, row, column, metric) -> the paper's number; read once per process, read-only."""
    with path.open(newline="") as handle:
        return MappingProxyType({(r["table"], r["row"], r["column"], r["metric"]): float(r["value"])
                                 for r in csv.DictReader(handle)})


def collect(table: Table, root: Path = Path(".")) -> list[CellValue]:
    paper = paper_values()
    report = config.preset(table.preset)["report"]
    out = []
    for cell in table.cells:
        key = (table.spec.get("paper_table"), cell.paper_row, cell.paper_column, cell.metric)
        values, missing, stale = [], [], []
        if cell.complexity:
            path = root / complexity_path(table.preset, cell.complexity)
            if path.exists():
                values.append(json.loads(path.read_text())[SOURCE[cell.metric]] * SCALE[cell.metric])
            else:
                missing.append(str(path))
        inconsistent, seeds, train_s, devices = [], [], {}, set()
        final, resumed, transient_epochs, damaged, collapsed_seeds, val_at_chance = [], {}, {}, {}, {}, []
        for run in cell.runs:
            artifacts = RunArtifacts(run, root)
            metrics = artifacts.read_metrics()
            if metrics is None:
                missing.append(str(run.directory))
                continue
            if metrics["protocol_hash"] != artifacts.expected_hash:
                stale.append(str(run.directory))
                continue
            if not artifacts.epochs_path.exists():
                damaged[str(run.directory)] = "epochs.csv is missing"
                continue
            try:
                rows = artifacts.read_epochs()
            except ArtifactError:
                damaged[str(run.directory)] = "epochs.csv is unreadable"
                continue
            edited = artifacts.edited_since_seal()
            if edited:
                damaged[str(run.directory)] = f"{' and '.join(edited)} differ from the copy sealed when it finished"
            recomputed = best_and_final(rows)   # the CSV is the source; a disagreeing metrics.json is flagged
            if not agrees(metrics, recomputed):
                inconsistent.append(str(run.directory))
            value = recomputed[report][cell.metric]
            train_s[str(run.directory)] = float(metrics.get("train_time_s") or 0.0)
            devices.add(str(metrics.get("device", "unknown")))
            num_classes = metrics["protocol"]["facts"]["num_classes"]
            where_resumed, at_chance = artifacts.resumes(metrics), transient(rows, num_classes)
            if where_resumed:
                resumed[str(run.directory)] = where_resumed
            if at_chance:
                transient_epochs[str(run.directory)] = at_chance
            if ended_at_chance_on_validation(rows, num_classes):
                val_at_chance.append(str(run.directory))
            if collapsed(rows, num_classes):
                collapsed_seeds[run.seed] = (value, recomputed["final"][cell.metric])
            else:
                values.append(value)
                final.append(recomputed["final"][cell.metric])
                seeds.append(run.seed)
        out.append(CellValue(cell, values, paper.get(key), missing, stale, inconsistent, seeds, train_s, devices,
                             final, resumed, transient_epochs, damaged, collapsed_seeds, val_at_chance))
    return out


def _fmt(value: float | None, signed: bool = False, digits: int = 2) -> str:
    if value is None:
        return "—"
    value = value + 0.0 if round(value, digits) != 0 else 0.0   # never print -0.00
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def cell_text(value: CellValue) -> str:
    digits = 3 if value.cell.complexity else 2   # complexity: one digit finer than the paper prints
    planned = len(value.cell.runs)
    if value.cell.pending:
        ours = "pending"
    elif value.cell.not_run:
        ours = "n/a"
    elif value.finished == 0:
        ours = "stale" if value.stale else "missing"
    elif value.mean is None:   # every finished seed collapsed: no accuracy to hold against the paper, no mean
        ours = (f"collapsed ({len(value.collapsed)}/{planned} seeds end at chance; their "
                f"{config.preset(value.cell.runs[0].preset)['report'] if value.cell.runs else 'best'}: "
                + ", ".join(_fmt(v, digits=digits) for v in value.collapsed) + ")")
    else:
        ours = _fmt(value.mean, digits=digits) + (f" ± {value.std:.2f}" if value.std is not None else "")
        if planned > 1:
            ours += f" (n={len(value.values)})"
        if value.collapsed:
            ours += f" + {len(value.collapsed)}/{planned} collapsed"
    if value.paper is None:
        return ours
    if value.collapsed and value.mean is None:
        return f"{ours} / {_fmt(value.paper)}"
    return f"{ours} / {_fmt(value.paper)} ({_fmt(value.diff, signed=True, digits=digits)})"


def seeds_text(table: Table) -> str:
    """The seeds of the table's cells, per column where the columns differ."""
    by_column: dict[str, tuple[int, ...]] = {}
    for cell in table.cells:
        if cell.runs:
            by_column.setdefault(cell.column, tuple(sorted({run.seed for run in cell.runs})))
    kinds = list(dict.fromkeys(by_column.values()))
    if len(kinds) <= 1:
        return "seeds " + ", ".join(str(s) for s in (kinds[0] if kinds else ()))
    common = max(kinds, key=lambda seeds: sum(v == seeds for v in by_column.values()))
    parts = [", ".join(str(s) for s in seeds) + " (" + ", ".join(c for c, v in by_column.items() if v == seeds) + ")"
             for seeds in kinds if seeds != common]
    return "seeds " + "; ".join(parts + [", ".join(str(s) for s in common) + " elsewhere"])


def title(table: Table) -> str:
    preset = config.preset(table.preset)
    shown = "" if table.kind == "complexity" else f"; {preset['report']}-epoch accuracy; {seeds_text(table)}"
    return f"{table.name} [{table.preset} preset] {table.spec['title']}{shown}"


def legend(table: Table, values: list[CellValue]) -> list[str]:
    has_paper = any(v.paper is not None for v in values)
    seeds = "" if table.kind == "complexity" else ("; ours is the mean ± std over seeds where several ran (std: the "
                                                  "sample standard deviation, ddof = 1)")
    lines = [f"Preset {table.preset}: {config.preset(table.preset)['description']}.",
             "Each cell: ours" + (" / paper (ours − paper)" if has_paper else "") + seeds + "."]
    missing = sorted({m for v in values for m in v.missing})
    collapsed_runs = sum(len(v.collapsed) for v in values)
    inconsistent = sorted({i for v in values for i in v.inconsistent})
    stale = sorted({s for v in values for s in v.stale})
    pending = sorted({v.cell.pending for v in values if v.cell.pending})
    not_run = sorted({f"{v.cell.row}: {v.cell.not_run}" for v in values if v.cell.not_run})
    if missing:
        lines.append(f"missing ({len(missing)}): no metrics file yet for " + grouped_by_cell_directory(missing))
    if stale:
        lines.append(f"stale ({len(stale)}): run under another protocol than config/ resolves now, not shown; "
                     "rerun with snakemake --forcerun <dir>/metrics.json: " + ", ".join(stale))
    if pending:
        lines.append("pending: rows waiting for " + "; ".join(pending))
    if not_run:
        lines.append("n/a: " + "; ".join(not_run))
    if collapsed_runs:
        lines.append(f"collapsed ({collapsed_runs} runs): training top-1 at chance level at the last epoch "
                     "(methods/runs/artifacts.py); such seeds are counted apart, never averaged into a cell")
    if inconsistent:
        lines.append(f"inconsistent ({len(inconsistent)}): metrics.json disagrees with epochs.csv, which the cell "
                     "shows; rerun with snakemake --forcerun <dir>/metrics.json: " + ", ".join(inconsistent))
    damaged = {run: what for v in values for run, what in v.damaged.items()}
    if damaged:
        lines.append(f"damaged ({len(damaged)}): a finished run's record is not what it wrote (runs without their "
                     "epochs.csv are not shown; edited ones are, as edited): " + "; ".join(
                         f"{run}: {what}" for run, what in sorted(damaged.items()))
                     + ". Restore the record as the run sealed it (restore/) or committed it (git): delete the "
                     "damaged file, then snakemake <run dir>/epochs.csv")
    resumed = {run: where for v in values for run, where in v.resumed.items()}
    if resumed:
        lines.append(f"resumed ({len(resumed)}): interrupted, then continued from their checkpoint (a resume "
                     "reproduces the uninterrupted run bit for bit on the same kernels): " + grouped_by_cell_directory(
                         [f"{run} at {' and '.join(where)}" for run, where in sorted(resumed.items())]))
    recovered = {run: epochs for v in values for run, epochs in v.transient.items()}
    if recovered:
        lines.append(f"transient ({len(recovered)}): validation top-1 at chance level at some epoch, recovered by "
                     "the last (counted in their cells): " + grouped_by_cell_directory(
                         [f"{run} at epoch{'s' if len(e) > 1 else ''} {_epochs_text(e)}"
                          for run, e in sorted(recovered.items())]))
    stuck = sorted(run for v in values for run in v.val_at_chance)
    if stuck:
        lines.append(f"at chance on validation at the end ({len(stuck)}): training accuracy above chance, the last "
                     "epoch's validation top-1 at chance (not recovered; counted in their cells): "
                     + grouped_by_cell_directory(stuck))
    if table.kind != "complexity" and config.preset(table.preset)["report"] == "best" and any(v.values for v in values):
        lines.append("best epoch: each run's cell value is the highest of its per-epoch evaluations on the "
                     "validation split, which is the dataset's held-out test set (ImageNet's: its validation set), "
                     "as in the paper's released code: selected on the evaluation data, so biased upward; the final epoch's mean is in the "
                     ".csv (ours_final_mean) and the report gives final-epoch verdicts beside the best-epoch ones")
    if table.kind != "complexity" and any(v.finished for v in values):
        lines.append(f"learning curves: {curves_path(table.preset, table.name).name} beside this table "
                     "(validation error per epoch of every finished run, each row's seeds as a band)")
    lines.extend(table.spec.get("notes", []))
    return lines


def _epochs_text(epochs: list[int]) -> str:
    return ", ".join(map(str, epochs[:5])) + (f" (+{len(epochs) - 5} more)" if len(epochs) > 5 else "")


def grouped_by_cell_directory(paths: list[str]) -> str:
    """Run directories grouped by their dataset/arch directory, which is named once:
    'results/paper/mnist/lenet5/: dropmax/seed1, dropmax/seed2; results/paper/cub200/resnet18/: ...'."""
    groups: dict[str, list[str]] = {}
    for entry in paths:
        path, _, note = entry.partition(" ")   # a run directory, then perhaps a note ('... at epoch 9')
        try:
            run = layout.parse_run_directory(path)
        except layout.LayoutError:
            groups.setdefault("", []).append(entry)
            continue
        above = layout.arch_directory(run.preset, run.dataset, run.arch)
        below = layout.run_directory(run.preset, run.dataset, run.arch, run.run, run.seed).relative_to(above)
        groups.setdefault(f"{above}/: ", []).append(f"{below}" + (f" {note}" if note else ""))
    return "; ".join(prefix + ", ".join(items) for prefix, items in groups.items())


def _grid(table: Table, values: list[CellValue]):
    """The table as a DataFrame of cell texts: one row per table row, one column per table column."""
    import pandas as pd   # pandas (~0.4 s): only the CSV writers need it
    text = {(v.cell.row, v.cell.column): cell_text(v) for v in values}
    header = [table.spec.get("row_header", "Method")] + table.columns
    return pd.DataFrame([[row] + [text[(row, column)] for column in table.columns] for row in table.rows],
                        columns=header)


def render_markdown(table: Table, values: list[CellValue]) -> str:
    grid = _grid(table, values).to_markdown(index=False, disable_numparse=True)
    return "\n".join([f"# {title(table)}", "", grid, ""] + [f"- {line}" for line in legend(table, values)]) + "\n"


def _tex(text: str) -> str:
    for raw, escaped in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                         ("±", r"$\pm$"), ("−", "$-$"), ("—", "--")):
        text = text.replace(raw, escaped)
    return text


def render_latex(table: Table, values: list[CellValue]) -> str:
    grid = _grid(table, values)
    grid = grid.map(_tex).rename(columns=_tex)   # escaped here: pandas' escaping would also escape $\pm$
    body = grid.to_latex(index=False, escape=False, caption=_tex(title(table)), position="t",
                         column_format="l" + "c" * len(table.columns))
    notes = "".join(r"\par\footnotesize " + _tex(line) + "\n" for line in legend(table, values))
    body = body.replace("\\caption{", "\\centering\n\\caption{", 1)
    return body.replace(r"\end{table}", notes + r"\end{table}")


def render_csv(table: Table, values: list[CellValue]) -> str:
    import pandas as pd   # pandas (~0.4 s): only the CSV writers need it
    records = []
    for v in values:
        status = ("pending" if v.cell.pending else "n/a" if v.cell.not_run else "ok" if v.values
                  else "collapsed" if v.collapsed else "stale" if v.stale else "missing")
        records.append({"table": table.name, "preset": table.preset, "row": v.cell.row, "column": v.cell.column,
                        "metric": v.cell.metric, "ours_mean": _num(v.mean), "ours_std": _num(v.std),
                        "ours_final_mean": _num(v.final_mean),
                        "n_seeds": len(v.values), "paper": _num(v.paper), "diff": _num(v.diff), "status": status,
                        "series": v.cell.series or "", "x": "" if v.cell.x is None else v.cell.x,
                        "runs": ";".join(str(r.directory) for r in v.cell.runs), "n_collapsed": len(v.collapsed)})
    return pd.DataFrame(records).to_csv(index=False, lineterminator="\n")


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def write_table(preset: str, name: str, root: Path = Path("."), seeds: tuple[int, ...] | None = None) -> list[Path]:
    table = build_table(preset, name, seeds)
    values = collect(table, root)
    base = root / table_target(preset, name)
    base.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix, render in ((".md", render_markdown), (".tex", render_latex), (".csv", render_csv)):
        path = base.with_suffix(suffix)
        path.write_text(render(table, values))
        written.append(path)
    return written
