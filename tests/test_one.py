"""ONE's loss against values worked by hand, its ramp, and its branch / deploy structure.

Example: 3 branches, 3 classes, true class t = 1, T = 3, gate g = (0.5, 0.3, 0.2),
branch logits z_1 = (2, 1, 0), z_2 = (0, 1, 0), z_3 = (1, 0, 1).
  z_e = 0.5 z_1 + 0.3 z_2 + 0.2 z_3 = (1.2, 0.8, 0.2)
  CE(z_1) = ln(e^2 + e + 1) - 1 = 2.407606 - 1 = 1.407606
  CE(z_2) = ln(2 + e) - 1       = 1.551445 - 1 = 0.551445
  CE(z_3) = ln(2e + 1) - 0      = 1.861995
  sum of branch CEs = 3.821045;  CE(z_e) = ln(e^1.2 + e^0.8 + e^0.2) - 0.8 = 1.912067 - 0.8 = 1.112067
  p_e = softmax(z_e / 3) = (0.385846, 0.337683, 0.276471)
  q_1 = softmax(z_1 / 3) = (0.448441, 0.321322, 0.230237) -> KL(p_e || q_1) = 0.009356
  q_2 = softmax(z_2 / 3) = (0.294498, 0.411005, 0.294498) -> KL(p_e || q_2) = 0.020426
  q_3 = softmax(z_3 / 3) = (0.368117, 0.263767, 0.368117) -> KL(p_e || q_3) = 0.022419
  T^2 sum KL = 9 * 0.052202 = 0.469816;  total at w = 1: 3.821045 + 1.112067 + 0.469816 = 5.402928
Ramp (official sigmoid_rampup, 0-based epoch e = engine epoch - 1, R = 80): w = exp(-5 (1 - e / 80)^2):
  epoch 1 -> exp(-5) = 0.006738; epoch 41 -> exp(-1.25) = 0.286505; epoch >= 81 -> 1.
"""
import math

import pytest
import torch

from methods.models import build_model
from methods.zoo import get_method_class
from methods.zoo.one import ONE, ensemble_logits, one_loss, rampup_weight

from helpers import method_options, train_steps

BRANCHES = [torch.tensor([[2.0, 1.0, 0.0]]), torch.tensor([[0.0, 1.0, 0.0]]), torch.tensor([[1.0, 0.0, 1.0]])]
GATE = torch.tensor([[0.5, 0.3, 0.2]])
T = torch.tensor([1])


def options(**overrides):
    return method_options("one", **overrides)


def one_method(arch="resnet18", family="small", **overrides):
    torch.manual_seed(0)
    return get_method_class("one")(build_model(arch, 10, family=family), 10, options(**overrides))


@pytest.fixture(scope="module")
def resnet18_one():
    return one_method()


def test_defaults_are_the_official_code():
    assert options() == ONE.Options(branches=3, temperature=3.0, rampup_epochs=80)


def test_ensemble_is_gate_weighted_sum():
    assert ensemble_logits(BRANCHES, GATE).tolist() == [pytest.approx([1.2, 0.8, 0.2])]


def test_loss_hand_values():
    terms = one_loss(BRANCHES, GATE, T, temperature=3.0, kd_weight=1.0)
    assert terms["ce_branches"].item() == pytest.approx(3.821045, abs=1e-5)
    assert terms["ce_ensemble"].item() == pytest.approx(1.112067, abs=1e-5)
    assert terms["kd"].item() == pytest.approx(0.469816, abs=1e-5)
    assert sum(terms.values()).item() == pytest.approx(5.402928, abs=1e-5)


def test_kd_weight_scales_only_the_distillation_term():
    terms = one_loss(BRANCHES, GATE, T, temperature=3.0, kd_weight=math.exp(-5))
    assert terms["kd"].item() == pytest.approx(0.006738 * 0.469816, abs=1e-5)
    assert terms["ce_ensemble"].item() == pytest.approx(1.112067, abs=1e-5)


def test_ensemble_teacher_is_detached_in_kd_but_trains_gate_through_ce():
    gate = GATE.clone().requires_grad_(True)
    branches = [z.clone().requires_grad_(True) for z in BRANCHES]
    terms = one_loss(branches, gate, T, temperature=3.0, kd_weight=1.0)
    terms["kd"].backward(retain_graph=True)
    assert gate.grad is None and all(z.grad is not None for z in branches)
    terms["ce_ensemble"].backward()
    assert gate.grad is not None


@pytest.mark.parametrize("epoch,weight", [(1, 0.006738), (41, 0.286505), (81, 1.0), (200, 1.0)])
def test_rampup_follows_official_sigmoid_ramp(epoch, weight, resnet18_one):
    resnet18_one.start_epoch(epoch, 200)
    assert resnet18_one.kd_weight == pytest.approx(weight, abs=1e-6)


def test_rampup_length_is_an_option():
    assert rampup_weight(5, 0) == 1.0
    assert rampup_weight(10, 20) == pytest.approx(math.exp(-1.25))


def test_branches_are_independent_fresh_copies_of_layer4_and_fc(resnet18_one):
    method = resnet18_one
    net = method.model
    assert len(method.extra_branches) == 2
    own = list(net.layer4.parameters()) + list(net.fc.parameters())
    for branch in method.extra_branches:
        layer4, fc = branch[0], branch[-1]
        copy = list(layer4.parameters()) + list(fc.parameters())
        assert [p.shape for p in copy] == [p.shape for p in own]
        assert not {id(p) for p in copy} & {id(p) for p in own}
        # the official code initialises every branch on its own, so the copies start from different weights
        assert not torch.equal(layer4[0].conv1.weight, net.layer4[0].conv1.weight)
        assert not torch.equal(fc.weight, net.fc.weight)


@pytest.mark.parametrize("arch,family", [("resnet18", "small"), ("resnet34", "standard")])
def test_deployed_network_is_the_baseline(arch, family, resnet18_one):
    method = resnet18_one if arch == "resnet18" else one_method(arch, family)
    assert method.deploy_model() is method.model
    baseline = sum(p.numel() for p in build_model(arch, 10, family=family).parameters())
    assert sum(p.numel() for p in method.deploy_model().parameters()) == baseline
    assert sum(p.numel() for p in method.complexity_network().parameters()) == baseline  # Table 6: 11.27 M


def test_training_steps_reach_trunk_branches_and_gate():
    method = one_method()  # its own instance: training changes the weights
    method.train()
    images, targets = torch.randn(2, 3, 16, 16), torch.tensor([0, 3])

    def check(logits, terms):
        assert set(terms) == {"ce_branches", "ce_ensemble", "kd"}
        assert all(p.grad is not None for p in method.parameters())
    train_steps(method, images, targets, lr=0.01, check=check)
    method.eval()
    with torch.no_grad():  # forward_train's logits are branch 1's, which is what inference runs
        assert torch.allclose(method.forward_train(images, targets)[0], method.forward_test(images), atol=1e-6)


def test_checkpoint_holds_branches_and_gate(resnet18_one):
    keys = resnet18_one.trainable_state_dict()
    assert any(key.startswith("extra_branches.1.") for key in keys)
    assert any(key.startswith("gate.") for key in keys)


def test_non_resnet_and_bad_options_are_refused():
    with pytest.raises(ValueError, match="resnet18 and resnet34"):
        get_method_class("one")(build_model("mobilenetv2", 10, family="small"), 10, options())
    with pytest.raises(ValueError, match="branches"):
        one_method(branches=1)
