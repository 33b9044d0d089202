"""The two ways a split is held: one uint8 tensor (small images) or a list of items opened one by one."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from PIL import Image

from methods.data.errors import unreadable_file


@dataclass(eq=False)
class TensorSplit:
    images: torch.Tensor    # uint8 [N, C, H, W]
    labels: torch.Tensor    # int64 [N]
    _on_device: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict, init=False, repr=False)

    def __len__(self) -> int:
        return len(self.labels)

    def num_classes_present(self) -> int:
        return int(torch.unique(self.labels).numel())

    def on_device(self, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
        """Images and labels on `device`, copied there on first use and kept for later epochs."""
        key = str(torch.device(device))
        if key not in self._on_device:
            self._on_device[key] = (self.images.to(key), self.labels.to(key))
        return self._on_device[key]


@dataclass(eq=False)
class FileSplit:
    items: list                                  # what open_image takes: paths, or indices of in-memory data
    labels: torch.Tensor                         # int64 [N]
    open_image: Callable[[Any], Image.Image]     # picklable (DataLoader workers): module-level or partial

    def __len__(self) -> int:
        return len(self.labels)

    def num_classes_present(self) -> int:
        return int(torch.unique(self.labels).numel())


Split = TensorSplit | FileSplit


def describe_split(split: Split) -> dict:
    return {"samples": len(split), "classes": split.num_classes_present(),
            "storage": "tensor" if isinstance(split, TensorSplit) else "files"}


def open_rgb(path: str) -> Image.Image:
    """The image file at `path` as RGB (some datasets hold grayscale or CMYK JPEGs)."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, SyntaxError, ValueError) as error:    # how PIL reports unreadable/truncated images
        raise unreadable_file(path, error) from error
