"""ONE, On-the-fly Native Ensemble (Lan, Zhu, Gong, NeurIPS 2018; official code Lan1991Xu/ONE_NeurIPS2018).

ResNet only: conv1..layer3 are shared, the network's own layer4 + fc is branch 1 and `branches - 1`
further layer4 + fc are extra branches. A gate g = softmax(ReLU(BN(FC(GAP(layer3 output))))) mixes the
branch logits into the ensemble teacher z_e = sum_i g_i z_i (official models/cifar/resnet.py ONE_ResNet,
where the last of its three stages is branched). Loss (official cifar_one.py train(), loss/kl_loss.py):
    sum_i CE(z_i, y) + CE(z_e, y) + w(e) sum_i T^2 KL_T(sg z_e || z_i),   batch-mean KL,
    w(e) = exp(-5 (1 - min(e, R) / R)^2) with the 0-based epoch e, set once per epoch (utils.ramps.sigmoid_rampup).
The official KL adds 1e-7 to the target probabilities; we leave that out (it changes the loss by ~K * 1e-7).
Inference: branch 1 alone, i.e. the plain network, so deploy_model() is the baseline network; the paper's
Table 6 also counts ONE at the baseline's 11.27 M parameters.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from methods.losses import soft_kl
from methods.method import Method
from methods.registry import register


def rampup_weight(epoch: int, rampup_epochs: int) -> float:
    """The official sigmoid ramp-up exp(-5 (1 - min(epoch, R) / R)^2), `epoch` 0-based; 1 when R = 0."""
    if rampup_epochs == 0:
        return 1.0
    phase = 1.0 - min(max(epoch, 0), rampup_epochs) / rampup_epochs
    return math.exp(-5.0 * phase * phase)


def ensemble_logits(branch_logits: list[torch.Tensor], gate: torch.Tensor) -> torch.Tensor:
    """z_e = sum_i g_i z_i, gate [B, m] weighting branch logits [B, K] each."""
    return sum(gate[:, i:i + 1] * logits for i, logits in enumerate(branch_logits))


def one_loss(branch_logits: list[torch.Tensor], gate: torch.Tensor, targets: torch.Tensor, *,
             temperature: float, kd_weight: float) -> dict[str, torch.Tensor]:
    ensemble = ensemble_logits(branch_logits, gate)
    teacher = ensemble.detach()
    kd = sum(soft_kl(logits, teacher, temperature) for logits in branch_logits)
    return {"ce_branches": sum(F.cross_entropy(logits, targets) for logits in branch_logits),
            "ce_ensemble": F.cross_entropy(ensemble, targets),
            "kd": kd_weight * temperature ** 2 * kd}


def fresh_last_stage(model: torchvision.models.ResNet, num_classes: int) -> nn.Sequential:
    """A newly initialised layer4 + pool + fc of `model`'s shape: the official code builds every branch with
    its own _make_layer and nn.Linear, so branches start independent; taking them from a fresh torchvision
    ResNet of the same block and depths gives them torchvision's initialisation, as the network's own has."""
    depths = [len(stage) for stage in (model.layer1, model.layer2, model.layer3, model.layer4)]
    donor = torchvision.models.ResNet(type(model.layer4[0]), depths, num_classes=num_classes)
    return nn.Sequential(donor.layer4, nn.AdaptiveAvgPool2d(1), nn.Flatten(1), donor.fc)


@register("one")
class ONE(Method):
    def __init__(self, model, num_classes, options, reference=None):
        super().__init__(model, num_classes, options, reference)
        if not isinstance(model, torchvision.models.ResNet):
            raise ValueError(f"one branches a ResNet's layer4: supported archs are resnet18 and resnet34, "
                             f"not {type(model).__name__}")
        if options.branches < 2 or options.rampup_epochs < 0:
            raise ValueError(f"one needs branches >= 2 and rampup_epochs >= 0, got {options}")
        self.extra_branches = nn.ModuleList(fresh_last_stage(model, num_classes)
                                            for _ in range(options.branches - 1))
        trunk_channels = model.layer4[0].conv1.in_channels
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(trunk_channels, options.branches),
                                  nn.BatchNorm1d(options.branches), nn.ReLU())
        self.kd_weight = rampup_weight(0, options.rampup_epochs)

    def start_epoch(self, epoch: int, total_epochs: int) -> None:
        self.kd_weight = rampup_weight(epoch - 1, self.options.rampup_epochs)  # the engine counts from 1

    def trunk(self, images: torch.Tensor) -> torch.Tensor:
        net = self.model
        x = net.maxpool(net.relu(net.bn1(net.conv1(images))))
        return net.layer3(net.layer2(net.layer1(x)))

    def branch_logits(self, shared: torch.Tensor) -> list[torch.Tensor]:
        net = self.model
        own = net.fc(torch.flatten(net.avgpool(net.layer4(shared)), 1))
        return [own] + [branch(shared) for branch in self.extra_branches]

    def forward_train(self, images, targets):
        shared = self.trunk(images)
        branch_logits = self.branch_logits(shared)
        gate = F.softmax(self.gate(shared), dim=1)
        return branch_logits[0], one_loss(branch_logits, gate, targets, temperature=self.options.temperature,
                                          kd_weight=self.kd_weight)
