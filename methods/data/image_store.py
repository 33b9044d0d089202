"""The 224 px datasets decoded once into one uint8 store, cropped and resized on the training device.

A FileSplit (CUB-200, Stanford Dogs, Imagewoof, ImageNet) is decoded into one flat uint8 buffer of C x H x W
images of their own sizes (cached as .npy under cache_dir, memory-mapped on later runs), so JPEG decoding is
paid once, not every epoch in DataLoader workers. Per batch, each sample's crop box is drawn on the CPU as
torchvision samples it, and the crop is resized to S x S on the device (bilinear, antialiased, as PIL resizes):
- training: RandomResizedCrop(S) (scale 0.08-1, ratio 3/4-4/3, ten tries, then the centre fallback) + flip;
- evaluation: Resize(S x 256/224) of the shorter side + CenterCrop(S), as one box in the original image.
The engine switch `image_store: <max side>` (methods/engine/switches.py) turns it on; images whose longer side
exceeds max side are downscaled to it once (full-size Imagewoof photos), smaller ones are kept as they are.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from methods.data.npy_cache import cached_arrays
from methods.data.progress import map_with_progress
from methods.data.splits import FileSplit
from methods.data.tensor_ops import normalise

SCALE = (0.08, 1.0)
RATIO = (3 / 4, 4 / 3)
TRIES = 10


@dataclass(eq=False)
class StoreSplit:
    pixels: torch.Tensor    # uint8 [sum of C*H*W]: every image, row-major, one after another
    offsets: torch.Tensor   # int64 [N]: where image i starts in pixels
    shapes: torch.Tensor    # int64 [N, 3]: (C, H, W) of image i
    labels: torch.Tensor    # int64 [N]
    _on_device: dict[str, torch.Tensor] = field(default_factory=dict, init=False, repr=False)

    def __len__(self) -> int:
        return len(self.labels)

    def num_classes_present(self) -> int:
        return int(torch.unique(self.labels).numel())

    def pixels_on(self, device: torch.device) -> torch.Tensor:
        key = str(device)
        if key not in self._on_device:
            self._on_device[key] = self.pixels.to(device)
        return self._on_device[key]

    def image(self, pixels: torch.Tensor, index: int) -> torch.Tensor:
        c, h, w = self.shapes[index].tolist()
        start = int(self.offsets[index])
        return pixels[start:start + c * h * w].view(c, h, w)


def build_store(split: FileSplit, max_side: int, cache_dir: Path | None) -> StoreSplit:
    """Decode every image of `split` once (cached under cache_dir, keyed by its file list and max_side)."""
    digest = hashlib.sha256("\n".join(map(str, split.items)).encode()).hexdigest()[:16]

    def build() -> dict[str, np.ndarray]:
        def decode(item) -> np.ndarray:
            image = split.open_image(item)
            scale = max_side / max(image.size)
            if scale < 1:
                image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                                     Image.BILINEAR)
            return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)
        images = map_with_progress(decode, split.items, f"building the {max_side} px image store")
        sizes = np.array([image.size for image in images], dtype=np.int64)
        return {"pixels": np.concatenate([image.reshape(-1) for image in images]),
                "offsets": np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64),
                "shapes": np.array([image.shape for image in images], dtype=np.int64)}

    # only files are cached: in-memory items (the synthetic source's indices) would collide across datasets
    on_disk = all(isinstance(item, str) for item in split.items)
    arrays = cached_arrays(cache_dir if on_disk else None, f"store-{len(split)}-{digest}-{max_side}px",
                           ("pixels", "offsets", "shapes"), build, sources=split.items if on_disk else ())
    return StoreSplit(torch.from_numpy(arrays["pixels"]), torch.from_numpy(np.asarray(arrays["offsets"])),
                      torch.from_numpy(np.asarray(arrays["shapes"])), split.labels)


def as_store(split, max_side: int, cache_dir: Path | None):
    """`split` decoded into a StoreSplit when it is a FileSplit; tensor splits are already on the fast path."""
    return build_store(split, max_side, cache_dir) if isinstance(split, FileSplit) else split


def random_resized_boxes(heights: torch.Tensor, widths: torch.Tensor,
                         generator: torch.Generator) -> torch.Tensor:
    """(top, left, height, width) per image, drawn as torchvision's RandomResizedCrop.get_params draws them."""
    count = len(heights)
    area = (heights * widths).double()
    scale = torch.empty(count, TRIES, dtype=torch.float64).uniform_(*SCALE, generator=generator)
    log_ratio = torch.empty(count, TRIES, dtype=torch.float64).uniform_(math.log(RATIO[0]), math.log(RATIO[1]),
                                                                         generator=generator)
    target = area[:, None] * scale
    aspect = torch.exp(log_ratio)
    crop_w = torch.sqrt(target * aspect).round().long()
    crop_h = torch.sqrt(target / aspect).round().long()
    fits = (crop_w > 0) & (crop_h > 0) & (crop_w <= widths[:, None]) & (crop_h <= heights[:, None])
    first = torch.where(fits.any(1), fits.long().argmax(1), torch.full((count,), -1))
    tops_u = torch.rand(count, generator=generator)
    lefts_u = torch.rand(count, generator=generator)
    boxes = []
    for i in range(count):
        h, w = int(heights[i]), int(widths[i])
        if first[i] >= 0:
            ch, cw = int(crop_h[i, first[i]]), int(crop_w[i, first[i]])
            top = int(tops_u[i] * (h - ch + 1))
            left = int(lefts_u[i] * (w - cw + 1))
        else:   # torchvision's fallback: the whole image, its ratio clamped to RATIO, centred
            ratio = w / h
            if ratio < RATIO[0]:
                cw, ch = w, int(round(w / RATIO[0]))
            elif ratio > RATIO[1]:
                ch, cw = h, int(round(h * RATIO[1]))
            else:
                ch, cw = h, w
            top, left = (h - ch) // 2, (w - cw) // 2
        boxes.append((top, left, ch, cw))
    return torch.tensor(boxes, dtype=torch.int64)


