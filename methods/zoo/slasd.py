"""SLA-SD, self-supervised label augmentation with self-distillation (Lee, Hwang, Shin 2020; hankook/SLA
trainers.create_sla_sd_trainer).

Every image in 4 rotations (torch.rot90 by j quarter turns, j = 0..3) goes through the shared body in one forward.
A new joint head (4K-way, label 4y + j) sees all 4B images; the network's own K-way head is trained on the
unrotated images only. Loss = CE(joint, 4y + j) (mean over the 4B) + CE(single(x), y)
+ T^2 KL_T(sg a || single(x)) with the aggregated logits a_k = mean_j joint(rot_j x)[4k + j] (logits averaged,
as the official code does). The official `--with-large-loss` (trainers.py: the joint CE times the 4 rotations,
i.e. summed instead of averaged over them, suggested for ImageNet-scale data) is the option `large_loss`.
Inference: the network on the unrotated image.
"""
from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn

from methods.losses import soft_kl
from methods.method import Method
from methods.models import split_head
from methods.registry import register

ROTATIONS = 4


def rotations(images: torch.Tensor) -> torch.Tensor:
    """The 4B images rotation-major: rotation j of sample b at row j * B + b."""
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(f"slasd rotates images by quarter turns, which needs square images, not {tuple(images.shape)}")
    return torch.cat([torch.rot90(images, j, dims=(2, 3)) for j in range(ROTATIONS)])


def joint_targets(targets: torch.Tensor) -> torch.Tensor:
    """Labels 4y + j of the rotation-major 4B images."""
    return torch.cat([ROTATIONS * targets + j for j in range(ROTATIONS)])


def aggregated_logits(joint_logits: torch.Tensor) -> torch.Tensor:
    """a_k = mean_j joint(rot_j x)[4k + j] from the rotation-major joint logits [4B, 4K]."""
    batch, joint_classes = len(joint_logits) // ROTATIONS, joint_logits.shape[1]
    by_rotation = joint_logits.view(ROTATIONS, batch, joint_classes // ROTATIONS, ROTATIONS)
    return by_rotation.diagonal(dim1=0, dim2=3).mean(dim=-1)


def slasd_loss_terms(joint_logits, single_logits, targets, *, temperature: float,
                     large_loss: bool = False) -> dict[str, torch.Tensor]:
    teacher = aggregated_logits(joint_logits).detach()
    joint_weight = ROTATIONS if large_loss else 1
    return {"joint_ce": joint_weight * F.cross_entropy(joint_logits, joint_targets(targets)),
            "single_ce": F.cross_entropy(single_logits, targets),
            "self_kd": temperature ** 2 * soft_kl(single_logits, teacher, temperature)}


@register("slasd")
class SLASD(Method):
    def __init__(self, model, num_classes, options, reference=None):
        super().__init__(model, num_classes, options, reference)
        _, head = split_head(model)
        self.joint_head = nn.Linear(head.in_features, ROTATIONS * num_classes)

    def forward_train(self, images, targets):
        body, single_head = split_head(self.model)
        features = body(rotations(images))
        single_logits = single_head(features[:len(targets)])
        joint_logits = self.joint_head(features)
        return single_logits, slasd_loss_terms(joint_logits, single_logits, targets,
                                               temperature=self.options.temperature,
                                               large_loss=self.options.large_loss)

    def complexity_network(self) -> nn.Module:
        """The body with the joint head, as Table 6 counts SLA-SD (11.58 M for ResNet-18, 200 classes): the SLA
        network of the official code, without the K-way head that SD adds (with it, 11.68 M)."""
        body, _ = split_head(self.model)
        return nn.Sequential(body, self.joint_head)
