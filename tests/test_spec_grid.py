"""Run names, run directories, protocols, and the grid's expansion into cells and runs."""
import re
from pathlib import Path

import pytest

from methods import PROJECT_ROOT
from methods.plan import config
from methods.plan.grid import build_table, preset_of_target, required_runs
from methods.plan.layout import table_target
from methods.plan.protocol import resolve
from methods.plan.spec import RunSpec, SpecError, parse_run_name


def test_run_name_round_trip():
    for text in ("baseline", "focusnet@resnet18.baseline", "focusnet-terms=cls+ent@resnet18.baseline",
                 "baseline~e30-const", "focusnet-alpha=2.0,warm=softmax@mobilenetv2.baseline~e5-const"):
        assert str(parse_run_name(text)) == text


def test_reference_parsing_and_directory():
    spec = RunSpec.from_parts("paper", "cub200", "resnet18", "focusnet-terms=cls@resnet18.baseline", 0)
    assert spec.directory == Path("results/paper/cub200/resnet18/focusnet-terms=cls@resnet18.baseline/seed0")
    assert spec.reference == RunSpec.from_parts("paper", "cub200", "resnet18", "baseline", 0)
    assert spec.run.options == (("terms", "cls"),)


@pytest.mark.parametrize("text,message", [
    ("focusnet-warm=code,alpha=2", "sorted order"), ("focusnet@resnet18", "@<arch>.<run>"),
    ("baseline~e30-linear", "schedule token"), ("Focus", "lower-case"), ("focusnet-alpha", "key=value"),
])
def test_bad_run_names_say_how_to_write_them(text, message):
    with pytest.raises(SpecError, match=message):
        parse_run_name(text)


def test_schedule_tokens_set_epochs_and_drop_decay():
    protocol = resolve(RunSpec.from_parts("paper", "cub200", "resnet18", "baseline~e30-const", 0)).record
    assert protocol["schedule"] == {"epochs": 30, "milestones": [], "gamma": 0.1}
    paper = resolve(RunSpec.from_parts("paper", "cub200", "resnet18", "baseline", 0)).record
    assert paper["schedule"] == {"epochs": 200, "milestones": [100, 150], "gamma": 0.1}
    assert resolve(RunSpec.from_parts("paper", "tiny_imagenet", "resnet18", "baseline", 0)).schedule["epochs"] == 90


def test_warm_up_token_is_recorded_only_where_it_is_set():
    warm = resolve(RunSpec.from_parts("paper", "mnist", "lenet5", "focusnet~w1@lenet5.baseline", 0)).record
    assert warm["schedule"] == {"epochs": 200, "milestones": [100, 150], "gamma": 0.1, "warmup_epochs": 1}
    assert warm["reference"] == "results/paper/mnist/lenet5/baseline/seed0"
    assert "warmup_epochs" not in resolve(RunSpec.from_parts("paper", "mnist", "lenet5", "baseline", 0)).schedule


def test_a_row_may_run_on_some_datasets_only():
    table = build_table("paper", "table2")
    warm = [cell for cell in table.cells if "warm-up" in cell.row]
    assert [c.column for c in warm if c.runs] == ["MNIST"] and len([c for c in warm if c.not_run]) == 7


def test_paper_recipe_is_resolved_from_config():
    protocol = resolve(RunSpec.from_parts("paper", "cifar100", "resnet18", "focusnet@resnet18.baseline", 0)).record
    assert protocol["optimizer"] == {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4}
    assert protocol["options"]["terms"] == ["cls", "att", "ent"]
    assert protocol["reference"] == "results/paper/cifar100/resnet18/baseline/seed0"


def test_protocol_hash_tracks_what_changes_results():
    base = RunSpec.from_parts("paper", "cifar10", "resnet18", "baseline", 0)
    other_seed = RunSpec.from_parts("paper", "cifar10", "resnet18", "baseline", 1)
    smoke = RunSpec.from_parts("smoke", "cifar10", "resnet18", "baseline", 0)
    hashes = {resolve(s).hash for s in (base, other_seed, smoke)}
    assert len(hashes) == 3
    assert resolve(base).hash == resolve(base).hash


def test_method_reference_mismatch_is_an_error():
    with pytest.raises(SpecError, match="needs a reference"):
        resolve(RunSpec.from_parts("paper", "cifar10", "resnet18", "focusnet", 0))
    with pytest.raises(SpecError, match="takes no reference"):
        resolve(RunSpec.from_parts("paper", "cifar10", "resnet18", "baseline@resnet18.baseline", 0))


