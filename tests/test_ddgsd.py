"""DDGSD's loss against values worked by hand on a 3-class, one-sample example (METHODS.md form).

Example: view logits z_1 = (2, 1, 0), z_2 = (1, 0.5, -1), true class t = 1, T = 3;
pooled features F_1 = (1, 2), F_2 = (0, 4).
  p_1 = softmax(z_1 / 3) = (0.448441, 0.321322, 0.230237)
  p_2 = softmax(z_2 / 3) = softmax(1/3, 1/6, -1/3) = (0.423747, 0.358694, 0.217559)
  KL(p_2 || p_1) = 0.003142049;  KL(p_1 || p_2) = 0.003086643;  sum = 0.006228692
  CE(z_1) = ln(e^2 + e + 1) - 1 = 1.407606;  CE(z_2) = ln(e + e^0.5 + e^-1) - 0.5 = 1.554957 - 0.5 = 1.054957
  MMD^2 = (1 - 0)^2 + (2 - 4)^2 = 5;  mu MMD^2 = 5e-4 * 5 = 0.0025
  L = 2.462563 + 1 * 0.006228692 + 0.0025 = 2.471292
With stop-gradient targets, dL_KL/dz_1 = d KL(p_2 || p_1)/dz_1 with p_2 fixed = (p_1 - p_2) / T
  = (0.024694, -0.037372, 0.012678) / 3 = (0.008231, -0.012457, 0.004226).
"""
import pytest
import torch

from methods.models import build_model
from methods.zoo import get_method_class
from methods.zoo.ddgsd import DDGSD, ddgsd_loss, linear_mmd2

from helpers import method_options, train_steps

Z1 = torch.tensor([[2.0, 1.0, 0.0]])
Z2 = torch.tensor([[1.0, 0.5, -1.0]])
F1 = torch.tensor([[1.0, 2.0]])
F2 = torch.tensor([[0.0, 4.0]])
T = torch.tensor([1])


def options(**overrides):
    return method_options("ddgsd", **overrides)


def terms_for(z_1=Z1, z_2=Z2, **overrides):
    opts = options(**overrides)
    return ddgsd_loss((z_1, z_2), (F1, F2), T, kl_weight=opts.kl_weight, mmd_weight=opts.mmd_weight,
                      temperature=opts.temperature, detach_targets=opts.detach_targets,
                      temperature_squared=opts.temperature_squared, reduction=opts.reduction,
                      ce_weight=opts.ce_weight)


def test_defaults_are_the_methods_md_form():
    assert options() == DDGSD.Options(kl_weight=1.0, mmd_weight=5e-4, temperature=3.0, detach_targets=False,
                                      temperature_squared=False, reduction="batchmean", ce_weight=1.0)
    assert DDGSD.views == 2


def test_loss_hand_values():
    terms = terms_for()
    assert terms["ce"].item() == pytest.approx(2.462563, abs=1e-5)
    assert terms["kl"].item() == pytest.approx(0.006228692, abs=1e-6)
    assert terms["mmd"].item() == pytest.approx(0.0025, abs=1e-7)
    assert sum(terms.values()).item() == pytest.approx(2.471292, abs=1e-5)


def test_reimplementation_switches_scale_the_kl():
    # Self-KD-Lib multiplies by T^2 = 9; youngerous averages over the K = 3 classes
    assert terms_for(temperature_squared=True)["kl"].item() == pytest.approx(9 * 0.006228692, abs=1e-6)
    assert terms_for(reduction="elementmean")["kl"].item() == pytest.approx(0.006228692 / 3, abs=1e-6)


def test_self_kd_lib_cross_entropy_weighting():
    # Self-KD-Lib: CE over the 2B images (mean) / 2 = (CE_1 + CE_2) / 4 = 2.462563 / 4
    assert terms_for(ce_weight=0.25)["ce"].item() == pytest.approx(0.615641, abs=1e-5)
    assert "ce_weight" not in resolve_options()        # at 1.0 it stays out of the protocol (hash kept)
    assert resolve_options("ddgsd-ce_weight=0.25")["ce_weight"] == 0.25


def resolve_options(run="ddgsd"):
    from methods.plan.protocol import resolve
    from methods.plan.spec import RunSpec
    return resolve(RunSpec.from_parts("paper", "cifar100", "resnet18", run, 0)).record["options"]


def test_linear_mmd_is_squared_distance_of_batch_means():
    # means (2, 3) and (1, 1): (2 - 1)^2 + (3 - 1)^2 = 5
    features_1 = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    features_2 = torch.tensor([[0.0, 0.0], [2.0, 2.0]])
    assert linear_mmd2(features_1, features_2).item() == pytest.approx(5.0)


def kl_gradient(detach_targets):
    z_1, z_2 = Z1.clone().requires_grad_(True), Z2.clone().requires_grad_(True)
    terms = terms_for(z_1, z_2, detach_targets=detach_targets)
    terms["kl"].backward()
    return terms["kl"].item(), z_1.grad[0]


def test_detach_targets_changes_gradient_not_value():
    value_attached, grad_attached = kl_gradient(False)
    value_detached, grad_detached = kl_gradient(True)
    assert value_attached == pytest.approx(value_detached)
    assert grad_detached.tolist() == pytest.approx([0.008231, -0.012457, 0.004226], abs=1e-5)
    assert not torch.allclose(grad_attached, grad_detached)


@pytest.mark.parametrize("arch,channels,size", [("resnet18", 3, 16), ("mobilenetv2", 3, 16), ("lenet5", 1, 28)])
def test_training_step_on_two_views(arch, channels, size):
    torch.manual_seed(0)
    model = build_model(arch, 10, family="small", in_channels=channels)
    method = get_method_class("ddgsd")(model, 10, options())
    method.train()
    views = [torch.randn(2, channels, size, size), torch.randn(2, channels, size, size)]
    targets = torch.tensor([0, 3])

    def check(logits, terms):
        assert set(terms) == {"ce", "kl", "mmd"}
        assert logits.shape == (2, 10)
        assert all(p.grad is not None for p in model.parameters())
    train_steps(method, views, targets, lr=0.01, check=check)
    assert not any(key.startswith("body.") for key in method.state_dict())  # split_head's views are not copies
    assert method.deploy_model() is model
    baseline = sum(p.numel() for p in build_model(arch, 10, family="small", in_channels=channels).parameters())
    assert sum(p.numel() for p in method.deploy_model().parameters()) == baseline


def test_single_view_is_refused():
    method = get_method_class("ddgsd")(build_model("lenet5", 10, family="small", in_channels=1), 10, options())
    with pytest.raises(ValueError, match="2 augmented views"):
        method.forward_train(torch.randn(2, 1, 28, 28), torch.tensor([0, 1]))
