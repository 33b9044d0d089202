"""The claims report (methods/report/comparison.py): seed-paired verdicts on hand-worked numbers, claims matched to the right
cells of the real grid, nothing supported without runs, and the report of the committed demo and MNIST runs."""
import json
import math
import subprocess
import sys

import pytest

from methods import PROJECT_ROOT
from methods.plan.grid import build_table
from methods.plan.layout import report_target
from methods.report.comparison import (build_report, claim_pairs, claim_verdicts, comparisons, in_scope, load_claims,
                                       paired, render_report_markdown, row_orders)
from methods.report.tables import CellValue


def test_paired_t_test_on_hand_worked_differences():
    # diffs 1, 2, 3: mean 2, sd 1, t = 2 * sqrt(3) = 3.464 on 2 df; the t(2) CDF is 1/2 + t / (2 sqrt(2 + t^2)),
    # so p = 1/2 - 3.464 / (2 * sqrt(14)) = 0.0371 < 0.05
    result = paired({0: 91.0, 1: 92.0, 2: 93.0}, {0: 90.0, 1: 90.0, 2: 90.0})
    assert result.diffs == [1.0, 2.0, 3.0] and result.mean == 2.0
    assert result.p_value == pytest.approx(0.5 - 2 * math.sqrt(3) / (2 * math.sqrt(14)), abs=1e-9)
    assert result.verdict == "supported"
    # diffs 1, -1, 3: mean 1, sd 2, t = 0.866; p = 1/2 - 0.866 / (2 sqrt(2.75)) = 0.2389: not significant
    result = paired({0: 1.0, 1: -1.0, 2: 3.0}, {0: 0.0, 1: 0.0, 2: 0.0})
    assert result.p_value == pytest.approx(0.5 - (math.sqrt(3) / 2) / (2 * math.sqrt(2.75)), abs=1e-9)
    assert result.verdict == "not significant"
    # the mirror image is contradicted
    assert paired({0: 90.0, 1: 90.0, 2: 90.0}, {0: 91.0, 1: 92.0, 2: 93.0}).verdict == "contradicted"


def test_paired_uses_only_seeds_both_cells_finished_and_says_one_run():
    assert paired({0: 99.2, 1: 99.0}, {0: 99.1}).verdict == "supported (one run)"
    assert paired({0: 99.0}, {0: 99.1}).verdict == "contradicted (one run)"
    assert paired({1: 99.0}, {0: 99.1}).verdict == "not enough runs"
    assert paired({}, {}).verdict == "not enough runs"
    assert paired({0: 1.5, 1: 1.5}, {0: 1.0, 1: 1.0}).verdict == "supported"   # no spread: t is infinite


def empty_cells(preset: str, name: str):
    table = build_table(preset, name)
    return table, [CellValue(cell, [], None, [], []) for cell in table.cells]


def claim(claim_id: str) -> dict:
    return next(c for c in load_claims()["claims"] if c["id"] == claim_id)


def test_claims_pair_cells_of_one_column_one_network_and_equal_placeholders():
    table, values = empty_cells("paper", "table9")
    pairs = claim_pairs(claim("t9-focusnet-beats-dereverse-kd"), table, values)
    assert len(pairs) == 7                                     # one per dataset column
    for better, worse in pairs:
        assert better.cell.column == worse.cell.column
        assert better.cell.runs[0].arch == worse.cell.runs[0].arch == "resnet18"
        assert str(better.cell.runs[0].run).split("~")[1] == str(worse.cell.runs[0].run).split("~")[1]   # e<k>
    table, values = empty_cells("paper", "fig4")
    pairs = claim_pairs(claim("fig4-poor-reference-still-beats-baseline"), table, values)
    assert len(pairs) == 14 and {w.cell.row for _, w in pairs} == {"Baseline (fully trained)"}
    table, values = empty_cells("paper", "table5")
    pairs = claim_pairs(claim("t5-focusnet-beats-standard-kd"), table, values)
    assert len(pairs) == 7 and all(b.cell.row == "FocusNet (Ours)" and w.cell.row == "Standard KD" for b, w in pairs)
    table, values = empty_cells("paper", "table7")
    frskd = claim("t7-focusnet-beats-frskd")
    pairs = claim_pairs(frskd, table, values)    # every column pairs; the claim's scope is three of them
    assert {b.cell.runs[0].dataset for b, _ in pairs if in_scope(frskd, b)} == {"cifar100", "stanford_dogs",
                                                                                "tiny_imagenet"}


