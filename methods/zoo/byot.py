"""BYOT, Be Your Own Teacher (Zhang et al. 2019): auxiliary classifiers after layer1..layer3 learn from the labels,
from the deepest classifier's softened logits and from its pooled features (paper/METHODS.md).

Defaults follow the authors' final code (ArchipLab-LinfengZhang/pytorch-self-distillation-final); the conference
paper's form is an option (config/methods.yaml):
- heads: each stage output is gated by sigmoid(upsample(ReLU(BN(SepConv)))) ("attention"; the BN and ReLU after
  the SepConv came with the code's July 2020 update, commit 36e60ec) and brought to 512 channels at the deepest
  resolution by stride-2 SepConvs, then GAP and FC; the paper's form is one bottleneck branch per stage.
- feature loss: w ||A_i(F_i) - sg F_4||_2 with a trainable Linear adaptation A_i and the norm taken over the whole
  batch (torch.dist, not squared), only for the layer1 and layer2 heads (the code skips the layer3 head); the
  paper's form is w mean_b ||F_i - sg F_4||^2.
- distillation: alpha KL_T(sg z_4 || z_i) without a T^2 factor. The code uses the soft cross-entropy, which has
  the same gradient and exceeds the KL by the teacher's entropy, a constant.
- evaluation: the code evaluates, and selects its checkpoint on, the mean of the four classifiers' logits
  ("Ensemble" in train.py): option deploy = ensemble (default) or deepest (the ResNet alone, baseline cost).
Table 6 counts the network with its heads (12.49 M, 4.68 G): complexity_network() leaves the adaptation layers out,
since the authors' code creates them lazily in the training loop, where no model-level counter sees them.
"""
from __future__ import annotations


import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from methods.losses import soft_kl
from methods.method import Method
from methods.models import resnet_stages
from methods.registry import register

HEAD_STAGES = ("layer1", "layer2", "layer3")
STAGE_CHANNELS = (64, 128, 256)
DEEP_CHANNELS = 512


def sep_conv(channels_in: int, channels_out: int) -> nn.Sequential:
    """The authors' SepConv: two depthwise-separable 3x3 convolutions, the first with stride 2."""
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_in, 3, stride=2, padding=1, groups=channels_in, bias=False),
        nn.Conv2d(channels_in, channels_in, 1, bias=False), nn.BatchNorm2d(channels_in), nn.ReLU(),
        nn.Conv2d(channels_in, channels_in, 3, padding=1, groups=channels_in, bias=False),
        nn.Conv2d(channels_in, channels_out, 1, bias=False), nn.BatchNorm2d(channels_out), nn.ReLU())


def bottleneck_branch(channels_in: int, channels_out: int, stride: int) -> nn.Sequential:
    """The paper's bottleneck: 1x1 to channels_out / 4, a stride x stride convolution of that stride, 1x1 up."""
    middle = channels_out // 4
    return nn.Sequential(
        nn.Conv2d(channels_in, middle, 1), nn.BatchNorm2d(middle), nn.ReLU(),
        nn.Conv2d(middle, middle, stride, stride=stride), nn.BatchNorm2d(middle), nn.ReLU(),
        nn.Conv2d(middle, channels_out, 1), nn.BatchNorm2d(channels_out), nn.ReLU())