def center_boxes(heights: torch.Tensor, widths: torch.Tensor, size: int) -> torch.Tensor:
    """Resize(round(size x 256/224)) of the shorter side + CenterCrop(size), as a box in the original image."""
    resize_to = round(size * 256 / 224)
    scale = resize_to / torch.minimum(heights, widths).double()
    side = torch.minimum((size / scale).round().long(), torch.minimum(heights, widths))
    tops = ((heights - side).double() / 2).round().long()
    lefts = ((widths - side).double() / 2).round().long()
    return torch.stack([tops, lefts, side, side], dim=1)


class StoreBatches:
    """Batches of a StoreSplit: crop boxes drawn on the CPU, crops resized and normalised on the device."""

    def __init__(self, split: StoreSplit, facts, batches: list[torch.Tensor], device: torch.device,
                 augment_seed: int | None, views: int = 1):
        self.split, self.facts, self.batches = split, facts, batches
        self.device, self.augment_seed, self.views = device, augment_seed, views

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        pixels = self.split.pixels_on(self.device)
        labels = self.split.labels.to(self.device)
        generator = None if self.augment_seed is None else torch.Generator().manual_seed(self.augment_seed)
        for batch in self.batches:
            copies = [self._view(pixels, batch, generator) for _ in range(self.views)]
            yield (copies[0] if self.views == 1 else copies), labels[batch.to(self.device)]

    def _view(self, pixels: torch.Tensor, batch: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        size = self.facts.image_size
        heights, widths = self.split.shapes[batch, 1], self.split.shapes[batch, 2]
        if generator is None:
            boxes, flips = center_boxes(heights, widths, size), torch.zeros(len(batch), dtype=torch.bool)
        else:
            boxes = random_resized_boxes(heights, widths, generator)
            flips = torch.rand(len(batch), generator=generator) < 0.5
        crops = []
        for index, (top, left, h, w), flip in zip(batch.tolist(), boxes.tolist(), flips.tolist()):
            crop = self.split.image(pixels, index)[:, top:top + h, left:left + w]
            crop = F.interpolate(crop[None].float(), size=(size, size), mode="bilinear", align_corners=False,
                                 antialias=True)
            crops.append(crop.flip(-1) if flip else crop)
        images = torch.cat(crops).round_().clamp_(0, 255)
        return normalise(images, self.facts.mean, self.facts.std)