def test_every_paper_claim_finds_its_cells_and_none_is_supported_without_runs():
    claims = load_claims()
    tables = {name: empty_cells("paper", name) for name in {c["table"] for c in claims["claims"]}}
    compared = comparisons(claims, tables)
    assert set(compared["claim"]) == {c["id"] for c in claims["claims"]}   # no claim matches nothing
    verdicts = claim_verdicts(claims, compared)
    assert set(verdicts["verdict"]) == {"not enough runs"}


def test_row_orders_put_ours_beside_the_papers_with_their_tau():
    table, values = empty_cells("paper", "table2")
    ours = {"Baseline": ([99.0, 99.5], 99.31), "DropMax": ([99.5], 99.43), "FocusNet (Ours)": ([99.25], 99.56)}
    for value in values:
        if value.cell.column == "MNIST" and value.cell.row in ours:
            value.values, value.paper = ours[value.cell.row]
        elif value.cell.column == "MNIST":
            value.values = [99.9]                  # a suite's row: no paper number, so not ranked
        elif value.cell.column == "CIFAR-10" and value.cell.row == "Baseline":
            value.values, value.paper = [95.0], 95.5   # one row with both numbers: no order to compare
    orders = row_orders({"table2": (table, values)})
    assert orders[["table", "column", "rows"]].values.tolist() == [["table2", "MNIST", 3]]
    row = orders.iloc[0]
    assert row["ours, highest first"] == "DropMax 99.50 > Baseline 99.25 = FocusNet (Ours) 99.25"
    assert row["paper, highest first"] == "FocusNet (Ours) 99.56 > DropMax 99.43 > Baseline 99.31"
    # pairs: (Baseline, DropMax) concordant, (DropMax, FocusNet) discordant, (Baseline, FocusNet) tied in ours:
    # tau-b = (1 - 1) / sqrt((3 - 1) * (3 - 0)) = 0
    assert row["kendall tau"] == pytest.approx(0.0)
    assert row.isna()["kendall tau, final epoch"]      # no final-epoch values given: no final order
    for value in values:                               # at the final epoch ours is the paper's order: tau 1
        if value.cell.column == "MNIST" and value.cell.row in ours:
            value.final, value.seeds = [value.paper - 1.0] * len(value.values), list(range(len(value.values)))
    final = row_orders({"table2": (table, values)}).iloc[0]
    assert final["kendall tau, final epoch"] == pytest.approx(1.0)
    assert final["ours at the final epoch"] == "FocusNet (Ours) 98.56 > DropMax 98.43 > Baseline 98.31"
    table, values = empty_cells("paper", "table4")            # parameters beside FLOPs: not an order of rows
    for value in values:
        value.values, value.paper = [11.27], 11.69
    assert row_orders({"table4": (table, values)}).empty


def test_the_paper_report_of_the_committed_runs_lists_every_claim():
    report = build_report("paper", PROJECT_ROOT)
    claims = report["claims"].set_index("claim")
    assert list(claims.index) == [c["id"] for c in load_claims()["claims"]]
    assert set(claims["verdict"]) <= {"supported", "contradicted", "open", "not enough runs",
                                      "supported (against a collapsed row)", "contradicted (by a collapsed row)"}
    mnist = report["comparisons"].query("claim == 't2-focusnet-beats-baseline' and column == 'MNIST'").iloc[0]
    assert mnist["n"] >= 1 and mnist["verdict"] != "not enough runs"     # committed MNIST runs: both rows
    table2 = report["summary"].set_index("table").loc["table2"]
    assert table2["regenerated"] >= 2 and table2["hours spent"] > 0
    text = render_report_markdown(report)
    assert "## The paper's claims" in text and "not the paper's data" not in text
    assert "## Row order, ours against the paper" in text and "MNIST" in set(report["orders"]["column"])


