"""The comparison with the paper, from metrics files only: per table, how many cells are regenerated and how far
they lie from the paper's; the paper's claims (tables/paper_claims.yaml) each with a verdict from seed-paired
comparisons, judged on each claim's scope, with analogues apart; the rank agreement of each table with the paper's;
and what the table cost and what its missing cells would cost. Written as tables/<...>/report.{md,tex,csv} with a
forest plot of ours - paper and of every comparison (report.png, .pdf)."""
from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from methods import PROJECT_ROOT
from methods.plan import config, layout
from methods.plan.grid import build_table, table_names
from methods.plan.protocol import resolve
from methods.plan.spec import RunSpec
from methods.report.tables import CellValue, collect
from methods.runs.throughput_rates import benchmark_rates
from methods.plan.facts import dataset_names
from methods.plan.archs import ARCHS
import json

if TYPE_CHECKING:
    import pandas as pd

CLAIMS = PROJECT_ROOT / "tables" / "paper_claims.yaml"
ALPHA = 0.05   # one-sided significance of a paired t-test over seeds


def load_claims(path: Path = CLAIMS) -> dict:
    claims = yaml.safe_load(path.read_text())
    for claim in claims["claims"]:
        _check_scope(claim, path)
    return claims


def _check_scope(claim: dict, path: Path) -> None:
    """Every claim says where its sentence applies, in datasets and architectures the suite knows."""
    scope = claim.get("scope")
    where = f"{path}: claim {claim.get('id')!r}"
    if not isinstance(scope, dict) or not scope.get("datasets") or not scope.get("archs"):
        raise ValueError(f"{where} has no scope: give it 'scope: {{datasets: [...], archs: [...]}}', the setting "
                         "its sentence is about")
    for key, known in (("datasets", dataset_names()), ("archs", ARCHS)):
        unknown = sorted(set(scope[key]) - set(known))
        if unknown:
            raise ValueError(f"{where}: scope {key} {unknown} are not known (known: {', '.join(known)})")


# --- seed-paired comparison ------------------------------------------------------------------------------------

@dataclass
class Paired:
    seeds: list[int]
    diffs: list[float]            # better - worse, seed by seed
    p_value: float | None         # one-sided paired t-test that better > worse (>= 2 seeds)
    verdict: str                  # supported / contradicted / not significant / not enough runs (+ " (one run)")
    p_less: float | None = None   # the same test that better < worse

    @property
    def mean(self) -> float | None:
        return sum(self.diffs) / len(self.diffs) if self.diffs else None

    @property
    def upper95(self) -> float | None:
        """The one-sided 95 % upper confidence bound of the mean difference: the data rule out a larger gain (an
        equivalence bound: 'better beats worse by less than this, with 95 % confidence')."""
        if len(self.diffs) < 2:
            return None
        from scipy import stats   # scipy (~0.3 s): only the statistics need it
        return self.mean + stats.t.ppf(0.95, len(self.diffs) - 1) * statistics.stdev(self.diffs) / math.sqrt(
            len(self.diffs))

    @property
    def ci95(self) -> tuple[float, float] | None:
        """The two-sided 95 % t-interval of the mean difference over seeds (>= 2 seeds)."""
        return t_interval(self.diffs)


def t_interval(values: list[float]) -> tuple[float, float] | None:
    """The two-sided 95 % t-interval of the mean of `values` (None with fewer than two)."""
    if len(values) < 2:
        return None
    from scipy import stats   # scipy (~0.3 s): only the statistics need it
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    mean = statistics.fmean(values)
    return mean - half, mean + half


