"""Uniform access to the parts of a zoo network: penultimate features, classifier, ResNet stages."""
from __future__ import annotations

import torchvision
from torch import Tensor, nn

from methods.models.lenet import LeNet5


def split_head(model: nn.Module) -> tuple[nn.Module, nn.Linear]:
    """(body, head) with head(body(x)) == model(x): body maps images to pooled features [B, D], head is
    the final nn.Linear. Both share the model's modules (no weights are copied), so training through
    them trains the model.

    For MobileNetV2 the body ends with torchvision's Dropout(0.2) that precedes the classifier, so the
    identity also holds in train mode; its features are the classifier's input, dropout included.
    """
    if isinstance(model, torchvision.models.ResNet):
        body = nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool,
                             model.layer1, model.layer2, model.layer3, model.layer4,
                             model.avgpool, nn.Flatten(1))
        return body, model.fc
    if isinstance(model, torchvision.models.MobileNetV2):
        dropout, linear = model.classifier
        return nn.Sequential(model.features, nn.AdaptiveAvgPool2d(1), nn.Flatten(1), dropout), linear
    if isinstance(model, LeNet5):
        return nn.Sequential(model.features, model.embedding), model.classifier
    if hasattr(model, "forward_head") and isinstance(getattr(model, "get_classifier", lambda: None)(), nn.Linear):
        return TimmBody(model), model.get_classifier()   # a timm network (methods.models.factory.build_timm)
    raise TypeError(f"split_head does not know {type(model).__name__}; expected a model from build_model")


class TimmBody(nn.Module):
    """A timm network up to its classifier's input: forward_features, then the pooling of forward_head."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True)


def resnet_stages(model: torchvision.models.ResNet, x: Tensor) -> list[Tensor]:
    """The outputs of layer1..layer4 (64/128/256/512 channels for ResNet-18/34) for images x."""
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    stages = []
    for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
        x = layer(x)
        stages.append(x)
    return stages
