"""Knowledge distillation (Hinton et al. 2015) from a frozen teacher: the reference network.

Loss = (1 - alpha) CE(z, y) + alpha T^2 KL_T(sg z_t || z). The paper's standard KD (Table 5, ResNet-18 ->
MobileNetV2) and defective-reverse KD (Table 9, a poorly trained MobileNetV2 -> ResNet-18) are this method
with different teachers and options (config/methods.yaml says which).
"""
from __future__ import annotations


import torch
import torch.nn.functional as F

from methods.losses import soft_kl
from methods.method import Method
from methods.registry import register


def kd_terms(logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor, *, alpha: float,
             temperature: float, reduction: str) -> dict[str, torch.Tensor]:
    """(1 - alpha) CE and alpha T^2 KL_T, as named weighted terms; the teacher side carries no gradient."""
    kl = soft_kl(logits, teacher_logits.detach(), temperature, reduction)
    return {"ce": (1 - alpha) * F.cross_entropy(logits, targets),
            "kd": alpha * temperature ** 2 * kl}


@register("kd")
class KD(Method):
    def forward_train(self, images, targets):
        logits = self.model(images)
        opts = self.options
        return logits, kd_terms(logits, self.reference_logits(images), targets, alpha=opts.alpha,
                                temperature=opts.temperature, reduction=opts.reduction)
