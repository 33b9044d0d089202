"""Baseline: the network trained with softmax cross-entropy on one-hot labels (paper Eq. 3)."""
from __future__ import annotations


import torch.nn.functional as F

from methods.method import Method
from methods.registry import register


@register("baseline")
class Baseline(Method):
    def forward_train(self, images, targets):
        logits = self.model(images)
        return logits, {"ce": F.cross_entropy(logits, targets)}
