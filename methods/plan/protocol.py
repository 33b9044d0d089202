"""A run's protocol: everything that decides its result and nothing that does not (paths, workers, threads), resolved
once from the config into a frozen Protocol. The trainer, derived runs, verification and restore all consume that
object; none of them reads the config again. Its hash (the first 16 hex digits of the SHA-256 of the sorted JSON of
`record`) names the protocol in every metrics.json: a finished run whose hash differs from what the config resolves
to now is `stale`."""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from methods.plan.facts import DatasetFacts, get_facts, valid_sources
from methods.plan import config
from methods.plan.engine_switches import EngineSwitches
from methods.plan.layout import NAME_PART
from methods.plan.options import MethodDeclaration, declared
from methods.plan.spec import RunName, RunSpec, SpecError
from methods.plan.archs import ARCHS, TIMM_PREFIX

_HIDDEN_FACTS = ("layout", "get_it", "root_dir", "reader")   # where and how a copy is read: not the protocol


@dataclass(frozen=True)
class Protocol:
    spec: RunSpec
    facts: DatasetFacts                 # the dataset's facts with the preset's overrides (epochs, batch size, ...)
    method: MethodDeclaration
    options: tuple[tuple[str, Any], ...]  # every option's value, converted (tuples for lists)
    data_source: str                    # real | synthetic | digits
    synthetic: dict | None              # the synthetic source's settings
    engine: EngineSwitches
    processes: int                      # processes training the run together (1: a single process)
    reference: "Protocol | None"
    _record: str                        # the JSON of `record`, so the object is immutable through and through

    @cached_property
    def _parsed(self) -> dict:   # the JSON read once; every accessor hands out copies of it
        return json.loads(self._record)

    @property
    def record(self) -> dict:
        """The protocol as metrics.json records it and its hash covers (a fresh copy)."""
        return copy.deepcopy(self._parsed)

    @cached_property
    def hash(self) -> str:   # asked for every run a table shows: computed once
        return protocol_hash(self._parsed)

    @property
    def option_values(self) -> dict[str, Any]:
        return dict(self.options)

    @property
    def schedule(self) -> dict:
        return copy.deepcopy(self._parsed["schedule"])

    @property
    def optimizer(self) -> dict:
        return dict(self._parsed["optimizer"])

    @property
    def epochs(self) -> int:
        return self.schedule["epochs"]

    @property
    def batch_size(self) -> int:
        return self.facts.batch_size

    @property
    def max_steps_per_epoch(self) -> int | None:
        return self._parsed["max_steps_per_epoch"]

    @property
    def max_eval_batches(self) -> int | None:
        return self._parsed["max_eval_batches"]

    @property
    def num_classes(self) -> int:
        return self.facts.num_classes


def protocol_hash(record: dict) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


def resolve(spec: RunSpec) -> Protocol:
    """The run's protocol, its reference's with it, checked against the config (preset, dataset, arch, method,
    options, the reference the method needs): a SpecError naming what is wrong and the fix. A job resolves its run
    once and hands the frozen result on."""
    try:
        preset = config.preset(spec.preset)
        facts = dataset_facts(spec.preset, spec.dataset)
    except KeyError as error:
        raise SpecError(str(error).strip("'\"") + " (config/datasets.yaml)") from None
    except config.ConfigError as error:
        raise SpecError(str(error)) from None
    check_arch(spec.arch)
    if preset["data_source"] not in valid_sources(facts):
        raise SpecError(f"preset {spec.preset}: data source {preset['data_source']!r} cannot give {spec.dataset} "
                        f"(its sources: {', '.join(valid_sources(facts))}); use a preset whose data_source is one of "
                        "them, or drop the dataset from this preset's tables (config/presets.yaml)")
    facts = with_recipe(facts, spec.run.schedule)
    method, options = _method_and_options(spec.run)
    if method.needs_reference != (spec.reference is not None):
        need = "needs a reference '@<arch>.<run>'" if method.needs_reference else "takes no reference"
        raise SpecError(f"run {spec.run}: method {spec.run.method!r} {need}")
    reference = resolve(spec.reference) if spec.reference is not None else None
    try:
        engine = EngineSwitches.from_config(preset.get("engine"))
    except (TypeError, ValueError) as error:
        raise SpecError(f"preset {spec.preset}: {error} (config/presets.yaml)") from None
    record = {
        "preset": spec.preset,
        "dataset": spec.dataset,
        "data_source": preset["data_source"],
        "synthetic": preset.get("synthetic") if preset["data_source"] == "synthetic" else None,
        "facts": {k: v for k, v in vars(facts).items() if k not in _HIDDEN_FACTS},
        "arch": spec.arch,
        "method": spec.run.method,
        "options": method.recorded(options),
        "schedule": schedule(facts, spec.run.schedule),
        "optimizer": dict(preset["optimizer"]),
        "batch_size": facts.batch_size,
        "max_steps_per_epoch": preset["max_steps_per_epoch"],
        "max_eval_batches": preset["max_eval_batches"],
        "seed": spec.seed,
        "reference": str(spec.reference.directory) if spec.reference else None,
    }
    if engine.protocol_entry() is not None:
        record["engine"] = engine.protocol_entry()
    # a run that trains no epoch (published weights evaluated) is exact on one process: it never asks for a node
    processes = launch_shape(spec.preset, spec.dataset).processes if record["schedule"]["epochs"] else 1
    if processes > 1:   # recorded only then, so single-process runs keep their hash
        record["distributed"] = {"processes": processes, "per_process_batch": per_process_batch(facts, processes),
                                 "buffers": "rank 0's before every evaluation and save", "rng": "seed + rank"}
    return Protocol(spec, facts, method, tuple(options.items()), preset["data_source"], record["synthetic"], engine,
                    processes, reference, json.dumps(record))


