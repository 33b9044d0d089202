"""The focus-picking loss against values worked by hand on a 3-class example (paper Eq. 4-14).

Example: student logits z = (2, 1, 0), reference logits z_b = (1, 0.5, -1), true class t = 1.
  p   = softmax(z)   = (e^2, e^1, e^0) / 11.10734          = (0.665241, 0.244728, 0.090031)
  p_b = softmax(z_b) = (e^1, e^0.5, e^-1) / 4.734882       = (0.574097, 0.348207, 0.077696)
  d   = p - p_b                                           = (0.091144, -0.103479, 0.012335)
  L_cls = logsumexp(z + d) - (z + d)_t = log(8.0944 + 2.4511 + 1.0124) - 0.896521 = 1.550826
  multi-warm label (z_b > 0, plus t): mask (1, 1, 0) -> l = (0.5, 0.5, 0)
  R_att = -(0.5 log 0.665241 + 0.5 log 0.244728)          = 0.907606
  R_ent = -sum p log p = 0.271160 + 0.344476 + 0.216761    = 0.832396
  L = L_cls + R_att - R_ent                               = 1.626036
  dR_att/dz = p - l (Eq. 14)                              = (0.165241, -0.255272, 0.090031)
"""
import math

import pytest
import torch

from methods.zoo import get_method_class
from methods.losses import entropy
from methods.zoo.focusnet import FocusNet, attention_regulariser, classification_loss, multi_warm_label

from helpers import assert_reference_frozen, method_options

Z = torch.tensor([[2.0, 1.0, 0.0]])
ZB = torch.tensor([[1.0, 0.5, -1.0]])
T = torch.tensor([1])


def options(**overrides):
    return method_options("focusnet", **overrides)


def focusnet(**overrides):
    return FocusNet(torch.nn.Identity(), 3, options(**overrides), reference=torch.nn.Identity())


def test_defaults_are_the_papers_form():
    opts = options()
    assert (opts.warm, opts.label_smoothing, opts.detach_d, opts.alpha, opts.beta) == ("logit", 0.0, False, 1.0, 1.0)
    assert opts.terms == ("cls", "att", "ent")


def test_classification_loss_hand_value():
    assert classification_loss(Z, ZB, T).item() == pytest.approx(1.550826, abs=1e-5)


def test_classification_loss_with_official_label_smoothing():
    # target 0.9*y + 0.1/K over softmax(z + d) = (0.700331, 0.212073, 0.087597):
    # -(0.1/3 log 0.700331 + (0.9 + 0.1/3) log 0.212073 + 0.1/3 log 0.087597) = 1.540478
    assert classification_loss(Z, ZB, T, label_smoothing=0.1).item() == pytest.approx(1.540478, abs=1e-5)


def test_difficult_sample_costs_more_than_easy_one():
    # Fig. 3: the same student logits cost more when the reference is more confident on the true class (d_t < 0)
    confident_reference = torch.tensor([[-2.0, 4.0, -2.0]])
    unsure_reference = torch.tensor([[2.0, -1.0, 2.0]])
    assert classification_loss(Z, confident_reference, T) > classification_loss(Z, unsure_reference, T)


def test_multi_warm_label_paper_rule():
    assert multi_warm_label(ZB, T, "logit").tolist() == [[0.5, 0.5, 0.0]]


def test_multi_warm_label_always_contains_true_class():
    # all reference logits negative: only the true class is warm (Eq. 5)
    assert multi_warm_label(torch.tensor([[-1.0, -2.0, -3.0]]), torch.tensor([2]), "logit").tolist() == [[0, 0, 1.0]]


