"""DropMax (Lee et al. 2018): softmax whose non-target classes are dropped by a learned, per-sample mask.

Three K-way heads on the penultimate features h: the network's own classifier gives the logits o, a retain
head the retain logits a_rho (rho = sigmoid(a_rho)), an auxiliary head a_r. Each loss function below is
checked against the official TensorFlow code, haebeom-lee/dropmax (layers.py, lenet.py, run.py); where ours
differs, its comment says how. Not replicated: lenet.py exempts the two extra heads from its weight decay,
while the engine's SGD decays every trainable parameter alike.
"""
from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn

from methods.method import Method
from methods.models import split_head
from methods.registry import register

LOG_GUARD = 1e-20  # layers.py takes every log as tf.log(x + 1e-20)


def relaxed_mask(mask_logits: torch.Tensor, uniform: torch.Tensor, targets: torch.Tensor,
                 tau: float) -> torch.Tensor:
    """z_k = sigmoid((logit q_k + logit u_k) / tau), z_t = 1 (layers.py genmask).

    layers.py recomputes logit q from q = sigmoid(q logits); we use the logits themselves (same value,
    finite where q saturates)."""
    logit_u = torch.log(uniform + LOG_GUARD) - torch.log(1 - uniform + LOG_GUARD)
    mask = torch.sigmoid((mask_logits + logit_u) / tau)
    return torch.where(_is_target(mask, targets), torch.ones_like(mask), mask)


def masked_cross_entropy(logits: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor,
                         eps: float) -> torch.Tensor:
    """-log P(y|x,z), P(y|x,z) = (z_y + eps) e^{o_y} / sum_k (z_k + eps) e^{o_k}, batch mean.

    layers.py cross_entropy((z + eps) * exp(o), y) computes the same ratio from exp(o) directly (overflowing
    for o > 88 in float32) with 1e-20 added inside both logs; we take it through a log-sum-exp."""
    return F.cross_entropy(logits + torch.log(mask + eps), targets)


def retain_kl(retain_logits: torch.Tensor, mask_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """-log rho_t + sum_{k != t} KL(Bern(q_k) || Bern(rho_k)), summed over classes, batch mean
    (layers.py kl_divergence; it guards the logs with 1e-20, we use log-sigmoids)."""
    q = torch.sigmoid(mask_logits)
    log_rho, log_not_rho = F.logsigmoid(retain_logits), F.logsigmoid(-retain_logits)
    nontarget = (q * (F.logsigmoid(mask_logits) - log_rho)
                 + (1 - q) * (F.logsigmoid(-mask_logits) - log_not_rho))
    per_class = torch.where(_is_target(retain_logits, targets), -log_rho, nontarget)
    return per_class.sum(dim=1).mean()


def auxiliary_bce(aux_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """BCE(sigmoid(a_r), y) summed over classes, batch mean (layers.py auxloss)."""
    one_hot = _is_target(aux_logits, targets).to(aux_logits.dtype)
    return F.binary_cross_entropy_with_logits(aux_logits, one_hot, reduction="none").sum(dim=1).mean()


def retain_neg_entropy(retain_logits: torch.Tensor) -> torch.Tensor:
    """sum_k [rho log rho + (1 - rho) log(1 - rho)], batch mean (layers.py neg_entropy).

    Minimising it pushes rho towards 1/2. The released lenet.py stores `entropy(p)` under 'ent', a function
    layers.py does not define, while run.py adds net['neg_ent']: we take the term run.py names."""
    rho = torch.sigmoid(retain_logits)
    per_class = rho * F.logsigmoid(retain_logits) + (1 - rho) * F.logsigmoid(-retain_logits)
    return per_class.sum(dim=1).mean()


def dropmax_losses(logits, retain_logits, aux_logits, targets, uniform, *, tau: float,
                   eps: float) -> dict[str, torch.Tensor]:
    """The four unweighted terms of the DropMax objective (run.py: cent + kl + aux + neg_ent)."""
    mask_logits = retain_logits.detach() + aux_logits  # lenet.py: qh = tf.stop_gradient(ph) + rh
    mask = relaxed_mask(mask_logits, uniform, targets, tau)
    return {"ce": masked_cross_entropy(logits, mask, targets, eps),
            "kl": retain_kl(retain_logits, mask_logits, targets),
            "aux": auxiliary_bce(aux_logits, targets),
            "neg_entropy": retain_neg_entropy(retain_logits)}


def deployed_logits(logits: torch.Tensor, retain_logits: torch.Tensor, eps: float) -> torch.Tensor:
    """o + log(rho + eps): its argmax is that of (rho_k + eps) e^{o_k} (lenet.py accuracy((p + eps) * exp(o)))."""
    return logits + torch.log(torch.sigmoid(retain_logits) + eps)


def _is_target(like: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.one_hot(targets, like.shape[1]).bool()


class DropMaxNetwork(nn.Module):
    """What DropMax deploys: the network (its classifier gives o) plus the retain head."""

    def __init__(self, network: nn.Module, retain_head: nn.Linear, eps: float):
        super().__init__()
        self.network = network
        self.retain_head = retain_head
        self.eps = eps

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        body, logits_head = split_head(self.network)
        features = body(images)
        return deployed_logits(logits_head(features), self.retain_head(features), self.eps)


@register("dropmax")
class DropMax(Method):
    def __init__(self, model, num_classes, options, reference=None):
        super().__init__(model, num_classes, options, reference)
        self.retain_head = _new_head(model, num_classes)
        self.aux_head = _new_head(model, num_classes)

    def sample_uniform(self, like: torch.Tensor) -> torch.Tensor:
        """The U(0, 1) noise of the relaxed mask; tests override it to make a step deterministic."""
        return torch.rand_like(like)

    def forward_train(self, images, targets):
        body, logits_head = split_head(self.model)
        features = body(images)
        logits, retain_logits = logits_head(features), self.retain_head(features)
        aux_logits = self.aux_head(features)
        opts = self.options
        losses = dropmax_losses(logits, retain_logits, aux_logits, targets, self.sample_uniform(logits),
                                tau=opts.tau, eps=opts.eps)
        terms = {"ce": losses["ce"], "kl": opts.kl_weight * losses["kl"], "aux": opts.aux_weight * losses["aux"],
                 "neg_entropy": opts.ent_weight * losses["neg_entropy"]}
        return deployed_logits(logits, retain_logits, opts.eps), terms

    def deploy_model(self) -> nn.Module:
        return DropMaxNetwork(self.model, self.retain_head, self.options.eps)

    @classmethod
    def deployed_network(cls, model, num_classes, options):
        return DropMaxNetwork(model, _new_head(model, num_classes), options.eps)


def _new_head(model: nn.Module, num_classes: int) -> nn.Linear:
    """A K-way linear head on the penultimate features, initialised as PyTorch's nn.Linear (the official
    tf.layers.dense uses Glorot-uniform weights and zero biases)."""
    return nn.Linear(split_head(model)[1].in_features, num_classes)
