"""The model zoo: LeNet-5, ResNet-18/34 and MobileNetV2 (width 0.5) in the paper's two families.

`build_model` makes a network; `split_head` and `resnet_stages` give methods uniform access to the
penultimate features, the classifier and the ResNet stage outputs. Complexity counting lives in
`methods.models.complexity`. The architectures' names are in `methods.plan.archs`, torch-free.

Names are imported on first use (PEP 562).
"""
from importlib import import_module

_HOMES = {"ARCHS": "factory", "FAMILIES": "factory", "build_model": "factory", "resnet_stages": "parts",
          "split_head": "parts"}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'methods.models' has no attribute {name!r}")
    return getattr(import_module(f"methods.models.{_HOMES[name]}"), name)