def paired(better: dict[int, float], worse: dict[int, float]) -> Paired:
    """Compare two cells on the seeds both finished (same seed: same initialisation and data order)."""
    seeds = sorted(set(better) & set(worse))
    diffs = [better[s] - worse[s] for s in seeds]
    if not diffs:
        return Paired(seeds, diffs, None, "not enough runs")
    if len(diffs) == 1:
        sign = "supported" if diffs[0] > 0 else "contradicted" if diffs[0] < 0 else "tie"
        return Paired(seeds, diffs, None, f"{sign} (one run)")
    p_greater, p_less = _one_sided_p(diffs)
    return Paired(seeds, diffs, p_greater, _verdict(p_greater, p_less), p_less)


def _verdict(p_greater: float, p_less: float) -> str:
    return "supported" if p_greater < ALPHA else "contradicted" if p_less < ALPHA else "not significant"


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values of a family (None entries are not tested and stay None): the i-th
    smallest of m becomes max over j <= i of min(1, (m - j + 1) p_(j))."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        adjusted[index] = running
    return adjusted


def _one_sided_p(diffs: list[float]) -> tuple[float, float]:
    """(p that the mean difference is > 0, p that it is < 0) by a paired t-test on the differences."""
    from scipy import stats   # scipy (~0.3 s): only the statistics need it
    mean = sum(diffs) / len(diffs)
    if all(d == diffs[0] for d in diffs):   # no spread: the t statistic is infinite (or 0/0 for all-zero)
        return (0.0, 1.0) if mean > 0 else (1.0, 0.0) if mean < 0 else (1.0, 1.0)
    result = stats.ttest_1samp(diffs, 0.0, alternative="greater")
    return float(result.pvalue), float(1.0 - result.pvalue)


# --- claims against cells --------------------------------------------------------------------------------------

IN_SCOPE, ANALOGUE = "in scope", "analogue"
COLLAPSED_WORSE = " (against a collapsed row)"   # a support that rests on the worse row's collapse
COLLAPSED_BETTER = " (by a collapsed row)"       # a contradiction that rests on the better row's collapse


def _template_regex(template: str, arch: str) -> re.Pattern:
    escaped = re.escape(template.replace("{arch}", arch))
    return re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^@/]+?)", escaped) + "$")


def _matches(template: str, value: CellValue) -> dict | None:
    """The placeholder values if the cell's run name fits the template, else None."""
    run = value.cell.runs[0]
    found = _template_regex(template, run.arch).match(str(run.run))
    return None if found is None else found.groupdict()


def _eligible(claim: dict, value: CellValue) -> bool:
    if not value.cell.runs:
        return False
    run = value.cell.runs[0]
    return (claim.get("arch") in (None, run.arch)) and (claim.get("metric") in (None, value.cell.metric))


def in_scope(claim: dict, value: CellValue) -> bool:
    """Whether a cell lies in the setting the paper's sentence is about (its scope's datasets and archs)."""
    scope, run = claim.get("scope") or {}, value.cell.runs[0]
    return run.dataset in scope.get("datasets", ()) and run.arch in scope.get("archs", ())


def claim_pairs(claim: dict, table, values: list[CellValue]) -> list[tuple[CellValue, CellValue]]:
    """(better cell, worse cell) pairs of a table the claim compares: same column, same placeholder values."""
    pairs = []
    for column in table.columns:
        cells = [v for v in values if v.cell.column == column and _eligible(claim, v)]
        better = [(v, m) for v in cells if (m := _matches(claim["better"], v)) is not None]
        worse = [(v, m) for v in cells if (m := _matches(claim["worse"], v)) is not None]
        for b, b_vars in better:
            for w, w_vars in worse:
                shared = set(b_vars) & set(w_vars)
                same_network = b.cell.runs[0].arch == w.cell.runs[0].arch
                if same_network and all(b_vars[k] == w_vars[k] for k in shared) and b is not w:
                    pairs.append((b, w))
    return pairs


def _applies(claim: dict, table, names: set[str]) -> bool:
    """A claim is checked on its own table; a preset without that table (the demo) checks a claim about one of the
    paper's tables on its own tables that are not the paper's, wherever both rows are. A claim about one of the
    suite's tables is checked there only."""
    if table.name == claim["table"]:
        return True
    about_a_paper_table = is_paper_table(claim["table"], config.grid().get(claim["table"], {}))
    return claim["table"] not in names and about_a_paper_table and not is_paper_table(table.name, table.spec)


