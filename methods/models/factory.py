"""`build_model`: one entry point for every network the benchmark trains."""
from __future__ import annotations

from torch import nn

from methods.models.lenet import VARIANTS as LENET_VARIANTS, LeNet5
from methods.models.mobilenet import build_mobilenetv2
from methods.models.resnet import CONSTRUCTORS as RESNETS, build_resnet

from methods.plan.archs import ARCHS, FAMILIES, TIMM_PREFIX  # noqa: F401  (re-exported)


def build_model(arch: str, num_classes: int, *, family: str, in_channels: int = 3) -> nn.Module:
    """A freshly initialised network whose forward(x) returns logits [B, num_classes]."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; valid families: {', '.join(FAMILIES)}")
    if arch.startswith(TIMM_PREFIX):
        return build_timm(arch.removeprefix(TIMM_PREFIX), num_classes, family, in_channels)
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; valid archs: {', '.join(ARCHS)}, or timm_<name> for any "
                         "architecture of timm.list_models()")
    if arch in LENET_VARIANTS:
        if family != "small":
            raise ValueError(f"{arch} is defined for 28x28 inputs only; use family 'small'")
        activation, pool, init = LENET_VARIANTS[arch]
        return LeNet5(num_classes, in_channels, activation, pool, init)
    if arch in RESNETS:
        return build_resnet(arch, num_classes, family, in_channels)
    return build_mobilenetv2(num_classes, family, in_channels)


def build_timm(name: str, num_classes: int, family: str, in_channels: int) -> nn.Module:
    """A timm architecture as timm defines it (randomly initialised: no weights are downloaded). Such networks are
    built for 224-px images, so only datasets of the 'standard' family take them."""
    import timm   # timm (~1 s): only a timm: arch needs it
    if family != "standard":
        raise ValueError(f"timm_{name}: timm architectures are built for 224-px datasets (family 'standard'); this "
                         "dataset is of family 'small' (MNIST, CIFAR, 64-px sets): use lenet5, resnet18, resnet34 or "
                         "mobilenetv2 there")
    if name not in timm.list_models():
        close = timm.list_models(f"*{name[:6]}*")[:8]
        raise ValueError(f"unknown timm architecture {name!r}" + (f"; similar: {', '.join(close)}" if close else
                                                                   "; see timm.list_models()"))
    return timm.create_model(name, pretrained=False, num_classes=num_classes, in_chans=in_channels)