class AttentionGate(nn.Module):
    """f * sigmoid(upsample(ReLU(BN(SepConv(f))))): what a shallow head sees in the authors' final code."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Sequential(sep_conv(channels, channels), nn.BatchNorm2d(channels), nn.ReLU())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        mask = F.interpolate(self.conv(features), size=features.shape[-2:], mode="bilinear", align_corners=False)
        return features * torch.sigmoid(mask)


class ShallowHead(nn.Module):
    """Stage output -> (logits, pooled 512-d feature) at the deepest stage's resolution."""

    def __init__(self, stage: int, design: str, attention: bool, num_classes: int):
        super().__init__()
        channels, halvings = STAGE_CHANNELS[stage], len(HEAD_STAGES) - stage
        self.gate = AttentionGate(channels) if attention else nn.Identity()
        if design == "sepconv":
            self.reduce = nn.Sequential(*[sep_conv(channels * 2 ** i, channels * 2 ** (i + 1)) for i in range(halvings)])
        else:
            self.reduce = bottleneck_branch(channels, DEEP_CHANNELS, 2 ** halvings)
        self.fc = nn.Linear(DEEP_CHANNELS, num_classes)

    def forward(self, stage_output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature = self.reduce(self.gate(stage_output)).mean(dim=(2, 3))
        return self.fc(feature), feature


def feature_distance(student: torch.Tensor, teacher: torch.Tensor, form: str) -> torch.Tensor:
    """'adapted_norm': the L2 norm of the whole batch's difference (torch.dist, the authors' code);
    'squared': the squared L2 distance per sample, batch mean (the paper). The teacher is not detached here."""
    if form == "adapted_norm":
        return torch.dist(student, teacher)
    return (student - teacher).pow(2).sum(dim=1).mean()


def byot_loss_terms(deep_logits, deep_feature, aux_logits, distilled_features, targets, *, alpha: float,
                    temperature: float, feature_weight: float, feature_form: str) -> dict[str, torch.Tensor]:
    """CE(z_4) + sum_i [(1 - alpha) CE(z_i) + alpha KL_T(sg z_4 || z_i)] + w sum_j d(F_j, sg F_4).

    `distilled_features` are the (adapted) features of the heads the feature loss applies to."""
    teacher_logits, teacher_feature = deep_logits.detach(), deep_feature.detach()
    zero = deep_logits.new_zeros(())
    return {
        "ce": F.cross_entropy(deep_logits, targets),
        "aux_ce": (1 - alpha) * sum((F.cross_entropy(z, targets) for z in aux_logits), zero),
        "aux_kd": alpha * sum((soft_kl(z, teacher_logits, temperature) for z in aux_logits), zero),
        "feature": feature_weight * sum((feature_distance(f, teacher_feature, feature_form)
                                         for f in distilled_features), zero),
    }


def _is_basic_resnet(model: nn.Module) -> bool:
    return isinstance(model, torchvision.models.ResNet) and isinstance(model.layer1[0],
                                                                        torchvision.models.resnet.BasicBlock)


def run_heads(model: torchvision.models.ResNet, heads: nn.ModuleList, images: torch.Tensor):
    """(deep logits, deep pooled feature, [shallow logits], [shallow features]), shallow in stage order."""
    stages = resnet_stages(model, images)
    deep_feature = torch.flatten(model.avgpool(stages[-1]), 1)
    shallow = [head(stage) for head, stage in zip(heads, stages)]
    return model.fc(deep_feature), deep_feature, [z for z, _ in shallow], [f for _, f in shallow]


class NetworkWithHeads(nn.Module):
    """What Table 6 counts: the backbone and every classifier (not the adaptation layers), run on the images."""

    def __init__(self, model: torchvision.models.ResNet, heads: nn.ModuleList):
        super().__init__()
        self.model, self.heads = model, heads

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        deep_logits, _, aux_logits, _ = run_heads(self.model, self.heads, images)
        return [deep_logits, *aux_logits]


class Ensemble(NetworkWithHeads):
    """The released code's evaluated output: the mean of the four classifiers' logits."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.stack(super().forward(images)).mean(dim=0)


def make_heads(options, num_classes: int) -> nn.ModuleList:
    return nn.ModuleList(ShallowHead(stage, options.head, options.attention, num_classes)
                         for stage in range(len(HEAD_STAGES)))


@register("byot")
class BYOT(Method):
    def __init__(self, model, num_classes, options, reference=None):
        super().__init__(model, num_classes, options, reference)
        if not _is_basic_resnet(model):
            raise ValueError(f"byot supports resnet18 and resnet34 only (auxiliary heads on the ResNet stages), "
                             f"not {type(model).__name__}")
        unknown = set(options.feature_heads) - set(HEAD_STAGES)
        if unknown:
            raise ValueError(f"byot feature_heads {options.feature_heads}: choose from {HEAD_STAGES}")
        self.heads = make_heads(options, num_classes)
        adapted = options.feature_loss == "adapted_norm"
        self.adapters = nn.ModuleDict({name: nn.Linear(DEEP_CHANNELS, DEEP_CHANNELS)
                                       for name in options.feature_heads if adapted})

    def forward_train(self, images, targets):
        deep_logits, deep_feature, aux_logits, aux_features = run_heads(self.model, self.heads, images)
        distilled = [self.adapters[name](feature) if name in self.adapters else feature
                     for name, feature in zip(HEAD_STAGES, aux_features) if name in self.options.feature_heads]
        opts = self.options
        return deep_logits, byot_loss_terms(deep_logits, deep_feature, aux_logits, distilled, targets,
                                            alpha=opts.alpha, temperature=opts.temperature,
                                            feature_weight=opts.feature_weight, feature_form=opts.feature_loss)

    def deploy_model(self) -> nn.Module:
        return Ensemble(self.model, self.heads) if self.options.deploy == "ensemble" else self.model

    @classmethod
    def deployed_network(cls, model, num_classes, options) -> nn.Module:
        return Ensemble(model, make_heads(options, num_classes)) if options.deploy == "ensemble" else model

    def complexity_network(self) -> nn.Module:
        return NetworkWithHeads(self.model, self.heads)
