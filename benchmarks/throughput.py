"""Training throughput of the suite's engine against a plain PyTorch loop (methods/throughput.py).

    python benchmarks/throughput.py                       # every cell on the GPU, writes benchmarks/throughput-<gpu>.md
    python benchmarks/throughput.py --device cpu --tiny   # checks the benchmark itself on a CPU (tests run this)
"""
import argparse
import dataclasses
import json
import re
import shlex
import sys
from pathlib import Path

from methods import cpu_isa

cpu_isa.pin()   # CPU kernels as the suite's runs use them (config/config.yaml cpu_isa; GPU kernels unaffected)
import torch  # noqa: E402

from methods.throughput import CELLS, FAST, as_rows, markdown, measure  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
parser.add_argument("--cells", default=",".join(CELLS), help=f"comma-separated, of: {', '.join(CELLS)}")
parser.add_argument("--steps", type=int, default=100, help="timed training steps per loop")
parser.add_argument("--warmup", type=int, default=20, help="untimed steps first (compilation, autotuning)")
parser.add_argument("--workers", type=int, default=16, help="DataLoader workers (plain loop; the suite's 224 px path)")
parser.add_argument("--no-compile", action="store_true", help="leave torch.compile out of the fast engine")
parser.add_argument("--tiny", action="store_true", help="8-image batches of <= 32 px: a CPU check, not a measurement")
parser.add_argument("--out", type=Path, default=None, help="Markdown table (default benchmarks/throughput-<device>.md)")
args = parser.parse_args()

unknown = set(args.cells.split(",")) - set(CELLS)
if unknown:
    sys.exit(f"unknown cell(s) {sorted(unknown)}; valid: {', '.join(CELLS)}")
device = torch.device(args.device)
fast = dataclasses.replace(FAST, compile=FAST.compile and not args.no_compile)
results = []
for cell in args.cells.split(","):
    for row in measure(cell, device, steps=args.steps, warmup=args.warmup, workers=args.workers, tiny=args.tiny,
                       variants=(fast,)):
        print(f"{row.cell} | {row.loop}: {row.images_per_s:,.0f} images/s, {row.epoch_s:.2f} s/epoch", flush=True)
        results.append(row)
name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
out = args.out or Path("benchmarks") / f"throughput-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}.md"
command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
out.write_text(markdown(results, device, command))
out.with_suffix(".json").write_text(json.dumps(as_rows(results), indent=1))
print(f"wrote {out}")
