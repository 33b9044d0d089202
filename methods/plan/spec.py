"""Run specs: the name of a run and the run it names (preset, dataset, arch, run name, seed).

A run name reads  <method>[-<opt>=<val>,...][~<schedule>][@<ref-arch>.<ref-run>]
e.g. `baseline`, `focusnet-terms=cls+ent@resnet18.baseline`, `baseline~e30-const`, `baseline~a20` (stopped at the
first step whose validation top-1 reaches 20 %). Two recipe tokens change what the dataset's recipe leaves open:
`b<k>` the batch size, `raw` the input scaling (pixels in [0, 1], no mean/std normalisation).
Its directory is methods.plan.layout's RUN_DIR_PATTERN; a reference run is the run of that name and architecture on
the same preset, dataset and seed. What a run trains under is its protocol (methods.plan.protocol).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from methods.plan import layout
from methods.plan.layout import MAX_SEED, NAME_PART as _NAME_PART, SEED_PART as _SEED

_OPTION = re.compile(r"^([a-z0-9_]+)=([A-Za-z0-9_.+-]+)$")    # values as a user writes them: 1e-3, -0.5, cls+att
_SCHEDULE_TOKEN = re.compile(r"^(e[0-9]+|const|w[0-9]+|a[0-9]+|b[1-9][0-9]*|raw)$")


class SpecError(ValueError):
    pass


@dataclass(frozen=True)
class RunName:
    method: str
    options: tuple[tuple[str, str], ...] = ()
    schedule: tuple[str, ...] = ()
    reference: tuple[str, "RunName"] | None = None   # (arch, run)

    def __str__(self) -> str:
        text = self.method
        if self.options:
            text += "-" + ",".join(f"{k}={v}" for k, v in self.options)
        if self.schedule:
            text += "~" + "-".join(self.schedule)
        if self.reference:
            text += f"@{self.reference[0]}.{self.reference[1]}"
        return text


def parse_run_name(text: str) -> RunName:
    head, at, tail = text.partition("@")
    reference = None
    if at:
        ref_arch, dot, ref_run = tail.partition(".")
        if not dot or not _NAME_PART.match(ref_arch):
            raise SpecError(f"run name {text!r}: a reference is written '@<arch>.<run>', e.g. '@resnet18.baseline'")
        reference = (ref_arch, parse_run_name(ref_run))
    head, tilde, schedule_text = head.partition("~")
    schedule = tuple(schedule_text.split("-")) if tilde else ()
    for token in schedule:
        if not _SCHEDULE_TOKEN.match(token):
            raise SpecError(f"run name {text!r}: schedule token {token!r} is not e<epochs>, const, "
                            "w<warm-up epochs>, a<val top-1 %>, b<batch size> or raw")
    if any(token.startswith("a") for token in schedule) and len(schedule) > 1:
        raise SpecError(f"run name {text!r}: a<val top-1 %> (stop at the first step of epoch 1 that reaches it, at "
                        "constant lr) stands alone; write e.g. baseline~a20")
    method, dash, options_text = head.partition("-")
    if not _NAME_PART.match(method):
        raise SpecError(f"run name {text!r}: method {method!r} must be lower-case letters, digits or _")
    options = tuple(_parse_option(text, item) for item in options_text.split(",")) if dash else ()
    name = RunName(method, options, schedule, reference)
    canonical = RunName(method, tuple(sorted(options)), schedule, reference)
    if name != canonical:
        raise SpecError(f"run name {text!r}: write its options in sorted order, as {canonical}")
    return name


def _parse_option(text: str, item: str) -> tuple[str, str]:
    match = _OPTION.match(item)
    if not match:
        raise SpecError(f"run name {text!r}: option {item!r} must read key=value (a value of letters, digits and "
                        "_ . + -, e.g. alpha=1e-3, terms=cls+att)")
    return match.group(1), match.group(2)


@dataclass(frozen=True)
class RunSpec:
    preset: str
    dataset: str
    arch: str
    run: RunName
    seed: int

    @classmethod
    def from_parts(cls, preset: str, dataset: str, arch: str, run: str, seed: int | str) -> "RunSpec":
        if not (isinstance(seed, int) and 0 <= seed <= MAX_SEED) and not _SEED.match(f"seed{seed}"):
            raise SpecError(f"seed {seed!r}: a seed is a whole number 0..{MAX_SEED} written in ASCII digits")
        return cls(preset, dataset, arch, parse_run_name(run), int(seed))

    @classmethod
    def from_directory(cls, run_dir: str | Path) -> "RunSpec":
        """The run a directory names (the inverse of `directory`): its parts checked one by one, nothing outside
        results/. Its protocol is not resolved here (methods.plan.protocol.resolve checks the rest)."""
        try:
            parts = layout.parse_run_directory(run_dir)
        except layout.LayoutError as error:
            raise SpecError(str(error)) from None
        return cls.from_parts(parts.preset, parts.dataset, parts.arch, parts.run, parts.seed)

    @property
    def directory(self) -> Path:
        return layout.run_directory(self.preset, self.dataset, self.arch, self.run, self.seed)

    @property
    def reference(self) -> "RunSpec | None":
        if self.run.reference is None:
            return None
        arch, run = self.run.reference
        return RunSpec(self.preset, self.dataset, arch, run, self.seed)

    def __str__(self) -> str:
        return str(self.directory)
