"""Parameter and FLOP counts, with the paper's conventions (Table 4 and Table 6).

FLOPs follow torch.utils.flop_counter.FlopCounterMode, which counts convolutions, linear layers and
matmuls at 2 x multiply-adds (the paper's FLOPs = 2 x MACs) and nothing else (BatchNorm, activations,
pooling and residual additions are free).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from methods.models.factory import build_model

# Paper Table 4's column names -> our arch names. Table 4 / Table 6 figures correspond to 200 classes
# at 64x64 input with the small (CIFAR-style) variants (see paper/METHODS.md).
TABLE4_ARCHS = {"MobileNetV2": "mobilenetv2", "ResNet-18": "resnet18", "ResNet-34": "resnet34"}
TABLE4_SETTING = dict(num_classes=200, image_size=64, family="small")


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not; buffers such as BN running stats excluded)."""
    return sum(parameter.numel() for parameter in model.parameters())


def count_flops(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """FLOPs (2 x multiply-adds) of one forward pass in eval mode on a batch of one (C, H, W) image."""
    parameter = next(model.parameters())
    images = torch.zeros(1, *input_shape, device=parameter.device, dtype=parameter.dtype)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(images)
    finally:
        model.train(was_training)
    return counter.get_total_flops()


def complexity(arch: str, num_classes: int = 200, image_size: int = 64, family: str = "small",
               in_channels: int = 3) -> dict[str, int]:
    """{"params": ..., "flops": ...} of a freshly built `arch` at a square input of `image_size`."""
    model = build_model(arch, num_classes, family=family, in_channels=in_channels)
    return {"params": count_params(model),
            "flops": count_flops(model, (in_channels, image_size, image_size))}


def table4_rows() -> dict[str, dict[str, int]]:
    """Our params / FLOPs for each Table 4 column, in the Table 4 setting."""
    return {column: complexity(arch, **TABLE4_SETTING) for column, arch in TABLE4_ARCHS.items()}


def mobilenetv2_flops_variants(image_sizes: tuple[int, ...] = (32, 64, 224)) -> dict[tuple[str, int], int]:
    """MobileNetV2 FLOPs (200 classes) per (family, image size).

    Table 4's MobileNetV2 FLOPs are not those of the small variant at 64 px; this lists the candidates
    so the table can show which setting the paper's figure corresponds to.
    """
    return {(family, size): complexity("mobilenetv2", 200, size, family)["flops"]
            for family in ("small", "standard") for size in image_sizes}
