"""LeNet-5 for 28x28 MNIST (the paper's MNIST network)."""
from __future__ import annotations

from torch import Tensor, nn


class InputSizeError(ValueError):
    pass


class LeNet5(nn.Module):
    """conv5x5(pad 2)->6, ReLU, max-pool 2, conv5x5->16, ReLU, max-pool 2, FC 400-120-84-K with ReLUs.

    Defined for 28x28 inputs only: the flattened feature map is 16 x 5 x 5 = 400.
    """

    def __init__(self, num_classes: int, in_channels: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )
        self.embedding = nn.Sequential(
            nn.Flatten(1),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(inplace=True),
            nn.Linear(120, 84), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(84, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2:] != (28, 28):
            raise InputSizeError(f"LeNet-5 takes 28x28 inputs (its flattened feature map is 16 x 5 x 5), not "
                                 f"{x.shape[-2]}x{x.shape[-1]}: use it on a 28 px dataset (image_size: 28)")
        return self.classifier(self.embedding(self.features(x)))
