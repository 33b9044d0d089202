"""Loss pieces shared by several methods."""
from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn.functional as F

Reduction = Literal["batchmean", "elementmean"]
REDUCTIONS = get_args(Reduction)


def soft_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float,
            reduction: str = "batchmean") -> torch.Tensor:
    """KL(softmax(teacher / T) || softmax(student / T)), without the T^2 factor (callers apply it).

    'batchmean' sums over classes and averages over the batch (Hinton et al.'s form); 'elementmean' averages
    over batch x classes, as nn.KLDivLoss(reduction='mean') in the Tf-KD repository does (1/K of the former).
    The teacher side is not detached here: pass teacher_logits.detach() where the method stops its gradient.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown KL reduction {reduction!r}; use one of {REDUCTIONS}")
    log_student = F.log_softmax(student_logits / temperature, dim=1)
    log_teacher = F.log_softmax(teacher_logits / temperature, dim=1)
    pointwise = log_teacher.exp() * (log_teacher - log_student)
    if reduction == "batchmean":
        return pointwise.sum(dim=1).mean()
    return pointwise.mean()


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """The entropy of the plain softmax, batch mean (FocusNet's R_entropy, Eq. 11)."""
    log_p = F.log_softmax(logits, dim=1)
    return -(log_p.exp() * log_p).sum(dim=1).mean()