def test_the_demo_report_compares_three_seeds_and_says_it_is_not_the_papers_data():
    report = build_report("demo", PROJECT_ROOT)
    three = report["comparisons"].query("n == 3")
    assert len(three) and three["p_holm (better > worse)"].notna().all()
    assert set(report["comparisons"]["scope"]) == {"analogue"}   # digits are no claim's setting
    assert set(report["claims"]["verdict"]) == {"no comparison in scope"}
    assert "not the paper's data" in render_report_markdown(report)
    assert str(report_target("demo")) == "tables/demo_report"


def test_the_report_is_a_table_target_of_the_cli(tmp_path):
    result = subprocess.run([sys.executable, "-m", "methods", "table", "tables/smoke/report.md"], cwd=tmp_path,
                            capture_output=True, text=True, env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": ""})
    assert result.returncode == 0, result.stderr
    for suffix in (".md", ".tex", ".csv", ".png", ".pdf"):
        assert (tmp_path / "tables/smoke/report").with_suffix(suffix).exists()
    text = (tmp_path / "tables/smoke/report.md").read_text()
    assert "not the paper's data" in text and "not enough runs" in text


def test_table1_shows_the_data_checks_present_beside_the_paper(tmp_path):
    from methods.plan.layout import stamp_path
    from methods.report.table1 import write_table1
    stamp = {"train": {"classes": 10, "samples": 60000}, "val": {"classes": 10, "samples": 10000}}
    (tmp_path / stamp_path("paper", "mnist")).parent.mkdir(parents=True)
    (tmp_path / stamp_path("paper", "mnist")).write_text(json.dumps(stamp))
    stamp["train"]["samples"] = 49000                      # a CIFAR-10 copy missing a batch file
    (tmp_path / stamp_path("paper", "cifar10")).write_text(json.dumps(stamp))
    write_table1("paper", tmp_path)
    text = (tmp_path / "tables/table1.md").read_text()
    assert "| MNIST         | 10 / 10   | 60,000 / 60,000 | 10,000 / 10,000 | as the paper |" in text
    assert "| CIFAR-10      | 10 / 10   | 49,000 / 50,000 | 10,000 / 10,000 | differs      |" in text
    assert "| ImageNet      | — / 1,000 | — / 1,281,167   | — / 50,000      | not checked  |" in text
    assert "2 of 9 checked" in text


def test_missing_runs_are_costed_from_runs_of_their_dataset_and_arch_else_from_the_benchmark():
    from methods.report.comparison import _estimate
    from methods.runs.throughput_rates import benchmark_rates as _benchmark_rates
    recorded = {("mnist", "lenet5", "dropmax"): [3600.0, 5400.0], ("mnist", "lenet5"): [1800.0]}
    assert _estimate({"results/paper/mnist/lenet5/dropmax/seed1"}, recorded) == (1.25, 0)   # same method first
    assert _estimate({"results/paper/mnist/lenet5/baseline/seed1"}, recorded) == (0.5, 0)   # same dataset, arch
    rate = _benchmark_rates()[("lenet5", 28)]   # benchmarks/cpu-lenet5-mnist.json: the engine on this CPU
    hours, unknown = _estimate({"results/paper/mnist/lenet5/baseline/seed7"}, {})
    assert unknown == 0 and hours == pytest.approx(200 * 60000 / rate / 3600)
    assert _estimate({"results/paper/cub200/resnet34/baseline/seed0"}, {}) == (None, 1)   # nothing to go by


def test_holm_adjusts_a_family_on_hand_worked_values():
    from methods.report.comparison import holm
    # sorted 0.01, 0.03, 0.04 of m = 3: 3 x 0.01 = 0.03; 2 x 0.03 = 0.06; max(0.06, 1 x 0.04) = 0.06
    assert holm([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None], nan_ok=True)
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])       # capped at 1
    assert holm([]) == []


