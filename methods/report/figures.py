"""Figures from metrics files and the paper's numbers only: grid tables of kind 'figure' (Fig. 4), the report's
forest plot, and each table's learning curves (from epochs.csv)."""
from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from methods.plan.grid import build_table  # noqa: E402
from methods.plan.facts import get_facts  # noqa: E402
from methods.plan.layout import curves_path, table_target  # noqa: E402
from methods.runs.artifacts import RunArtifacts  # noqa: E402
from methods.report.comparison import t_interval  # noqa: E402
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
    return _save_figure(fig, path_base, dpi=150)


def reference_points(cells: list[CellValue]) -> list[tuple[CellValue, CellValue]]:
    """(reference cell, FocusNet cell) of every focusnet cell whose reference is a reference row of the column."""
    references = {v.cell.runs[0]: v for v in cells if v.cell.series in ("reference", "full_baseline") and v.cell.runs}
    return [(references[v.cell.runs[0].reference], v) for v in cells
            if v.cell.series == "focusnet" and v.cell.runs and v.cell.runs[0].reference in references]


def render_reference_curve(name: str, values: list[CellValue], columns: list[str], path_base: Path,
                           num_classes: dict[str, int]) -> list[Path]:
    """FocusNet's accuracy against its reference's own accuracy (both mean ± std over seeds), one point per
    reference, the fully trained Baseline as a dashed line, the band of the paper's poorest references (1.5-2.6x
    chance) shaded, and the marked points annotated."""
    fig, axes = plt.subplots(1, len(columns), figsize=(6.5 * len(columns), 4.6), squeeze=False)
    for ax, column in zip(axes[0], columns):
        cells = [v for v in values if v.cell.column == column]
        points = sorted(((ref, focus) for ref, focus in reference_points(cells)
                         if ref.mean is not None and focus.mean is not None), key=lambda pair: pair[0].mean)
        if points:
            ax.errorbar([r.mean for r, _ in points], [f.mean for _, f in points],
                        xerr=[r.std or 0.0 for r, _ in points], yerr=[f.std or 0.0 for _, f in points],
                        capsize=3, **STYLE["focusnet"] | {"label": "FocusNet against a reference of that accuracy"})
            for ref, focus in points:
                text = ref.cell.row.removeprefix("Reference: ") + (f"\n{ref.cell.marker}" if ref.cell.marker else "")
                ax.annotate(text, (ref.mean, focus.mean), textcoords="offset points", xytext=(4, -14 if
                            ref.cell.marker else 6), fontsize=7, color="black" if ref.cell.marker else "dimgrey")
        _level(ax, cells, "full_baseline")
        chance = 100.0 / num_classes.get(column, 10)
        ax.axvspan(1.5 * chance, 2.6 * chance, color="grey", alpha=0.15,
                   label="the paper's poorest references: 1.5-2.6x chance")
        ax.set_xlim(0, 100)
        ax.set_title(column)
        ax.set_xlabel("the reference's own top-1 validation accuracy (%)")
        ax.set_ylabel("FocusNet's top-1 validation accuracy (%)")
        ax.grid(alpha=0.3)
        missing = sum(1 for v in cells if v.mean is None and v.cell.runs)
        if missing:
            ax.text(0.02, 0.02, f"{missing} of {len(cells)} cells missing", transform=ax.transAxes, fontsize=8)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(textwrap.fill(name, 120), fontsize=9)
    fig.tight_layout()
    return _save_figure(fig, path_base, dpi=150)


def write_figure(preset: str, name: str, root: Path = Path("."), seeds: tuple[int, ...] | None = None) -> list[Path]:
    table = build_table(preset, name, seeds)
    base = root / table_target(preset, name)
    base.parent.mkdir(parents=True, exist_ok=True)
    if table.spec.get("x_axis") == "reference_top1":
        classes = {cell.column: get_facts(cell.runs[0].dataset).num_classes for cell in table.cells if cell.runs}
        return render_reference_curve(title(table), collect(table, root), table.columns, base, classes)
    return render_figure(title(table), collect(table, root), table.columns, base)


def write_learning_curves(preset: str, name: str, root: Path = Path("."),
                          seeds: tuple[int, ...] | None = None) -> list[Path]:
    """Validation error per epoch (log scale) of every finished run of the table, one panel per column with runs:
    each row's mean over its seeds as a line and their range as a band. From epochs.csv only."""
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


@dataclass(frozen=True)
class ForestLine:
    group: str                     # the table it belongs to
    label: str                     # what the line is: table, column, row (or claim)
    value: float
    interval: tuple[float, float] | None   # 95 % over seeds (None with one seed)
    style: str = "best"            # best / final epoch; in scope / analogue for comparisons


def gap_lines(tables: dict) -> list[ForestLine]:
    """Ours - paper for every regenerated accuracy cell that has a paper number, with the 95 % t-interval of our
    mean over seeds shifted by the paper's number."""
    lines = []
    for name, (_table, values) in tables.items():
        for v in values:
            if v.mean is None or v.paper is None or v.cell.complexity:
                continue
            interval = t_interval(v.values)
            label = f"{name} · {v.cell.column} · {v.cell.row} (n={len(v.values)}" + (
                f", +{len(v.collapsed)} collapsed)" if v.collapsed else ")")
            lines.append(ForestLine(name, label, v.mean - v.paper,
                                    None if interval is None else (interval[0] - v.paper, interval[1] - v.paper)))
    return lines


