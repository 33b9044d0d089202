"""Batched image ops on uint8/float tensors, done on whatever device the tensors are on (no per-sample loop)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def crop_windows(images: torch.Tensor, sources: torch.Tensor, tops: torch.Tensor, lefts: torch.Tensor,
                 size: int) -> torch.Tensor:
    """Window b = images[sources[b], :, tops[b]:tops[b]+size, lefts[b]:lefts[b]+size], all in one gather."""
    device = images.device
    offsets = torch.arange(size, device=device)
    rows = (tops.to(device)[:, None] + offsets)[:, None, :, None]
    cols = (lefts.to(device)[:, None] + offsets)[:, None, None, :]
    channels = torch.arange(images.shape[1], device=device)[None, :, None, None]
    return images[sources.to(device)[:, None, None, None], channels, rows, cols]


def random_crop_flip(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """torchvision's RandomCrop(size, padding) + RandomHorizontalFlip() per sample, on uint8 [B, C, S, S].

    The padding is 0 in pixel space (before normalisation), as RandomCrop pads the PIL image.
    Random numbers come from the CPU `generator` so a run repeats on any device.
    """
    count, size = len(images), images.shape[-1]
    padded = F.pad(images, (padding,) * 4)
    tops = torch.randint(0, 2 * padding + 1, (count,), generator=generator)
    lefts = torch.randint(0, 2 * padding + 1, (count,), generator=generator)
    flips = (torch.rand(count, generator=generator) < 0.5).to(images.device)[:, None, None, None]
    crops = crop_windows(padded, torch.arange(count), tops, lefts, size)
    return torch.where(flips, crops.flip(-1), crops)


def resize_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    resized = F.interpolate(images.float(), size=(size, size), mode="bilinear", align_corners=False,
                            antialias=True)
    return resized.round_().clamp_(0, 255).to(torch.uint8)


def normalise(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 [B, C, H, W] -> float32 (x/255 - mean) / std per channel, as ToTensor + Normalize."""
    shape = (1, -1, 1, 1)
    mean_t = torch.tensor(mean, dtype=torch.float32, device=images.device).view(shape)
    std_t = torch.tensor(std, dtype=torch.float32, device=images.device).view(shape)
    return (images.float() / 255 - mean_t) / std_t