def test_verdicts_rest_on_holm_adjusted_p_and_are_given_at_the_final_epoch_too():
    table, values = empty_cells("paper", "table2")
    mnist = {v.cell.row: v for v in values if v.cell.column == "MNIST"}
    numbers = {"Baseline": ([99.0, 99.1, 99.0], [99.0, 99.0, 99.0]),
               "DropMax": ([99.2, 99.2, 99.3], [98.5, 98.4, 98.5]),
               "FocusNet (Ours)": ([99.3, 99.35, 99.3], [99.0, 99.1, 98.9])}
    for row, (best, final) in numbers.items():
        mnist[row].values, mnist[row].final, mnist[row].seeds = best, final, [0, 1, 2]
    compared = comparisons(load_claims(), {"table2": (table, values)}).set_index("claim")
    dropmax = compared.loc["t2-dropmax-beats-baseline"]
    dropmax = dropmax[dropmax["column"] == "MNIST"].iloc[0]
    unadjusted = paired(mnist["DropMax"].compared_by_seed, mnist["Baseline"].compared_by_seed).p_value
    assert dropmax["p_holm (better > worse)"] >= unadjusted
    assert dropmax["verdict"] == ("supported" if dropmax["p_holm (better > worse)"] < 0.05 else "not significant")
    assert dropmax["final verdict"] == "contradicted"           # every seed ends below its Baseline
    verdicts = claim_verdicts(load_claims(), compared.reset_index()).set_index("claim")
    assert verdicts.loc["t2-dropmax-beats-baseline", "final-epoch verdict"] == "contradicted"


def test_a_collapsed_seed_is_compared_at_its_accuracy_and_the_basis_says_so():
    """Table 10's L_cls collapsing to chance on every seed is an outcome of training it: the claim that it beats the
    Baseline is contradicted, not left without runs; the cell itself still never averages the collapsed seeds."""
    table, values = empty_cells("paper", "table10")
    mnist = {v.cell.row: v for v in values if v.cell.column.startswith("MNIST")}
    baseline, cls = mnist["Baseline (cross-entropy)"], mnist["L_cls"]
    baseline.values, baseline.final, baseline.seeds = [99.1, 98.9, 99.1], [99.0, 98.9, 99.0], [0, 1, 2]
    cls.collapsed_by_seed = {0: (11.35, 11.35), 1: (11.35, 11.35), 2: (11.35, 11.35)}
    assert cls.mean is None and cls.compared_by_seed == {0: 11.35, 1: 11.35, 2: 11.35}
    compared = comparisons(load_claims(), {"table10": (table, values)})
    row = compared[(compared["claim"] == "t10-cls-beats-baseline") & (compared["column"] == cls.cell.column)].iloc[0]
    assert row["n"] == 3 and row["mean_diff"] < -87 and row["verdict"] == "contradicted (by a collapsed row)"
    verdicts = claim_verdicts(load_claims(), compared).set_index("claim")
    assert "3 collapsed seed(s) compared at their accuracy" in verdicts.loc["t10-cls-beats-baseline", "basis"]


def _fill(value: CellValue, best: list[float], final: list[float] | None = None) -> None:
    value.values, value.final, value.seeds = best, final or best, list(range(len(best)))


def _table10_cells():
    table, values = empty_cells("paper", "table10")
    return table, {(v.cell.column.split(",")[0], v.cell.row): v for v in values}, values


