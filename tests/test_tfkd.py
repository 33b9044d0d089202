"""Tf-KD_self and Tf-KD_reg against values worked by hand on a 3-class example (repo my_loss_function.py).

Tf-KD_self, repo ResNet-18 config a = 0.95, T = 6, multiplier 50, KL averaged over batch x classes.
Student z = (2, 1, 0), teacher z_t = (1, 0.5, -1), true class t = 1.
  q = softmax(z / 6)   = softmax(1/3, 1/6, 0)      = (0.390166, 0.330268, 0.279566)
  p = softmax(z_t / 6) = softmax(1/6, 1/12, -1/6)  = (0.379280, 0.348954, 0.271766)
  KL(p || q) = sum p ln(p / q) = -0.010733 + 0.019205 - 0.007690 = 0.000782056; element mean = / 3 = 0.000260685
  CE = logsumexp(z) - z_t = 2.407606 - 1 = 1.407606
  L = 0.05 * 1.407606 + 0.95 * 50 * 6^2 * 0.000260685 = 0.070380 + 0.445772 = 0.516152

Tf-KD_reg, repo ResNet-18 config a = 0.1, tau = 20, multiplier 100, correct_prob 0.99; same z and t.
  p^d = (0.01 / 2, 0.99, 0.01 / 2) = (0.005, 0.99, 0.005)
  teacher = softmax(p^d / 20) = softmax(0.00025, 0.0495, 0.00025) = (0.327817, 0.344366, 0.327817)
  repo form, student not softened: softmax(z) = (0.665241, 0.244728, 0.090031)
    KL = 0.309266; element mean 0.103089; L = 0.9 * 1.407606 + 0.1 * 100 * 0.103089 = 1.266845 + 1.030887 = 2.297732
  paper form, student softmax(z / 20) = (0.350132, 0.333056, 0.316812)
    KL = 0.00110556; element mean 0.000368520; L = 1.266845 + 0.003685 = 1.270531
"""
import pytest
import torch

from methods.method import default_options
from methods.models import build_model
from methods.zoo import get_method_class
from methods.zoo.tfkd import TfKDReg, TfKDSelf, regularization_loss, self_distillation_loss, virtual_teacher

from helpers import train_steps

Z = torch.tensor([[2.0, 1.0, 0.0]], dtype=torch.float64)
ZT = torch.tensor([[1.0, 0.5, -1.0]], dtype=torch.float64)
T = torch.tensor([1])


def self_options(**overrides):
    return default_options("tfkd_self", overrides)


def reg_options(**overrides):
    return default_options("tfkd_reg", overrides)


def self_terms(**overrides):
    opts = self_options(**overrides)
    return self_distillation_loss(Z, ZT, T, alpha=opts.alpha, temperature=opts.temperature,
                                  multiplier=opts.multiplier, reduction=opts.reduction)


def reg_terms(**overrides):
    opts = reg_options(**overrides)
    return regularization_loss(Z, T, alpha=opts.alpha, temperature=opts.temperature, multiplier=opts.multiplier,
                               correct_prob=opts.correct_prob, form=opts.form, reduction=opts.reduction)


def test_defaults_are_the_repos_resnet18_configs():
    assert self_options() == TfKDSelf.Options(alpha=0.95, temperature=6.0, multiplier=50.0, reduction="elementmean")
    assert reg_options() == TfKDReg.Options(alpha=0.1, temperature=20.0, multiplier=100.0, correct_prob=0.99,
                                            form="repo", reduction="elementmean")


def test_self_distillation_hand_values():
    terms = self_terms()
    assert terms["ce"].item() == pytest.approx(0.05 * 1.407606, abs=1e-5)
    assert terms["kd"].item() == pytest.approx(0.445772, abs=1e-5)
    assert sum(terms.values()).item() == pytest.approx(0.516152, abs=1e-5)


def test_self_distillation_batchmean_is_k_times_elementmean():
    assert self_terms(reduction="batchmean")["kd"].item() == pytest.approx(3 * 0.445772, abs=1e-5)


def test_self_distillation_does_not_train_the_teacher():
    teacher = ZT.clone().requires_grad_(True)
    terms = self_distillation_loss(Z, teacher, T, alpha=0.95, temperature=6.0, multiplier=50.0,
                                   reduction="elementmean")
    assert not terms["kd"].requires_grad


def test_virtual_teacher():
    teacher = virtual_teacher(torch.tensor([1, 0]), 3, 0.99)
    assert torch.allclose(teacher, torch.tensor([[0.005, 0.99, 0.005], [0.99, 0.005, 0.005]]))


def test_regularization_repo_form_hand_values():
    terms = reg_terms()
    assert terms["ce"].item() == pytest.approx(1.266845, abs=1e-5)
    assert terms["kd"].item() == pytest.approx(1.030887, abs=1e-5)
    assert sum(terms.values()).item() == pytest.approx(2.297732, abs=1e-5)


def test_regularization_paper_form_softens_the_student():
    assert sum(reg_terms(form="paper").values()).item() == pytest.approx(1.270531, abs=1e-5)


def test_regularization_rejects_unknown_form():
    with pytest.raises(ValueError, match="form"):
        reg_options(form="eq9")
    with pytest.raises(ValueError, match="repo"):
        regularization_loss(Z, T, alpha=0.1, temperature=20.0, multiplier=100.0, correct_prob=0.99, form="eq9",
                            reduction="elementmean")


def test_tfkd_self_trains_student_against_frozen_baseline():
    student, reference = build_model("resnet18", 10, family="small"), build_model("resnet18", 10, family="small")
    method = get_method_class("tfkd_self")(student, 10, self_options(), reference=reference)
    method.train()
    assert not reference.training and student.training
    running_mean = reference.bn1.running_mean.clone()
    images, targets = torch.randn(2, 3, 16, 16), torch.tensor([0, 3])

    def check(logits, terms):
        assert set(terms) == {"ce", "kd"} and logits.shape == (2, 10)
        assert all(p.grad is not None for p in student.parameters())
    train_steps(method, images, targets, lr=0.01, check=check)
    assert all(p.grad is None and not p.requires_grad for p in reference.parameters())
    assert torch.equal(reference.bn1.running_mean, running_mean)
    assert not any(key.startswith("reference.") for key in method.trainable_state_dict())


def test_tfkd_self_needs_a_reference_and_tfkd_reg_takes_none():
    with pytest.raises(ValueError, match="reference"):
        TfKDSelf(torch.nn.Identity(), 3, self_options())
    with pytest.raises(ValueError, match="takes no reference"):
        TfKDReg(torch.nn.Identity(), 3, reg_options(), reference=torch.nn.Identity())


@pytest.mark.parametrize("arch,channels,size", [("resnet18", 3, 16), ("lenet5", 1, 28)])
def test_tfkd_reg_trains_and_deploys_the_plain_network(arch, channels, size):
    model = build_model(arch, 10, family="small", in_channels=channels)
    method = get_method_class("tfkd_reg")(model, 10, reg_options())
    method.train()
    images, targets = torch.randn(2, channels, size, size), torch.tensor([0, 3])

    def check(logits, terms):
        assert set(terms) == {"ce", "kd"}
        assert all(p.grad is not None for p in model.parameters())
    train_steps(method, images, targets, lr=0.01, check=check)
    assert method.deploy_model() is model
    baseline_params = sum(p.numel() for p in build_model(arch, 10, family="small", in_channels=channels).parameters())
    assert sum(p.numel() for p in method.deploy_model().parameters()) == baseline_params
