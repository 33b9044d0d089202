"""Command line: `python -m methods {train,verify,check-data,table,runs}`; the Snakemake scripts call main() directly.
Commands that run torch pin the CPU instruction set first (methods.cpu_isa), before anything imports torch."""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from pathlib import Path

from methods.spec import RunSpec


def train(spec: RunSpec, data_root: str, cache_dir: str | None, num_workers: int, threads: int | None,
          donor: RunSpec | None = None, snapshot_epochs: tuple[int, ...] = (), gpu_slots: int | None = None,
          slots_per_gpu: int = 1) -> dict:
    """Train one run, or read it off `donor`, a longer constant-lr run of the same spec (methods.engine.derive)."""
    if donor is not None:
        from methods.engine.derive import derive_run
        return derive_run(spec, donor)
    from methods.engine.trainer import Runtime, train_run
    runtime = Runtime(data_root=Path(data_root), cache_dir=Path(cache_dir) if cache_dir else None,
                      num_workers=num_workers, threads=within_allocation(threads),
                      snapshot_epochs=tuple(snapshot_epochs),
                      gpu_slots=gpu_slots, slots_per_gpu=slots_per_gpu)
    return train_run(spec, runtime)


def verify(spec: RunSpec, epochs: int | None, data_root: str, cache_dir: str | None, num_workers: int,
           scratch: str | None, record: bool, install_weights: bool = False) -> bool:
    """Retrain a finished run's first epochs in a scratch place and compare them with its epochs.csv."""
    from methods.engine.trainer import Runtime
    from methods.engine.verify import append_record, install_rebuilt_weights, verify_run
    runtime = Runtime(data_root=Path(data_root), cache_dir=Path(cache_dir) if cache_dir else None,
                      num_workers=num_workers)
    outcome = verify_run(spec, epochs, runtime, scratch=Path(scratch) if scratch else None)
    for line in outcome.lines():
        print(line, flush=True)
    if record:
        print(f"recorded in {append_record(outcome)}")
    if install_weights:
        print(f"installed {install_rebuilt_weights(outcome)}")
    return outcome.identical


def within_allocation(threads: int | None) -> int | None:
    """Threads, never more than the CPUs a SLURM job was given (SLURM_CPUS_PER_TASK): oversubscribed cores train
    several times slower."""
    given = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if given.isdigit() and int(given) > 0:
        return min(threads, int(given)) if threads else int(given)
    return threads


def check_data(preset: str, dataset: str, data_root: str, cache_dir: str | None, stamp: Path) -> dict:
    """Load a dataset once through its real loader (which checks Table 1's sizes) and write a small stamp."""
    from methods import config
    from methods.data import describe_split, load_splits
    from methods.engine.checkpoint import save_json
    from methods.spec import dataset_facts
    facts = dataset_facts(preset, dataset)
    settings = config.preset(preset)
    train_split, val_split = load_splits(facts, settings["data_source"], Path(data_root),
                                         synthetic=settings.get("synthetic"),
                                         cache_dir=Path(cache_dir) if cache_dir else None)
    from methods.data.loading import check_decodable
    for name, split in (("train", train_split), ("val", val_split)):
        check_decodable(split, f"checking {dataset} {name}: decoding every image once")
    summary = {"dataset": dataset, "preset": preset, "source": settings["data_source"],
               "train": describe_split(train_split), "val": describe_split(val_split)}
    if settings["data_source"] == "real" and facts.root_dir:
        from methods.data.checksums import file_digests
        summary["copy"] = file_digests(Path(data_root) / facts.root_dir)
    save_json(summary, stamp)
    return summary


def complexity(method: str, arch: str, family: str, num_classes: int, image_size: int, out: Path) -> dict:
    """Parameters and FLOPs of what the paper counts for a method (its complexity_network()), written to `out`."""
    from methods import config
    from methods.engine.checkpoint import save_json
    from methods.method import parse_options
    from methods.models import build_model
    from methods.models.complexity import count_flops, count_params
    from methods.registry import get_method_class
    method_cls = get_method_class(method)
    options = parse_options(method_cls.Options, config.method_defaults(method))
    build = lambda: build_model(arch, num_classes, family=family)   # noqa: E731
    network = method_cls(build(), num_classes, options, build() if method_cls.needs_reference else None)
    counted = network.complexity_network()
    result = {"method": method, "arch": arch, "family": family, "num_classes": num_classes, "image_size": image_size,
              "params": count_params(counted), "flops": count_flops(counted, (3, image_size, image_size)),
              "deployed_params": count_params(network.deploy_model())}
    save_json(result, out)
    return result


