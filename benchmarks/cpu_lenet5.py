"""LeNet-5 / MNIST on a CPU: the plain PyTorch loop against the suite's engine, at 1 and 2 threads.

Both train the Baseline with the paper's recipe and batch 128 on MNIST-shaped images (methods/throughput.py: the
plain loop is a torchvision DataLoader with per-sample PIL transforms and `loss.item()` per step; the engine is the
suite's train_epoch over its in-memory uint8 batches). Writes benchmarks/cpu-lenet5-mnist.md and .json.

    python benchmarks/cpu_lenet5.py                 # 300 timed steps per loop and thread count

Besides the two loops it times the engine with each speed switch that applies on a CPU (channels_last,
torch.compile: protocol switches, methods/engine/switches.py, off in every preset) and states the compute rate each
loop reaches: the training FLOPs of one image (3 x the forward's, methods/models/complexity.py) times images/s.

    python benchmarks/cpu_lenet5.py --variants ""   # the plain loop and the reference engine only
    python benchmarks/cpu_lenet5.py --data-root ../shared/datasets   # on real MNIST images instead of random pixels
"""
import argparse
import json
import platform
import shlex
import subprocess
import sys
from pathlib import Path

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--threads", default="1,2", help="comma-separated torch thread counts")
parser.add_argument("--steps", type=int, default=300, help="timed training steps per loop")
parser.add_argument("--warmup", type=int, default=20)
parser.add_argument("--workers", type=int, default=0, help="DataLoader workers of the plain loop")
parser.add_argument("--out", type=Path, default=Path("benchmarks/cpu-lenet5-mnist.md"))
parser.add_argument("--data-root", type=Path, default=None,
                    help="time on the real MNIST training images under this root (default: random pixels)")
parser.add_argument("--variants", default="channels_last,compile",
                    help="comma-separated engine switches, each timed as its own row ('' for none)")
parser.add_argument("--profile-steps", type=int, default=30, help="steps of the engine profiled by operator (0: none)")
parser.add_argument("--cpu-isa", default=None, help="CPU kernels: avx2 or native (default: config/config.yaml cpu_isa)")
args = parser.parse_args()
CPU_SWITCHES = ("channels_last", "compile")
names = [name for name in args.variants.split(",") if name]
if set(names) - set(CPU_SWITCHES):
    sys.exit(f"unknown --variants {sorted(set(names) - set(CPU_SWITCHES))}: use any of {', '.join(CPU_SWITCHES)}")

from methods import cpu_isa  # noqa: E402

cpu_isa.pin(args.cpu_isa)   # the kernels the suite's runs use, unless asked otherwise: before torch loads
import torch  # noqa: E402  (after the arguments are checked: a bad one fails at once, before torch loads)

from methods.throughput import CELLS, as_rows, measure, train_flops_per_image  # noqa: E402
from methods.data import get_facts  # noqa: E402
from methods.engine.switches import EngineOptions  # noqa: E402

CELL_KEY = "lenet5_mnist"
CELL = CELLS[CELL_KEY]
FACTS = get_facts(CELL.dataset)


def cpu_model() -> str:
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
        return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def profile_engine_step(steps: int, data, top: int = 8) -> list[tuple[str, float, float]]:
    """(operator, ms per step, share of the step) for the heaviest operators of the engine's LeNet-5 step."""
    import torch.nn.functional as F
    from torch.profiler import profile
    from methods.data.tensor_ops import normalise
    from methods.models import build_model
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model(CELL.arch, FACTS.num_classes, family=FACTS.arch_family, in_channels=FACTS.channels)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    if data is None:
        images = torch.randn(128, FACTS.channels, FACTS.image_size, FACTS.image_size)
        targets = torch.randint(0, FACTS.num_classes, (128,))
    else:
        images, targets = normalise(data.images[:128], FACTS.mean, FACTS.std), data.labels[:128]

    def step():
        loss = F.cross_entropy(model(images), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    for _ in range(5):
        step()
    with profile() as prof:
        for _ in range(steps):
            step()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    return [(e.key, e.self_cpu_time_total / 1000 / steps, e.self_cpu_time_total / total) for e in events[:top]]


variants = tuple(EngineOptions(**{name: True}) for name in names)
data = None
if args.data_root is not None:
    from methods.data import load_splits
    data, _ = load_splits(FACTS, "real", args.data_root)
rows = []
for threads in (int(t) for t in args.threads.split(",")):
    torch.set_num_threads(threads)
    for result in measure(CELL_KEY, torch.device("cpu"), steps=args.steps, warmup=args.warmup,
                          workers=args.workers, variants=variants, data=data):
        rows.append({"threads": threads, **as_rows([result])[0]})
        print(f"{threads} thread(s) | {result.loop}: {result.images_per_s:,.0f} images/s, "
              f"{result.epoch_s:.2f} s/epoch", flush=True)
flops = train_flops_per_image(CELL.arch, FACTS)
command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
machine = (f"{cpu_model()}, {torch.get_num_interop_threads()} interop threads, {platform.machine()}, torch {torch.__version__}, "
           f"cpu_isa {cpu_isa.in_force()['cpu_isa']} (ATen {torch.backends.cpu.get_cpu_capability()})")
lines = ["# LeNet-5 / MNIST on a CPU: plain loop vs the suite's engine", "",
         f"Machine: {machine}", f"Command: `{command}`",
         "Images: " + ("real MNIST training images (the first of the training split)" if data is not None
                       else "random pixels (uint8, uniform)"), "",
         "Training steps only (forward, backward, SGD step, batching) after warm-up, batch 128; s/epoch is 60,000 "
         "images over that rate (evaluation, about 1 s of a real epoch here, not included). GFLOP/s: "
         f"{flops / 1e6:.2f} MFLOP of training per image (3 x the forward) times images/s.", "",
         "| threads | loop | images/s | s/epoch | GFLOP/s | x plain |", "|---|---|---|---|---|---|"]
for row in rows:
    plain = next(r["images_per_s"] for r in rows if r["threads"] == row["threads"] and r["loop"].startswith("plain"))
    lines.append(f"| {row['threads']} | {row['loop']} | {row['images_per_s']:,.0f} | {row['epoch_s']:.2f} | "
                 f"{row['images_per_s'] * flops / 1e9:.1f} | {row['images_per_s'] / plain:.2f} |")
if args.profile_steps:
    lines += ["", f"Where one thread's time goes: the engine's training step (Baseline, batch 128), {args.profile_steps} "
              "steps under torch.profiler, by operator (self CPU time):", "",
              "| operator | ms per step | share |", "|---|---|---|"]
    lines += [f"| {name} | {ms:.2f} | {share:.0%} |" for name, ms, share in profile_engine_step(args.profile_steps, data)]
args.out.write_text("\n".join(lines) + "\n")
args.out.with_suffix(".json").write_text(json.dumps({"machine": machine, "command": command,
                                                    "train_flops_per_image": flops, "rows": rows}, indent=1))
print(f"wrote {args.out}")
