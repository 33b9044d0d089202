"""FocusNet: the focus-picking loss (paper Sec. 3.3-3.4, Eq. 4-12) against a frozen reference network.

The paper's form is the default; the official code's choices are options (config/methods.yaml):
warm label rule "softmax" (softmax(z_b / 2)_k > 1/K) and label smoothing 0.1 of L_cls.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from methods.losses import entropy
from methods.method import Method
from methods.registry import register

def multi_warm_label(reference_logits: torch.Tensor, targets: torch.Tensor, rule: str) -> torch.Tensor:
    """Eq. 4-6: classes the reference finds plausible, plus the true class, each with equal weight."""
    if rule == "logit":
        confusing = reference_logits > 0
    elif rule == "softmax":
        confusing = F.softmax(reference_logits / 2, dim=1) > 1.0 / reference_logits.shape[1]
    else:
        raise ValueError(f"unknown warm-label rule {rule!r}; use 'logit' (paper) or 'softmax' (official code)")
    mask = confusing.float().scatter(1, targets[:, None], 1.0)
    return mask / mask.sum(dim=1, keepdim=True)


def classification_loss(logits, reference_logits, targets, *, label_smoothing=0.0, detach_d=False):
    """Eq. 7-9: cross-entropy of softmax(z + d) with d = softmax(z) - softmax(z_b)."""
    d = F.softmax(logits, dim=1) - F.softmax(reference_logits, dim=1)
    if detach_d:
        d = d.detach()
    return F.cross_entropy(logits + d, targets, label_smoothing=label_smoothing)


def attention_regulariser(logits: torch.Tensor, warm_label: torch.Tensor) -> torch.Tensor:
    """Eq. 10: cross-entropy between the multi-warm label and the plain softmax."""
    return -(warm_label * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


@register("focusnet")
class FocusNet(Method):
    def __init__(self, model, num_classes, options, reference=None):
        super().__init__(model, num_classes, options, reference)
        if "cls" not in options.terms:
            raise ValueError(f"focusnet terms {options.terms}: 'cls' is always on (Table 10 switches att and ent)")

    def forward_train(self, images, targets):
        logits = self.model(images)
        reference_logits = self.reference_logits(images)
        return logits, self.loss_terms(logits, reference_logits, targets)

    def loss_terms(self, logits, reference_logits, targets) -> dict[str, torch.Tensor]:
        """Eq. 12 as named, weighted terms: L_cls + alpha R_attention - beta R_entropy."""
        opts = self.options
        terms = {"cls": classification_loss(logits, reference_logits, targets,
                                            label_smoothing=opts.label_smoothing, detach_d=opts.detach_d)}
        if "att" in opts.terms:
            warm_label = multi_warm_label(reference_logits, targets, opts.warm)
            terms["attention"] = opts.alpha * attention_regulariser(logits, warm_label)
        if "ent" in opts.terms:
            terms["neg_entropy"] = -opts.beta * entropy(logits)
        return terms
