"""DropMax's loss terms against values worked by hand (haebeom-lee/dropmax layers.py; METHODS.md).

Example: one sample, K = 3, true class t = 1, tau = 0.1, eps = 1e-20.
  logits o = (1, 2, 0), retain logits a_rho = (0, 1, -1), auxiliary logits a_r = (0.5, 0, -0.5),
  uniform noise u = (0.3, 0.5, 0.8)
  rho = sigmoid(a_rho)                           = (0.5, 0.731059, 0.268941)
  q logits = a_rho + a_r = (0.5, 1, -1.5),  q    = (0.622459, 0.731059, 0.182426)
  logit u = (log(3/7), 0, log 4)                 = (-0.847298, 0, 1.386294)
  z = sigmoid((logit q + logit u) / 0.1)        = sigmoid(-3.472979, 10, -1.137056) = (0.030091, 1*, 0.242861)
      (* z_t is forced to 1)
  (z + eps) e^o = (0.030091 e, e^2, 0.242861)    = (0.081796, 7.389056, 0.242861), sum 7.713713
  L_ce  = -log(7.389056 / 7.713713)                                          = 0.043000
  L_KL  = -log rho_t                             = -log 0.731059             = 0.313262
        + KL(Bern(q_0)||Bern(rho_0)) = 0.622459 log(0.622459/0.5) + 0.377541 log(0.377541/0.5)          = 0.030300
        + KL(Bern(q_2)||Bern(rho_2)) = 0.182426 log(0.182426/0.268941) + 0.817574 log(0.817574/0.731059) = 0.020636
                                                                                     sum = 0.364197
  L_aux = r = sigmoid(a_r) = (0.622459, 0.5, 0.377541):
          -log(1 - 0.622459) - log 0.5 - log(1 - 0.377541) = 0.974077 + 0.693147 + 0.474077 = 2.141301
  L_ent = sum_k rho log rho + (1 - rho) log(1 - rho) = -0.693147 - 0.582203 - 0.582203  = -1.857553
  total = 0.043000 + 0.364197 + 2.141301 - 1.857553                                    =  0.690945
  deployed logits o + log(rho + eps) = (1 - 0.693147, 2 - 0.313262, 0 - 1.313262) = (0.306853, 1.686738, -1.313262)
"""
import math

import pytest
import torch

from methods.models import build_model, split_head
from methods.zoo.dropmax import (DropMax, deployed_logits, dropmax_losses, masked_cross_entropy,
                                 relaxed_mask)

from helpers import method_options, train_steps

O = torch.tensor([[1.0, 2.0, 0.0]])
A_RHO = torch.tensor([[0.0, 1.0, -1.0]])
A_R = torch.tensor([[0.5, 0.0, -0.5]])
U = torch.tensor([[0.3, 0.5, 0.8]])
T = torch.tensor([1])


def options(**overrides):
    return method_options("dropmax", **overrides)


def losses(o=O, a_rho=A_RHO, a_r=A_R, u=U, targets=T):
    return dropmax_losses(o, a_rho, a_r, targets, u, tau=0.1, eps=1e-20)


class FixedNoise(DropMax):
    def sample_uniform(self, like):
        return torch.full_like(like, 0.5)


def test_defaults_are_the_released_code():
    opts = options()
    assert (opts.tau, opts.eps, opts.kl_weight, opts.aux_weight, opts.ent_weight) == (0.1, 1e-20, 1.0, 1.0, 1.0)


def test_mask_hand_values_and_forced_target():
    mask = relaxed_mask(A_RHO + A_R, U, T, tau=0.1)
    assert mask[0].tolist() == pytest.approx([0.030091, 1.0, 0.242861], abs=1e-5)


def test_each_term_hand_value():
    terms = losses()
    assert set(terms) == {"ce", "kl", "aux", "neg_entropy"}
    assert terms["ce"].item() == pytest.approx(0.043000, abs=1e-5)
    assert terms["kl"].item() == pytest.approx(0.364197, abs=1e-5)
    assert terms["aux"].item() == pytest.approx(2.141301, abs=1e-5)
    assert terms["neg_entropy"].item() == pytest.approx(-1.857553, abs=1e-5)
    assert sum(terms.values()).item() == pytest.approx(0.690945, abs=1e-5)


def test_terms_average_over_the_batch():
    twice = losses(*(torch.cat([x, x]) for x in (O, A_RHO, A_R, U, T)))
    for name, value in losses().items():
        assert twice[name].item() == pytest.approx(value.item(), abs=1e-6)


def test_mask_keeps_the_target_whatever_the_noise():
    torch.manual_seed(0)
    mask_logits, targets = torch.randn(64, 5) * 5, torch.randint(0, 5, (64,))
    for noise in (torch.rand(64, 5), torch.zeros(64, 5), torch.full((64, 5), 1e-6)):
        mask = relaxed_mask(mask_logits, noise, targets, tau=0.1)
        assert torch.all(mask[torch.arange(64), targets] == 1.0)


def test_all_non_targets_dropped_leaves_only_the_target():
    # u -> 0 drops every non-target class (z_k ~ 0): P(y|x,z) = e^{o_t} / (e^{o_t} + eps ...) ~ 1, L_ce ~ 0
    mask = relaxed_mask(A_RHO + A_R, torch.full_like(U, 1e-6), T, tau=0.1)
    assert mask[0, 0].item() < 1e-30 and mask[0, 2].item() < 1e-30
    assert masked_cross_entropy(O, mask, T, eps=1e-20).item() == pytest.approx(0.0, abs=1e-6)


