"""Hinton KD against values worked by hand: loss = (1 - alpha) CE(z, y) + alpha T^2 KL_T(sg z_t || z).

Example: 2 classes, 1 sample, true class 0, student z = (2, 0), teacher z_t = (0, 2), alpha = 0.6, T = 2.
  CE = -log softmax(z)_0 = log(1 + e^-2)                              = 0.126928
  ce term = (1 - alpha) CE = 0.4 * 0.126928                          = 0.050771
  softmax(z / T) = softmax(1, 0) = (0.731059, 0.268941);  softmax(z_t / T) = (0.268941, 0.731059)
  KL_T = 0.268941 log(0.268941 / 0.731059) + 0.731059 log(0.731059 / 0.268941)
       = (0.731059 - 0.268941) * 1                                    = 0.462117
  kd term, batchmean (sum over classes, mean over samples): alpha T^2 KL = 0.6 * 4 * 0.462117 = 1.109082
  kd term, elementmean (mean over N * K = 2 elements): 1.109082 / 2                    = 0.554541
  d kd / dz (batchmean) = alpha T (softmax(z / T) - softmax(z_t / T)) = 1.2 * (0.462117, -0.462117)
                                                                      = (0.554541, -0.554541)
"""
import math

import pytest
import torch

from methods.models import build_model
from methods.zoo import get_method_class
from methods.zoo.kd import KD, kd_terms

from helpers import assert_reference_frozen, method_options, train_steps

Z = torch.tensor([[2.0, 0.0]])
ZT = torch.tensor([[0.0, 2.0]])
Y = torch.tensor([0])


def options(**overrides):
    return method_options("kd", **overrides)


def terms(reduction, z=Z, zt=ZT, alpha=0.6):
    return kd_terms(z, zt, Y, alpha=alpha, temperature=2.0, reduction=reduction)


def test_defaults_are_tfkd_standard_kd_with_per_sample_kl():
    opts = options()
    assert (opts.alpha, opts.temperature, opts.reduction) == (0.95, 20.0, "batchmean")


@pytest.mark.parametrize("reduction,kd", [("batchmean", 1.109082), ("elementmean", 0.554541)])
def test_hand_values(reduction, kd):
    result = terms(reduction)
    assert set(result) == {"ce", "kd"}
    assert result["ce"].item() == pytest.approx(0.050771, abs=1e-5)
    assert result["kd"].item() == pytest.approx(kd, abs=1e-5)


def test_kd_gradient_and_no_gradient_to_the_teacher():
    z, zt = Z.clone().requires_grad_(True), ZT.clone().requires_grad_(True)
    terms("batchmean", z, zt)["kd"].backward()
    assert z.grad[0].tolist() == pytest.approx([0.554541, -0.554541], abs=1e-5)
    assert zt.grad is None


def test_alpha_moves_weight_between_the_terms():
    hard_only, soft_only = terms("batchmean", alpha=0.0), terms("batchmean", alpha=1.0)
    assert hard_only["kd"].item() == 0.0
    assert hard_only["ce"].item() == pytest.approx(0.126928, abs=1e-5)
    assert soft_only["ce"].item() == 0.0


def test_unknown_reduction_is_refused():
    with pytest.raises(ValueError, match="not one of"):
        options(reduction="sum")


def test_teacher_is_frozen_and_stays_in_eval_mode():
    torch.manual_seed(0)
    assert_reference_frozen(get_method_class("kd"), options())


def test_kd_requires_a_teacher():
    with pytest.raises(ValueError, match="reference"):
        KD(torch.nn.Identity(), 3, options())


def test_training_steps_poor_mobilenet_teaching_resnet18():
    """Table 9's pairing at 16x16: a MobileNetV2 teacher, a ResNet-18 student, the reverse-KD options."""
    torch.manual_seed(0)
    teacher = build_model("mobilenetv2", 10, family="small")
    student = build_model("resnet18", 10, family="small")
    method = KD(student, 10, options(alpha=0.6), reference=teacher).train()
    images, targets = torch.randn(4, 3, 16, 16), torch.randint(0, 10, (4,))
    teacher_state = {k: v.clone() for k, v in teacher.state_dict().items()}

    def check(logits, result):
        assert set(result) == {"ce", "kd"} and logits.shape == (4, 10)
        assert all(p.grad is not None for p in student.parameters())
    train_steps(method, images, targets, lr=0.01, momentum=0.9, check=check)
    assert all(torch.equal(v, teacher_state[k]) for k, v in teacher.state_dict().items())
    baseline = sum(p.numel() for p in build_model("resnet18", 10, family="small").parameters())
    assert sum(p.numel() for p in method.deploy_model().parameters()) == baseline


def test_hand_values_agree_with_formula():
    # guard the worked numbers in the docstring against typos: recompute them with the math module
    student, teacher = math.exp(1) / (math.exp(1) + 1), 1 / (math.exp(1) + 1)
    kl = teacher * math.log(teacher / student) + student * math.log(student / teacher)
    assert kl == pytest.approx(0.462117, abs=1e-6)
    assert 0.4 * math.log(1 + math.exp(-2)) == pytest.approx(0.050771, abs=1e-6)
