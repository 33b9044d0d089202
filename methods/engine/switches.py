"""Speed switches of the training engine applied: bf16 autocast, channels_last, torch.compile (the switches and
why each is part of the protocol: methods/plan/engine_switches.py)."""
from __future__ import annotations

import contextlib

import torch

from methods.plan.engine_switches import EngineSwitches


class EngineOptions(EngineSwitches):
    """The protocol's switches, with what applying them takes (torch)."""

    def autocast(self, device: torch.device):
        if self.amp == "none":
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)

    def prepare_model(self, method: torch.nn.Module) -> None:
        """In place: channels_last weights, and the trained network compiled (its state_dict keys unchanged)."""
        if self.channels_last:
            method.to(memory_format=torch.channels_last)
        if self.compile:
            method.model.compile()

    def prepare_images(self, images):
        if not self.channels_last:
            return images
        if isinstance(images, (list, tuple)):
            return [view.contiguous(memory_format=torch.channels_last) for view in images]
        return images.contiguous(memory_format=torch.channels_last)