def test_a_comparison_outside_a_claims_scope_is_an_analogue_and_never_makes_its_verdict():
    """Table 10's claims are about ResNet-18 on CUB-200 and Stanford Dogs: the suite's MNIST / LeNet-5 column is
    listed as an analogue with its own verdict, and the claim's verdict rests on the in-scope cells alone."""
    table, cells, values = _table10_cells()
    _fill(cells["MNIST", "Baseline (cross-entropy)"], [99.0, 99.1, 99.0])
    _fill(cells["MNIST", "FocusNet (all three terms)"], [99.5, 99.6, 99.55])   # MNIST: FocusNet clearly better
    compared = comparisons(load_claims(), {"table10": (table, values)})
    row = compared.query("claim == 't10-focusnet-beats-baseline' and column.str.startswith('MNIST')").iloc[0]
    assert row["scope"] == "analogue" and row["verdict"] == "supported"
    verdicts = claim_verdicts(load_claims(), compared).set_index("claim").loc["t10-focusnet-beats-baseline"]
    assert verdicts["verdict"] == "not enough runs" and verdicts["in scope"] == 2   # CUB-200, Stanford Dogs
    assert verdicts["analogue verdict"] == "supported" and verdicts["analogues"] == 1
    # CUB-200 against the claim: now the claim is contradicted, whatever MNIST says
    _fill(cells["CUB-200", "Baseline (cross-entropy)"], [60.0, 60.5, 60.2])
    _fill(cells["CUB-200", "FocusNet (all three terms)"], [58.0, 58.4, 58.1])
    compared = comparisons(load_claims(), {"table10": (table, values)})
    verdicts = claim_verdicts(load_claims(), compared).set_index("claim").loc["t10-focusnet-beats-baseline"]
    assert verdicts["verdict"] == "contradicted" and verdicts["analogue verdict"] == "supported"


def test_analogues_are_their_own_holm_family():
    """Adding analogue comparisons to a table never changes an in-scope comparison's adjusted p."""
    table, cells, values = _table10_cells()
    _fill(cells["CUB-200", "Baseline (cross-entropy)"], [60.0, 60.5, 60.2])
    _fill(cells["CUB-200", "FocusNet (all three terms)"], [61.0, 61.9, 61.1])
    alone = comparisons(load_claims(), {"table10": (table, values)})
    for row, numbers in (("Baseline (cross-entropy)", [99.0, 99.1, 99.0]), ("L_cls", [99.2, 99.0, 99.3]),
                         ("FocusNet (all three terms)", [99.5, 99.6, 99.55])):
        _fill(cells["MNIST", row], numbers)
    beside = comparisons(load_claims(), {"table10": (table, values)})
    pick = "claim == 't10-focusnet-beats-baseline' and column == 'CUB-200'"
    assert alone.query(pick).iloc[0]["p_holm (better > worse)"] == beside.query(pick).iloc[0]["p_holm (better > worse)"]


def test_every_claim_has_a_scope_and_a_claim_without_one_is_refused(tmp_path):
    for claim in load_claims()["claims"]:             # load_claims checks each scope's names
        assert claim["scope"]["datasets"] and claim["scope"]["archs"], claim["id"]
    bad = tmp_path / "claims.yaml"
    bad.write_text("tolerance_pp: 0.5\nclaims:\n  - {id: c, table: table2, better: dropmax, worse: baseline, "
                   "sentence: s}\n")
    with pytest.raises(ValueError, match="claim 'c' has no scope: give it 'scope: {datasets"):
        load_claims(bad)
    bad.write_text("tolerance_pp: 0.5\nclaims:\n  - {id: c, table: table2, better: dropmax, worse: baseline, "
                   "sentence: s, scope: {datasets: [mnsit], archs: [lenet5]}}\n")
    with pytest.raises(ValueError, match=r"scope datasets \['mnsit'\] are not known"):
        load_claims(bad)


