"""FRSKD (Ji et al. 2021, official code MingiJi/FRSKD) and FRSKD\\F (no feature distillation).

A BiFPN-like self-teacher (official models/bifpnc.py, `BiFPNc`) reads the classifier's four ResNet stage
outputs (not detached: its CE also trains the classifier's body, as in the official train loop), refines them
top-down then bottom-up, and classifies the last level. One optimizer trains both; only the classifier is
deployed. Loss (official utils.py `train` + distill_loss/AT.py):
    CE(z_c, y) + CE(z_t, y) + alpha T^2 KL_T(sg z_t || z_c) + beta sum_j mean((A(F_j) - sg A(T_j))^2)
with A(f) the L2-normalised spatial map of mean_c f^2.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from methods.losses import soft_kl
from methods.method import Method
from methods.models import resnet_stages
from methods.registry import register

SUPPORTED_ARCHS = "resnet18, resnet34"


def pointwise_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Official DepthConvBlock with kernel 1: conv1x1 + BN + ReLU."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU())


def separable_block(channels: int, depth: int) -> nn.Sequential:
    """Official DepthConvBlock with kernel 3: `depth` x (depthwise 3x3, pointwise 1x1, BN), ReLU between them."""
    layers: list[nn.Module] = []
    for index in range(depth):
        if index:
            layers.append(nn.ReLU())
        layers += [nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
                   nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels)]
    return nn.Sequential(*layers)


def max_pool_same(x: torch.Tensor) -> torch.Tensor:
    """3x3 stride-2 max-pool with TensorFlow 'same' zero padding (official MaxPool2dStaticSamePadding)."""
    h, w = x.shape[-2:]
    pad_h = (math.ceil(h / 2) - 1) * 2 + 3 - h
    pad_w = (math.ceil(w / 2) - 1) * 2 + 3 - w
    x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
    return F.max_pool2d(x, 3, 2)


def fusion_weights(weights: nn.Parameter) -> torch.Tensor:
    """BiFPN's fast normalised fusion: relu(w) / (sum relu(w) + 1e-6)."""
    weights = F.relu(weights)
    return weights / (weights.sum() + 1e-6)