@dataclass(frozen=True)
class LaunchShape:
    nodes: int = 1
    per_node: int = 1

    @property
    def processes(self) -> int:
        return self.nodes * self.per_node


def launch_shape(preset: str, dataset: str) -> LaunchShape:
    """How many nodes and processes per node train a run of this preset and dataset (presets.yaml `processes`)."""
    shape = config.preset(preset).get("processes", {}).get(dataset)
    return LaunchShape(shape.get("nodes", 1), shape["per_node"]) if shape else LaunchShape()


def per_process_batch(facts: DatasetFacts, processes: int) -> int:
    """Each process's share of every batch: the protocol's batch stays the global batch, split evenly."""
    if facts.batch_size % processes:
        raise SpecError(f"{facts.name}: batch size {facts.batch_size} does not split over {processes} processes; "
                        "set a process count that divides it (config/presets.yaml processes)")
    return facts.batch_size // processes


def check_spec(spec: RunSpec) -> None:
    """Everything about a run that can be checked before a job starts (torch-free): resolving it is the check."""
    resolve(spec)


def check_run_name(run: RunName) -> None:
    """A run name's method and option values (and its reference's) against config/methods.yaml, on their own."""
    _method_and_options(run)
    if run.reference is not None:
        check_run_name(run.reference[1])


def _method_and_options(run: RunName) -> tuple[MethodDeclaration, dict]:
    try:
        method = declared(run.method)
        values = method.resolve(dict(run.options))
        for name, written in run.options:
            canonical = method.option(name).text(values[name])
            if written != canonical:
                raise ValueError(f"option {name}={written} is written {name}={canonical} (one spelling per value, "
                                 f"so one run has one directory): write {name}={canonical}")
        return method, values
    except config.ConfigError as error:
        raise SpecError(f"run name {run}: {error}") from None
    except ValueError as error:
        raise SpecError(f"run name {run}: {error}") from None


def check_arch(arch: str) -> None:
    if arch not in ARCHS and not (arch.startswith(TIMM_PREFIX) and NAME_PART.match(arch.removeprefix(TIMM_PREFIX))):
        raise SpecError(f"unknown arch {arch!r}; valid archs: {', '.join(ARCHS)}, or {TIMM_PREFIX}<name> for an "
                        "architecture of timm.list_models()")


def dataset_facts(preset: str, dataset: str) -> DatasetFacts:
    """The dataset's facts with the preset's overrides (epochs, milestones, batch size, image size) applied."""
    overrides = config.preset(preset)["dataset_overrides"]
    changes = {**overrides.get("*", {}), **overrides.get(dataset, {})}
    if "milestones" in changes:
        changes["milestones"] = tuple(changes["milestones"])
    return get_facts(dataset).replace(**changes)


def with_recipe(facts: DatasetFacts, tokens: tuple[str, ...]) -> DatasetFacts:
    """The dataset's facts with a run's recipe tokens applied: `b<k>` trains at batch size k, `raw` feeds pixels
    in [0, 1] without the mean/std normalisation. Both live in the recorded facts, so only such runs hash apart."""
    for token in tokens:
        if token == "raw":
            facts = facts.replace(mean=tuple(0.0 for _ in facts.mean), std=tuple(1.0 for _ in facts.std))
        elif token.startswith("b"):
            facts = facts.replace(batch_size=int(token[1:]))
    return facts


def schedule(facts: DatasetFacts, tokens: tuple[str, ...]) -> dict:
    """Epochs, lr milestones and decay; `e<k>` stops at epoch k, `const` drops the milestones, `w<k>` ramps the lr
    linearly from ~0 over the first k epochs' steps (a key recorded only when set, so other runs keep their hash);
    `a<k>` trains epoch 1 at constant lr and stops after the first step at which the validation top-1 reaches k %
    (evaluated after every step; the whole epoch if none does): a reference stopped at an accuracy."""
    if tokens and tokens[0].startswith("a"):
        return {"epochs": 1, "milestones": [], "gamma": 0.1, "stop_at_val_top1": int(tokens[0][1:])}
    epochs, milestones, warmup = facts.epochs, list(facts.milestones), 0
    for token in tokens:
        if token == "const":
            milestones = []
        elif token.startswith("w"):
            warmup = int(token[1:])
        elif token.startswith("e"):
            epochs = int(token[1:])
    resolved = {"epochs": epochs, "milestones": [m for m in milestones if m < epochs], "gamma": 0.1}
    if warmup:
        resolved["warmup_epochs"] = warmup
    return resolved

