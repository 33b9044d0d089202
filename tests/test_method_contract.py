"""The method registry and option parsing: what every later method relies on."""
import dataclasses
from typing import Literal

import pytest
import torch

from methods import config
from methods.method import parse_options
from methods.registry import get_method_class, method_keys


def test_registered_methods_have_config_defaults():
    for key in method_keys():
        cls = get_method_class(key)
        parse_options(cls.Options, config.method_defaults(key))  # every option has a default, none unknown


def test_unknown_method_names_the_registered_ones():
    with pytest.raises(KeyError, match="registered methods: .*baseline"):
        get_method_class("focalnet")


@dataclasses.dataclass(frozen=True)
class Opts:
    rule: Literal["a", "b"]
    weight: float
    steps: int
    flag: bool
    parts: tuple[str, ...]


def test_parse_options_converts_strings():
    opts = parse_options(Opts, {"rule": "b", "weight": "0.5", "steps": "3", "flag": "false", "parts": "x+y"})
    assert opts == Opts("b", 0.5, 3, False, ("x", "y"))


@pytest.mark.parametrize("values,message", [
    ({"rule": "c"}, "not one of"), ({"weight": "heavy"}, "not a float"), ({"flag": "maybe"}, "not a boolean"),
    ({"colour": "red"}, "unknown option"),
])
def test_parse_options_rejects_bad_values(values, message):
    base = {"rule": "a", "weight": 1.0, "steps": 1, "flag": True, "parts": ["x"]}
    with pytest.raises(ValueError, match=message):
        parse_options(Opts, {**base, **values})


def test_missing_option_names_the_config_file():
    with pytest.raises(ValueError, match="config/methods.yaml"):
        parse_options(Opts, {"rule": "a"})


def test_baseline_is_cross_entropy():
    model = torch.nn.Linear(3, 3)
    method = get_method_class("baseline")(model, 3, parse_options(get_method_class("baseline").Options, {}))
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    logits, terms = method.forward_train(x, y)
    assert list(terms) == ["ce"]
    assert terms["ce"].item() == pytest.approx(torch.nn.functional.cross_entropy(model(x), y).item())


def test_baseline_takes_no_reference():
    with pytest.raises(ValueError, match="takes no reference"):
        get_method_class("baseline")(torch.nn.Linear(3, 3), 3, None, reference=torch.nn.Linear(3, 3))
