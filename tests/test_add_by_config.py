"""A dataset in a format the suite already reads, and a table over it, added by configuration alone: a copy of
config/ with one more datasets.yaml entry (reader: idx), one more grid.yaml table and a tiny preset; fabricated
idx files; every run of the table trained in dependency order; the table built from them."""
import shutil

import pytest
import yaml

import methods
from methods.plan import config
from methods.plan.options import declared

from test_data_readers import write_mnist

FASHION = {"paper_name": "Fashion (fabricated)", "num_classes": 3, "train_size": 6, "val_size": 3, "image_size": 28,
           "channels": 1, "mean": [0.5], "std": [0.25], "storage": "tensor", "augment": "none", "epochs": 2,
           "milestones": [1], "batch_size": 2, "arch_family": "small", "root_dir": "fashion", "reader": "idx",
           "layout": "<root>/fashion/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]", "get_it": "made by the test"}
TABLE = {"title": "A dataset added by YAML alone", "paper_table": None, "metric": "top1",
         "columns": [{"dataset": "fashion", "arch": "lenet5", "label": "Fashion"}],
         "rows": [{"label": "Baseline", "run": "baseline"}, {"label": "FocusNet", "run": "focusnet@{arch}.baseline"}]}
TINY = {"description": "a tiny real-data preset for the test", "data_source": "real", "table_dir": "tables/tiny",
        "tables": ["fashion"], "seeds": [0], "report": "best",
        "optimizer": {"lr": 0.01, "momentum": 0.9, "weight_decay": 1.0e-4}, "dataset_overrides": {},
        "max_steps_per_epoch": 2, "max_eval_batches": None}


@pytest.fixture
def extended_config(tmp_path, monkeypatch):
    folder = tmp_path / "config"
    shutil.copytree(methods.CONFIG_DIR, folder)
    for name, key, value in (("datasets", "fashion", FASHION), ("grid", "fashion", TABLE), ("presets", "tiny", TINY)):
        path = folder / f"{name}.yaml"
        path.write_text(path.read_text() + "\n" + yaml.safe_dump({key: value}))
    monkeypatch.setattr(methods, "CONFIG_DIR", folder)
    return folder


def test_a_dataset_and_its_table_added_by_yaml_alone_train_and_build(tmp_path, monkeypatch, extended_config):
    from methods import jobs
    from methods.plan.runtime import Runtime
    from methods.plan.grid import build_table, in_dependency_order, required_runs
    from methods.plan.protocol import resolve
    monkeypatch.chdir(tmp_path)
    write_mnist(tmp_path / "data" / "fashion", gz=True)
    runs = in_dependency_order(required_runs(build_table("tiny", "fashion")))
    assert [str(r.directory) for r in runs] == ["results/tiny/fashion/lenet5/baseline/seed0",
                                                "results/tiny/fashion/lenet5/focusnet@lenet5.baseline/seed0"]
    for run in runs:
        jobs.train(resolve(run), Runtime(num_workers=0, threads=1))
    jobs.tables("tables/tiny/fashion.md")
    text = (tmp_path / "tables/tiny/fashion.md").read_text()
    assert text.startswith("# fashion [tiny preset] A dataset added by YAML alone")
    assert "missing" not in text and "stale" not in text


def test_a_storage_the_reader_cannot_honour_is_refused_naming_the_fix(extended_config):
    from methods.plan.facts import get_facts
    path = extended_config / "datasets.yaml"
    path.write_text(path.read_text().replace("storage: tensor\n  train_size: 6", "storage: files\n  train_size: 6"))
    with pytest.raises(config.ConfigError, match=r"entry 'fashion': storage 'files' cannot be honoured by reader "
                                                 r"'idx'.*write storage: tensor"):
        get_facts("fashion")
    assert get_facts("mnist").reader == "idx"          # one bad entry breaks no other dataset


def test_a_bad_field_is_one_line_naming_file_entry_and_field(extended_config):
    from methods.plan.facts import get_facts
    path = extended_config / "datasets.yaml"
    path.write_text(path.read_text().replace("num_classes: 3", "num_classes: three"))
    with pytest.raises(config.ConfigError, match=r"datasets.yaml: entry 'fashion': field 'num_classes': 'three' is not"):
        get_facts("fashion")
    get_facts("cifar10")


@pytest.mark.parametrize("edit, message", [
    (("channels: 1", "channels: 3"), r"mean has 1 value\(s\) for 3 channel\(s\); give one per channel, e.g. mean: "
                                     r"\[0.5, 0.5, 0.5\]"),
    (("- 0.5\n", "- 0.5\n  - 0.4\n"), r"mean has 2 value\(s\) for 1 channel\(s\)"),
    (("- 0.25\n", "- -0.25\n"), r"field 'std/0': -0.25 is less than or equal to the minimum of 0"),   # the schema
])
def test_mean_and_std_are_one_positive_value_per_channel(extended_config, edit, message):
    """A 2-value mean for a 1-channel set died at the first batch; a 1-value mean for RGB broadcast silently."""
    from methods.plan.facts import get_facts
    path = extended_config / "datasets.yaml"
    text = path.read_text()
    start = text.index("fashion:")
    assert edit[0] in text[start:], edit
    path.write_text(text[:start] + text[start:].replace(edit[0], edit[1], 1))
    with pytest.raises(config.ConfigError, match=r"entry 'fashion': " + message):
        get_facts("fashion")


def test_an_unknown_reader_lists_the_formats(extended_config):
    from methods.plan.facts import get_facts
    path = extended_config / "datasets.yaml"
    path.write_text(path.read_text().replace("reader: idx\n  root_dir: fashion", "reader: npz\n  root_dir: fashion"))
    with pytest.raises(config.ConfigError, match=r"reader 'npz' is not a format the suite reads; formats: idx, "):
        get_facts("fashion")


@pytest.mark.parametrize("text, message", [
    ("a: 1\na: 2\n", r"line 2: key 'a' is written twice"),
    ("a: [1, 2\n", r"not valid YAML"),
])
def test_yaml_syntax_errors_and_duplicate_keys_name_the_file_and_line(tmp_path, text, message):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(config.ConfigError, match=f"{path}: .*{message}" if "line" not in message else message):
        config.read_yaml(path)


def test_a_method_entry_of_the_wrong_shape_names_the_method(extended_config):
    path = extended_config / "methods.yaml"
    path.write_text(path.read_text() + "\nbroken_method: {options: {alpha: {nested: 1}}}\n")
    with pytest.raises(config.ConfigError, match=r"methods.yaml: entry 'broken_method': field 'options/alpha'"):
        declared("broken_method")
    assert declared("focusnet").option("alpha").default == 1.0
