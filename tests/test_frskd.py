"""FRSKD and FRSKD\\F against values worked by hand (official MingiJi/FRSKD utils.py, distill_loss/AT.py).

Example: classifier logits z_c = (2, 1, 0), self-teacher logits z_t = (1, 0.5, -1), true class t = 1, T = 4.
  CE(z_c, t) = log(e^2 + e^1 + e^0) - 1    = log 11.107338 - 1                         = 1.407606
  CE(z_t, t) = log(e^1 + e^0.5 + e^-1) - 0.5 = log 4.734883 - 0.5                      = 1.054957
  softmax(z_t / 4) = (e^0.25, e^0.125, e^-0.25) / 3.195975   = (0.401763, 0.354555, 0.243682)
  softmax(z_c / 4) = (e^0.5, e^0.25, e^0) / 3.932747          = (0.419229, 0.326496, 0.254275)
  KL_4(z_t || z_c) = sum p_t log(p_t / p_c)                                             = 0.001765
  kd = alpha T^2 KL = 2 * 16 * 0.001765                                                 = 0.056491
Attention-map feature pair (one sample, one 1x2 level):
  classifier feature F: channel 0 = (1, 2), channel 1 = (3, 0) -> mean_c F^2 = (5, 2)
  self-teacher feature T (1 channel): (2, 2)                  -> mean_c T^2 = (4, 4)
  A(F) = (5, 2) / sqrt(29) = (0.928477, 0.371391);  A(T) = (4, 4) / sqrt(32) = (0.707107, 0.707107)
  mean((A(F) - A(T))^2) = (0.221370^2 + 0.335716^2) / 2 = (0.049005 + 0.112705) / 2     = 0.080855
  feature = beta * 0.080855 = 100 * 0.080855                                            = 8.085497
Total FRSKD (alpha 2, beta 100) = 1.407606 + 1.054957 + 0.056491 + 8.085497 = 10.604551;
FRSKD\\F (beta 0)                = 1.407606 + 1.054957 + 0.056491            =  2.519054.
"""
import dataclasses
import math

import pytest
import torch

from methods.method import default_options
from methods.models import build_model
from methods.models.complexity import count_flops, count_params
from methods.zoo import get_method_class
from methods.zoo.frskd import FRSKD, FRSKDNoFeature, attention_map, feature_loss, max_pool_same

from helpers import train_steps

ZC = torch.tensor([[2.0, 1.0, 0.0]])
ZT = torch.tensor([[1.0, 0.5, -1.0]])
T = torch.tensor([1])
F_CLASSIFIER = torch.tensor([[[[1.0, 2.0]], [[3.0, 0.0]]]])   # [B=1, C=2, H=1, W=2]
F_TEACHER = torch.tensor([[[[2.0, 2.0]]]])                    # [B=1, C=1, H=1, W=2]


def options(key="frskd", **overrides):
    return default_options(key, overrides)


def method(key="frskd", num_classes=3, arch="resnet18", family="small", **overrides):
    model = build_model(arch, num_classes, family=family)
    return get_method_class(key)(model, num_classes, options(key, **overrides))


def test_defaults_parse_and_follow_the_official_readme():
    opts = options()
    assert (opts.alpha, opts.beta, opts.temperature, opts.width, opts.depth) == (2.0, 100.0, 4.0, 2, 2)
    assert dataclasses.asdict(options("frskd_nofeat")) == dataclasses.asdict(dataclasses.replace(opts, beta=0.0))


def test_attention_map_hand_value():
    assert attention_map(F_CLASSIFIER)[0].tolist() == pytest.approx([0.928477, 0.371391], abs=1e-5)
    assert attention_map(F_TEACHER)[0].tolist() == pytest.approx([0.707107, 0.707107], abs=1e-5)


def test_feature_loss_hand_value_and_scale_invariance():
    assert feature_loss([F_CLASSIFIER], [F_TEACHER]).item() == pytest.approx(0.080855, abs=1e-5)
    # A is L2-normalised, so a level whose maps differ only by a scale factor adds nothing to the sum
    scaled = [F_CLASSIFIER, 3 * F_TEACHER], [F_TEACHER, F_TEACHER]
    assert feature_loss(*scaled).item() == pytest.approx(0.080855, abs=1e-5)


def test_feature_loss_stops_gradient_at_the_teacher_side():
    student = F_CLASSIFIER.clone().requires_grad_(True)
    teacher = F_TEACHER.clone().requires_grad_(True)
    feature_loss([student], [teacher]).backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0


