"""`build_model`: one entry point for every network the benchmark trains."""
from __future__ import annotations

from torch import nn

from methods.models.lenet import LeNet5
from methods.models.mobilenet import build_mobilenetv2
from methods.models.resnet import CONSTRUCTORS as RESNETS, build_resnet

ARCHS = ("lenet5", "resnet18", "resnet34", "mobilenetv2")
FAMILIES = ("small", "standard")  # small: 32-64 px data and MNIST (CIFAR-style stems); standard: 224 px data


def build_model(arch: str, num_classes: int, *, family: str, in_channels: int = 3) -> nn.Module:
    """A freshly initialised network whose forward(x) returns logits [B, num_classes]."""
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; valid archs: {', '.join(ARCHS)}")
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; valid families: {', '.join(FAMILIES)}")
    if arch == "lenet5":
        if family != "small":
            raise ValueError("lenet5 is defined for 28x28 inputs only; use family 'small'")
        return LeNet5(num_classes, in_channels)
    if arch in RESNETS:
        return build_resnet(arch, num_classes, family, in_channels)
    return build_mobilenetv2(num_classes, family, in_channels)
