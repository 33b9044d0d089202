"""BYOT's loss against values worked by hand, its heads, and its complexity against the paper's Table 6.

Example (3 classes, one sample, true class 0, alpha = 0.3, T = 3, feature weight 0.03):
  deepest logits z_4 = (3, 0, 0); shallow heads z_1 = (0, 3, 0), z_2 = (3, 0, 0)
  CE(z_4) = CE(z_2) = log(e^3 + 2) - 3 = 3.094923 - 3       = 0.094923
  CE(z_1)           = log(e^3 + 2)                          = 3.094923
  softmax(z_4 / 3) = (e, 1, 1) / (e + 2) = (0.576117, 0.211942, 0.211942); softmax(z_1 / 3) swaps the first two, so
  KL_3(z_4 || z_1) = 0.576117 log(0.576117 / 0.211942) + 0.211942 log(0.211942 / 0.576117)
                   = (0.576117 - 0.211942) * 1                 = 0.364175;  KL_3(z_4 || z_2) = 0
  aux_ce = 0.7 (3.094923 + 0.094923)                        = 2.232892
  aux_kd = 0.3 * 0.364175                                   = 0.109253
  features F_4 = (1, 2), F_1 = (1, 0), F_2 = (4, 6): squared distances 4 and 25
  feature (paper form, squared) = 0.03 (4 + 25)             = 0.87
  feature (authors' form, norm) = 0.03 (2 + 5)              = 0.21
  total (squared) = 0.094923 + 2.232892 + 0.109253 + 0.87   = 3.307068
"""
import pytest
import torch

from methods.models import build_model
from methods.models.complexity import count_flops, count_params
from methods.zoo.byot import BYOT, byot_loss_terms, feature_distance

from helpers import method_options, train_steps

Z4 = torch.tensor([[3.0, 0.0, 0.0]])
AUX = [torch.tensor([[0.0, 3.0, 0.0]]), torch.tensor([[3.0, 0.0, 0.0]])]
F4 = torch.tensor([[1.0, 2.0]])
AUX_FEATURES = [torch.tensor([[1.0, 0.0]]), torch.tensor([[4.0, 6.0]])]
Y = torch.tensor([0])


def options(**overrides):
    return method_options("byot", **overrides)


def byot(arch="resnet18", num_classes=10, family="small", **overrides):
    return BYOT(build_model(arch, num_classes, family=family), num_classes, options(**overrides))


def terms(form):
    return byot_loss_terms(Z4, F4, AUX, AUX_FEATURES, Y, alpha=0.3, temperature=3.0, feature_weight=0.03,
                           feature_form=form)


def test_defaults_are_the_authors_final_code():
    opts = options()
    assert (opts.alpha, opts.temperature, opts.feature_weight) == (0.3, 3.0, 0.03)
    assert (opts.feature_loss, opts.feature_heads, opts.head, opts.attention) == (
        "adapted_norm", ("layer1", "layer2"), "sepconv", True)


def test_loss_terms_hand_values():
    values = {name: value.item() for name, value in terms("squared").items()}
    assert values == pytest.approx({"ce": 0.094923, "aux_ce": 2.232892, "aux_kd": 0.109253, "feature": 0.87},
                                   abs=1e-5)
    assert sum(values.values()) == pytest.approx(3.307068, abs=1e-5)
    assert terms("adapted_norm")["feature"].item() == pytest.approx(0.21, abs=1e-6)


def test_feature_reductions_differ_as_documented():
    # two samples, F_4 = ((1, 2), (0, 0)), F_i = ((1, 0), (3, 4)): squared distances 4 and 25
    student, teacher = torch.tensor([[1.0, 0.0], [3.0, 4.0]]), torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    assert feature_distance(student, teacher, "squared").item() == pytest.approx(14.5)            # (4 + 25) / 2
    assert feature_distance(student, teacher, "adapted_norm").item() == pytest.approx(5.385165, abs=1e-6)  # sqrt(29)


def test_teacher_logits_and_features_get_no_gradient_from_the_shallow_terms():
    z4, f4 = Z4.clone().requires_grad_(True), F4.clone().requires_grad_(True)
    aux = [z.clone().requires_grad_(True) for z in AUX]
    aux_features = [f.clone().requires_grad_(True) for f in AUX_FEATURES]
    loss = byot_loss_terms(z4, f4, aux, aux_features, Y, alpha=0.3, temperature=3.0, feature_weight=0.03,
                           feature_form="squared")
    (loss["aux_kd"] + loss["feature"]).backward()
    assert z4.grad is None and f4.grad is None
    assert all(t.grad is not None for t in aux + aux_features)