def test_a_contradiction_shows_the_reverse_directions_adjusted_p():
    table, values = empty_cells("paper", "table2")
    mnist = {v.cell.row: v for v in values if v.cell.column == "MNIST"}
    _fill(mnist["Baseline"], [99.3, 99.4, 99.35])
    _fill(mnist["FocusNet (Ours)"], [99.0, 99.05, 99.0])     # below the Baseline on every seed, by 0.3 +- 0.03
    compared = comparisons(load_claims(), {"table2": (table, values)})
    row = compared.query("claim == 't2-focusnet-beats-baseline' and column == 'MNIST'").iloc[0]
    assert row["verdict"] == "contradicted"
    assert row["p_holm (better < worse)"] < 0.05 < row["p_holm (better > worse)"]
    # diffs -0.3, -0.35, -0.35: mean -0.3333, sd 0.02887, t = -20 on 2 df; p(better < worse) = 1/2 - 20 / (2
    # sqrt(402)) = 0.001244, and it is the only tested comparison of its family in that direction... of two
    # (FocusNet vs DropMax has no runs): Holm leaves it as it is
    assert row["p_holm (better < worse)"] == pytest.approx(0.5 - 20 / (2 * math.sqrt(402)), rel=1e-6)
    # the 95 % interval: mean +- t(0.975, 2) sd / sqrt(3) = -0.3333 +- 4.3027 * 0.016667
    assert (row["ci95 low"], row["ci95 high"]) == pytest.approx((-0.3333333 - 0.0717116, -0.3333333 + 0.0717116),
                                                                abs=1e-6)


def test_a_support_won_against_a_collapsed_row_says_so():
    table, cells, values = _table10_cells()
    cls, attention = cells["MNIST", "L_cls"], cells["MNIST", "L_cls + R_attention"]
    cls.collapsed_by_seed = {0: (11.35, 11.35), 1: (11.35, 11.35), 2: (11.35, 11.35)}
    _fill(attention, [98.97, 98.97, 99.03])
    compared = comparisons(load_claims(), {"table10": (table, values)})
    row = compared.query("claim == 't10-attention-helps' and column.str.startswith('MNIST')").iloc[0]
    assert row["verdict"] == "supported (against a collapsed row)"
    verdicts = claim_verdicts(load_claims(), compared).set_index("claim").loc["t10-attention-helps"]
    assert verdicts["analogue verdict"] == "supported (against a collapsed row)"


def test_table10_has_the_leave_one_term_out_claims_that_a_collapse_cannot_decide():
    claims = {c["id"]: c for c in load_claims()["claims"]}
    attention, entropy = claims["suite-t10-attention-helps-full-loss"], claims["suite-t10-entropy-helps-full-loss"]
    assert attention["better"] == entropy["better"] == "focusnet@{arch}.baseline"
    assert "terms=cls+ent" in attention["worse"] and "terms=cls+att" in entropy["worse"]
    assert "cls@" not in attention["worse"] + entropy["worse"]   # L_cls alone (which collapses) is on neither side


def test_an_analogue_entry_compares_cells_of_another_table():
    claims = {"claims": [{"id": "x", "table": "table10", "sentence": "s",
                          "scope": {"datasets": ["cub200"], "archs": ["resnet18"]},
                          "better": "focusnet@{arch}.baseline", "worse": "baseline",
                          "analogues": [{"table": "focus_controls", "better": "focusnet@{arch}.baseline~e0",
                                         "worse": "baseline"}]}]}
    tables = {name: empty_cells("paper", name) for name in ("table10", "focus_controls")}
    compared = comparisons(claims, tables)
    analogue = compared.query("table == 'focus_controls'")
    assert len(analogue) == 1 and analogue.iloc[0]["scope"] == "analogue"
    assert analogue.iloc[0]["better"] == "FocusNet, untrained reference"


def test_a_claim_about_a_suites_table_is_checked_there_only_even_when_it_takes_the_papers_numbers():
    """The recipe study (mnist_recipe) takes Table 2's paper numbers but is the suite's table: a preset without it
    (the demo, the smoke grid) does not check its claim on its own tables, as it does a claim about Table 10."""
    claim = {"id": "x", "sentence": "s", "scope": {"datasets": ["mnist"], "archs": ["lenet5_classic"]},
             "better": "focusnet@{arch}.baseline", "worse": "baseline"}
    tables = {"focus_controls": empty_cells("paper", "focus_controls")}
    assert comparisons({"claims": [{**claim, "table": "mnist_recipe"}]}, tables).empty
    assert len(comparisons({"claims": [{**claim, "table": "table10"}]}, tables)) == 1