def table(target: str, seeds: str | list | None = None) -> list[Path]:
    """Write a table (.md/.tex/.csv), and for a figure also its .png/.pdf, from the metrics that exist.
    `seeds` ('0,1,2') replaces the seeds of every cell, as `--config seeds=...` does for Snakemake."""
    from methods.grid import build_table, parse_seeds, preset_of_target
    from methods.report import preset_of_report
    from methods.tables import write_table
    chosen = parse_seeds(seeds)
    report_preset = preset_of_report(target)
    if report_preset is not None:
        from methods.report import write_report
        return write_report(report_preset, seeds=chosen)
    from methods.table1 import preset_of_table1, write_table1
    if preset_of_table1(target) is not None:
        return write_table1(preset_of_table1(target))
    preset, name = preset_of_target(str(Path(target).with_suffix("")))
    written = write_table(preset, name, seeds=chosen)
    kind = build_table(preset, name, chosen).kind
    if kind == "figure":
        from methods.figures import write_figure
        written += write_figure(preset, name, seeds=chosen)
    if kind != "complexity":
        from methods.figures import write_learning_curves
        written += write_learning_curves(preset, name, seeds=chosen)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m methods", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train one run: python -m methods train results/<preset>/<dataset>/<arch>/<run>/seed<k>")
    p.add_argument("run_dir")
    p.add_argument("--data-root", default="data")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--num-workers", type=int, default=4)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--gpu-slots", type=int, default=None, help="slots of one GPU to hold (default: a whole GPU)")
    p.add_argument("--slots-per-gpu", type=int, default=1)
    p.add_argument("--log", default=None, help="also append the output to this file")
    add_cpu_isa(p)
    p = sub.add_parser("verify", help="retrain a finished run's first epochs in a scratch place and compare every "
                                      "epochs.csv column but the timings exactly (exit 1 on a difference)")
    p.add_argument("run_dir")
    p.add_argument("--epochs", type=int, default=None, help="how many epochs to retrain (default: all)")
    p.add_argument("--data-root", default="data")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--scratch", default=None, help="retrain here and keep it (default: a temporary folder); a rerun "
                                                   "left there is resumed or reused")
    p.add_argument("--record", action="store_true", help="append the outcome and this machine's provenance to "
                                                         "<run dir>/verified.json")
    p.add_argument("--install-weights", action="store_true", help="after an identical rerun of every epoch, put its "
                                                                  "model.pt into the run directory (published runs "
                                                                  "commit no weights)")
    add_cpu_isa(p)
    p = sub.add_parser("check-data", help="load a dataset through its loader and write a stamp")
    p.add_argument("preset")
    p.add_argument("dataset")
    p.add_argument("stamp")
    p.add_argument("--data-root", default="data")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--log", default=None, help="also append the output to this file")
    add_cpu_isa(p)
    p = sub.add_parser("table", help="write tables/<...>.{md,tex,csv} from the metrics files that exist")
    p.add_argument("target", nargs="+", help="e.g. tables/table2.md tables/smoke/table4.md tables/demo.md; "
                                             "tables/report.md: the comparison with the paper")
    p.add_argument("--seeds", default=None, help="seeds of every cell, e.g. 0,1,2 (default: the grid's)")
    p = sub.add_parser("runs", help="list the run directories a table needs, each after the runs it needs "
                                    "(train them in this order with `python -m methods train <dir>`)")
    p.add_argument("target")
    p.add_argument("--seeds", default=None, help="seeds of every cell, e.g. 0,1,2 (default: the grid's)")
    args = parser.parse_args(argv)
    if hasattr(args, "cpu_isa"):
        from methods.config import ConfigError
        from methods.cpu_isa import CpuIsaError, pin
        try:
            pin(args.cpu_isa)
        except (CpuIsaError, ConfigError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    if args.command == "train":
        from methods.engine.artifacts import RunArtifacts
        from methods.grid import donor_for, snapshot_epochs_for
        spec = _or_none(lambda: spec_from_dir(args.run_dir))
        if spec is None:
            return 1
        with tee_output(args.log, RunArtifacts(spec).attempts_path):
            return reported(lambda: train(spec, args.data_root, args.cache_dir, args.num_workers, args.threads,
                                          donor_for(spec), tuple(snapshot_epochs_for(spec)), args.gpu_slots,
                                          args.slots_per_gpu))
    elif args.command == "verify":
        spec = _or_none(lambda: spec_from_dir(args.run_dir))
        if spec is None:
            return 1
        outcome = []
        status = reported(lambda: outcome.append(verify(spec, args.epochs, args.data_root, args.cache_dir,
                                                        args.num_workers, args.scratch, args.record,
                                                        args.install_weights)))
        return status or (0 if outcome and outcome[0] else 1)
    elif args.command == "check-data":
        with tee_output(args.log):
            return reported(lambda: check_data(args.preset, args.dataset, args.data_root, args.cache_dir,
                                               Path(args.stamp)))
    elif args.command == "table":
        return reported(lambda: [print(path) for target in args.target for path in table(target, args.seeds)])
    elif args.command == "runs":
        return reported(lambda: [print(run.directory) for run in runs_in_order(args.target, args.seeds)])
    return 0


def add_cpu_isa(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cpu-isa", default=None, help="CPU kernels: avx2 (portable numerics) or native (the host's "
                                                       "fastest); default: config/config.yaml cpu_isa")


def runs_in_order(target: str, seeds: str | None) -> list:
    from methods.grid import build_table, in_dependency_order, parse_seeds, preset_of_target, required_runs
    preset, name = preset_of_target(str(Path(target).with_suffix("")))
    return in_dependency_order(required_runs(build_table(preset, name, parse_seeds(seeds))))


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
    from methods.config import ConfigError
    from methods.data.errors import DatasetError
    from methods.engine.artifacts import ArtifactError
    from methods.engine.checkpoint import DiskFullError
    from methods.engine.trainer import RunError
    from methods.models.lenet import InputSizeError
    from methods.engine.verify import VerifyError
    from methods.spec import SpecError
    return ConfigError, DatasetError, ArtifactError, DiskFullError, RunError, SpecError, InputSizeError, VerifyError


def reported(command) -> int:
    """Run a command; an expected error is one line on stderr (and in the logs) and exit status 1 (143 for a
    preemption: a checkpoint was written and a rerun resumes). Anything else keeps its traceback."""
    try:
        command()
    except expected_errors() as error:
        from methods.engine.preemption import EXIT_CODE
        from methods.engine.trainer import RunPreempted
        print(f"error: {error}" if not isinstance(error, RunPreempted) else f"preempted: {error}", file=sys.stderr)
        return EXIT_CODE if isinstance(error, RunPreempted) else 1
    return 0


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


def spec_from_dir(run_dir: str) -> RunSpec:
    return RunSpec.from_directory(run_dir)


if __name__ == "__main__":
    sys.exit(main())