def is_paper_table(name: str, spec: dict) -> bool:
    """One of the paper's tables: its paper numbers are its own (a suite's table may take them from one, as the
    recipe study takes Table 2's, and stays the suite's)."""
    return spec.get("paper_table") == name


def _claim_pairs_by_scope(claim: dict, tables: dict):
    """(table name, better, worse, scope) of every comparison the claim makes: in its own table, in scope or not,
    and the analogues it names in other tables."""
    names = set(tables)
    for name, (table, values) in tables.items():
        if _applies(claim, table, names):
            for better, worse in claim_pairs(claim, table, values):
                yield name, better, worse, IN_SCOPE if in_scope(claim, better) else ANALOGUE
    for analogue in claim.get("analogues", ()):
        if analogue["table"] in tables:
            table, values = tables[analogue["table"]]
            for better, worse in claim_pairs(analogue, table, values):
                yield analogue["table"], better, worse, ANALOGUE


EPOCH_FIELDS = (("best", "compared_by_seed"), ("final", "compared_final_by_seed"))   # which epoch's accuracy, and the CellValue field
TRAINED_ONLY = (("best", "by_seed"), ("final", "final_by_seed"))               # the same, collapsed seeds left out
COMPARISON_COLUMNS = ["claim", "scope", "table", "column", "better", "worse", "seeds", "n"] + [
    f"{prefix}{name}" for prefix in ("", "final ")
    for name in ("mean_diff", "ci95 low", "ci95 high", "upper95", "p_holm (better > worse)",
                 "p_holm (better < worse)", "verdict")]


def comparisons(claims: dict, tables: dict) -> pd.DataFrame:
    """Every comparison a claim makes, at the best and at the final epoch. Several claims are tested per table, so
    the one-sided p-values of a table's comparisons are Holm-adjusted as a family (per scope, epoch choice and
    direction), and a verdict with seeds rests on the adjusted p; both directions' adjusted p are kept."""
    import pandas as pd   # pandas (~0.4 s): only the CSV writers need it
    rows, seen = [], set()
    for claim in claims["claims"]:
        for name, better, worse, scope in _claim_pairs_by_scope(claim, tables):
            key = (claim["id"], better.cell.runs, worse.cell.runs)
            if key in seen:   # the same two runs shown by two tables of a preset are compared once
                continue
            seen.add(key)
            collapsed_seeds = set(better.collapsed_by_seed) | set(worse.collapsed_by_seed)
            row = {"claim": claim["id"], "scope": scope, "table": name, "column": better.cell.column,
                   "better": better.cell.row, "worse": worse.cell.row,
                   "_collapsed": 0 if claim.get("trained_seeds_only") else len(collapsed_seeds),
                   "_left_out": len(collapsed_seeds) if claim.get("trained_seeds_only") else 0}
            for epoch, field in TRAINED_ONLY if claim.get("trained_seeds_only") else EPOCH_FIELDS:
                result = paired(getattr(better, field), getattr(worse, field))
                prefix = "" if epoch == "best" else "final "
                low, high = result.ci95 or (None, None)
                row.update({"seeds": ",".join(map(str, result.seeds)), "n": len(result.seeds),
                            f"{prefix}mean_diff": result.mean, f"{prefix}ci95 low": low, f"{prefix}ci95 high": high,
                            f"{prefix}upper95": result.upper95,
                            f"_{prefix}p_greater": result.p_value, f"_{prefix}p_less": result.p_less,
                            f"{prefix}verdict": result.verdict,
                            f"_{prefix}collapsed_sides": (_collapsed_among(better, result.seeds),
                                                    _collapsed_among(worse, result.seeds))})
            rows.append(row)
    _holm_verdicts(rows)
    for row in rows:
        for prefix in ("", "final "):
            row[f"{prefix}verdict"] = _flag_collapse(row[f"{prefix}verdict"], *row[f"_{prefix}collapsed_sides"])
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS + ["_collapsed", "_left_out"])