def test_the_forest_plot_names_every_compared_cell_and_comparison(tmp_path):
    from methods.report.figures import forest_figure, plot_forest
    report = build_report("paper", PROJECT_ROOT)
    figure = forest_figure(report)
    top, bottom = figure.axes[:2]
    cells = [label.get_text() for label in top.get_yticklabels()]
    assert "table2 · MNIST · Baseline (n=3)" in cells and "table2 · MNIST · FocusNet (Ours) (n=3)" in cells
    compared = report["comparisons"].query("n > 0")
    labels = [label.get_text() for label in bottom.get_yticklabels()]
    assert len(labels) == len(compared)                     # one labelled line per comparison with runs
    assert any("t10-focusnet-beats-baseline [analogue]" in label for label in labels)
    assert any(line.get_xdata()[0] == 0 for line in top.get_lines() if len(line.get_xdata()) == 2)  # the zero line
    first = [path.read_bytes() for path in plot_forest(report, tmp_path / "a")]
    second = [path.read_bytes() for path in plot_forest(report, tmp_path / "b")]
    assert first == second   # no creation date in the PDF: a rebuild of unchanged results changes no file
    demo = forest_figure(build_report("demo", PROJECT_ROOT))
    assert [label.get_text() for label in demo.axes[1].get_yticklabels()]   # the demo's comparisons are named too


def test_the_one_sided_bound_rules_out_larger_gains_on_hand_worked_numbers():
    # diffs 1, 2, 3: mean 2, sd 1; t(0.95, 2 df) = 2.919986: the bound is 2 + 2.919986 / sqrt(3) = 3.685843
    result = paired({0: 91.0, 1: 92.0, 2: 93.0}, {0: 90.0, 1: 90.0, 2: 90.0})
    assert result.upper95 == pytest.approx(2 + 2.919986 / math.sqrt(3), abs=1e-5)
    assert paired({0: 91.0}, {0: 90.0}).upper95 is None


def test_a_trained_seeds_only_claim_leaves_out_the_seeds_on_which_a_row_collapsed():
    table, values = empty_cells("paper", "mnist_ten_seeds")
    cells = {v.cell.row: v for v in values}
    baseline, focusnet = cells["Baseline"], cells["FocusNet (Ours)"]
    baseline.values, baseline.final, baseline.seeds = [99.0, 99.1, 99.0], [99.0, 99.1, 99.0], [0, 1, 2]
    baseline.collapsed_by_seed = {3: (11.35, 11.35)}          # seed 3's Baseline fell to chance
    focusnet.values, focusnet.final, focusnet.seeds = [99.1, 99.1, 99.2, 99.1], [99.0] * 4, [0, 1, 2, 3]
    compared = comparisons(load_claims(), {"mnist_ten_seeds": (table, values)}).set_index("claim")
    everything = compared.loc["suite-ten-seeds-focusnet-beats-baseline"]
    trained = compared.loc["suite-ten-seeds-focusnet-beats-baseline-trained-seeds"]
    # seed 3's +87.75 beside +0.1, 0.0, +0.2: a mean no trained network shows, and a spread no test decides
    assert everything["seeds"] == "0,1,2,3" and everything["mean_diff"] == pytest.approx(88.05 / 4)
    assert everything["verdict"] == "not significant"
    assert trained["seeds"] == "0,1,2" and trained["mean_diff"] == pytest.approx(0.1, abs=1e-9)
    verdicts = claim_verdicts(load_claims(), compared.reset_index()).set_index("claim")
    assert "1 seed(s) left out where a row collapsed" in verdicts.loc[
        "suite-ten-seeds-focusnet-beats-baseline-trained-seeds", "basis"]
