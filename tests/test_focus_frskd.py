"""OurLoss+FRSKD: FocusNet's focus-picking terms on (classifier logits, self-teacher logits), FRSKD's rest.

Same example as tests/test_focusnet.py and tests/test_frskd.py: classifier z_c = (2, 1, 0), self-teacher
z_t = (1, 0.5, -1), true class t = 1; the feature pair of tests/test_frskd.py (mean((A(F) - A(T))^2) = 0.080855).
  L_cls(z_c, z_t)       = 1.550826   (FocusNet Eq. 9 with d = softmax(z_c) - softmax(z_t))
  R_att (label 1/2,1/2,0) = 0.907606,  R_ent = 0.832396
  CE(z_t, t)            = 1.054957   (the self-teacher's own CE, as in FRSKD)
  feature               = 100 * 0.080855 = 8.085497   (FRSKD's attention-map loss, kept by default)
  total = 1.550826 + 0.907606 - 0.832396 + 1.054957 + 8.085497 = 10.766490
With classifier_ce = true FRSKD's CE(z_c, t) = 1.407606 is added as well.
Gradient at z_t with the default detach_teacher: only CE(z_t, t) reaches it, softmax(z_t) - y =
  (0.574097, 0.348207 - 1, 0.077696).
"""
import pytest
import torch
import torch.nn.functional as F

from methods.plan.options import declared
from methods.models import build_model
from methods.models.complexity import count_params
from methods.zoo.focus_frskd import FocusFRSKD
from methods.losses import entropy
from methods.zoo.focusnet import attention_regulariser, classification_loss, multi_warm_label
from methods.zoo.frskd import SelfTeacher, feature_loss

from helpers import method_options, train_steps

ZC = torch.tensor([[2.0, 1.0, 0.0]])
ZT = torch.tensor([[1.0, 0.5, -1.0]])
T = torch.tensor([1])
F_CLASSIFIER = torch.tensor([[[[1.0, 2.0]], [[3.0, 0.0]]]])
F_TEACHER = torch.tensor([[[[2.0, 2.0]]]])


def options(**overrides):
    return method_options("focus_frskd", **overrides)


def method(num_classes=3, arch="resnet18", family="small", **overrides):
    return FocusFRSKD(build_model(arch, num_classes, family=family), num_classes, options(**overrides))


def terms_on_example(zc=ZC, zt=ZT, targets=T, **overrides):
    return method(**overrides).loss_terms(zc, zt, [F_CLASSIFIER], [F_TEACHER], targets)


def test_defaults_mirror_focusnet_and_frskd():
    opts = options()
    focusnet = declared("focusnet").resolve()
    assert (opts.warm, opts.label_smoothing, opts.alpha, opts.beta) == (
        focusnet["warm"], focusnet["label_smoothing"], focusnet["alpha"], focusnet["beta"])
    assert (opts.detach_teacher, opts.classifier_ce, opts.feature_weight) == (True, False, 100.0)
    frskd = declared("frskd").resolve()
    assert (opts.width, opts.depth, opts.feature_weight) == (frskd["width"], frskd["depth"], frskd["beta"])


def test_terms_hand_values():
    terms = terms_on_example()
    assert set(terms) == {"cls", "attention", "neg_entropy", "teacher_ce", "feature"}
    expected = {"cls": 1.550826, "attention": 0.907606, "neg_entropy": -0.832396, "teacher_ce": 1.054957,
                "feature": 8.085497}
    for name, value in expected.items():
        assert terms[name].item() == pytest.approx(value, abs=1e-5), name
    assert sum(terms.values()).item() == pytest.approx(10.766490, abs=1e-5)


@pytest.mark.parametrize("overrides", [{}, {"warm": "softmax", "label_smoothing": 0.1, "alpha": 2.0, "beta": 0.5}])
def test_terms_are_focusnets_functions_on_classifier_and_self_teacher_logits(overrides):
    # second sample: z_t = (3, 0.5, 0.2), t = 2, where the two warm-label rules differ (tests/test_focusnet.py)
    zc = torch.tensor([[2.0, 1.0, 0.0], [0.5, -1.0, 1.5]])
    zt = torch.tensor([[1.0, 0.5, -1.0], [3.0, 0.5, 0.2]])
    targets = torch.tensor([1, 2])
    opts = options(**overrides)
    terms = terms_on_example(zc, zt, targets, **overrides)
    warm_label = multi_warm_label(zt, targets, opts.warm)
    expected = {"cls": classification_loss(zc, zt, targets, label_smoothing=opts.label_smoothing),
                "attention": opts.alpha * attention_regulariser(zc, warm_label),
                "neg_entropy": -opts.beta * entropy(zc),
                "teacher_ce": F.cross_entropy(zt, targets),
                "feature": 100.0 * feature_loss([F_CLASSIFIER], [F_TEACHER])}
    assert set(terms) == set(expected)
    for name, value in expected.items():
        assert terms[name].item() == pytest.approx(value.item(), abs=1e-6), name


def test_classifier_ce_option_adds_frskds_ce():
    terms = terms_on_example(classifier_ce=True)
    assert terms["ce"].item() == pytest.approx(1.407606, abs=1e-5)
    assert sum(terms.values()).item() == pytest.approx(10.766490 + 1.407606, abs=1e-5)


def test_feature_weight_zero_drops_the_feature_loss():
    assert "feature" not in terms_on_example(feature_weight=0.0)


def teacher_logit_gradient(detach_teacher):
    zc, zt = ZC.clone().requires_grad_(True), ZT.clone().requires_grad_(True)
    sum(terms_on_example(zc, zt, detach_teacher=detach_teacher).values()).backward()
    return zt.grad[0]


def test_detached_teacher_gets_only_its_own_ce_gradient():
    assert teacher_logit_gradient(True).tolist() == pytest.approx([0.574097, -0.651793, 0.077696], abs=1e-5)
    assert not torch.allclose(teacher_logit_gradient(False), teacher_logit_gradient(True))


def test_training_steps_reach_classifier_and_self_teacher():
    torch.manual_seed(0)
    m = method(num_classes=10)
    m.train()
    images, targets = torch.randn(4, 3, 16, 16), torch.tensor([3, 7, 0, 9])
    logits, terms = train_steps(m, images, targets, lr=0.01, momentum=0.9)
    assert logits.shape == (4, 10)
    assert set(terms) == {"cls", "attention", "neg_entropy", "teacher_ce", "feature"}
    assert all(p.grad is not None for p in m.model.parameters())
    assert all(p.grad is not None for p in m.self_teacher.parameters())


def test_reuses_frskds_self_teacher_and_deploys_the_bare_classifier():
    m = method(num_classes=10)
    assert type(m.self_teacher) is SelfTeacher
    assert m.deploy_model() is m.model
    assert count_params(m.deploy_model()) == count_params(build_model("resnet18", 10, family="small"))
    assert count_params(m.complexity_network()) == count_params(m.model) + count_params(m.self_teacher)


def test_non_resnet_archs_are_refused():
    with pytest.raises(ValueError, match="resnet18, resnet34"):
        method(num_classes=10, arch="mobilenetv2")