def test_frskd_total_on_given_logits_and_features():
    terms = method().loss_terms(ZC, ZT, [F_CLASSIFIER], [F_TEACHER], T)
    assert set(terms) == {"ce", "teacher_ce", "kd", "feature"}
    expected = {"ce": 1.407606, "teacher_ce": 1.054957, "kd": 0.056491, "feature": 8.085497}
    for name, value in expected.items():
        assert terms[name].item() == pytest.approx(value, abs=1e-5), name
    assert sum(terms.values()).item() == pytest.approx(10.604551, abs=1e-5)


def test_frskd_nofeat_total_has_no_feature_term():
    terms = method("frskd_nofeat").loss_terms(ZC, ZT, [F_CLASSIFIER], [F_TEACHER], T)
    assert set(terms) == {"ce", "teacher_ce", "kd"}
    assert sum(terms.values()).item() == pytest.approx(2.519054, abs=1e-5)


def test_frskd_nofeat_refuses_a_feature_weight():
    with pytest.raises(ValueError, match="beta = 0"):
        method("frskd_nofeat", beta=1.0)
    assert issubclass(FRSKDNoFeature, FRSKD) and FRSKDNoFeature.key == "frskd_nofeat"


def test_kd_gradient_reaches_only_the_classifier():
    zc, zt = ZC.clone().requires_grad_(True), ZT.clone().requires_grad_(True)
    method().loss_terms(zc, zt, [F_CLASSIFIER], [F_TEACHER], T)["kd"].backward()
    assert zt.grad is None and zc.grad.abs().sum() > 0


def test_max_pool_same_pads_like_tensorflow():
    # 4x4 input: 'same' pads one zero row/column at the end only, windows start at 0 and 2
    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert max_pool_same(x)[0, 0].tolist() == [[10.0, 11.0], [14.0, 15.0]]
    assert max_pool_same(torch.ones(1, 1, 5, 3)).shape[-2:] == (3, 2)


@pytest.mark.parametrize("key,arch,family,size", [("frskd", "resnet18", "small", 16),
                                                   ("frskd", "resnet34", "standard", 16),
                                                   ("frskd_nofeat", "resnet18", "small", 16)])
def test_training_steps(key, arch, family, size):
    # standard family at 16 px: stages of 4, 2, 1, 1 pixels (the top-down path upsamples to the lateral size)
    torch.manual_seed(0)
    m = method(key, num_classes=10, arch=arch, family=family)
    m.train()
    images, targets = torch.randn(4, 3, size, size), torch.tensor([3, 7, 0, 9])
    logits, terms = train_steps(m, images, targets, lr=0.01, momentum=0.9)
    assert logits.shape == (4, 10)
    assert set(terms) == ({"ce", "teacher_ce", "kd", "feature"} if key == "frskd" else {"ce", "teacher_ce", "kd"})
    assert all(p.grad is not None for p in m.model.parameters())
    assert all(p.grad is not None for p in m.self_teacher.parameters())


def test_stage_features_feed_the_self_teacher_undetached():
    # official train loop: bifpn(feats) with feats not detached, so the self-teacher's CE trains the body too
    torch.manual_seed(0)
    m = method(num_classes=10)
    _, terms = m.forward_train(torch.randn(2, 3, 8, 8), torch.tensor([0, 1]))
    terms["teacher_ce"].backward()
    assert m.model.layer1[0].conv1.weight.grad.abs().sum() > 0
    assert m.model.fc.weight.grad is None


def test_deployed_network_is_the_bare_classifier():
    m = method(num_classes=10)
    baseline = build_model("resnet18", 10, family="small")
    assert m.deploy_model() is m.model
    assert count_params(m.deploy_model()) == count_params(baseline)
    m.eval()
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(m.forward_test(x), m.model(x))


def test_complexity_matches_table6():
    # Table 6 (ResNet-18, 200 classes, 64x64): FRSKD 17.75 M params, 7.62 GFLOPs; ours 17.750 M, 7.58 G
    # (the bare network: 11.27 M, 4.44 G here vs 4.46 G in the paper)
    network = method(num_classes=200).complexity_network()
    assert count_params(network) / 1e6 == pytest.approx(17.75, abs=0.005)
    assert count_flops(network, (3, 64, 64)) / 1e9 == pytest.approx(7.62, abs=0.05)


@pytest.mark.parametrize("arch", ["mobilenetv2", "lenet5"])
def test_non_resnet_archs_are_refused(arch):
    with pytest.raises(ValueError, match="resnet18, resnet34"):
        method(num_classes=10, arch=arch)


def test_hand_values_agree_with_formula():
    pt = [math.exp(v / 4) for v in (1, 0.5, -1)]
    pc = [math.exp(v / 4) for v in (2, 1, 0)]
    pt, pc = [v / sum(pt) for v in pt], [v / sum(pc) for v in pc]
    assert 32 * sum(a * math.log(a / b) for a, b in zip(pt, pc)) == pytest.approx(0.056491, abs=1e-6)
