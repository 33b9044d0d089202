"""A deterministic, learnable stand-in for any dataset: smooth random class prototypes plus shift and noise."""
from __future__ import annotations

import zlib
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from methods.data.errors import DatasetError
from methods.plan.facts import DatasetFacts
from methods.data.splits import FileSplit, Split, TensorSplit
from methods.data.tensor_ops import crop_windows, resize_uint8

PROTOTYPE_GRID = 4      # a class is a random 4x4 pattern, upsampled: smooth, and far from other classes
MAX_DRAW_SIZE = 32      # samples are drawn at <= 32 px and upsampled to the image size
NOISE_STD = 0.1         # per-pixel noise, in units of the full 0..1 range


def synthetic_splits(facts: DatasetFacts, counts: dict | None) -> tuple[Split, Split]:
    """Train/val splits with facts' shape; counts = {"train_per_class": int, "val_per_class": int}."""
    per_class = _per_class(facts, counts)
    generator = torch.Generator().manual_seed(zlib.crc32(facts.name.encode()))
    draw_size = min(facts.image_size, MAX_DRAW_SIZE)
    shift = max(1, draw_size // 8)
    patterns = torch.rand(facts.num_classes, facts.channels, PROTOTYPE_GRID, PROTOTYPE_GRID, generator=generator)
    prototypes = F.interpolate(patterns, size=draw_size + 2 * shift, mode="bilinear", align_corners=False)
    return tuple(_as_split(facts, *_draw(prototypes, count, draw_size, generator)) for count in per_class)


def _per_class(facts: DatasetFacts, counts: dict | None) -> tuple[int, int]:
    try:
        return int(counts["train_per_class"]), int(counts["val_per_class"])
    except (TypeError, KeyError) as error:
        raise DatasetError(f"{facts.name}: the synthetic source needs the preset key `synthetic: "
                           f"{{train_per_class: N, val_per_class: M}}` (got {counts!r})") from error


def _draw(prototypes: torch.Tensor, per_class: int, size: int,
          generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """per_class samples of each class: a randomly shifted window of its prototype plus noise, as uint8."""
    labels = torch.arange(len(prototypes)).repeat_interleave(per_class)
    max_offset = prototypes.shape[-1] - size
    tops = torch.randint(0, max_offset + 1, (len(labels),), generator=generator)
    lefts = torch.randint(0, max_offset + 1, (len(labels),), generator=generator)
    samples = crop_windows(prototypes, labels, tops, lefts, size)
    samples += NOISE_STD * torch.randn(samples.shape, generator=generator)
    return (samples.clamp_(0, 1) * 255).round_().to(torch.uint8), labels


def _as_split(facts: DatasetFacts, images: torch.Tensor, labels: torch.Tensor) -> Split:
    if facts.storage == "tensor":
        if images.shape[-1] != facts.image_size:
            images = resize_uint8(images, facts.image_size)
        return TensorSplit(images, labels)
    return FileSplit(list(range(len(labels))), labels, partial(array_image, images.numpy(), facts.image_size))


def array_image(images: np.ndarray, size: int, index: int) -> Image.Image:
    """Sample `index` of a uint8 [N, C, h, w] array as a size x size PIL image (RGB, or L for one channel)."""
    pixels = images[index].transpose(1, 2, 0)
    image = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)
    return image.resize((size, size), Image.Resampling.BILINEAR)