def _collapsed_among(value: CellValue, seeds: list[int]) -> bool:
    return any(seed in value.collapsed_by_seed for seed in seeds)


def _flag_collapse(verdict: str, better_collapsed: bool, worse_collapsed: bool) -> str:
    """A support won against a row that collapsed (or a contradiction by a row that did) says so: it shows that a
    row fails to train, not which of two trained rows is better."""
    if verdict.startswith("supported") and worse_collapsed:
        return verdict + COLLAPSED_WORSE
    if verdict.startswith("contradicted") and better_collapsed:
        return verdict + COLLAPSED_BETTER
    return verdict


def _holm_verdicts(rows: list[dict]) -> None:
    """Adjust each table's p-values as one family per scope (Holm) and base the verdicts with seeds on the adjusted
    ones: an analogue never changes an in-scope comparison's p."""
    for family_key in dict.fromkeys((row["table"], row["scope"]) for row in rows):
        family = [row for row in rows if (row["table"], row["scope"]) == family_key]
        for prefix in ("", "final "):
            greater = holm([row[f"_{prefix}p_greater"] for row in family])
            less = holm([row[f"_{prefix}p_less"] for row in family])
            for row, p_greater, p_less in zip(family, greater, less):
                row[f"{prefix}p_holm (better > worse)"] = p_greater
                row[f"{prefix}p_holm (better < worse)"] = p_less
                if p_greater is not None:
                    row[f"{prefix}verdict"] = _verdict(p_greater, p_less)


CLAIM_COLUMNS = ["claim", "table", "verdict", "final-epoch verdict", "in scope", "supported", "contradicted",
                 "not significant", "not run", "analogue verdict", "analogue final-epoch verdict", "analogues",
                 "basis", "sentence"]


def claim_verdicts(claims: dict, compared: pd.DataFrame) -> pd.DataFrame:
    """A claim's verdict from its in-scope comparisons only; its analogues' verdict beside it, apart."""
    import pandas as pd   # pandas (~0.4 s): only the CSV writers need it
    rows = []
    for claim in claims["claims"]:
        own = compared[compared["claim"] == claim["id"]]
        scoped, analogues = own[own["scope"] == IN_SCOPE], own[own["scope"] == ANALOGUE]
        verdict, counts = _overall(scoped["verdict"])
        collapsed = int(own["_collapsed"].sum()) if len(own) else 0
        left_out = int(own["_left_out"].sum()) if len(own) else 0
        basis = "; ".join(text for text, present in (("paired t-test over seeds", (own["n"] > 1).any()),
                                                     ("one run, sign only", (own["n"] == 1).any()),
                                                     (f"{collapsed} collapsed seed(s) compared at their accuracy",
                                                      collapsed > 0),
                                                     (f"{left_out} seed(s) left out where a row collapsed",
                                                      left_out > 0)) if present)
        rows.append({"claim": claim["id"], "table": claim["table"], "verdict": verdict,
                     "final-epoch verdict": _overall(scoped["final verdict"])[0], "in scope": len(scoped),
                     "supported": counts["supported"], "contradicted": counts["contradicted"],
                     "not significant": counts["not significant"] + counts["tie"],
                     "not run": counts["not enough runs"],
                     "analogue verdict": _overall(analogues["verdict"])[0] if len(analogues) else "—",
                     "analogue final-epoch verdict": _overall(analogues["final verdict"])[0] if len(analogues)
                     else "—", "analogues": len(analogues), "basis": basis or "—",
                     "sentence": ("[suite's claim] " if claim.get("suite") else "")
                     + " ".join(claim["sentence"].split())})
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def _overall(verdicts: pd.Series) -> tuple[str, dict]:
    """A verdict over comparisons' (best- or final-epoch) verdicts, and their counts: supported when every one is,
    contradicted when any is, open otherwise; a collapse that decides it is named."""
    plain = verdicts.str.replace(" (one run)", "", regex=False)
    kinds = plain.str.replace(COLLAPSED_WORSE, "", regex=False).str.replace(COLLAPSED_BETTER, "", regex=False)
    counts = {kind: int((kinds == kind).sum()) for kind in
              ("supported", "contradicted", "not significant", "tie", "not enough runs")}
    if len(verdicts) == 0:
        return "no comparison in scope", counts
    if len(verdicts) - counts["not enough runs"] == 0:
        return "not enough runs", counts
    if counts["contradicted"]:
        by_collapse = (plain == "contradicted" + COLLAPSED_BETTER).sum() == counts["contradicted"]
        return "contradicted" + (COLLAPSED_BETTER if by_collapse else ""), counts
    if counts["supported"] == len(verdicts):
        return "supported" + (COLLAPSED_WORSE if (plain != "supported").any() else ""), counts
    return "open", counts


