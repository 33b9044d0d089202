"""torchvision's ResNet-18/34, with the paper's CIFAR-style stem for the "small" family."""
from __future__ import annotations

import torchvision
from torch import nn

from methods.models.convs import fresh_conv

CONSTRUCTORS = {"resnet18": torchvision.models.resnet18, "resnet34": torchvision.models.resnet34}


def build_resnet(arch: str, num_classes: int, family: str, in_channels: int) -> torchvision.models.ResNet:
    """torchvision's ResNet (no weights). Family "small" (paper Sec. 4.2): the 7x7 stride-2 conv1
    becomes 3x3 stride 1 padding 1 and the max-pool is removed, so the network downsamples x8, not x32."""
    model = CONSTRUCTORS[arch](num_classes=num_classes)
    if family == "small":
        model.conv1 = fresh_conv(in_channels, model.conv1, kernel_size=3, stride=1, padding=1)
        model.maxpool = nn.Identity()
    elif in_channels != 3:
        model.conv1 = fresh_conv(in_channels, model.conv1)
    return model