def test_kl_has_the_gradient_of_the_authors_soft_cross_entropy():
    # the authors' code uses -sum softmax(z_4/T) log softmax(z_i/T): KL plus the teacher's entropy, same gradient
    def grad(kind):
        z1 = AUX[0].clone().requires_grad_(True)
        if kind == "kl":
            loss = byot_loss_terms(Z4, F4, [z1], [], Y, alpha=1.0, temperature=3.0, feature_weight=0.0,
                                   feature_form="squared")["aux_kd"]
        else:
            loss = -(torch.softmax(Z4 / 3, 1) * torch.log_softmax(z1 / 3, 1)).sum(1).mean()
        loss.backward()
        return z1.grad
    assert torch.allclose(grad("kl"), grad("soft_ce"), atol=1e-7)


@pytest.mark.parametrize("arch,family,size,overrides", [
    ("resnet18", "small", 16, {}),
    ("resnet18", "small", 16, {"head": "bottleneck", "attention": "false", "feature_loss": "squared",
                               "feature_heads": "layer1+layer2+layer3"}),
    ("resnet34", "small", 16, {}),
    ("resnet18", "standard", 32, {}),
])
def test_training_steps_reach_network_heads_and_adapters(arch, family, size, overrides):
    torch.manual_seed(0)
    method = byot(arch, family=family, **overrides)
    method.train()
    images, targets = torch.randn(4, 3, size, size), torch.randint(0, 10, (4,))

    def check(logits, loss_terms):
        assert set(loss_terms) == {"ce", "aux_ce", "aux_kd", "feature"}
        assert logits.shape == (4, 10)
    train_steps(method, images, targets, lr=0.01, check=check)
    assert all(p.grad is not None for p in method.model.parameters())
    assert all(p.grad is not None for p in method.heads.parameters())
    assert all(p.grad is not None for p in method.adapters.parameters())
    assert len(method.adapters) == (2 if "feature_loss" not in overrides else 0)


def test_deploy_deepest_is_the_bare_network_with_the_deepest_head():
    method = byot(deploy="deepest")
    assert method.deploy_model() is method.model
    assert count_params(method.deploy_model()) == count_params(build_model("resnet18", 10, family="small"))
    method.eval()
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(method.forward_test(x), method.model(x))


def test_deploy_ensemble_is_the_mean_of_the_four_classifiers_logits_as_the_released_code_evaluates():
    method = byot()                                   # the default (config/methods.yaml)
    assert method.options.deploy == "ensemble"
    method.eval()
    x = torch.randn(2, 3, 16, 16)
    deep, *shallow = method.complexity_network()(x)
    assert torch.allclose(method.forward_test(x), (deep + sum(shallow)) / 4, atol=1e-6)
    # model.pt of an ensemble run loads into deployed_network() and gives the same output
    fresh = BYOT.deployed_network(build_model("resnet18", 10, family="small"), 10, method.options)
    fresh.load_state_dict(method.deploy_model().state_dict())
    fresh.eval()
    assert torch.allclose(fresh(x), method.forward_test(x), atol=1e-6)


def test_attention_gate_is_the_released_sepconv_bn_relu_upsample_sigmoid():
    from methods.zoo.byot import AttentionGate
    gate = AttentionGate(8)
    kinds = [type(m).__name__ for m in gate.conv]
    assert kinds == ["Sequential", "BatchNorm2d", "ReLU"]      # SepConv, then the BN and ReLU of commit 36e60ec
    features = torch.randn(2, 8, 4, 4)
    gate.eval()
    mask = torch.nn.functional.interpolate(gate.conv(features), size=(4, 4), mode="bilinear", align_corners=False)
    assert torch.allclose(gate(features), features * torch.sigmoid(mask))
    assert bool((torch.sigmoid(mask) >= 0.5).all())            # a ReLU before the sigmoid: the gate never drops below 1/2


def test_only_resnets_are_supported():
    with pytest.raises(ValueError, match="resnet18 and resnet34"):
        BYOT(build_model("mobilenetv2", 10, family="small"), 10, options())
    with pytest.raises(ValueError, match="choose from"):
        byot(feature_heads="layer4")


def test_table6_complexity():
    # Table 6 (ResNet-18, 200 classes, 64x64): BYOT 12.49 M params, 4.68 GFLOPs. The authors' final heads give
    # 12,488,544 / 4.656 G (bare network 11,271,432 / 4.444 G): the gates' BatchNorms add 2 x (64 + 128 + 256) = 896
    # parameters to the 12,487,648 without them, still 12.49 M; adaptation layers are left out as in their count.
    method = byot(num_classes=200)
    network = method.complexity_network()
    assert count_params(network) == 12_488_544
    assert count_params(network) / 1e6 == pytest.approx(12.49, abs=0.05)
    assert count_flops(network, (3, 64, 64)) / 1e9 == pytest.approx(4.68, abs=0.1)
    assert not any(p is q for p in network.parameters() for q in method.adapters.parameters())