# --- per-table agreement, rank agreement, cost -----------------------------------------------------------------

def table_summary(tables: dict, tolerance: float, root: Path, preset: str, orders: pd.DataFrame) -> pd.DataFrame:
    """One row per table; its Kendall tau is the mean of its columns' taus in `orders` (row_orders)."""
    import pandas as pd   # pandas (~0.4 s): only the CSV writers need it
    durations = _recorded_durations(preset, root)
    rows = []
    for name, (table, values) in tables.items():
        planned = [v for v in values if (v.cell.runs or v.cell.complexity) and not v.cell.pending
                   and not v.cell.not_run]
        regenerated = [v for v in planned if v.values]
        against = [v for v in regenerated if v.paper is not None]
        gaps = [abs(v.diff) for v in against]
        accuracy = [v for v in against if not v.cell.complexity]
        within = [v for v in accuracy if abs(v.diff) <= (2 * v.std if v.std is not None else tolerance)]
        spent, devices, missing = {}, set(), set()
        for v in values:
            spent.update(v.train_s)
            devices |= v.devices
            missing |= {m for m in v.missing if not m.endswith(".json")}
        estimate, unknown = _estimate(missing, durations)
        rows.append({"table": name, "cells": len(planned), "regenerated": len(regenerated),
                     "mean |ours-paper|": _mean(gaps), "max |ours-paper|": max(gaps) if gaps else None,
                     "within": f"{len(within)}/{len(accuracy)}" if accuracy else "—",
                     "kendall tau": _mean(orders.loc[orders["table"] == name, "kendall tau"].dropna().tolist()),
                     "hours spent": sum(spent.values()) / 3600,
                     "on": ", ".join(sorted({_device_kind(d) for d in devices})) or "—",
                     "runs missing": len(missing), "est. hours missing": estimate,
                     "unestimated": unknown})
    return pd.DataFrame(rows)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _ranked_cells(values: list[CellValue], column: str) -> list[CellValue]:
    """The accuracy cells of a column that have both our number and the paper's: the rows whose orders can be
    compared. A complexity table's rows are different units (parameters, FLOPs), so they have no order."""
    return [v for v in values if v.cell.column == column and not v.cell.complexity and v.mean is not None
            and v.paper is not None]


def _tau(cells: list[CellValue], ours=lambda v: v.mean) -> float | None:
    from scipy import stats   # scipy (~0.3 s): only the statistics need it
    tau = stats.kendalltau([ours(v) for v in cells], [v.paper for v in cells]).statistic
    return None if math.isnan(tau) else float(tau)


