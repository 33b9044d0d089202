"""The recipe study's variants (config/grid.yaml mnist_recipe): LeNet-5's classic form and He initialisation as
archs, batch size and input scaling as run-name tokens; none of them moves a committed run."""
import hashlib

import pytest
import torch
from torch import nn

from methods.models.factory import build_model
from methods.plan.protocol import resolve
from methods.plan.spec import RunSpec, SpecError, parse_run_name


def lenet(arch: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(arch, 10, family="small", in_channels=1)


def digest(model: nn.Module) -> str:
    return hashlib.sha256(b"".join(t.numpy().tobytes() for t in model.state_dict().values())).hexdigest()[:16]


def test_the_suites_lenet5_is_built_exactly_as_before():
    # the digest of lenet5's weights at seed 0, as the network was built before the variants existed (bf2de42's
    # lenet.py gives the same): a change here would change every committed LeNet-5 run
    assert digest(lenet("lenet5")) == "2a2d133895b1684e"


def test_the_classic_form_swaps_activation_and_pooling_only():
    classic, suite = lenet("lenet5_classic"), lenet("lenet5")
    kinds = [type(m).__name__ for m in classic.modules() if not list(m.children())]
    assert kinds.count("Tanh") == 4 and kinds.count("AvgPool2d") == 2 and "ReLU" not in kinds
    assert digest(classic) == digest(suite)          # same layers, same initialisation
    assert classic(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_he_initialisation_draws_kaiming_normal_weights_with_zero_biases():
    he = lenet("lenet5_he")
    first = he.embedding[1]                              # Linear 400 -> 120: std sqrt(2 / 400) = 0.0707
    assert float(first.weight.detach().std()) == pytest.approx((2 / 400) ** 0.5, rel=0.05)
    assert all(float(m.bias.detach().abs().max()) == 0 for m in he.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def spec(run: str, arch: str = "lenet5") -> RunSpec:
    return RunSpec("paper", "mnist", arch, parse_run_name(run), 0)


def test_recipe_tokens_change_the_recorded_facts_of_their_runs_only():
    plain, bs64, raw = resolve(spec("baseline")), resolve(spec("baseline~b64")), resolve(spec("baseline~raw"))
    assert plain.hash == "61b43721bd2ee914"              # Table 2's committed Baseline
    assert bs64.batch_size == 64 and bs64.record["facts"]["batch_size"] == 64 and bs64.hash != plain.hash
    assert raw.record["facts"]["mean"] == [0.0] and raw.record["facts"]["std"] == [1.0]
    assert bs64.schedule == plain.schedule == raw.schedule
    referenced = resolve(spec("focusnet~b256@lenet5.baseline~b256"))
    assert referenced.batch_size == 256 and referenced.reference.batch_size == 256
    with pytest.raises(SpecError, match="b<batch size> or raw"):
        parse_run_name("baseline~b0")
