"""The suite's entry points: what each job does, called alike by the command line (methods/cli.py) and the Snakemake
rules' scripts (workflow/scripts/, which hand over Snakemake's wildcards, output, log, config and resources).

Torch-free at import: a job pins the CPU kernels (methods.cpu_isa) before anything loads torch, resolves its run's
protocol once (the one check of its run name in the job) and hands that to the engine."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import traceback
from dataclasses import replace
from pathlib import Path

from methods.cpu_isa import CpuIsaError, pin as pin_cpu_isa
from methods.data.fetch import FetchError
from methods.data.fetch_dataset import fetch_dataset, fetch_plan, mirror_of, with_mirror
from methods.plan import config, layout
from methods.plan.config import ConfigError
from methods.plan.facts import dataset_names, fetch_entry, get_facts
from methods.plan.grid import RunPlan, build_table, in_dependency_order, parse_seeds, preset_of_target, required_runs
from methods.plan.layout import LayoutError
from methods.plan.protocol import Protocol, dataset_facts, resolve
from methods.plan.runtime import Runtime, runtime_of
from methods.plan.spec import RunSpec, SpecError
from methods.plan.world import launched_world
from methods.report import architecture
from methods.report.comparison import preset_of_report, write_report
from methods.report.docs_check import check_docs as check_quoted_values
from methods.report.table1 import preset_of_table1, write_table1
from methods.report.tables import write_table
from methods.runs.artifacts import ArtifactError, RunArtifacts
from methods.runs.checksums import file_digests
from methods.runs.files import DiskFullError, save_json


# --- what a job does -------------------------------------------------------------------------------------------

def job_protocol(spec: RunSpec) -> Protocol:
    """The job's run resolved and checked whole (preset, dataset, arch, method, options, reference), before anything
    is written: the one check of its run name in the job."""
    return resolve(spec)


def train(protocol: Protocol, runtime: Runtime, log: Path | str | None = None, plan=None) -> dict:
    """Train one run, or read it off a longer constant-lr run of the same spec that the preset trains anyway
    (methods.engine.derive). `plan` (methods.plan.grid.RunPlan: the donor and the snapshot epochs) is what the
    Snakemake head worked out while planning; without one (python -m methods train) it is worked out here. A run its
    protocol trains with several processes, asked for from a single process, has them launched
    (methods.engine.launcher: torchrun, or srun inside a SLURM allocation); `log` is where their rank 0 appends its
    output too."""
    spec = protocol.spec
    plan = plan or RunPlan.of(spec)
    if plan.donor is not None:
        from methods.engine.derive import derive_run   # torch: only once the kernels are pinned
        return derive_run(protocol, resolve(RunSpec.from_directory(plan.donor)))
    world = launched_world()
    if protocol.processes > 1 and not world.distributed:
        from methods.engine.launcher import launch_processes   # torch: only once the kernels are pinned
        return launch_processes(protocol, runtime, log)
    from methods.engine.lifecycle import train_run   # torch: only once the kernels are pinned
    runtime = replace(runtime, threads=within_allocation(runtime.threads), snapshot_epochs=plan.snapshot_epochs)
    return train_run(protocol, runtime, world=world)


def verify(protocol: Protocol, epochs: int | None, runtime: Runtime, scratch: Path | None = None,
           record: bool = False, install_weights: bool = False) -> bool:
    """Retrain a finished run's first epochs in a scratch place and compare them with its epochs.csv; True when
    identical."""
    # torch: only once the kernels are pinned
    from methods.engine.verify import append_record, install_rebuilt_weights, rebuild_scratch, verify_run
    rebuilding = install_weights and scratch is None and epochs is None
    if rebuilding:   # kept until installed, so an interrupted rebuild resumes there
        scratch = rebuild_scratch(RunArtifacts(protocol.spec, Path("."), protocol))
    outcome = verify_run(protocol, epochs, runtime, scratch=scratch)
    for line in outcome.lines():
        print(line, flush=True)
    if record:
        print(f"recorded in {append_record(outcome)}")
    if install_weights:
        print(f"installed {install_rebuilt_weights(outcome)}")
        if rebuilding:
            shutil.rmtree(scratch, ignore_errors=True)
    return outcome.identical


def check_data(preset: str, dataset: str, runtime: Runtime, stamp: Path) -> dict:
    """Load a dataset once through its real loader (which checks Table 1's sizes), decode every image once, and
    write a small stamp with the copy's checksums."""
    from methods.data import describe_split, load_splits   # torch: only once the kernels are pinned
    from methods.data.loading import check_decodable   # torch: only once the kernels are pinned
    facts = dataset_facts(preset, dataset)
    settings = config.preset(preset)
    train_split, val_split = load_splits(facts, settings["data_source"], runtime.data_root,
                                         synthetic=settings.get("synthetic"), cache_dir=runtime.cache_dir)
    for name, split in (("train", train_split), ("val", val_split)):
        check_decodable(split, f"checking {dataset} {name}: decoding every image once")
    summary = {"dataset": dataset, "preset": preset, "source": settings["data_source"],
               "train": describe_split(train_split), "val": describe_split(val_split)}
    if settings["data_source"] == "real" and facts.root_dir:
        summary["copy"] = file_digests(runtime.data_root / facts.root_dir)
        fetched = layout.fetch_record_path(dataset)
        if fetched.exists():   # Table 1 says whether the archives matched the published checksums
            record = json.loads(fetched.read_text())
            summary["fetched"] = {key: record.get(key) for key in ("how", "when", "note")} | {
                "files": [{key: item[key] for key in ("name", "url", "sha256", "matched")}
                          for item in record.get("files", [])]}
    save_json(summary, stamp)
    return summary


def fetch_data(datasets: list[str], data_root: Path, mirror: str | None = None, record: Path | None = None,
               say=print) -> list[dict]:
    """Download, verify and lay out each dataset under data_root (`all`: every dataset config/datasets.yaml can
    fetch; an account-only one there only where its archives are in place); each one's fetch record, also written
    to `record` for one dataset (the Snakemake rule's output)."""
    every = [name for name in dataset_names() if fetch_entry(name)]
    names = every if datasets == ["all"] else datasets
    unknown = [name for name in names if name not in dataset_names()]
    if unknown:
        raise ConfigError(f"unknown dataset(s) {', '.join(unknown)}; datasets it can fetch: {', '.join(every)} "
                          "(or all)")
    mirror = mirror_of(mirror if mirror is not None else config.load("config").get("data_mirror"))
    records = []
    for name in names:
        plan = with_mirror(fetch_plan(name, fetch_entry(name), get_facts(name).root_dir), mirror)
        if datasets == ["all"] and plan.account_only and not (data_root / plan.root_dir).exists() and not all(
                (data_root / "downloads" / name / entry.source.name).exists() for entry in plan.files):
            say(f"{name}: skipped (needs an account): {plan.account_only}; then: python -m methods fetch-data {name}")
            continue
        records.append(fetch_dataset(plan, data_root, say=say))
    if record is not None:
        save_json(records[0], record)
    return records


def complexity(method: str, arch: str, family: str, num_classes: int, image_size: int, out: Path) -> dict:
    """Parameters and FLOPs of what the paper counts for a method (its complexity_network()), written to `out`."""
    from methods.method import default_options   # torch: only once the kernels are pinned
    from methods.models import build_model   # torch: only once the kernels are pinned
    from methods.models.complexity import count_flops, count_params   # torch: only once the kernels are pinned
    from methods.zoo import get_method_class   # torch: only once the kernels are pinned
    method_cls = get_method_class(method)
    build = lambda: build_model(arch, num_classes, family=family)   # noqa: E731
    network = method_cls(build(), num_classes, default_options(method),
                         build() if method_cls.needs_reference else None)
    counted = network.complexity_network()
    result = {"method": method, "arch": arch, "family": family, "num_classes": num_classes, "image_size": image_size,
              "params": count_params(counted), "flops": count_flops(counted, (3, image_size, image_size)),
              "deployed_params": count_params(network.deploy_model())}
    save_json(result, out)
    return result


def tables(target: str, seeds: str | list | None = None) -> list[Path]:
    """Write a table (.md/.tex/.csv and its learning curves), a figure (also .png/.pdf), Table 1 or a report from the
    records that exist. `seeds` ('0,1,2') replaces the seeds of every cell, as `--config seeds=...` does."""
    chosen = parse_seeds(seeds)
    if preset_of_report(target) is not None:
        return write_report(preset_of_report(target), seeds=chosen)
    if preset_of_table1(target) is not None:
        return write_table1(preset_of_table1(target))
    preset, name = preset_of_target(str(Path(target).with_suffix("")))
    written = write_table(preset, name, seeds=chosen)
    kind = build_table(preset, name, chosen).kind
    if kind == "figure":
        from methods.report.figures import write_figure   # matplotlib (~1 s): only the figure and curve writers need it
        written += write_figure(preset, name, seeds=chosen)
    if kind != "complexity":
        # matplotlib (~1 s): only the figure and curve writers need it
        from methods.report.figures import write_learning_curves
        written += write_learning_curves(preset, name, seeds=chosen)
    return written


def backfill_resumes(root: Path = Path(".")) -> list[Path]:
    """Every finished record under root/results (all presets) that lacks `resumes` gets it from its own log; the
    directories rewritten."""
    rewritten = []
    for preset in config.presets():
        for directory in layout.run_directories(root, preset):
            if RunArtifacts(RunSpec.from_directory(directory), root).backfill_resumes():
                rewritten.append(directory)
    return rewritten


def check_docs(docs: list[Path], root: Path = Path(".")) -> int:
    """Print every quoted number or verdict of the docs that the records do not give; 0 when there is none."""
    count, mismatches = check_quoted_values(docs, root)
    mismatches += [line for doc in docs for line in architecture.check(doc)]
    for mismatch in mismatches:
        print(mismatch)
    print(f"{count} quoted values checked in {', '.join(map(str, docs))}: "
          + (f"{len(mismatches)} differ from the records" if mismatches else "all agree with the records"))
    return 1 if mismatches else 0


def draw_architecture(doc: Path) -> None:
    """docs/architecture.md's picture redrawn from the import graph."""
    architecture.write(doc)
    print(f"{doc}: import graph redrawn")


def runs_in_order(target: str, seeds: str | None = None) -> list[RunSpec]:
    """The runs a table needs, each after the runs it needs (a reference, a donor)."""
    preset, name = preset_of_target(str(Path(target).with_suffix("")))
    return in_dependency_order(required_runs(build_table(preset, name, parse_seeds(seeds))))


def within_allocation(threads: int | None) -> int | None:
    """Threads, never more than the CPUs a SLURM job was given (SLURM_CPUS_PER_TASK): oversubscribed cores train
    several times slower."""
    given = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if given.isdigit() and int(given) > 0:
        return min(threads, int(given)) if threads else int(given)
    return threads


# --- the Snakemake rules' jobs ----------------------------------------------------------------------------------
# Runtime settings come from the config, not from params: changing where the data lie, workers or threads reruns
# nothing.

def train_rule(wildcards, config: dict, threads: int, resources, log, params=None) -> int:
    protocol = _or_none(lambda: job_protocol(RunSpec.from_parts(wildcards.preset, wildcards.dataset, wildcards.arch,
                                                                wildcards.run, wildcards.seed)))
    if protocol is None:
        return 1
    runtime = runtime_of(config, max(1, threads // protocol.processes), resources.get("gpu_slot"))
    given = getattr(params, "plan", None)   # Snakemake's params: the head's plan of this run
    plan = RunPlan.from_params(given) if given is not None else None
    return run_job(lambda: train(protocol, runtime, log[0], plan), cpu_isa=config["cpu_isa"],
                   logs=(log[0], attempts_log(protocol.spec)))


def check_data_rule(wildcards, output, config: dict, log) -> int:
    return run_job(lambda: check_data(wildcards.preset, wildcards.dataset, runtime_of(config), Path(output[0])),
                   cpu_isa=config["cpu_isa"], logs=(log[0],))


def fetch_data_rule(wildcards, output, config: dict, log) -> int:
    return run_job(lambda: fetch_data([wildcards.dataset], runtime_of(config).data_root, config.get("data_mirror"),
                                      Path(output[0])), logs=(log[0],), pin=False)


def complexity_rule(wildcards, output, log) -> int:
    return run_job(lambda: print(complexity(wildcards.method, wildcards.arch, wildcards.family, int(wildcards.classes),
                                            int(wildcards.size), Path(output[0]))), logs=(log[0],), pin=False)


def table_rule(output, config: dict, log) -> int:
    return run_job(lambda: [print(path) for path in tables(output.md, config.get("seeds"))], logs=(log[0],),
                   pin=False)


def attempts_log(spec: RunSpec) -> Path:
    return RunArtifacts(spec).attempts_path


# --- running a command as a job ----------------------------------------------------------------------------------

def run_job(command, *, cpu_isa: str | None = None, logs=(), pin: bool = True) -> int:
    """Pin the CPU kernels (before torch loads), echo the output to `logs`, run `command`: its exit status."""
    if pin:
        try:
            pin_cpu_isa(cpu_isa)
        except (CpuIsaError, ConfigError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    with tee_output(*logs):
        return reported(command)


def _or_none(command):
    """command()'s value, or None after printing an expected error as its one line."""
    try:
        return command()
    except expected_errors() as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def expected_errors() -> tuple[type[Exception], ...]:
    """The errors that carry their own one-line explanation and fix (bad input, a stale or missing run, a full
    disk): reported as that line, without a traceback."""
    from methods.data.errors import DatasetError   # methods.data imports torch: after the CPU kernels are pinned
    errors = (ConfigError, DatasetError, ArtifactError, DiskFullError, SpecError, LayoutError, FetchError)
    if "torch" not in sys.modules:   # the engine's errors can only come from a job that loaded it
        return errors
    from methods.engine.trainer import RunError   # torch: only once the kernels are pinned
    from methods.engine.verify import VerifyError   # torch: only once the kernels are pinned
    from methods.models.lenet import InputSizeError   # torch: only once the kernels are pinned
    return errors + (RunError, InputSizeError, VerifyError)


def reported(command) -> int:
    """Run a command; an expected error is one line on stderr (and in the logs) and exit status 1 (143 for a
    preemption: a checkpoint was written and a rerun resumes). Anything else keeps its traceback."""
    try:
        command()
    except expected_errors() as error:
        preempted = _preemption_exit_code(error)
        print(f"preempted: {error}" if preempted else f"error: {error}", file=sys.stderr)
        return preempted or 1
    return 0


def _preemption_exit_code(error: Exception) -> int | None:
    if "torch" not in sys.modules:
        return None
    from methods.engine.preemption import EXIT_CODE   # torch: only once the kernels are pinned
    from methods.engine.trainer import RunPreempted   # torch: only once the kernels are pinned
    return EXIT_CODE if isinstance(error, RunPreempted) else None


class _Tee:
    """The terminal and the logs. A log that cannot be written (a full disk) is dropped with one line on the
    terminal, so the error that filled the disk is still told once, not buried under the log's own failures."""

    def __init__(self, terminal, *logs):
        self.terminal, self.logs = terminal, list(logs)

    def write(self, text: str) -> None:
        self.terminal.write(text)
        self.terminal.flush()
        for log in list(self.logs):
            try:
                log.write(text)
                log.flush()
            except OSError as error:
                self.logs.remove(log)
                self.terminal.write(f"(log {getattr(log, 'name', log)} dropped: {error.strerror or error})\n")

    def isatty(self) -> bool:   # a progress line is redrawn only on a terminal, never into the logs
        return False

    def flush(self) -> None:
        self.terminal.flush()


@contextlib.contextmanager
def tee_output(*log_paths: str | Path | None):
    """Echo stdout/stderr to the given logs, appending (a resumed run keeps the earlier attempt's lines where
    the log survives; a run directory's attempts.log always does)."""
    paths = [Path(p) for p in log_paths if p is not None]
    if not paths:
        yield
        return
    with contextlib.ExitStack() as stack:
        logs = []
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a")
            stack.callback(_close_quietly, handle)   # closing flushes: a full disk must not raise a second error
            logs.append(handle)
        stack.enter_context(contextlib.redirect_stdout(_Tee(sys.stdout, *logs)))
        stack.enter_context(contextlib.redirect_stderr(_Tee(sys.stderr, *logs)))
        try:
            yield
        except Exception:
            for log in logs:   # the interpreter prints it on the terminal once; the logs get their copy here
                with contextlib.suppress(OSError):
                    traceback.print_exc(file=log)
            raise


def _close_quietly(handle) -> None:
    with contextlib.suppress(OSError):
        handle.close()
