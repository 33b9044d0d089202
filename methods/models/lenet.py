"""LeNet-5 for 28x28 MNIST (the paper's MNIST network)."""
from __future__ import annotations

from torch import Tensor, nn


class InputSizeError(ValueError):
    pass


# The variants the recipe study compares (arch names in methods/plan/archs.py): what the paper leaves open about
# its LeNet-5. `lenet5` is the suite's (ReLU, max-pool, PyTorch's default initialisation); `lenet5_classic` the 1998
# form's activation and pooling (tanh, average-pool; same layers and initialisation); `lenet5_he` the suite's
# network with He (Kaiming-normal, fan-in) weights and zero biases, the initialisation made for ReLU networks.
VARIANTS = {"lenet5": ("relu", "max", "default"), "lenet5_classic": ("tanh", "avg", "default"),
            "lenet5_he": ("relu", "max", "he")}


class LeNet5(nn.Module):
    """conv5x5(pad 2)->6, act, pool 2, conv5x5->16, act, pool 2, FC 400-120-84-K with activations; by default
    (the suite's LeNet-5) act = ReLU, pool = max-pool, PyTorch's default initialisation.

    Defined for 28x28 inputs only: the flattened feature map is 16 x 5 x 5 = 400.
    """

    def __init__(self, num_classes: int, in_channels: int = 1, activation: str = "relu", pool: str = "max",
                 init: str = "default"):
        super().__init__()
        act = {"relu": lambda: nn.ReLU(inplace=True), "tanh": nn.Tanh}[activation]
        pooling = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}[pool]
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=2), act(), pooling(2),
            nn.Conv2d(6, 16, kernel_size=5), act(), pooling(2),
        )
        self.embedding = nn.Sequential(
            nn.Flatten(1),
            nn.Linear(16 * 5 * 5, 120), act(),
            nn.Linear(120, 84), act(),
        )
        self.classifier = nn.Linear(84, num_classes)
        if init == "he":
            for module in self.modules():
                if isinstance(module, (nn.Conv2d, nn.Linear)):
                    nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
                    nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2:] != (28, 28):
            raise InputSizeError(f"LeNet-5 takes 28x28 inputs (its flattened feature map is 16 x 5 x 5), not "
                                 f"{x.shape[-2]}x{x.shape[-1]}: use it on a 28 px dataset (image_size: 28)")
        return self.classifier(self.embedding(self.features(x)))
