"""The model zoo: LeNet-5, ResNet-18/34 and MobileNetV2 (width 0.5) in the paper's two families.

`build_model` makes a network; `split_head` and `resnet_stages` give methods uniform access to the
penultimate features, the classifier and the ResNet stage outputs. Complexity counting lives in
`methods.models.complexity`.
"""
from methods.models.factory import ARCHS, FAMILIES, build_model
from methods.models.parts import resnet_stages, split_head

__all__ = ["ARCHS", "FAMILIES", "build_model", "resnet_stages", "split_head"]
