"""Shared checks for the method tests (pytest puts this folder on sys.path: `from helpers import ...`)."""
import torch

from methods import config
from methods.method import parse_options
from methods.registry import get_method_class


def method_options(key: str, **overrides):
    """A method's Options at its config/methods.yaml defaults, with run-name-style overrides."""
    return parse_options(get_method_class(key).Options, {**config.method_defaults(key), **overrides})


def train_steps(method, images, targets, steps=2, lr=0.01, momentum=0.0, check=None):
    """Run `steps` SGD steps of forward_train -> sum(terms) -> zero_grad/backward/step; return the last (logits, terms).

    Asserts every term and the loss are finite. `check(logits, terms)`, if given, runs each step after backward
    and before the optimizer step (gradients are in place)."""
    optimizer = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=lr, momentum=momentum)
    for _ in range(steps):
        logits, terms = method.forward_train(images, targets)
        assert all(torch.isfinite(value) for value in terms.values())
        loss = sum(terms.values())
        assert torch.isfinite(loss)
        optimizer.zero_grad()
        loss.backward()
        if check is not None:
            check(logits, terms)
        optimizer.step()
    return logits, terms


def assert_reference_frozen(method_cls, options):
    """A Linear+BatchNorm1d reference stays frozen in eval mode while a Linear student trains one backward pass."""
    reference = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    student = torch.nn.Linear(4, 3)
    method = method_cls(student, 3, options, reference=reference)
    method.train()
    assert not reference.training and student.training
    running_mean = reference[1].running_mean.clone()
    _, terms = method.forward_train(torch.randn(8, 4), torch.randint(0, 3, (8,)))
    sum(terms.values()).backward()
    assert all(p.grad is None and not p.requires_grad for p in reference.parameters())
    assert all(p.grad is not None for p in student.parameters())
    assert torch.equal(reference[1].running_mean, running_mean)
    assert not any(key.startswith("reference.") for key in method.trainable_state_dict())