def test_unknown_option_and_method_errors():
    with pytest.raises(ValueError, match="unknown option"):
        resolve(RunSpec.from_parts("paper", "cifar10", "resnet18", "focusnet-gamma=2@resnet18.baseline", 0))
    with pytest.raises(SpecError, match="unknown method 'dropmaxx'"):
        resolve(RunSpec.from_parts("paper", "cifar10", "resnet18", "dropmaxx", 0))


def test_table2_lists_baseline_dropmax_and_focusnet_of_all_eight_datasets():
    runs = required_runs(build_table("paper", "table2"))
    datasets = ["mnist", "cifar10", "imagewoof", "cifar100", "cub200", "stanford_dogs", "tiny_imagenet",
                "imagenet_dogs"]
    rows = ("baseline", "dropmax", "focusnet@{}.baseline", "focusnet-label_smoothing=0.1,warm=softmax@{}.baseline")
    expected = {(d, "lenet5" if d == "mnist" else "resnet18", run) for d in datasets for run in rows}
    expected.add(("mnist", "lenet5", "focusnet~w1@{}.baseline"))     # the suite's warm-up row: MNIST only
    assert {(r.dataset, r.arch, str(r.run).replace(f"@{r.arch}.", "@{}.")) for r in runs} == expected
    assert len(runs) == len(expected) + 2 * (len(rows) + 1)    # the MNIST column runs seeds 0, 1, 2


def test_table10_shares_runs_with_table2():
    t2 = set(required_runs(build_table("paper", "table2")))
    t10 = required_runs(build_table("paper", "table10"))
    assert len(t10) == 10 + 15          # CUB-200 and Stanford Dogs, one seed; the suite's MNIST column, 3 seeds
    shared = [r for r in t10 if r in t2]
    assert {str(r.run) for r in shared} == {"baseline", "focusnet@resnet18.baseline", "focusnet@lenet5.baseline"}
    assert {(r.dataset, r.seed) for r in shared if r.arch == "lenet5"} == {("mnist", s) for s in (0, 1, 2)}
    assert len(shared) == 4 + 6


def test_focus_controls_pair_each_focusnet_with_a_reference_of_its_own_seed():
    runs = required_runs(build_table("paper", "focus_controls"))
    assert len(runs) == 18
    for run in runs:
        if run.reference is not None:
            assert run.reference.seed == run.seed and run.reference in runs
    references = {str(r.run.reference[1]) for r in runs if r.reference is not None}
    assert references == {"baseline", "baseline~e1-const", "baseline~e0"}


def test_pending_rows_have_no_runs(monkeypatch):
    from methods.plan import config
    grid = {**config.grid()}
    grid["table2"] = {**grid["table2"], "rows": [{"label": "DropMax", "paper": "DropMax", "pending": "issue 3"}]}
    monkeypatch.setattr(config, "grid", lambda: grid)
    cells = build_table("paper", "table2").cells
    assert len(cells) == 8 and all(c.pending and not c.runs for c in cells)


def test_table7_cskd_lambda_follows_the_dataset():
    cells = [c for c in build_table("paper", "table7").cells if c.row == "CS-KD"]
    assert {c.column: str(c.runs[0].run) for c in cells} == {
        "CIFAR-100": "cskd-lam=1.0", "CUB-200": "cskd-lam=3.0", "Stanford Dogs": "cskd-lam=3.0",
        "Tiny ImageNet": "cskd-lam=1.0", "ImageNet Dogs": "cskd-lam=1.0"}


def test_target_path_alone_selects_the_preset():
    assert preset_of_target("tables/table2") == ("paper", "table2")
    assert preset_of_target("tables/smoke/table10") == ("smoke", "table10")
    assert preset_of_target("tables/demo") == ("demo", "demo")
    with pytest.raises(SpecError, match="known targets"):
        preset_of_target("tables/nonsense/table2")


def test_presets_never_share_a_directory():
    targets = [table_target(p, n) for p in config.presets() for n in config.preset(p)["tables"]]
    assert len(targets) == len(set(targets))
    for preset in config.presets():
        for name in config.preset(preset)["tables"]:
            assert all(run.directory.parts[1] == preset for run in required_runs(build_table(preset, name)))


def test_demo_runs_three_seeds():
    runs = required_runs(build_table("demo", "demo"))
    assert sorted({r.seed for r in runs}) == [0, 1, 2] and len(runs) == 9


def test_a_table_may_run_fewer_seeds_than_its_preset():
    runs = required_runs(build_table("demo", "demo_sd"))
    assert {r.seed for r in runs} == {0} and len(runs) == 9     # the grid's seeds: [0]


