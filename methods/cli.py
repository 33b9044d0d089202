"""Command line: `python -m methods <command>` (train, verify, check-data, fetch-data, table, runs, backfill-resumes, check-docs,
draw-architecture), each a call of methods.jobs (the Snakemake
rules' scripts call the same functions). Commands that run torch pin the CPU instruction set first (methods.cpu_isa),
before anything imports torch."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from methods import jobs
from methods.jobs import _or_none, run_job
from methods.plan.runtime import configured
from methods.plan.spec import RunSpec
from methods.plan.world import launched_world


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m methods", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train one run: python -m methods train results/<preset>/<dataset>/<arch>/<run>/seed<k>")
    p.add_argument("run_dir")
    add_runtime(p)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--gpu-slots", type=int, default=None, help="slots of one GPU to hold (default: a whole GPU)")
    p.add_argument("--slots-per-gpu", type=int, default=None)
    p.add_argument("--log", default=None, help="also append the output to this file")
    add_cpu_isa(p)
    p = sub.add_parser("verify", help="retrain a finished run's first epochs in a scratch place and compare every "
                                      "epochs.csv column but the timings exactly (exit 1 on a difference)")
    p.add_argument("run_dir")
    p.add_argument("--epochs", type=int, default=None, help="how many epochs to retrain (default: all)")
    add_runtime(p)
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
    add_runtime(p)
    p.add_argument("--log", default=None, help="also append the output to this file")
    add_cpu_isa(p)
    p = sub.add_parser("fetch-data", help="download, verify and lay out datasets under data_root (resumable; an "
                                          "account-only one is verified and unpacked from where you put it)")
    p.add_argument("datasets", nargs="+", help="e.g. mnist cub200, or all")
    p.add_argument("--data-root", default=None, help="default: config/config.yaml data_root")
    p.add_argument("--mirror", default=None, help="try <mirror>/<dataset>/<file> first (default: $FOCUSNET_DATA_MIRROR "
                                                  "or config data_mirror)")
    p.add_argument("--record", default=None, help="also write the (one) dataset's fetch record here")
    p = sub.add_parser("table", help="write tables/<...>.{md,tex,csv} from the metrics files that exist")
    p.add_argument("target", nargs="+", help="e.g. tables/table2.md tables/smoke/table4.md tables/demo.md; "
                                             "tables/report.md: the comparison with the paper")
    p.add_argument("--seeds", default=None, help="seeds of every cell, e.g. 0,1,2 (default: the grid's)")
    p = sub.add_parser("runs", help="list the run directories a table needs, each after the runs it needs "
                                    "(train them in this order with `python -m methods train <dir>`)")
    p.add_argument("target")
    p.add_argument("--seeds", default=None, help="seeds of every cell, e.g. 0,1,2 (default: the grid's)")
    p = sub.add_parser("backfill-resumes", help="give every finished record under results/ that lacks it metrics.json's "
                                                "`resumes`, derived from its own log (no trained number changes)")
    p.add_argument("--root", default=".")
    p = sub.add_parser("check-docs", help="check every number and verdict a doc quotes (each followed by its "
                                          "`<!-- check: ... -->` anchor) against the records; exit 1 on a mismatch")
    p.add_argument("docs", nargs="*", default=["docs/results.md", "docs/architecture.md"])
    p = sub.add_parser("draw-architecture", help="redraw docs/architecture.md's picture from the import graph")
    p.add_argument("doc", nargs="?", default="docs/architecture.md")
    args = parser.parse_args(argv)
    if args.command == "train":
        protocol = _or_none(lambda: jobs.job_protocol(RunSpec.from_directory(args.run_dir)))
        if protocol is None:
            return 1
        runtime = configured(data_root=args.data_root, cache_dir=args.cache_dir, num_workers=args.num_workers,
                             threads=args.threads, gpu_slots=args.gpu_slots, slots_per_gpu=args.slots_per_gpu)
        return run_job(lambda: jobs.train(protocol, runtime, args.log), cpu_isa=args.cpu_isa,
                       logs=(args.log, jobs.attempts_log(protocol.spec)) if _writes_logs() else ())
    if args.command == "verify":
        protocol = _or_none(lambda: jobs.job_protocol(RunSpec.from_directory(args.run_dir)))
        if protocol is None:
            return 1
        runtime = configured(data_root=args.data_root, cache_dir=args.cache_dir, num_workers=args.num_workers)
        identical = []
        status = run_job(lambda: identical.append(jobs.verify(protocol, args.epochs, runtime, _path(args.scratch),
                                                             args.record, args.install_weights)),
                         cpu_isa=args.cpu_isa)
        return status or (0 if identical and identical[0] else 1)
    if args.command == "check-data":
        runtime = configured(data_root=args.data_root, cache_dir=args.cache_dir, num_workers=args.num_workers)
        return run_job(lambda: jobs.check_data(args.preset, args.dataset, runtime, Path(args.stamp)),
                       cpu_isa=args.cpu_isa, logs=(args.log,))
    if args.command == "fetch-data":
        runtime = configured(data_root=args.data_root)
        return run_job(lambda: jobs.fetch_data(args.datasets, runtime.data_root, args.mirror, _path(args.record)),
                       pin=False)
    if args.command == "table":
        return run_job(lambda: [print(path) for target in args.target for path in jobs.tables(target, args.seeds)],
                       pin=False)
    if args.command == "backfill-resumes":
        return run_job(lambda: [print(f"{path}: resumes derived from its log")
                                for path in jobs.backfill_resumes(Path(args.root))], pin=False)
    if args.command == "check-docs":
        return jobs.check_docs([Path(doc) for doc in args.docs])
    if args.command == "draw-architecture":
        return run_job(lambda: jobs.draw_architecture(Path(args.doc)), pin=False)
    if args.command == "runs":
        return run_job(lambda: [print(run.directory) for run in jobs.runs_in_order(args.target, args.seeds)], pin=False)
    return 0


def add_runtime(parser: argparse.ArgumentParser) -> None:
    """Where the data lie and how many loader workers: each default is config/config.yaml's (methods.plan.runtime)."""
    parser.add_argument("--data-root", default=None, help="datasets' root (default: config/config.yaml data_root)")
    parser.add_argument("--cache-dir", default=None, help="decoded-array cache (default: config/config.yaml cache_dir)")
    parser.add_argument("--num-workers", type=int, default=None,
                        help="DataLoader workers of file datasets (default: config/config.yaml num_workers)")


def add_cpu_isa(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cpu-isa", default=None, help="CPU kernels: avx2 (portable numerics) or native (the host's "
                                                       "fastest); default: config/config.yaml cpu_isa")


def _writes_logs() -> bool:
    """Rank 0 of several processes (or a single one) writes the run's logs; the others keep quiet."""
    return launched_world().main


def _path(text: str | None) -> Path | None:
    return Path(text) if text else None


if __name__ == "__main__":
    sys.exit(main())