class SelfTeacher(nn.Module):
    """FRSKD's self-teacher (official BiFPNc, one BiFPN layer): level j has width x stage_channels[j] channels.

    forward(stages) -> (refined features, one per stage, post-ReLU; logits from GAP of the last level + FC).
    Upsampling is nearest to the lateral level's size (the official x2 whenever sizes halve exactly).
    One BiFPN layer, the official default (--repeat 1); the official BiFPNc cannot stack more, as a second
    layer's lateral convs would expect the stage channels, not the widened ones.
    """

    def __init__(self, stage_channels: list[int], num_classes: int, width: int, depth: int):
        super().__init__()
        channels = [c * width for c in stage_channels]
        last = len(channels) - 1
        self.lateral = nn.ModuleList(pointwise_block(c, w) for c, w in zip(stage_channels, channels))
        self.lateral_skip = nn.ModuleList(pointwise_block(c, w) for c, w in zip(stage_channels[1:], channels[1:]))
        self.up_project = nn.ModuleList(pointwise_block(channels[j + 1], channels[j]) for j in range(last))
        self.up_conv = nn.ModuleList(separable_block(channels[j], depth) for j in range(last))
        self.up_weight = nn.ParameterList(nn.Parameter(torch.ones(2)) for _ in range(last))
        self.down_project = nn.ModuleList(pointwise_block(channels[j - 1], channels[j]) for j in range(1, last + 1))
        self.down_conv = nn.ModuleList(separable_block(channels[j], depth) for j in range(1, last + 1))
        self.down_weight = nn.ParameterList(nn.Parameter(torch.ones(3 if j < last else 2))
                                            for j in range(1, last + 1))
        self.fc = nn.Linear(channels[-1], num_classes)

    def forward(self, stages: list[torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
        # The official code applies ReLU to every fusion input; stage outputs (torchvision blocks end with
        # ReLU) and pointwise-block outputs are already non-negative, so only the BN-ended levels need it.
        skips = [conv(s) for conv, s in zip(self.lateral_skip, stages[1:])]
        laterals = [conv(s) for conv, s in zip(self.lateral, stages)]
        top_down = [laterals[-1]]
        for j in reversed(range(len(self.up_conv))):
            w = fusion_weights(self.up_weight[j])
            above = F.interpolate(F.relu(top_down[0]), size=laterals[j].shape[-2:], mode="nearest")
            top_down.insert(0, self.up_conv[j](w[0] * laterals[j] + w[1] * self.up_project[j](above)))
        levels = [top_down[0]]
        for j, conv in enumerate(self.down_conv, start=1):
            w = fusion_weights(self.down_weight[j - 1])
            below = self.down_project[j - 1](max_pool_same(F.relu(levels[-1])))
            inputs = [skips[j - 1], F.relu(top_down[j]), below] if j < len(self.down_conv) else [skips[j - 1], below]
            levels.append(conv(sum(weight * x for weight, x in zip(w, inputs))))
        features = [F.relu(level) for level in levels]
        return features, self.fc(torch.flatten(F.adaptive_avg_pool2d(features[-1], 1), 1))


def attention_map(feature: torch.Tensor) -> torch.Tensor:
    """A(f): mean over channels of f^2, flattened over space and L2-normalised per sample (official AT.py)."""
    return F.normalize(feature.pow(2).mean(dim=1).flatten(1), dim=1)


def feature_loss(features: list[torch.Tensor], teacher_features: list[torch.Tensor]) -> torch.Tensor:
    """sum_j mean((A(F_j) - A(sg T_j))^2): the classifier's stage maps follow the self-teacher's refined maps."""
    return sum((attention_map(f) - attention_map(t.detach())).pow(2).mean()
               for f, t in zip(features, teacher_features))


def classifier_forward(model: torchvision.models.ResNet, images: torch.Tensor):
    """(stage outputs, logits) of the classifier in one pass; logits == model(images)."""
    stages = resnet_stages(model, images)
    return stages, model.fc(torch.flatten(model.avgpool(stages[-1]), 1))


class ClassifierWithSelfTeacher(nn.Module):
    """What Table 6 counts for FRSKD: the classifier plus the self-teacher on its stage outputs."""

    def __init__(self, model: nn.Module, self_teacher: SelfTeacher):
        super().__init__()
        self.model = model
        self.self_teacher = self_teacher

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stages, logits = classifier_forward(self.model, images)
        return logits, self.self_teacher(stages)[1]


class SelfTeacherMethod(Method):
    """The FRSKD paradigm: classifier and self-teacher trained jointly; subclasses define loss_terms.

    Options must carry `width` and `depth` (the self-teacher's)."""

    def __init__(self, model, num_classes, options, reference=None):
        super().__init__(model, num_classes, options, reference)
        if not isinstance(model, torchvision.models.ResNet):
            raise ValueError(f"{self.key} needs a ResNet ({SUPPORTED_ARCHS}): its self-teacher reads the four "
                             f"stage outputs; got {type(model).__name__}")
        stage_channels = [stage[-1].conv2.out_channels for stage in (model.layer1, model.layer2,
                                                                     model.layer3, model.layer4)]
        self.self_teacher = SelfTeacher(stage_channels, num_classes, options.width, options.depth)

    def forward_train(self, images, targets):
        stages, logits = classifier_forward(self.model, images)
        teacher_features, teacher_logits = self.self_teacher(stages)
        return logits, self.loss_terms(logits, teacher_logits, stages, teacher_features, targets)

    def loss_terms(self, logits, teacher_logits, features, teacher_features, targets) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def complexity_network(self) -> nn.Module:
        return ClassifierWithSelfTeacher(self.model, self.self_teacher)


@register("frskd")
class FRSKD(SelfTeacherMethod):
    def loss_terms(self, logits, teacher_logits, features, teacher_features, targets) -> dict[str, torch.Tensor]:
        opts = self.options
        kl = soft_kl(logits, teacher_logits.detach(), opts.temperature, "batchmean")
        terms = {"ce": F.cross_entropy(logits, targets),
                 "teacher_ce": F.cross_entropy(teacher_logits, targets),
                 "kd": opts.alpha * opts.temperature ** 2 * kl}
        if opts.beta:
            terms["feature"] = opts.beta * feature_loss(features, teacher_features)
        return terms


@register("frskd_nofeat")
class FRSKDNoFeature(FRSKD):
    """FRSKD\\F (paper Table 7): FRSKD without the feature distillation, i.e. beta = 0."""

    def __init__(self, model, num_classes, options, reference=None):
        if options.beta != 0:
            raise ValueError(f"frskd_nofeat is FRSKD with beta = 0 (got beta={options.beta}); use frskd-beta=... instead")
        super().__init__(model, num_classes, options, reference)
