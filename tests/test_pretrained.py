"""The published-weights baseline: which networks it accepts, where the weights go, and the offline error."""
import urllib.error

import pytest
import torch
import torchvision

import methods.zoo.pretrained as pretrained
from methods.plan.options import declared
from methods.method import default_options
from methods.models import build_model
from methods.zoo.pretrained import Pretrained


def options():
    return default_options("pretrained")


def fresh_torchvision_state(arch):
    torch.manual_seed(1)
    return getattr(torchvision.models, arch)().state_dict()


def test_defaults_are_empty():
    assert declared("pretrained").options == ()
    options()


@pytest.mark.parametrize("arch", ["resnet18", "resnet34"])
def test_weights_land_in_the_model(monkeypatch, arch):
    published = fresh_torchvision_state(arch)
    asked = []
    monkeypatch.setattr(pretrained, "imagenet_state_dict", lambda name: asked.append(name) or published)
    method = Pretrained(build_model(arch, 1000, family="standard"), 1000, options())
    assert asked == [arch]
    assert all(torch.equal(value, published[key]) for key, value in method.model.state_dict().items())
    assert method.deploy_model() is method.model


def test_offline_failure_names_the_fix(monkeypatch, tmp_path):
    def offline(url, destination, *args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(RuntimeError) as failure:
        Pretrained(build_model("resnet18", 1000, family="standard"), 1000, options())
    message = str(failure.value)
    assert "offline" in message and "resnet18-f37072fd.pth" in message
    command = 'python -c "import torchvision; torchvision.models.ResNet18_Weights.IMAGENET1K_V1.get_state_dict()"'
    assert command in message
    assert "TORCH_HOME" in message and str(tmp_path / "hub" / "checkpoints") in message


@pytest.mark.parametrize("arch,family,num_classes", [
    ("resnet18", "small", 1000), ("resnet18", "standard", 10), ("resnet34", "small", 200),
    ("mobilenetv2", "standard", 1000)])
def test_unsupported_networks_are_refused(monkeypatch, arch, family, num_classes):
    monkeypatch.setattr(pretrained, "imagenet_state_dict", lambda name: pytest.fail("must not fetch weights"))
    with pytest.raises(ValueError, match="resnet18 / resnet34 of the standard family with 1000 classes"):
        Pretrained(build_model(arch, num_classes, family=family), num_classes, options())


def test_lenet_is_refused(monkeypatch):
    monkeypatch.setattr(pretrained, "imagenet_state_dict", lambda name: pytest.fail("must not fetch weights"))
    with pytest.raises(ValueError, match="got a LeNet5 with 10 classes"):
        Pretrained(build_model("lenet5", 10, family="small", in_channels=1), 10, options())


def test_training_is_refused(monkeypatch):
    monkeypatch.setattr(pretrained, "imagenet_state_dict", lambda name: fresh_torchvision_state(name))
    method = Pretrained(build_model("resnet18", 1000, family="standard"), 1000, options())
    with pytest.raises(RuntimeError, match=r"pretrained~e0"):
        method.forward_train(torch.zeros(1, 3, 32, 32), torch.zeros(1, dtype=torch.long))