def test_stop_gradient_between_retain_and_mask():
    """lenet.py: q = sigmoid(sg(a_rho) + a_r), so L_ce and the q side of L_KL never reach a_rho."""
    a_rho, a_r = A_RHO.clone().requires_grad_(True), A_R.clone().requires_grad_(True)
    losses(a_rho=a_rho, a_r=a_r)["ce"].backward()
    assert a_rho.grad is None and a_r.grad.abs().sum() > 0
    a_rho, a_r = A_RHO.clone().requires_grad_(True), A_R.clone().requires_grad_(True)
    losses(a_rho=a_rho, a_r=a_r)["kl"].backward()
    assert a_rho.grad.abs().sum() > 0 and a_r.grad.abs().sum() > 0


def test_deployed_logits_hand_value():
    assert deployed_logits(O, A_RHO, 1e-20)[0].tolist() == pytest.approx([0.306853, 1.686738, -1.313262], abs=1e-5)


def method_on(arch="resnet18", num_classes=10, family="small", in_channels=3, cls=DropMax, **overrides):
    model = build_model(arch, num_classes, family=family, in_channels=in_channels)
    return cls(model, num_classes, options(**overrides))


def test_inference_is_o_plus_log_rho():
    torch.manual_seed(0)
    method = method_on("mobilenetv2").eval()
    images = torch.randn(3, 3, 16, 16)
    body, head = split_head(method.model)
    features = body(images)
    expected = head(features) + torch.log(torch.sigmoid(method.retain_head(features)) + 1e-20)
    assert torch.allclose(method.forward_test(images), expected, atol=1e-6)


def test_weights_scale_their_terms():
    torch.manual_seed(0)
    images, targets = torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,))
    plain = method_on("lenet5", in_channels=1, cls=FixedNoise)
    weighted = method_on("lenet5", in_channels=1, cls=FixedNoise, kl_weight=2.0, aux_weight=0.5, ent_weight=3.0)
    weighted.load_state_dict(plain.state_dict())
    _, base = plain.forward_train(images, targets)
    _, scaled = weighted.forward_train(images, targets)
    for name, weight in (("ce", 1.0), ("kl", 2.0), ("aux", 0.5), ("neg_entropy", 3.0)):
        assert scaled[name].item() == pytest.approx(weight * base[name].item(), rel=1e-5)


def test_deployed_parameters_are_the_network_plus_the_retain_head():
    """Deployed: the network (body + its classifier o) and the retain head (D x K weights + K biases); the
    auxiliary head a_r is training-only. ResNet-18, K = 10: D = 512, so 5,130 parameters over the baseline."""
    method = method_on()
    baseline = sum(p.numel() for p in build_model("resnet18", 10, family="small").parameters())
    deployed = sum(p.numel() for p in method.deploy_model().parameters())
    assert deployed == baseline + 512 * 10 + 10
    trained = sum(p.numel() for p in method.parameters())
    assert trained == baseline + 2 * (512 * 10 + 10)


def test_saved_deployment_loads_into_a_fresh_network():
    torch.manual_seed(0)
    method = method_on("mobilenetv2")
    state = {k: v.clone() for k, v in method.deploy_model().state_dict().items()}
    network = DropMax.deployed_network(build_model("mobilenetv2", 10, family="small"), 10, options())
    network.load_state_dict(state)
    images = torch.randn(2, 3, 16, 16)
    assert torch.allclose(network.eval()(images), method.eval().forward_test(images), atol=1e-6)


@pytest.mark.parametrize("arch,family,channels,size,steps", [
    ("resnet18", "small", 3, 16, 2), ("resnet34", "standard", 3, 32, 1), ("mobilenetv2", "small", 3, 16, 2),
    ("lenet5", "small", 1, 28, 3)])
def test_training_steps(arch, family, channels, size, steps):
    torch.manual_seed(0)
    method = method_on(arch, family=family, in_channels=channels).train()
    images, targets = torch.randn(4, channels, size, size), torch.randint(0, 10, (4,))

    def check(logits, terms):
        assert set(terms) == {"ce", "kl", "aux", "neg_entropy"}
        assert logits.shape == (4, 10)
        for module in (method.model, method.retain_head, method.aux_head):
            assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in module.parameters())
    train_steps(method, images, targets, steps=steps, lr=0.01, momentum=0.9, check=check)
    assert {"retain_head.weight", "aux_head.weight"} <= set(method.trainable_state_dict())


def test_dropmax_takes_no_reference():
    with pytest.raises(ValueError, match="takes no reference"):
        DropMax(build_model("lenet5", 10, family="small", in_channels=1), 10, options(),
                reference=torch.nn.Identity())


def test_hand_values_agree_with_formula():
    # guard the worked numbers in the docstring against typos: recompute them with the math module
    sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    z = [sigmoid((0.5 + math.log(0.3 / 0.7)) / 0.1), 1.0, sigmoid((-1.5 + math.log(4)) / 0.1)]
    weighted = [z[k] * math.exp(o) for k, o in enumerate((1, 2, 0))]
    assert -math.log(weighted[1] / sum(weighted)) == pytest.approx(0.043000, abs=1e-6)
    q, rho = sigmoid(-1.5), sigmoid(-1)
    assert q * math.log(q / rho) + (1 - q) * math.log((1 - q) / (1 - rho)) == pytest.approx(0.020636, abs=1e-6)
