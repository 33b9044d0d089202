"""What a train job does before it trains, for one smoke run: before (each job worked out its donor and snapshot
epochs itself, building every table of the preset) and now (the Snakemake head hands the job its RunPlan as a param).
Each in a fresh process: seconds and the number of tables built.

    python benchmarks/job_startup.py [repeats]
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = r'''
import json, sys, time
from methods.plan import grid
built = []
original = grid.build_table
def counting(*args, **kwargs):
    built.append(args[1] if len(args) > 1 else kwargs.get("name"))
    return original(*args, **kwargs)
grid.build_table = counting
from methods.plan.spec import RunSpec
from methods.plan.grid import RunPlan
spec = RunSpec.from_directory("results/smoke/cub200/resnet18/baseline~e60-const/seed0")
tic = time.perf_counter()
plan = RunPlan.of(spec) if sys.argv[1] == "before" else RunPlan.from_params({"donor": None, "snapshot_epochs": [1, 10, 20, 30, 40, 50]})
print(json.dumps({"s": time.perf_counter() - tic, "tables_built": len(built), "plan": plan.as_params()}))
'''


def measure(mode: str) -> dict:
    result = subprocess.run([sys.executable, "-c", PROBE, mode], cwd=ROOT, capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": ""})
    return json.loads(result.stdout)


if __name__ == "__main__":
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    for _ in range(repeats):
        for mode in ("before", "after"):
            outcome = measure(mode)
            print(f"{mode:6s} plan in the job: {outcome['s'] * 1000:8.1f} ms, {outcome['tables_built']:3d} tables built, "
                  f"plan {outcome['plan']}")
