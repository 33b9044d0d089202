"""Run specs: the name of a run, its directory, and its fully resolved protocol.

A run name reads  <method>[-<opt>=<val>,...][~<schedule>][@<ref-arch>.<ref-run>]
e.g. `baseline`, `focusnet-terms=cls+ent@resnet18.baseline`, `baseline~e30-const`.
Its directory is results/<preset>/<dataset>/<arch>/<run name>/seed<k>/; a reference run is the run of that
name and architecture on the same preset, dataset and seed.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from methods import config
from methods.data.facts import DatasetFacts, get_facts
from methods.option_types import convert_option, option_hints

# ASCII only ([0-9], never \d, which also matches other scripts' digits: `seed١` would name seed 1's directory)
_NAME_PART = re.compile(r"^[a-z0-9_]+$")
_OPTION = re.compile(r"^([a-z0-9_]+)=([A-Za-z0-9_.+-]+)$")    # values as a user writes them: 1e-3, -0.5, cls+att
_SCHEDULE_TOKEN = re.compile(r"^(e[0-9]+|const|w[0-9]+)$")
_SEED = re.compile(r"^seed(0|[1-9][0-9]{0,8})$")
MAX_SEED = 999_999_999


# A run's directory: the one place it is written. RunSpec.directory fills it in; the Snakemake rules use it as
# their wildcard pattern (workflow/rules/train.smk); python -m methods train <dir> parses it back (cli.py).
RUN_DIR_PATTERN = "results/{preset}/{dataset}/{arch}/{run}/seed{seed}"
# The other files under results/, each pattern written here once (the rules use them as their output patterns).
DATA_STAMP_PATTERN = "results/{preset}/data/{dataset}"                # + .json (the data check's stamp), .log
COMPLEXITY_PATTERN = "results/{preset}/complexity/{method}-{arch}-{family}-{classes}c-{size}px"   # + .json, .log


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
            raise SpecError(f"run name {text!r}: schedule token {token!r} is not e<epochs>, const or "
                            "w<warm-up epochs>")
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
        """The run a directory names (the inverse of `directory`), checked part by part before anything is
        written: results/<preset>/<dataset>/<arch>/<run>/seed<k>, nothing outside results/."""
        parts = Path(run_dir).parts
        if len(parts) != 6 or parts[0] != "results" or not _SEED.match(parts[5]):
            raise SpecError(f"{run_dir}: a run directory reads results/<preset>/<dataset>/<arch>/<run>/seed<k> "
                            f"(k: 0..{MAX_SEED}), e.g. results/paper/mnist/lenet5/baseline/seed0")
        for what, value in zip(("preset", "dataset", "arch"), parts[1:4]):
            if not _NAME_PART.match(value):
                raise SpecError(f"{run_dir}: {what} {value!r} must be lower-case letters, digits or _")
        spec = cls.from_parts(parts[1], parts[2], parts[3], parts[4], parts[5].removeprefix("seed"))
        check_spec(spec)
        return spec

    @property
    def directory(self) -> Path:
        return Path(RUN_DIR_PATTERN.format(preset=self.preset, dataset=self.dataset, arch=self.arch, run=self.run,
                                           seed=self.seed))

    @property
    def reference(self) -> "RunSpec | None":
        if self.run.reference is None:
            return None
        arch, run = self.run.reference
        return RunSpec(self.preset, self.dataset, arch, run, self.seed)

    def __str__(self) -> str:
        return str(self.directory)


def check_run_name(run: RunName) -> None:
    """The method, option names and option values of a run name (and of its reference's) against
    config/methods.yaml and the method's Options types (read from its source), without importing torch: what the
    DAG checks before any job starts."""
    methods_table = config.load("methods")
    if run.method not in methods_table or run.method.startswith("_"):
        known = ", ".join(k for k in methods_table if not k.startswith("_"))
        raise SpecError(f"run name {run}: unknown method {run.method!r}; methods (config/methods.yaml): {known}")
    valid = set(methods_table[run.method] or {})
    unknown = sorted({key for key, _ in run.options} - valid)
    if unknown:
        raise SpecError(f"run name {run}: unknown option(s) {unknown} of {run.method!r}; valid: {sorted(valid)}")
    hints = option_hints(run.method)
    for key, value in run.options:
        try:
            convert_option(key, value, hints[key])
        except ValueError as error:
            raise SpecError(f"run name {run}: {error}") from None
    if run.reference:
        check_run_name(run.reference[1])


def check_spec(spec: RunSpec) -> None:
    """Everything about a run that can be checked without torch, before a job starts: the preset and dataset exist,
    the architecture is one the suite builds, the run name (method, options) is valid; its reference's too."""
    try:
        config.preset(spec.preset)
        get_facts(spec.dataset)
    except KeyError as error:
        raise SpecError(str(error).strip("'\"") + " (config/datasets.yaml)") from None
    except config.ConfigError as error:
        raise SpecError(str(error)) from None
    check_arch(spec.arch)
    check_run_name(spec.run)
    if spec.reference is not None:
        check_spec(spec.reference)


def check_arch(arch: str) -> None:
    from methods.models.names import ARCHS, TIMM_PREFIX
    if arch not in ARCHS and not (arch.startswith(TIMM_PREFIX) and _NAME_PART.match(arch.removeprefix(TIMM_PREFIX))):
        raise SpecError(f"unknown arch {arch!r}; valid archs: {', '.join(ARCHS)}, or {TIMM_PREFIX}<name> for an "
                        "architecture of timm.list_models()")


def dataset_facts(preset: str, dataset: str) -> DatasetFacts:
    """The dataset's facts with the preset's overrides (epochs, milestones, batch size, image size) applied."""
    overrides = config.preset(preset)["dataset_overrides"]
    changes = {**overrides.get("*", {}), **overrides.get(dataset, {})}
    if "milestones" in changes:
        changes["milestones"] = tuple(changes["milestones"])
    return get_facts(dataset).replace(**changes)


def schedule(facts: DatasetFacts, tokens: tuple[str, ...]) -> dict:
    """Epochs, lr milestones and decay; `e<k>` stops at epoch k, `const` drops the milestones, `w<k>` ramps the lr
    linearly from ~0 over the first k epochs' steps (a key recorded only when set, so other runs keep their hash)."""
    epochs, milestones, warmup = facts.epochs, list(facts.milestones), 0
    for token in tokens:
        if token == "const":
            milestones = []
        elif token.startswith("w"):
            warmup = int(token[1:])
        else:
            epochs = int(token[1:])
    resolved = {"epochs": epochs, "milestones": [m for m in milestones if m < epochs], "gamma": 0.1}
    if warmup:
        resolved["warmup_epochs"] = warmup
    return resolved


def resolve(spec: RunSpec) -> dict:
    """The run's protocol: everything that decides its result, and nothing that does not (paths, workers).
    Needs the methods' option classes, which import torch: imported here, so run names and directories
    (DAG planning) do not."""
    from methods.engine.speed import EngineOptions
    from methods.method import parse_options, protocol_options
    from methods.registry import get_method_class
    preset = config.preset(spec.preset)
    facts = dataset_facts(spec.preset, spec.dataset)
    method_cls = get_method_class(spec.run.method)
    options = parse_options(method_cls.Options, {**config.method_defaults(spec.run.method), **dict(spec.run.options)})
    if method_cls.needs_reference != (spec.reference is not None):
        need = "needs a reference '@<arch>.<run>'" if method_cls.needs_reference else "takes no reference"
        raise SpecError(f"run {spec.run}: method {spec.run.method!r} {need}")
    protocol = {
        "preset": spec.preset,
        "dataset": spec.dataset,
        "data_source": preset["data_source"],
        "synthetic": preset.get("synthetic") if preset["data_source"] == "synthetic" else None,
        "facts": {k: v for k, v in vars(facts).items() if k not in ("layout", "get_it", "root_dir", "reader")},
        "arch": spec.arch,
        "method": spec.run.method,
        "options": protocol_options(options),
        "schedule": schedule(facts, spec.run.schedule),
        "optimizer": dict(preset["optimizer"]),
        "batch_size": facts.batch_size,
        "max_steps_per_epoch": preset["max_steps_per_epoch"],
        "max_eval_batches": preset["max_eval_batches"],
        "seed": spec.seed,
        "reference": str(spec.reference.directory) if spec.reference else None,
    }
    engine = EngineOptions.from_config(preset.get("engine")).protocol_entry()
    if engine is not None:
        protocol["engine"] = engine
    return protocol


def protocol_hash(protocol: dict) -> str:
    return hashlib.sha256(json.dumps(protocol, sort_keys=True).encode()).hexdigest()[:16]
