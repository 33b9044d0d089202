"""Run names, run directories, protocols, and the grid's expansion into cells and runs."""
from pathlib import Path

import pytest

from methods import config
from methods.grid import build_table, preset_of_target, required_runs, table_target
from methods.spec import RunSpec, SpecError, parse_run_name, protocol_hash, resolve


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
    protocol = resolve(RunSpec.from_parts("paper", "cub200", "resnet18", "baseline~e30-const", 0))
    assert protocol["schedule"] == {"epochs": 30, "milestones": [], "gamma": 0.1}
    paper = resolve(RunSpec.from_parts("paper", "cub200", "resnet18", "baseline", 0))
    assert paper["schedule"] == {"epochs": 200, "milestones": [100, 150], "gamma": 0.1}
    assert resolve(RunSpec.from_parts("paper", "tiny_imagenet", "resnet18", "baseline", 0))["schedule"]["epochs"] == 90


def test_paper_recipe_is_resolved_from_config():
    protocol = resolve(RunSpec.from_parts("paper", "cifar100", "resnet18", "focusnet@resnet18.baseline", 0))
    assert protocol["optimizer"] == {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4}
    assert protocol["options"]["terms"] == ["cls", "att", "ent"]
    assert protocol["reference"] == "results/paper/cifar100/resnet18/baseline/seed0"


def test_protocol_hash_tracks_what_changes_results():
    base = RunSpec.from_parts("paper", "cifar10", "resnet18", "baseline", 0)
    other_seed = RunSpec.from_parts("paper", "cifar10", "resnet18", "baseline", 1)
    smoke = RunSpec.from_parts("smoke", "cifar10", "resnet18", "baseline", 0)
    hashes = {protocol_hash(resolve(s)) for s in (base, other_seed, smoke)}
    assert len(hashes) == 3
    assert protocol_hash(resolve(base)) == protocol_hash(resolve(base))


def test_method_reference_mismatch_is_an_error():
    with pytest.raises(SpecError, match="needs a reference"):
        resolve(RunSpec.from_parts("paper", "cifar10", "resnet18", "focusnet", 0))
    with pytest.raises(SpecError, match="takes no reference"):
        resolve(RunSpec.from_parts("paper", "cifar10", "resnet18", "baseline@resnet18.baseline", 0))


def test_unknown_option_and_method_errors():
    with pytest.raises(ValueError, match="unknown option"):
        resolve(RunSpec.from_parts("paper", "cifar10", "resnet18", "focusnet-gamma=2@resnet18.baseline", 0))
    with pytest.raises(KeyError, match="registered methods"):
        resolve(RunSpec.from_parts("paper", "cifar10", "resnet18", "dropmaxx", 0))


def test_table2_lists_baseline_and_focusnet_of_all_eight_datasets():
    runs = required_runs(build_table("paper", "table2"))
    datasets = ["mnist", "cifar10", "imagewoof", "cifar100", "cub200", "stanford_dogs", "tiny_imagenet",
                "imagenet_dogs"]
    expected = {(d, "lenet5" if d == "mnist" else "resnet18", run)
                for d in datasets for run in ("baseline", "focusnet@{}.baseline")}
    assert {(r.dataset, r.arch, str(r.run).replace(f"@{r.arch}.", "@{}.")) for r in runs} == expected
    assert len(runs) == 16


def test_table10_shares_runs_with_table2():
    t2 = set(required_runs(build_table("paper", "table2")))
    t10 = required_runs(build_table("paper", "table10"))
    assert len(t10) == 10
    shared = [r for r in t10 if r in t2]
    assert {str(r.run) for r in shared} == {"baseline", "focusnet@resnet18.baseline"}
    assert len(shared) == 4


def test_dropmax_row_is_pending_not_run():
    table = build_table("paper", "table2")
    dropmax = [c for c in table.cells if c.row == "DropMax"]
    assert len(dropmax) == 8 and all(c.pending and not c.runs for c in dropmax)


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
    assert sorted({r.seed for r in runs}) == [0, 1, 2] and len(runs) == 6