def comparison_lines(compared) -> list[ForestLine]:
    """Every claim comparison that has runs on both sides: better - worse at the best and at the final epoch, with
    its 95 % interval over seeds; in scope and analogue told apart."""
    lines = []
    for row in compared.to_dict("records"):
        if not row["n"]:
            continue
        where = "" if row["scope"] == "in scope" else " [analogue]"
        label = f"{row['table']} · {row['column']} · {row['claim']}{where} (n={row['n']})"
        for prefix, epoch in (("", "best"), ("final ", "final")):
            low, high = row[f"{prefix}ci95 low"], row[f"{prefix}ci95 high"]
            interval = None if low is None or (isinstance(low, float) and math.isnan(low)) else (low, high)
            lines.append(ForestLine(row["table"], label, row[f"{prefix}mean_diff"], interval,
                                    f"{epoch}, {'in scope' if not where else 'analogue'}"))
    return lines


FOREST_STYLE = {
    "best": dict(color="tab:blue", marker="o"),
    "best, in scope": dict(color="tab:blue", marker="o"),
    "final, in scope": dict(color="tab:orange", marker="s", fillstyle="none"),
    "best, analogue": dict(color="tab:grey", marker="o"),
    "final, analogue": dict(color="tab:grey", marker="s", fillstyle="none"),
}
FOREST_LEGEND = {"best": "best epoch", "best, in scope": "best epoch, in scope", "final, in scope":
                 "final epoch, in scope", "best, analogue": "best epoch, analogue", "final, analogue":
                 "final epoch, analogue"}


def _forest_panel(ax, lines: list[ForestLine], xlabel: str, empty: str) -> None:
    labels = list(dict.fromkeys(line.label for line in lines))
    position = {label: len(labels) - 1 - index for index, label in enumerate(labels)}   # first label on top
    offsets = {"best": 0.0, "best, in scope": 0.12, "final, in scope": -0.12, "best, analogue": 0.12,
               "final, analogue": -0.12}
    shown = set()
    for line in lines:
        y = position[line.label] + offsets[line.style]
        error = None if line.interval is None else [[line.value - line.interval[0]], [line.interval[1] - line.value]]
        ax.errorbar([line.value], [y], xerr=error, capsize=3, linestyle="none", **FOREST_STYLE[line.style],
                    label=None if line.style in shown else FOREST_LEGEND[line.style])
        shown.add(line.style)
    groups = [line.group for line in dict((line.label, line) for line in lines).values()]
    for index in range(1, len(groups)):
        if groups[index] != groups[index - 1]:   # a rule between the tables
            ax.axhline(position[labels[index]] + 0.5, color="black", linewidth=0.5)
    ax.axvline(0.0, color="black", linewidth=1)
    ax.set_yticks([position[label] for label in labels], labels, fontsize=7)
    ax.set_ylim(-0.7, max(len(labels) - 0.3, 0.7))
    ax.set_xlabel(xlabel)
    if any(abs(line.value) > 5 for line in lines):   # a collapsed row's ~90 points beside 0.1-point effects
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlabel(xlabel + "; linear within ±1, logarithmic beyond")
    ax.grid(alpha=0.3, axis="x")
    if lines:
        ax.legend(fontsize=7, loc="lower right")
    else:
        ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes, fontsize=8)
        ax.set_yticks([])


def forest_figure(report: dict):
    """The report's figure: (top) ours - paper for every cell with both numbers; (bottom) every claim comparison
    with runs, better - worse, in scope or analogue; each a labelled line with its 95 % interval over seeds."""
    order = {name: index for index, name in enumerate(report["tables"])}
    gaps = gap_lines(report["tables"])
    compared = sorted(comparison_lines(report["comparisons"]), key=lambda line: order.get(line.group, len(order)))
    heights = [max(len({line.label for line in gaps}), 1) + 2, max(len({line.label for line in compared}), 1) + 2]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 0.32 * sum(heights) + 2.0),
                                      gridspec_kw={"height_ratios": heights})
    _forest_panel(top, gaps, "ours - paper (percentage points)", "no regenerated cell has a paper number")
    top.set_title(f"Regenerated cells against the paper [{report['preset']} preset]; bar: 95 % interval over seeds",
                  fontsize=9)
    _forest_panel(bottom, compared, "better row - worse row (percentage points)",
                  "no claim comparison has runs on both sides yet")
    bottom.set_title("The claims' comparisons (tables/paper_claims.yaml), seed-paired; bar: 95 % interval",
                     fontsize=9)
    fig.tight_layout()
    return fig


def plot_forest(report: dict, base: Path) -> list[Path]:
    """forest_figure written as <base>.png and .pdf."""
    return _save_figure(forest_figure(report), base, dpi=120)


def _save_figure(fig, base: Path, dpi: int) -> list[Path]:
    """The figure as <base>.png and <base>.pdf, then closed."""
    paths = [base.with_suffix(".png"), base.with_suffix(".pdf")]
    for path in paths:
        _save(fig, path, dpi=dpi)
    plt.close(fig)
    return paths


def _save(fig, path: Path, dpi: int) -> None:
    """A figure whose file depends on its data only: no creation date in the PDF, so a rebuild changes no bytes."""
    metadata = {"CreationDate": None} if path.suffix == ".pdf" else None
    fig.savefig(path, dpi=dpi, metadata=metadata)
