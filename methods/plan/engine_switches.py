"""The training engine's speed switches as a protocol records them: bf16 autocast, channels_last, torch.compile, the
224 px image store (methods.engine.switches applies them).

Each changes the numerics of a run (rounding, kernel choice, operation order), so each is part of the run's
protocol: a run trained with a switch on is never mixed with one trained without it. All are off by default
(fp32, NCHW, eager: the reference numerics) until a parity run on a GPU shows no accuracy change; a preset
turns them on with its `engine` mapping (config/presets.yaml), e.g. `engine: {amp: bf16, channels_last: true}`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

AMP_MODES = ("none", "bf16")


@dataclass(frozen=True)
class EngineSwitches:
    amp: Literal["none", "bf16"] = "none"
    channels_last: bool = False
    compile: bool = False
    image_store: int = 0     # > 0: 224 px datasets decoded once, cropped on the device (max side kept, px)

    @classmethod
    def from_config(cls, values: dict | None):
        options = cls(**(values or {}))
        if options.amp not in AMP_MODES:
            raise ValueError(f"engine amp {options.amp!r}: use one of {AMP_MODES}")
        if options.image_store < 0:
            raise ValueError(f"engine image_store {options.image_store}: 0 (off) or the longest side kept, in px")
        return options

    @property
    def is_default(self) -> bool:
        return self == type(self)()

    def protocol_entry(self) -> dict | None:
        """What the run's protocol records: nothing for the reference numerics (so runs trained before the
        switches existed keep their protocol hash), else every switch."""
        return None if self.is_default else asdict(self)
