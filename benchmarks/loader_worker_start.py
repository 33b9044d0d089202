"""What starting the DataLoader workers from a fork server costs (methods/data/batches.py loader_context, which
the engine's Group asks for in distributed runs) against forking them: the time to each epoch's first batch, 2
workers, the synthetic Imagewoof split at 64 px, the loader the trainer builds. benchmarks/loader-worker-start.md:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/loader_worker_start.py fork
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/loader_worker_start.py forkserver
"""
import sys
import tempfile
import time

import torch.distributed as dist

from methods.data import get_facts, load_splits, make_batches


def main(start: str, epochs: int = 4) -> None:
    facts = get_facts("imagewoof").replace(image_size=64)
    train, _ = load_splits(facts, "synthetic", None, synthetic={"train_per_class": 20, "val_per_class": 1})
    if start == "forkserver":   # what a distributed run is: a process group, and a loader asked to start a fork server
        dist.init_process_group("gloo", init_method=f"file://{tempfile.mkdtemp()}/store", rank=0, world_size=1)
    for epoch in range(epochs):
        began = time.perf_counter()
        batches = make_batches(train, facts, train=True, batch_size=32, device="cpu", seed=0, epoch=epoch,
                               num_workers=2, worker_start=start)
        stream = iter(batches)
        next(stream)
        first = time.perf_counter() - began
        rest = sum(1 for _ in stream)
        print(f"{start:10s} epoch {epoch}: first batch after {first:.2f} s, epoch ({rest + 1} batches) "
              f"{time.perf_counter() - began:.2f} s", flush=True)


if __name__ == "__main__":   # a fork server re-imports the main module: the guard keeps it from rerunning this
    main(sys.argv[1])
