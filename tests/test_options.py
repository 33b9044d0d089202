"""Method declarations (config/methods.yaml, methods/plan/options.py): the one place options are declared, read
without torch by the run-name check and the protocol, and turned into each method's Options class."""
import dataclasses

import pytest

from methods.plan import config
from methods.plan.options import _option, declared, declared_keys, options_class


@pytest.mark.parametrize("spec,kind,default", [
    ({"type": "float", "default": 1.0}, float, 1.0), ({"type": "int", "default": 2}, int, 2),
    ({"type": "bool", "default": True}, bool, True), ({"type": "str", "default": "repo"}, str, "repo"),
    ({"type": "list", "default": ["a", "b"]}, tuple, ("a", "b")),
    ({"type": "str", "default": "logit", "choices": ["logit", "softmax"]}, str, "logit"),
    ({"type": "float", "default": 1}, float, 1.0),     # an int-looking default of a float option stays a float
])
def test_the_type_is_the_declared_one(spec, kind, default):
    option = _option("x", spec)
    assert option.type is kind and option.default == default and type(option.default) is type(default)


def test_a_float_option_with_an_int_looking_default_takes_a_fraction():
    """The pitfall of reading the type off the default: `beta: 1` made beta an int, and beta=0.1 was refused."""
    assert _option("beta", {"type": "float", "default": 1}).convert("0.1") == 0.1


def test_an_option_without_a_type_is_refused_with_the_line_to_write():
    with pytest.raises(ValueError, match=r"option 'beta' declares no type: write beta: \{type: float, default: 1\}"):
        _option("beta", 1)
    with pytest.raises(ValueError, match="type 'double' is not one of bool, int, float, str, list"):
        _option("beta", {"type": "double", "default": 1.0})


def f(default):
    return {"type": "float", "default": default}


@pytest.mark.parametrize("spec,text,value", [
    (f(0.1), "0.5", 0.5), (f(0.1), "1e-3", 0.001), (f(0.1), "-2", -2.0), ({"type": "int", "default": 3}, "7", 7),
    ({"type": "bool", "default": False}, "true", True), ({"type": "bool", "default": True}, "no", False),
    ({"type": "str", "default": "repo"}, "paper", "paper"), ({"type": "list", "default": ["x"]}, "x+y", ("x", "y")),
    ({"type": "list", "default": ["cls", "att"], "choices": ["cls", "att", "ent"]}, "cls+ent", ("cls", "ent")),
])
def test_run_name_strings_convert_to_the_options_type(spec, text, value):
    converted = _option("x", spec).convert(text)
    assert converted == value and type(converted) is type(value)


@pytest.mark.parametrize("spec,text,message", [
    (f(0.1), "heavy", r"x='heavy' is not a float \(its type in config/methods.yaml\): write x=<float>, e.g. x=0.5"),
    (f(0.1), "inf", "not a finite number"), (f(0.1), "nan", "not a finite"),
    ({"type": "int", "default": 3}, "1.5", r"x='1.5' is not an int .* e.g. x=2"),
    ({"type": "bool", "default": False}, "maybe", "not a boolean"),
    ({"type": "str", "default": "logit", "choices": ["logit", "softmax"]}, "sofmax", r"not one of \('logit', 'softmax'\)"),
    ({"type": "list", "default": ["cls"], "choices": ["cls", "att", "ent"]}, "cls+foo", r"\['foo'\] not among"),
])
def test_bad_values_say_what_the_option_takes(spec, text, message):
    with pytest.raises(ValueError, match=message):
        _option("x", spec).convert(text)


def test_a_default_outside_its_choices_is_refused():
    with pytest.raises(ValueError, match="not one of"):
        _option("x", {"type": "str", "default": "neither", "choices": ["logit", "softmax"]})


