"""CS-KD's loss against values worked by hand, and its use of the class-pair batches.

Example (3 classes, one sample of class 0 and its partner, T = 4, lam = 1):
  z(x) = (4, 0, 0), z(x') = (0, 4, 0)
  CE(z(x), 0) = log(e^4 + 2) - 4 = 4.035976 - 4                     = 0.035976
  softmax(z(x) / 4) = (e, 1, 1) / (e + 2) = (0.576117, 0.211942, 0.211942); softmax(z(x') / 4) swaps the first two
  KL_4(z(x') || z(x)) = 0.211942 log(0.211942 / 0.576117) + 0.576117 log(0.576117 / 0.211942)
                      = (0.576117 - 0.211942) * 1                      = 0.364175
  class_kd = lam T^2 KL = 16 * 0.364175                             = 5.826805   (lam = 3: 17.480416)
  total = 0.035976 + 5.826805                                       = 5.862782
"""
import pytest
import torch

from methods.models import build_model
from methods.models.complexity import count_params
from methods.zoo.cskd import CSKD, cskd_loss_terms

from helpers import method_options, train_steps

Z = torch.tensor([[4.0, 0.0, 0.0]])
Z_PARTNER = torch.tensor([[0.0, 4.0, 0.0]])
Y = torch.tensor([0])


def options(**overrides):
    return method_options("cskd", **overrides)


def test_defaults_are_the_official_cifar_setting():
    assert options() == CSKD.Options(temperature=4.0, lam=1.0, partner_forward="separate")
    assert options(lam="3").lam == 3.0   # the fine-grained runs' override, cskd-lam=3
    assert CSKD.class_pairs and CSKD.views == 1


def test_loss_terms_hand_values():
    terms = cskd_loss_terms(Z, Z_PARTNER, Y, temperature=4.0, lam=1.0)
    assert terms["ce"].item() == pytest.approx(0.035976, abs=1e-5)
    assert terms["class_kd"].item() == pytest.approx(5.826805, abs=1e-5)
    assert sum(terms.values()).item() == pytest.approx(5.862782, abs=1e-5)
    assert cskd_loss_terms(Z, Z_PARTNER, Y, temperature=4.0, lam=3.0)["class_kd"].item() == pytest.approx(
        17.480416, abs=1e-5)


def test_partner_logits_are_a_fixed_target():
    z, partner = Z.clone().requires_grad_(True), Z_PARTNER.clone().requires_grad_(True)
    sum(cskd_loss_terms(z, partner, Y, temperature=4.0, lam=1.0).values()).backward()
    assert partner.grad is None and z.grad is not None


@pytest.mark.parametrize("partner_forward", ["separate", "joint"])
def test_only_the_first_half_is_trained(partner_forward):
    # a linear model: the loss is worked from the two halves by hand, and no gradient reaches the partners' images
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 3)
    method = CSKD(model, 3, options(partner_forward=partner_forward))
    images = torch.randn(4, 5, requires_grad=True)
    targets = torch.tensor([0, 2, 0, 2])
    logits, terms = method.forward_train(images, targets)
    expected = cskd_loss_terms(model(images[:2]), model(images[2:]), targets[:2], temperature=4.0, lam=1.0)
    assert {k: v.item() for k, v in terms.items()} == pytest.approx({k: v.item() for k, v in expected.items()})
    assert torch.allclose(logits, model(images))     # aligned with the 2B targets
    sum(terms.values()).backward()
    assert images.grad[2:].abs().sum() == 0 and images.grad[:2].abs().sum() > 0


def test_separate_and_joint_forwards_differ_through_batchnorm():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.BatchNorm1d(3))
    images, targets = torch.randn(8, 5), torch.tensor([0, 1, 2, 0, 0, 1, 2, 0])
    separate = CSKD(model, 3, options()).forward_train(images, targets)[1]["ce"]
    joint = CSKD(model, 3, options(partner_forward="joint")).forward_train(images, targets)[1]["ce"]
    assert not torch.isclose(separate, joint)


@pytest.mark.parametrize("arch,channels,size", [("resnet18", 3, 16), ("mobilenetv2", 3, 16), ("lenet5", 1, 28)])
def test_training_steps(arch, channels, size):
    torch.manual_seed(0)
    model = build_model(arch, 10, family="small", in_channels=channels)
    method = CSKD(model, 10, options())
    method.train()
    targets = torch.randint(0, 10, (4,)).repeat(2)
    images = torch.randn(8, channels, size, size)

    def check(logits, terms):
        assert set(terms) == {"ce", "class_kd"} and logits.shape == (8, 10)
    train_steps(method, images, targets, lr=0.01, check=check)
    assert all(p.grad is not None for p in model.parameters())
    assert method.deploy_model() is model
    assert count_params(method.deploy_model()) == count_params(build_model(arch, 10, family="small",
                                                                           in_channels=channels))
