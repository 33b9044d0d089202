"""The method registry and option parsing: what every later method relies on."""
import pytest
import torch

from methods.method import default_options
from methods.zoo import get_method_class, method_keys

from helpers import train_steps


def test_registered_methods_have_declarations():
    for key in method_keys():
        default_options(key)   # every option has a valid default, none unknown


def test_unknown_method_names_the_registered_ones():
    with pytest.raises(KeyError, match="registered methods: .*baseline"):
        get_method_class("focalnet")


def test_baseline_is_cross_entropy():
    model = torch.nn.Linear(3, 3)
    method = get_method_class("baseline")(model, 3, default_options("baseline"))
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    logits, terms = method.forward_train(x, y)
    assert list(terms) == ["ce"]
    assert terms["ce"].item() == pytest.approx(torch.nn.functional.cross_entropy(model(x), y).item())


def test_baseline_takes_no_reference():
    with pytest.raises(ValueError, match="takes no reference"):
        get_method_class("baseline")(torch.nn.Linear(3, 3), 3, None, reference=torch.nn.Linear(3, 3))


DEPLOYS_MORE = {"dropmax": "the retain head: inference is argmax (rho + eps) e^o",
                "byot": "deploy=ensemble (its default): the mean of the network's and its three heads' logits"}


def _batch(method_cls, generator):
    images = torch.randn(4, 3, 16, 16, generator=generator)
    targets = torch.tensor([0, 1, 2, 1])
    if method_cls.class_pairs:   # B samples then B partners of the same classes
        images, targets = torch.cat([images, torch.randn(4, 3, 16, 16, generator=generator)]), targets.repeat(2)
    if method_cls.views > 1:
        images = [images + 0.1 * torch.randn(images.shape, generator=generator) for _ in range(method_cls.views)]
    return images, targets


@pytest.mark.parametrize("key", [k for k in method_keys() if k != "pretrained"])
def test_every_method_trains_logs_named_terms_and_deploys_the_baseline_network(key):
    from methods.models import build_model
    torch.manual_seed(0)
    method_cls = get_method_class(key)
    build = lambda: build_model("resnet18", 3, family="small")   # noqa: E731
    method = method_cls(build(), 3, default_options(key),
                        build() if method_cls.needs_reference else None)
    method.start_epoch(1, 2)
    method.train()
    images, targets = _batch(method_cls, torch.Generator().manual_seed(1))

    def check(logits, terms):
        assert terms and all(isinstance(name, str) and torch.isfinite(value) for name, value in terms.items())
        assert logits.shape == (len(targets), 3)
    train_steps(method, images, targets, lr=0.01, check=check)
    method.eval()
    test_images = torch.randn(2, 3, 16, 16)
    assert method.forward_test(test_images).shape == (2, 3)
    deployed = sum(p.numel() for p in method.deploy_model().parameters())
    baseline = sum(p.numel() for p in build().parameters())
    assert (deployed == baseline) != (key in DEPLOYS_MORE)