def test_an_option_added_later_is_recorded_only_off_its_earlier_value():
    """byot's deploy came after published runs, which deployed the deepest classifier: at that value it stays out
    of the protocol (their hash is unchanged); a protocol without it means that value."""
    byot = declared("byot")
    values = byot.resolve()
    assert values["deploy"] == "ensemble" and byot.recorded(values)["deploy"] == "ensemble"
    earlier = byot.recorded(byot.resolve({"deploy": "deepest"}))
    assert "deploy" not in earlier
    assert byot.from_recorded(earlier)["deploy"] == "deepest"
    assert byot.recorded(values)["feature_heads"] == ["layer1", "layer2"]   # tuples recorded as lists


def test_every_methods_options_class_has_the_declared_fields_and_types():
    from methods.zoo import get_method_class
    for key in declared_keys():
        cls = get_method_class(key)
        fields = {field.name: field.type for field in dataclasses.fields(cls.Options)}
        declaration = declared(key)
        assert list(fields) == declaration.option_names, key
        assert cls.needs_reference == declaration.needs_reference, key
        assert cls.Options is options_class(key)
    focusnet = {field.name: field.type for field in dataclasses.fields(options_class("focusnet"))}
    assert focusnet == {"warm": str, "label_smoothing": float, "alpha": float, "beta": float, "detach_d": bool,
                        "terms": tuple[str, ...]}
    assert {key for key in declared_keys() if declared(key).needs_reference} == {"focusnet", "tfkd_self", "kd"}


def test_options_are_frozen():
    options = options_class("focusnet")(**declared("focusnet").resolve())
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.alpha = 2.0


def test_an_unknown_method_names_the_declared_ones():
    with pytest.raises(config.ConfigError, match="unknown method 'focalnet'; methods .*: ") as error:
        declared("focalnet")
    assert {"baseline", "focusnet", "dropmax"} <= set(str(error.value).split(": ")[-1].split(", "))


def test_runtime_defaults_have_one_home_and_a_flag_overrides_one_value():
    """config/config.yaml holds every runtime default; the rules (Snakemake's config) and the command line
    (methods.plan.runtime.configured) read it, and a value given on the command line replaces only itself."""
    from pathlib import Path
    from methods.plan.runtime import configured, runtime_of
    settings = config.load("config")
    runtime = configured()
    assert runtime == runtime_of(settings)
    assert runtime.num_workers == settings["num_workers"] and runtime.data_root == Path(settings["data_root"])
    given = configured(num_workers=0, data_root="../shared/datasets", cache_dir=None)
    assert given.num_workers == 0 and given.data_root == Path("../shared/datasets")
    assert given.cache_dir == runtime.cache_dir and given.slots_per_gpu == settings["gpu_slots"]


@pytest.mark.parametrize("run, message", [
    ("one-branches=0", r"option branches='0' is out of range: it must be at least 1"),
    ("frskd-width=-1", r"option width='-1' is out of range: it must be at least 1"),
    ("dropmax-tau=0", r"option tau='0' is out of range: it must be above 0"),
    ("focusnet-label_smoothing=1.5@lenet5.baseline", r"must be at most 1"),
    ("frskd-width=01", r"option width=01 is written width=1 .*: write width=1"),
    ("dropmax-tau=1e-1", r"option tau=1e-1 is written tau=0.1"),
    ("slasd-large_loss=yes", r"option large_loss=yes is written large_loss=true"),
])
def test_out_of_range_values_and_second_spellings_are_refused_before_any_job(run, message):
    """Each passed `-n` before and failed in the job (a ValueError, a negative dimension, a non-finite loss), or
    named a second directory for the same values."""
    from methods.plan.protocol import resolve
    from methods.plan.spec import RunSpec, SpecError
    arch = "lenet5" if "lenet5" in run or "dropmax" in run else "resnet18"
    with pytest.raises(SpecError, match=message):
        resolve(RunSpec.from_parts("smoke", "mnist" if arch == "lenet5" else "cifar100", arch, run, 0))


def test_every_committed_run_name_is_written_in_its_one_spelling():
    from methods.plan.grid import preset_runs
    from methods.plan.protocol import resolve
    for preset in config.presets():
        for run in preset_runs(preset):
            resolve(run)
