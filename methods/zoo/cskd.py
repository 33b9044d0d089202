"""CS-KD, class-wise self-knowledge distillation (Yun et al. 2020; alinlab/cs-kd train.py).

Each batch holds B samples then B partners of the same classes. Loss = CE(z(x), y) + lam T^2 KL_T(sg z(x') || z(x)):
the cross-entropy is over the first half only, and the partners' logits are a fixed target. The official code runs
two forwards (the samples with gradient, the partners under no_grad), so BatchNorm normalises each half by its own
batch statistics and updates its running statistics twice per step; partner_forward = "joint" runs one forward
over all 2B images instead and detaches the partner half.
"""
from __future__ import annotations


import torch
import torch.nn.functional as F

from methods.losses import soft_kl
from methods.method import Method
from methods.registry import register


def cskd_loss_terms(logits, partner_logits, targets, *, temperature: float, lam: float) -> dict[str, torch.Tensor]:
    """CE(z(x), y) and lam T^2 KL_T(sg z(x') || z(x)), batch means over the B samples."""
    return {"ce": F.cross_entropy(logits, targets),
            "class_kd": lam * temperature ** 2 * soft_kl(logits, partner_logits.detach(), temperature)}


@register("cskd")
class CSKD(Method):
    class_pairs = True


    def forward_train(self, images, targets):
        half = len(targets) // 2
        if self.options.partner_forward == "separate":
            logits = self.model(images[:half])
            with torch.no_grad():
                partner_logits = self.model(images[half:])
        else:
            logits, partner_logits = self.model(images).split(half)
            partner_logits = partner_logits.detach()
        terms = cskd_loss_terms(logits, partner_logits, targets[:half],
                                temperature=self.options.temperature, lam=self.options.lam)
        return torch.cat([logits, partner_logits]), terms