def test_a_column_runs_its_own_seeds_and_a_user_can_ask_for_more_everywhere():
    table = build_table("paper", "table2")
    seeds = {cell.column: sorted(r.seed for r in cell.runs) for cell in table.cells if cell.runs}
    assert seeds["MNIST"] == [0, 1, 2] and seeds["CIFAR-10"] == [0]   # grid: the MNIST column's seeds
    wider = build_table("paper", "table2", seeds=(0, 1, 2, 3))
    assert all(sorted(r.seed for r in cell.runs) == [0, 1, 2, 3] for cell in wider.cells if cell.runs)


@pytest.mark.parametrize("text, seeds", [("0,1,2", (0, 1, 2)), ("0-2", (0, 1, 2)), ("4", (4,)), (3, (3,)),
                                         ([1, 2], (1, 2)), (None, None), ("", None)])
def test_seeds_as_a_user_writes_them(text, seeds):
    from methods.plan.grid import parse_seeds
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text, message", [("a", "0,1,2"), ("1,1", "once"), ("-1", "0,1,2"), (-1, "0,1,2"),
                                           ("0,x", "0,1,2"), ("1-0", "backwards"), ("0-100000000", "more than 1000"),
                                           ("\u0661", "0,1,2"), ("1000000000", "0,1,2")])
def test_bad_seeds_are_refused_with_the_form_to_use(text, message):
    """The one rule of --seeds and --config seeds=: ordered ranges, ASCII digits, bounded, non-negative."""
    from methods.plan.grid import parse_seeds
    with pytest.raises(SpecError, match=message):
        parse_seeds(text)


@pytest.mark.parametrize("run_dir, message", [
    ("results/../../../baseline/seed0", "preset '..'"),
    ("results/smoke/mnist/lenet5/baseline/seedabc", "run directory reads"),
    ("results/smoke/mnist/lenet5/baseline/seed-1", "run directory reads"),
    ("results/smoke/mnist/lenet5/baseline/seed\u0661", "run directory reads"),
    ("results/smoke/mnist/lenet5/baseline/seed01", "run directory reads"),
    ("results/smoke/mnist/lenet9/baseline/seed0", "unknown arch 'lenet9'"),
    ("results/smoke/mnistt/lenet5/baseline/seed0", "unknown dataset 'mnistt'"),
    ("results/smok/mnist/lenet5/baseline/seed0", "unknown preset 'smok'"),
    ("results/smoke/mnist/lenet5/focusnet-alpha=nan@lenet5.baseline/seed0", "not a finite number"),
    ("results/smoke/mnist/lenet5/focusnet-alpha=inf@lenet5.baseline/seed0", "not a finite number"),
    ("results/smoke/mnist/lenet5/baseline~e\u0661/seed0", "schedule token"),
    ("results/smoke/mnist/lenet5/focusnet@lenet9.baseline/seed0", "unknown arch 'lenet9'"),
])
def test_a_run_directory_is_checked_whole_before_anything_is_written(run_dir, message):
    """What a job does first (methods.jobs.job_protocol), before its logs are opened."""
    from methods.jobs import job_protocol
    with pytest.raises(SpecError, match=re.escape(message)):
        job_protocol(RunSpec.from_directory(run_dir))


def test_option_values_in_the_forms_a_user_writes():
    spec = RunSpec.from_directory("results/smoke/mnist/lenet5/focusnet-alpha=1e-3,beta=-0.5@lenet5.baseline/seed0")
    assert dict(spec.run.options) == {"alpha": "1e-3", "beta": "-0.5"}


def test_fig4_stopped_baselines_are_read_off_one_60_epoch_run():
    from methods.plan.grid import donor_for, snapshot_epochs_for
    stopped = RunSpec.from_parts("paper", "cub200", "resnet18", "baseline~e10-const", 0)
    donor = RunSpec.from_parts("paper", "cub200", "resnet18", "baseline~e60-const", 0)
    assert donor_for(stopped) == donor and donor_for(donor) is None
    assert snapshot_epochs_for(donor) == [1, 10, 20, 30, 40, 50]
    # Table 9's poorly trained teachers are one stopping epoch per dataset: trained directly
    teacher = RunSpec.from_parts("paper", "cub200", "mobilenetv2", "baseline~e50-const", 0)
    assert donor_for(teacher) is None and snapshot_epochs_for(teacher) == []


