"""Tf-KD (Yuan et al., CVPR 2020; yuanli2333/Teacher-free-Knowledge-Distillation, my_loss_function.py).

Two ways of distilling without a stronger teacher, both (1 - a) CE + a * multiplier * KL:
- `tfkd_self` (Tf-KD_self, repo `loss_kd_self`): the teacher is a finished Baseline run of the same
  architecture (run name e.g. `tfkd_self@resnet18.baseline`); KL_T(sg z_t || z) with T^2.
- `tfkd_reg` (Tf-KD_reg, repo `loss_kd_regularization`): a hand-made "virtual teacher" p^d with `correct_prob`
  on the true class and the rest spread uniformly, softened as softmax(p^d / tau).
The repo's nn.KLDivLoss() averages over batch x classes (`elementmean`), which its `multiplier` compensates for.
"""
from __future__ import annotations


import torch
import torch.nn.functional as F

from methods.losses import soft_kl
from methods.method import Method
from methods.registry import register
from methods.zoo.kd import kd_terms


def self_distillation_loss(logits, teacher_logits, targets, *, alpha: float, temperature: float,
                           multiplier: float, reduction: str) -> dict[str, torch.Tensor]:
    """Repo `loss_kd_self`: (1 - a) CE(z, y) + a * multiplier * T^2 * KL_T(sg z_t || z), i.e. KD scaled."""
    terms = kd_terms(logits, teacher_logits, targets, alpha=alpha, temperature=temperature, reduction=reduction)
    return {"ce": terms["ce"], "kd": multiplier * terms["kd"]}


def virtual_teacher(targets: torch.Tensor, num_classes: int, correct_prob: float,
                    dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """p^d: `correct_prob` on the true class, (1 - correct_prob) / (K - 1) on every other class."""
    rest = (1 - correct_prob) / (num_classes - 1)
    teacher = torch.full((len(targets), num_classes), rest, dtype=dtype, device=targets.device)
    return teacher.scatter(1, targets[:, None], correct_prob)


def regularization_loss(logits, targets, *, alpha: float, temperature: float, multiplier: float,
                        correct_prob: float, form: str, reduction: str) -> dict[str, torch.Tensor]:
    """(1 - a) CE(z, y) + a * multiplier * KL(softmax(p^d / tau) || softmax(z / tau_s)), no tau^2 (repo and Eq. 9).

    form "repo" (what produced the published numbers): tau_s = 1, i.e. the student is not softened, and the
    softmax is taken of the probability vector p^d / tau. The repo's issues 3, 19 and 24 point out that the
    paper's Eq. 9 softens the student too; the author answered (issue 3) that tau_s = 1 worked better on CIFAR-100.
    form "paper": tau_s = tau, the teacher unchanged.
    """
    if form not in ("repo", "paper"):
        raise ValueError(f"unknown Tf-KD_reg form {form!r}; use 'repo' or 'paper'")
    teacher = virtual_teacher(targets, logits.shape[1], correct_prob, logits.dtype)
    student_temperature = temperature if form == "paper" else 1.0
    kl = soft_kl(logits / student_temperature, teacher / temperature, 1.0, reduction)
    return {"ce": (1 - alpha) * F.cross_entropy(logits, targets), "kd": alpha * multiplier * kl}


@register("tfkd_self")
class TfKDSelf(Method):
    def forward_train(self, images, targets):
        logits = self.model(images)
        opts = self.options
        return logits, self_distillation_loss(logits, self.reference_logits(images), targets, alpha=opts.alpha,
                                              temperature=opts.temperature, multiplier=opts.multiplier,
                                              reduction=opts.reduction)


@register("tfkd_reg")
class TfKDReg(Method):
    def forward_train(self, images, targets):
        logits = self.model(images)
        opts = self.options
        return logits, regularization_loss(logits, targets, alpha=opts.alpha, temperature=opts.temperature,
                                           multiplier=opts.multiplier, correct_prob=opts.correct_prob,
                                           form=opts.form, reduction=opts.reduction)
