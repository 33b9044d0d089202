"""DDGSD, Data-Distortion Guided Self-Distillation (Xu & Liu, AAAI 2019; no official code).

Two independently augmented views of each image go through the one network (a single forward over both
views, so BatchNorm sees 2B images: our choice), giving pooled penultimate features F_v and logits z_v:
    sum_v CE(z_v, y) + kl_weight [KL_T(z_2 || z_1) + KL_T(z_1 || z_2)] + mmd_weight MMD^2(F_1, F_2),
with the linear-kernel MMD^2 = ||mean_batch F_1 - mean_batch F_2||^2 (METHODS.md).
Stop-gradient on the KL targets is the option `detach_targets`: the loss as written (and as METHODS.md
states it, with no sg where it marks one for ONE and CS-KD) differentiates through both views (false).
The two reimplementations:
- youngerous/ddgsd-pytorch has the distillation loss (src/utils.py DistillationLoss: KL(softmax(z_b / T) ||
  softmax(z_a / T)) with no stop-gradient and no T^2, averaged over classes in trainer.py): detach_targets false,
  temperature_squared false, reduction elementmean reproduce it; its "MMD" is an MSE between the two views'
  logits, which is not reproduced.
- winycg/Self-KD-Lib methods/ddsgd.py detaches the target view and multiplies by T^2 (its DistillKL)
  (detach_targets / temperature_squared true), weights the cross-entropy as CE over the 2B images / 2 =
  (CE_1 + CE_2) / 4 (the option ce_weight 0.25; ours and METHODS.md: CE_1 + CE_2, ce_weight 1), and replaces
  the MMD by a squared difference of the two views' grand feature means, which is not reproduced.
Inference: one plain pass (views only exist in training); training compute is x2.
"""
from __future__ import annotations


import torch
import torch.nn.functional as F

from methods.losses import soft_kl
from methods.method import Method
from methods.models import split_head
from methods.registry import register


def linear_mmd2(features_1: torch.Tensor, features_2: torch.Tensor) -> torch.Tensor:
    """Squared MMD with a linear kernel: the squared distance between the batch-mean feature vectors."""
    return (features_1.mean(dim=0) - features_2.mean(dim=0)).pow(2).sum()


def ddgsd_loss(logits: tuple[torch.Tensor, torch.Tensor], features: tuple[torch.Tensor, torch.Tensor],
               targets: torch.Tensor, *, kl_weight: float, mmd_weight: float, temperature: float,
               detach_targets: bool, temperature_squared: bool, reduction: str,
               ce_weight: float = 1.0) -> dict[str, torch.Tensor]:
    z_1, z_2 = logits
    target_1, target_2 = (z_1.detach(), z_2.detach()) if detach_targets else (z_1, z_2)
    kl = soft_kl(z_1, target_2, temperature, reduction) + soft_kl(z_2, target_1, temperature, reduction)
    scale = temperature ** 2 if temperature_squared else 1.0
    return {"ce": ce_weight * (F.cross_entropy(z_1, targets) + F.cross_entropy(z_2, targets)),
            "kl": kl_weight * scale * kl,
            "mmd": mmd_weight * linear_mmd2(*features)}


@register("ddgsd")
class DDGSD(Method):
    views = 2


    def forward_train(self, images, targets):
        if not isinstance(images, (list, tuple)) or len(images) != 2:
            raise ValueError("ddgsd expects images as a list of 2 augmented views (views = 2)")
        body, head = split_head(self.model)
        features = body(torch.cat(list(images)))
        logits = head(features)
        batch = len(targets)
        opts = self.options
        terms = ddgsd_loss(logits.split(batch), features.split(batch), targets, kl_weight=opts.kl_weight,
                           mmd_weight=opts.mmd_weight, temperature=opts.temperature,
                           detach_targets=opts.detach_targets, temperature_squared=opts.temperature_squared,
                           reduction=opts.reduction, ce_weight=opts.ce_weight)
        return logits[:batch], terms