def test_table_runs_of_issue3_tables():
    t5 = required_runs(build_table("paper", "table5"))
    assert len(t5) == 35    # T, S, KD, FocusNet and the suite's KD row in the Tf-KD repo's reduction, 7 datasets
    assert sum("reduction=elementmean" in str(r.run) for r in t5) == 7
    assert RunSpec.from_parts("paper", "cub200", "resnet18", "baseline", 0) in t5   # T row = Table 2's Baseline
    t9 = build_table("paper", "table9")
    teachers = {c.column: str(c.runs[0].run) for c in t9.cells if c.row.startswith("T:")}
    assert teachers == {"CIFAR-10": "baseline~e1-const", "Imagewoof": "baseline~e30-const",
                        "CIFAR-100": "baseline~e5-const", "CUB-200": "baseline~e50-const",
                        "Stanford Dogs": "baseline~e50-const", "Tiny ImageNet": "baseline~e10-const",
                        "ImageNet Dogs": "baseline~e10-const"}


def test_table3_torchvision_row_is_paper_preset_only():
    paper = build_table("paper", "table3")
    smoke = build_table("smoke", "table3")
    assert {str(c.runs[0].run) for c in paper.cells if c.row.startswith("FocusNet")} == \
        {"focusnet@resnet18.pretrained~e0", "focusnet@resnet34.pretrained~e0"}
    assert all(c.not_run for c in smoke.cells if "torchvision" in c.row)
    assert {str(c.runs[0].run) for c in smoke.cells if c.row.startswith("FocusNet")} == \
        {"focusnet@resnet18.baseline", "focusnet@resnet34.baseline"}


@pytest.mark.parametrize("text, message", [
    ("focusnt@lenet5.baseline", "unknown method 'focusnt'"),
    ("focusnet-gamma=2@lenet5.baseline", r"unknown option\(s\) \['gamma'\]"),
    ("focusnet@lenet5.baselin", "unknown method 'baselin'"),
    ("focusnet-warm=sofmax@lenet5.baseline", r"warm='sofmax' not one of \('logit', 'softmax'\)"),
    ("focusnet-alpha=big@lenet5.baseline", "alpha='big' is not a float"),
    ("focusnet-terms=cls+ent+foo@lenet5.baseline", r"\['foo'\] not among \('cls', 'att', 'ent'\)"),
    ("byot-attention=maybe", "attention='maybe' is not a boolean"),
    ("frskd_nofeat-width=1.5", "width='1.5' is not an int"),
    ("focusnet@lenet5.kd-reduction=sum", r"reduction='sum' not one of \('batchmean', 'elementmean'\)"),
])
def test_run_names_are_checked_without_torch_before_any_job(text, message):
    from methods.plan.protocol import check_run_name
    with pytest.raises(SpecError, match=message):
        check_run_name(parse_run_name(text))
    check_run_name(parse_run_name("focusnet-warm=softmax~w1@lenet5.baseline"))
    check_run_name(parse_run_name("focusnet-alpha=0.5,detach_d=false,terms=cls+att@lenet5.kd-reduction=batchmean"))


def test_checking_a_run_name_imports_no_torch():
    import subprocess
    import sys
    code = ("import sys; from methods.plan.protocol import check_run_name; from methods.plan.spec import parse_run_name; "
            "check_run_name(parse_run_name('focusnet-terms=cls+att,warm=softmax@resnet18.kd-reduction=batchmean')); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr


def test_a_job_given_its_plan_builds_no_table(tmp_path, monkeypatch):
    """The Snakemake head hands the train job its RunPlan (donor, snapshot epochs) as a param: the job then trains
    without building any table of the grid."""
    from methods import jobs
    from methods.plan import grid
    from methods.plan.grid import RunPlan
    from methods.plan.protocol import resolve
    from methods.plan.runtime import Runtime
    spec = RunSpec.from_directory("results/smoke/mnist/lenet5/baseline/seed0")
    plan = RunPlan.of(spec)
    assert plan == RunPlan.from_params(plan.as_params())
    monkeypatch.chdir(tmp_path)
    def rebuilt(*args, **kwargs):
        raise AssertionError("the job worked out its plan from the grid")
    for name in ("build_table", "donor_for", "snapshot_epochs_for", "preset_runs"):   # preset_runs is cached
        monkeypatch.setattr(grid, name, rebuilt)
    monkeypatch.setattr(grid.RunPlan, "of", classmethod(rebuilt))
    metrics = jobs.train(resolve(spec), Runtime(num_workers=0, threads=1), plan=plan)
    assert metrics["best"]["epoch"] >= 1 and (tmp_path / spec.directory / "metrics.json").exists()