def test_multi_warm_label_rules_differ_as_documented():
    # z_b = (3, 0.5, 0.2): every logit > 0, so the paper's rule warms all three classes; the official code's
    # softmax(z_b / 2) = (0.6523, 0.1869, 0.1608) exceeds 1/3 only for class 0, plus the true class 2.
    zb = torch.tensor([[3.0, 0.5, 0.2]])
    target = torch.tensor([2])
    assert multi_warm_label(zb, target, "logit") == pytest.approx(torch.tensor([[1 / 3, 1 / 3, 1 / 3]]))
    assert multi_warm_label(zb, target, "softmax").tolist() == [[0.5, 0.0, 0.5]]


def test_attention_and_entropy_hand_values():
    label = multi_warm_label(ZB, T, "logit")
    assert attention_regulariser(Z, label).item() == pytest.approx(0.907606, abs=1e-5)
    assert entropy(Z).item() == pytest.approx(0.832396, abs=1e-5)


def test_attention_gradient_is_softmax_minus_warm_label():
    z = Z.clone().requires_grad_(True)
    attention_regulariser(z, multi_warm_label(ZB, T, "logit")).backward()
    assert z.grad[0].tolist() == pytest.approx([0.165241, -0.255272, 0.090031], abs=1e-5)


def test_full_loss_terms_and_sum():
    terms = focusnet().loss_terms(Z, ZB, T)
    assert set(terms) == {"cls", "attention", "neg_entropy"}
    assert terms["neg_entropy"].item() == pytest.approx(-0.832396, abs=1e-5)
    assert sum(terms.values()).item() == pytest.approx(1.626036, abs=1e-5)


def test_alpha_beta_weight_the_terms():
    terms = focusnet(alpha=2.0, beta=0.5).loss_terms(Z, ZB, T)
    assert terms["attention"].item() == pytest.approx(2 * 0.907606, abs=1e-5)
    assert terms["neg_entropy"].item() == pytest.approx(-0.5 * 0.832396, abs=1e-5)


@pytest.mark.parametrize("terms,names", [("cls", {"cls"}), ("cls+ent", {"cls", "neg_entropy"}),
                                         ("cls+att", {"cls", "attention"})])
def test_table10_ablations_switch_terms(terms, names):
    assert set(focusnet(terms=terms).loss_terms(Z, ZB, T)) == names


def test_terms_without_cls_or_unknown_are_refused():
    with pytest.raises(ValueError, match="cls"):
        focusnet(terms="att+ent")
    with pytest.raises(ValueError, match=r"\['focal'\] not among"):   # by the Options type, as snakemake -n does
        focusnet(terms="cls+focal")


def test_detach_d_changes_gradient_not_value():
    def grad(detach):
        z = Z.clone().requires_grad_(True)
        loss = classification_loss(z, ZB, T, detach_d=detach)
        loss.backward()
        return loss.item(), z.grad[0]
    value_attached, grad_attached = grad(False)
    value_detached, grad_detached = grad(True)
    assert value_attached == pytest.approx(value_detached)
    # with d detached the gradient is plain CE's: softmax(z + d) - y = (0.700331, 0.212073 - 1, 0.087597)
    assert grad_detached.tolist() == pytest.approx([0.700331, -0.787927, 0.087597], abs=1e-5)
    assert not torch.allclose(grad_attached, grad_detached)


def test_reference_is_frozen_and_stays_in_eval_mode():
    assert_reference_frozen(get_method_class("focusnet"), options())


def test_focusnet_requires_a_reference():
    with pytest.raises(ValueError, match="reference"):
        FocusNet(torch.nn.Identity(), 3, options())


def test_inference_is_the_plain_network():
    student = torch.nn.Linear(4, 3)
    method = focusnet()
    method.model = student
    x = torch.randn(5, 4)
    assert torch.equal(method.forward_test(x), student(x))
    assert method.deploy_model() is student


def test_hand_values_agree_with_formula():
    # guard the worked numbers in the docstring against typos: recompute them with the math module
    p = [math.exp(v) / sum(math.exp(w) for w in (2, 1, 0)) for v in (2, 1, 0)]
    assert -sum(q * math.log(q) for q in p) == pytest.approx(0.832396, abs=1e-6)
