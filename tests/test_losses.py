"""Shared loss pieces against hand-worked values.

soft_kl on one sample, 2 classes, T = 2: student z = (0, 0) -> q = (0.5, 0.5);
teacher z_t = (2, 0) -> z_t / T = (1, 0) -> p = (e / (e + 1), 1 / (e + 1)) = (0.731059, 0.268941);
KL(p || q) = 0.731059 ln(0.731059 / 0.5) + 0.268941 ln(0.268941 / 0.5) = 0.277719 - 0.166774 = 0.110944.
"""
import pytest
import torch

from methods.losses import soft_kl


def test_soft_kl_hand_value():
    assert soft_kl(torch.tensor([[0.0, 0.0]]), torch.tensor([[2.0, 0.0]]), 2.0).item() == pytest.approx(0.110944,
                                                                                                          abs=1e-6)


def test_element_mean_is_batch_mean_over_classes():
    student, teacher = torch.randn(4, 5), torch.randn(4, 5)
    assert soft_kl(student, teacher, 3.0, "elementmean").item() == pytest.approx(
        soft_kl(student, teacher, 3.0).item() / 5, rel=1e-6)


def test_soft_kl_is_zero_for_equal_logits_and_rejects_unknown_reduction():
    logits = torch.randn(3, 4)
    assert soft_kl(logits, logits, 4.0).item() == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match="reduction"):
        soft_kl(logits, logits, 4.0, "sum")
