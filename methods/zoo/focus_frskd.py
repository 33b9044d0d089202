"""OurLoss+FRSKD (paper Sec. 4.3.2, Table 7): FRSKD's paradigm with its distillation loss replaced by the
focus-picking loss, the self-teacher's logits playing the reference network's part.

Classifier and FRSKD self-teacher (methods.zoo.frskd) train jointly; the self-teacher keeps its own CE and,
by default, FRSKD's attention-map feature loss. The classifier's objective is the focus-picking loss
L_cls + alpha R_attention - beta R_entropy (FocusNet Eq. 12) in place of FRSKD's CE + alpha T^2 KL; the
choices the paper leaves open are options (config/methods.yaml, `focus_frskd`).
"""
from __future__ import annotations


import torch
import torch.nn.functional as F

from methods.registry import register
from methods.losses import entropy
from methods.zoo.focusnet import attention_regulariser, classification_loss, multi_warm_label
from methods.zoo.frskd import SelfTeacherMethod, feature_loss


@register("focus_frskd")
class FocusFRSKD(SelfTeacherMethod):
    def loss_terms(self, logits, teacher_logits, features, teacher_features, targets) -> dict[str, torch.Tensor]:
        opts = self.options
        reference_logits = teacher_logits.detach() if opts.detach_teacher else teacher_logits
        warm_label = multi_warm_label(reference_logits, targets, opts.warm)
        terms = {"cls": classification_loss(logits, reference_logits, targets, label_smoothing=opts.label_smoothing),
                 "attention": opts.alpha * attention_regulariser(logits, warm_label),
                 "neg_entropy": -opts.beta * entropy(logits),
                 "teacher_ce": F.cross_entropy(teacher_logits, targets)}
        if opts.classifier_ce:
            terms["ce"] = F.cross_entropy(logits, targets)
        if opts.feature_weight:
            terms["feature"] = opts.feature_weight * feature_loss(features, teacher_features)
        return terms
