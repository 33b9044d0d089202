"""Published weights, evaluated only: the ImageNet Baseline rows of Tables 3 and 8 are torchvision's
IMAGENET1K_V1 ResNet-18 / ResNet-34 (69.76 / 73.31 top-1). Run it as `pretrained~e0` (0 epochs: the engine
evaluates once and records epoch 0).
"""
from __future__ import annotations


import torch
import torchvision
from torch import nn

from methods.method import Method
from methods.registry import register

WEIGHTS = {"resnet18": "ResNet18_Weights.IMAGENET1K_V1", "resnet34": "ResNet34_Weights.IMAGENET1K_V1"}
IMAGENET_CLASSES = 1000


def imagenet_state_dict(arch: str) -> dict[str, torch.Tensor]:
    """torchvision's published weights for `arch`, from $TORCH_HOME/hub/checkpoints or downloaded there."""
    weights = torchvision.models.get_weight(WEIGHTS[arch])
    try:
        return weights.get_state_dict(progress=False)
    except OSError as error:  # urllib's URLError when offline
        raise RuntimeError(_offline_message(arch, weights, error)) from error


def _offline_message(arch: str, weights, error: OSError) -> str:
    checkpoints = f"{torch.hub.get_dir()}/checkpoints"
    file_name = weights.url.rsplit("/", 1)[-1]
    return (f"cannot fetch torchvision's {WEIGHTS[arch]} weights for {arch} ({error}): this machine seems to be "
            f"offline and {file_name} is not in {checkpoints}. On a machine with internet, pre-download them with\n"
            f"  python -c \"import torchvision; torchvision.models.{WEIGHTS[arch]}.get_state_dict()\"\n"
            f"(the file lands in $TORCH_HOME/hub/checkpoints, by default ~/.cache/torch/hub/checkpoints) and copy "
            f"it into {checkpoints}, or set TORCH_HOME to the folder whose hub/checkpoints holds {file_name}.")


def torchvision_arch(model: nn.Module, num_classes: int) -> str:
    """Which of WEIGHTS' archs `model` is, exactly as torchvision builds it for ImageNet (else ValueError)."""
    shapes = _parameter_shapes(model)
    for arch in WEIGHTS:
        with torch.device("meta"):
            reference = getattr(torchvision.models, arch)(num_classes=IMAGENET_CLASSES)
        if shapes == _parameter_shapes(reference):
            return arch
    raise ValueError(f"pretrained loads torchvision's ImageNet weights, so it supports only {' / '.join(WEIGHTS)} "
                     f"of the standard family with {IMAGENET_CLASSES} classes and 3 input channels; got "
                     f"{_describe(model, num_classes)}")


def _parameter_shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}


def _describe(model: nn.Module, num_classes: int) -> str:
    text = f"a {type(model).__name__} with {num_classes} classes"
    if isinstance(model, torchvision.models.ResNet):
        blocks = tuple(len(stage) for stage in (model.layer1, model.layer2, model.layer3, model.layer4))
        size = model.conv1.kernel_size[0]
        text += f" (blocks per stage {blocks}, {size}x{size} conv1, {model.conv1.in_channels} input channels)"
    return text


@register("pretrained")
class Pretrained(Method):
    def __init__(self, model, num_classes, options, reference=None):
        super().__init__(model, num_classes, options, reference)
        self.model.load_state_dict(imagenet_state_dict(torchvision_arch(model, num_classes)))

    def forward_train(self, images, targets):
        raise RuntimeError("pretrained only evaluates torchvision's published weights: run it with 0 epochs, "
                           "as 'pretrained~e0'")