def row_orders(tables: dict) -> pd.DataFrame:
    """Per column with two or more rows that have both numbers: our order of those rows and the paper's, highest
    first, side by side with their Kendall tau (the Tables section gives each table's mean of these taus)."""
    import pandas as pd   # pandas (~0.4 s): only the CSV writers need it
    rows = []
    for name, (table, values) in tables.items():
        for column in table.columns:
            cells = _ranked_cells(values, column)
            if len(cells) >= 2:
                rows.append({"table": name, "column": column, "rows": len(cells), "kendall tau": _tau(cells),
                             "ours, highest first": _order(cells, lambda v: v.mean),
                             "paper, highest first": _order(cells, lambda v: v.paper),
                             **_final_order(cells)})
    columns = ["table", "column", "rows", "kendall tau", "ours, highest first", "paper, highest first",
               "kendall tau, final epoch", "ours at the final epoch"]
    return pd.DataFrame(rows, columns=columns)


def _final_order(cells: list[CellValue]) -> dict:
    """The final epoch's order of the same rows and its tau (empty where a cell has no final-epoch value)."""
    if any(v.final_mean is None for v in cells):
        return {}
    return {"kendall tau, final epoch": _tau(cells, lambda v: v.final_mean),
            "ours at the final epoch": _order(cells, lambda v: v.final_mean)}


def _order(cells: list[CellValue], number) -> str:
    """'DropMax 99.23 > FocusNet (Ours) 99.12 = ...': rows by `number`, highest first, '=' where two are equal."""
    ranked = sorted(cells, key=number, reverse=True)
    text = f"{ranked[0].cell.row} {number(ranked[0]):.2f}"
    for previous, cell in zip(ranked, ranked[1:]):
        text += f" {'=' if number(cell) == number(previous) else '>'} {cell.cell.row} {number(cell):.2f}"
    return text


def _device_kind(device: str) -> str:
    return "CPU" if device.startswith("cpu") else "GPU" if device.startswith("cuda") else device


def _recorded_durations(preset: str, root: Path) -> dict[tuple, list[float]]:
    """Train seconds of every finished run of the preset, by (dataset, arch, method) and by (dataset, arch)."""
    durations: dict[tuple, list[float]] = {}
    for directory in layout.run_directories(root, preset):
        try:
            seconds = float(json.loads((root / directory / "metrics.json").read_text()).get("train_time_s") or 0.0)
            run = RunSpec.from_directory(directory)
        except (ValueError, OSError):
            continue
        durations.setdefault((run.dataset, run.arch, run.run.method), []).append(seconds)
        durations.setdefault((run.dataset, run.arch), []).append(seconds)
    return durations


def _estimate(missing: set[str], durations: dict[tuple, list[float]]) -> tuple[float | None, int]:
    """Hours the missing runs would take: from finished runs of the same dataset and arch (same method first), else
    from the throughput benchmark's rate for that arch at the dataset's image size (training images only); and
    how many missing runs have neither to go by."""
    hours, unknown = 0.0, 0
    for directory in sorted(missing):   # a fixed order: the float sum is then the same in every process
        run = RunSpec.from_directory(directory)
        known = durations.get((run.dataset, run.arch, run.run.method)) or durations.get((run.dataset, run.arch))
        if known:
            hours += sum(known) / len(known) / 3600
            continue
        protocol = resolve(run)
        rate = benchmark_rates().get((run.arch, protocol.facts.image_size))
        if rate:
            hours += protocol.epochs * protocol.facts.train_size / rate / 3600
        else:
            unknown += 1
    return (hours if len(missing) > unknown else None), unknown


# --- assembling and writing -------------------------------------------------------------------------------------

def collect_tables(preset: str, root: Path, seeds: tuple[int, ...] | None = None) -> dict:
    tables = {}
    for name in table_names(preset):
        table = build_table(preset, name, seeds)
        tables[name] = (table, collect(table, root))
    return tables


