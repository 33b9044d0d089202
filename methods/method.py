"""The method contract (mdistiller style): a method wraps the network being trained.

`forward_train(images, targets)` returns the logits (aligned with `targets`) and a dict of named, already
weighted loss terms; the engine sums the dict and logs every term. `forward_test(images)` is what is evaluated;
`deploy_model()` is what is saved as model.pt and what a downstream run loads as its reference network.

What a method needs from the data it declares with class attributes, which the engine passes on to the batch
stream without knowing any method by name:
- `views`: with 2 or more, `images` is a list of that many independently augmented copies of the batch.
- `class_pairs`: each batch holds B samples followed by B partners of the same classes (2B images and targets).
Extra trainable modules (auxiliary heads, a self-teacher) are submodules created in `__init__`: they are
optimised and checkpointed with the network, and left out of `deploy_model()`.
"""
from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from methods.plan.options import declared, options_class, options_of


class _Declared:
    """A class attribute read from the method's declaration in config/methods.yaml (methods.plan.options), so the
    declaration is the only place it is written; `unregistered` for a class no key names (e.g. a test's)."""

    def __init__(self, read, unregistered):
        self.read, self.unregistered = read, unregistered

    def __get__(self, instance, owner):
        return self.read(owner.key) if owner.key else self.unregistered


class Method(nn.Module):
    key: ClassVar[str] = ""   # set by methods.registry.register
    # from the declaration: its `reference`, and a frozen dataclass with one field per declared option
    needs_reference: ClassVar[bool] = _Declared(lambda key: declared(key).needs_reference, False)
    Options: ClassVar[type] = _Declared(options_class, None)
    # what the method needs from the data:
    views: ClassVar[int] = 1
    class_pairs: ClassVar[bool] = False

    def __init__(self, model: nn.Module, num_classes: int, options: Any, reference: nn.Module | None = None):
        super().__init__()
        if self.needs_reference and reference is None:
            raise ValueError(f"method {self.key!r} needs a reference network (name one with '@<arch>.<run>')")
        if not self.needs_reference and reference is not None:
            raise ValueError(f"method {self.key!r} takes no reference network")
        self.model = model
        self.num_classes = num_classes
        self.options = options
        self.reference = freeze(reference) if reference is not None else None

    def forward_train(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def forward_test(self, images: torch.Tensor) -> torch.Tensor:
        return self.deploy_model()(images)

    def deploy_model(self) -> nn.Module:
        return self.model

    @classmethod
    def deployed_network(cls, model: nn.Module, num_classes: int, options: Any) -> nn.Module:
        """An empty network of what deploy_model() returns, for loading a saved model.pt into.

        Methods that deploy more than the bare network (e.g. extra heads) override this and deploy_model()."""
        return model

    def complexity_network(self) -> nn.Module:
        """What the paper's complexity table counts for this method (default: the deployed network)."""
        return self.deploy_model()

    def start_epoch(self, epoch: int, total_epochs: int) -> None:
        """Called before each training epoch (1-based), e.g. for loss-weight ramps."""

    def train(self, mode: bool = True) -> "Method":
        super().train(mode)
        if self.reference is not None:
            self.reference.eval()  # a frozen reference keeps its BatchNorm statistics
        return self

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.state_dict().items() if not k.startswith("reference.")}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing, unexpected = self.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("reference.")]
        if missing or unexpected:
            raise RuntimeError(f"checkpoint does not fit method {self.key!r}: missing {missing}, unexpected {unexpected}")

    @torch.no_grad()
    def reference_logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.reference(images)


def freeze(module: nn.Module) -> nn.Module:
    module.eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module


def recorded_options(key: str, recorded: dict[str, Any]) -> Any:
    """The Options of method `key` that a protocol (or a saved model) records; an option added later and not
    recorded takes the value that reproduces the behaviour from before it existed."""
    return options_of(key, declared(key).from_recorded(recorded))


def default_options(key: str, overrides: dict[str, Any] | None = None) -> Any:
    """The Options of method `key` at its declared defaults, with `overrides` (values or run-name strings)."""
    return options_of(key, declared(key).resolve(overrides))
