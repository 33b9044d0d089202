"""Replacing a network's input convolution."""
from __future__ import annotations

from torch import nn


def fresh_conv(in_channels: int, like: nn.Conv2d, **geometry) -> nn.Conv2d:
    """A new Conv2d with `like`'s geometry (any of it overridable through `geometry`).

    It is initialised the way torchvision's ResNet and MobileNetV2 constructors initialise their
    convolutions (Kaiming normal, fan-out), so a swapped stem does not get PyTorch's default init.
    """
    settings = dict(out_channels=like.out_channels, kernel_size=like.kernel_size, stride=like.stride,
                    padding=like.padding, bias=like.bias is not None)
    settings.update(geometry)
    conv = nn.Conv2d(in_channels, **settings)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return conv