def build_report(preset: str, root: Path = Path("."), seeds: tuple[int, ...] | None = None) -> dict:
    claims = load_claims()
    tables = collect_tables(preset, root, seeds)
    compared, orders = comparisons(claims, tables), row_orders(tables)
    return {"preset": preset, "tables": tables,
            "summary": table_summary(tables, claims["tolerance_pp"], root, preset, orders),
            "claims": claim_verdicts(claims, compared), "comparisons": compared.drop(columns=["_collapsed", "_left_out"]),
            "orders": orders,
            "tolerance": claims["tolerance_pp"]}


def _preamble(report: dict) -> list[str]:
    preset = config.preset(report["preset"])
    lines = [f"Preset {report['preset']}: {preset['description']}."]
    if report["preset"] != "paper":
        lines.append("These runs are not the paper's data or protocol: the verdicts below say what this preset's "
                     "runs show for the rows it shares with the paper's tables, not whether the paper holds.")
    return lines


def _legend(report: dict) -> list[str]:
    return [
        "Tables: cells regenerated of the cells the preset runs; |ours - paper| over regenerated cells with a "
        f"paper number; within: cells inside 2 std of their seeds (>= 2 seeds) or {report['tolerance']} points "
        "(one seed) of the paper; Kendall tau: our order of the rows against the paper's, mean over columns (each "
        "column's two orders are under Row order); hours spent: recorded train time of the finished runs; est. "
        "hours missing: from finished runs of the same dataset and architecture (same method first), else from the "
        "throughput benchmark's training rate (benchmarks/*.json) for that architecture and image size; "
        "unestimated where neither exists.",
        "Claims (tables/paper_claims.yaml): each compares two rows cell by cell. With several seeds a comparison "
        "is a one-sided paired t-test over the seeds both cells finished, in each direction; the p-values of one "
        "table's comparisons are Holm-adjusted as a family (per scope and direction), and the verdict rests on the "
        f"adjusted p of the direction it names: supported at p_holm (better > worse) < {ALPHA}, contradicted at "
        f"p_holm (better < worse) < {ALPHA}, else not significant; with one seed it uses the sign only and says "
        "'one run'. 95 % CI: the two-sided t-interval of the mean difference over seeds; upper95: its one-sided 95 % "
        "upper bound, the largest gain the seeds do not rule out (better beats worse by less than that, with 95 % "
        "confidence). A seed that collapsed "
        "(training at chance) is compared at its accuracy, as an outcome of the protocol (its table cell counts it "
        "apart, never in a mean), and the claim's basis says so (a claim marked trained_seeds_only leaves out the seeds "
        "on which either row collapsed, and its basis says how many); a support won against a collapsed row reads "
        "'supported (against a collapsed row)', a contradiction by one 'contradicted (by a collapsed row)': they "
        "show that a row fails to train, not which of two trained rows is better. Each is judged twice: at the best "
        "epoch (what the tables show, selected on the test split) and at the final epoch (no selection). Claims "
        "marked [suite's claim] are the suite's own questions, not the paper's.",
        "Scope: each claim names the datasets and architectures its sentence is about. Only comparisons in scope "
        "make its verdict (supported when every one is, contradicted when any is, open otherwise, 'not enough "
        "runs' when none has runs on both sides); a comparison on another setting (the suite's MNIST / LeNet-5 "
        "column of Table 10, an MNIST stand-in for a figure, any demo table) is an analogue: listed apart, with "
        "its own verdict beside the claim's, never counted toward it.",
        "Row order: per column, the rows that have both our number (mean over seeds) and the paper's, ordered by "
        "each, highest first, with their Kendall tau (1: the same order; -1: reversed), and the same for our "
        "final-epoch means. Rows the paper does not "
        "have (the suite's own), and complexity tables (their rows are parameters and FLOPs), are not ranked.",
    ]


