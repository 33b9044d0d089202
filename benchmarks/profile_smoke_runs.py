"""Where a smoke run's time goes: cProfile around `methods.jobs.train` for the first runs of a smoke table, in the
dependency order the smoke-grid test trains them (benchmarks/ci-time.md quotes its figures).

    python benchmarks/profile_smoke_runs.py tables/smoke/table7 --runs 12    # in a scratch folder: it trains there
"""
import argparse
import cProfile
import pstats
import sys
import time

from methods import jobs
from methods.plan.grid import build_table, in_dependency_order, preset_of_target, required_runs
from methods.plan.protocol import resolve
from methods.plan.runtime import Runtime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="a smoke table without its suffix, e.g. tables/smoke/table7")
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--top", type=int, default=25, help="functions listed, by cumulative time")
    args = parser.parse_args()
    table = build_table(*preset_of_target(args.target))
    runs = in_dependency_order(required_runs(table))[:args.runs]
    profile = cProfile.Profile()
    tic = time.time()
    profile.enable()
    for run in runs:
        jobs.train(resolve(run), Runtime(num_workers=0, threads=1))
    profile.disable()
    print(f"{len(runs)} runs of {args.target} in {time.time() - tic:.1f} s", file=sys.stderr)
    pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
