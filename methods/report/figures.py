"""Figures from metrics files and the paper's numbers only: grid tables of kind 'figure' (Fig. 4), the report's
scatter, and each table's learning curves (from epochs.csv)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from methods.plan.grid import build_table  # noqa: E402
from methods.plan.layout import curves_path, table_target  # noqa: E402
from methods.report.tables import CellValue, collect, title  # noqa: E402

STYLE = {
    "focusnet": dict(color="tab:red", marker="o", label="FocusNet vs. stopping epoch of its reference"),
    "stopped_baseline": dict(color="tab:blue", marker="s", linestyle=":", label="stopped Baseline itself"),
    "full_baseline": dict(color="tab:blue", linestyle="--", label="Baseline, fully trained"),
    "full_focusnet": dict(color="tab:red", linestyle="-", label="FocusNet, fully trained reference"),
}


def _curve(ax, cells: list[CellValue], series: str) -> None:
    points = sorted((v.cell.x, v.mean, v.std or 0.0) for v in cells if v.cell.series == series and v.mean is not None)
    if points:
        xs, ys, errors = zip(*points)
        ax.errorbar(xs, ys, yerr=errors, capsize=3, **STYLE[series])


def _level(ax, cells: list[CellValue], series: str) -> None:
    finished = [v for v in cells if v.cell.series == series and v.mean is not None]
    if finished:
        ax.axhline(finished[0].mean, **STYLE[series])


def _paper_points(ax, cells: list[CellValue]) -> None:
    printed = [(v.cell.x, v.paper) for v in cells if v.paper is not None and v.cell.x is not None]
    for index, (x, y) in enumerate(printed):
        ax.scatter([x], [y], marker="*", s=120, color="black", zorder=5,
                   label="paper's printed value" if index == 0 else None)
        ax.annotate(f"paper {y:.2f}", (x, y), textcoords="offset points", xytext=(6, 6), fontsize=8)


def render_figure(name: str, values: list[CellValue], columns: list[str], path_base: Path) -> list[Path]:
    fig, axes = plt.subplots(1, len(columns), figsize=(5.5 * len(columns), 4.2), squeeze=False)
    for ax, column in zip(axes[0], columns):
        cells = [v for v in values if v.cell.column == column]
        _curve(ax, cells, "focusnet")
        _curve(ax, cells, "stopped_baseline")
        _level(ax, cells, "full_baseline")
        _level(ax, cells, "full_focusnet")
        _paper_points(ax, cells)
        ax.set_title(column)
        ax.set_xlabel("epoch at which the reference Baseline was stopped")
        ax.set_ylabel("top-1 validation accuracy (%)")
        ax.grid(alpha=0.3)
        missing = sum(1 for v in cells if v.mean is None)
        if missing:
            ax.text(0.02, 0.02, f"{missing} of {len(cells)} points missing", transform=ax.transAxes, fontsize=8)
    axes[0][0].legend(fontsize=8, loc="best")
    fig.suptitle(textwrap.fill(name, 120), fontsize=9)
    fig.tight_layout()
    written = []
    for suffix in (".png", ".pdf"):
        path = path_base.with_suffix(suffix)
        _save(fig, path, dpi=150)
        written.append(path)
    plt.close(fig)
    return written


def write_figure(preset: str, name: str, root: Path = Path("."), seeds: tuple[int, ...] | None = None) -> list[Path]:
    table = build_table(preset, name, seeds)
    base = root / table_target(preset, name)
    base.parent.mkdir(parents=True, exist_ok=True)
    return render_figure(title(table), collect(table, root), table.columns, base)


def write_learning_curves(preset: str, name: str, root: Path = Path("."),
                          seeds: tuple[int, ...] | None = None) -> list[Path]:
    """Validation error per epoch (log scale) of every finished run of the table, one panel per column with runs:
    each row's mean over its seeds as a line and their range as a band. From epochs.csv only."""
    from methods.runs.artifacts import RunArtifacts
    table = build_table(preset, name, seeds)
    panels: dict[str, list[tuple[str, list[list[dict]]]]] = {}
    for cell in table.cells:
        curves = [RunArtifacts(run, root).read_epochs() for run in cell.runs
                  if (root / run.directory / "metrics.json").exists() and (root / run.directory / "epochs.csv").exists()]
        curves = [[row for row in rows if "train_top1" in row] for rows in curves]   # trained epochs only
        curves = [rows for rows in curves if len(rows) >= 2]
        if curves:
            panels.setdefault(cell.column, []).append((cell.row, curves))
    columns = list(panels) or ["(no regenerated column yet)"]
    fig, axes = plt.subplots(1, len(columns), figsize=(6.5 * len(columns), 4.6), squeeze=False)
    for ax, column in zip(axes[0], columns):
        for index, (row, curves) in enumerate(panels.get(column, [])):
            _band(ax, curves, f"C{index % 10}", f"{textwrap.shorten(row, 60)} (n={len(curves)})")
        ax.set_title(column)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation error, 100 - top-1 (%), log scale")
        if column in panels:
            ax.set_yscale("log")
            ax.legend(fontsize=7, loc="best")
        else:
            ax.text(0.5, 0.5, "no finished runs", ha="center", transform=ax.transAxes)
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(textwrap.fill(title(table) + ": learning curves (line: mean over seeds; band: their range)",
                               95 * len(columns)), fontsize=8)
    fig.tight_layout()
    path = root / curves_path(preset, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    _save(fig, path, dpi=110)
    plt.close(fig)
    return [path]


def _band(ax, curves: list[list[dict]], color: str, label: str) -> None:
    epochs = sorted(set.intersection(*({row["epoch"] for row in rows} for rows in curves)))
    errors = [[100.0 - {row["epoch"]: row["val_top1"] for row in rows}[e] for e in epochs] for rows in curves]
    floor = 1e-2   # an error of 0 has no place on a log axis
    mean = [max(sum(values) / len(values), floor) for values in zip(*errors)]
    ax.plot(epochs, mean, color=color, linewidth=1, label=label)
    if len(curves) > 1:
        ax.fill_between(epochs, [max(min(v), floor) for v in zip(*errors)], [max(max(v), floor) for v in zip(*errors)],
                        color=color, alpha=0.2, linewidth=0)


def plot_agreement(tables: dict, base: Path, preset: str) -> list[Path]:
    """Ours against the paper for every regenerated accuracy cell: one point per cell, coloured by table, error bars
    from the seeds, the diagonal where ours equals the paper. Written as <base>.png and .pdf."""
    fig, ax = plt.subplots(figsize=(6, 6))
    shown = []
    for index, (name, (_table, values)) in enumerate(tables.items()):
        cells = [v for v in values if v.mean is not None and v.paper is not None and not v.cell.complexity]
        if cells:
            ax.errorbar([v.paper for v in cells], [v.mean for v in cells], yerr=[v.std or 0.0 for v in cells],
                        fmt="o", capsize=3, color=f"C{index % 10}", label=f"{name} ({len(cells)})")
            shown += [v.paper for v in cells] + [v.mean for v in cells]
    low, high = (max(min(shown) - 1, 0), min(max(shown) + 1, 100.5)) if shown else (0, 100)   # accuracies, %
    ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1, label="ours = paper")
    ax.set(xlim=(low, high), ylim=(low, high), xlabel="paper (%)", ylabel="ours (%)",
           title=f"Regenerated cells against the paper [{preset} preset]")
    if not shown:
        ax.text(0.5, 0.5, "no regenerated cell with a paper number yet", ha="center", transform=ax.transAxes)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    paths = [base.with_suffix(".png"), base.with_suffix(".pdf")]
    for path in paths:
        _save(fig, path, dpi=120)
    plt.close(fig)
    return paths


def _save(fig, path: Path, dpi: int) -> None:
    """A figure whose file depends on its data only: no creation date in the PDF, so a rebuild changes no bytes."""
    metadata = {"CreationDate": None} if path.suffix == ".pdf" else None
    fig.savefig(path, dpi=dpi, metadata=metadata)