def render_report_markdown(report: dict) -> str:
    title = (f"# {layout.report_target(report['preset']).name} [{report['preset']} preset] The regenerated tables against "
             "the paper")
    compared = _comparison_view(report["comparisons"])
    scoped, analogues = compared[compared["scope"] == IN_SCOPE], compared[compared["scope"] == ANALOGUE]
    parts = [title, "", *[f"- {line}" for line in _preamble(report)], "", "## Tables", "",
             _markdown(report["summary"]), "", "## The paper's claims", "",
             _markdown(report["claims"]), "", "## Comparisons in scope, seed-paired", "",
             _markdown(scoped.drop(columns="scope")) if len(scoped) else "(no comparison in any claim's scope)",
             "", "## Analogues: the suite's evidence on other settings (never counted toward a claim's verdict)", "",
             _markdown(analogues.drop(columns="scope")) if len(analogues) else "(none)",
             "", "## Row order, ours against the paper", "",
             _markdown(report["orders"]) if len(report["orders"]) else "(no column has two rows with both numbers)",
             "", "## How to read this report", "", *[f"- {line}" for line in _legend(report)]]
    return "\n".join(parts) + "\n"


def _comparison_view(frame: pd.DataFrame) -> pd.DataFrame:
    """The comparisons as printed: each 95 % interval in one column, '[low, high]'."""
    view = frame.copy()
    for prefix in ("", "final "):
        low, high = view.pop(f"{prefix}ci95 low"), view.pop(f"{prefix}ci95 high")
        interval = [f"[{lo:+.3g}, {hi:+.3g}]" if lo is not None and not math.isnan(lo) else None
                    for lo, hi in zip(low, high)]
        view.insert(view.columns.get_loc(f"{prefix}mean_diff") + 1, f"{prefix}95% CI", interval)
    return view


def _formatted(frame: pd.DataFrame, missing: str = "—") -> pd.DataFrame:
    """Numbers to 3 significant digits (counts as integers), empty values as `missing`."""
    def text(value):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return missing
        if isinstance(value, float):
            return f"{value:.3g}"
        return str(value)
    return frame.astype(object).apply(lambda column: column.map(text))


def _markdown(frame: pd.DataFrame) -> str:
    return _formatted(frame).to_markdown(index=False, disable_numparse=True)


def render_report_latex(report: dict) -> str:
    parts = []
    for caption, frame in (("Tables", report["summary"]), ("Claims", report["claims"]),
                           ("Comparisons", _comparison_view(report["comparisons"])), ("Row order", report["orders"])):
        parts.append(_formatted(frame, "--").to_latex(index=False, longtable=False, escape=True,
                                                      caption=f"{report['preset']} preset: {caption}"))
    return "\n".join(parts)


def render_report_csv(report: dict) -> str:
    import pandas as pd   # pandas (~0.4 s): only the CSV writers need it
    sections = (("table", report["summary"]), ("claim", report["claims"]), ("comparison", report["comparisons"]),
                ("row order", report["orders"]))
    frames = [frame.assign(section=section) for section, frame in sections]
    return pd.concat(frames, ignore_index=True).to_csv(index=False)


def write_report(preset: str, root: Path = Path("."), seeds: tuple[int, ...] | None = None) -> list[Path]:
    from methods.report.figures import plot_forest   # matplotlib (~1 s): only the figure and curve writers need it
    report = build_report(preset, root, seeds)
    base = root / layout.report_target(preset)
    base.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix, render in ((".md", render_report_markdown), (".tex", render_report_latex), (".csv", render_report_csv)):
        path = base.with_suffix(suffix)
        path.write_text(render(report))
        written.append(path)
    written += plot_forest(report, base)
    return written


def report_targets() -> list[str]:
    return [str(layout.report_target(preset)) + ".md" for preset in config.presets()]


def preset_of_report(target: str) -> str | None:
    """The preset whose report `target` (e.g. tables/smoke/report.md) is, or None."""
    for preset in config.presets():
        if str(layout.report_target(preset)) == str(Path(target).with_suffix("")):
            return preset
    return None
