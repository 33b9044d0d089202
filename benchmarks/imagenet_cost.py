"""What Tables 3 and 8 cost, estimated from FLOPs until a GPU measures it (docs/running.md, "What Tables 3 and 8
cost"): the training FLOPs per image of each ImageNet run the tables train, from the suite's own counter
(methods.jobs.complexity at 224 px, 1000 classes: the forward pass, multiply-adds x 2), with the backward pass taken
as twice the forward and a frozen reference as one forward; then the total over 90 epochs of ImageNet's training set
and the GPU-hours it takes at a given sustained rate.

    python benchmarks/imagenet_cost.py
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from methods import cpu_isa  # noqa: E402

cpu_isa.pin(None)
from methods import jobs  # noqa: E402
from methods.plan.facts import get_facts  # noqa: E402

ARCHS = ("resnet18", "resnet34")
SUSTAINED_TFLOPS = (25, 100)   # an assumed range for ResNets on one H100 (memory-bound BatchNorm and ReLU layers)


def forward_gflop(method: str, arch: str, folder: Path) -> float:
    return jobs.complexity(method, arch, "standard", 1000, 224, folder / f"{method}-{arch}.json")["flops"] / 1e9


def main() -> int:
    facts = get_facts("imagenet")
    images = facts.train_size * facts.epochs
    with tempfile.TemporaryDirectory() as folder:
        per_image = {}
        for arch in ARCHS:
            baseline = forward_gflop("baseline", arch, Path(folder))
            per_image[("Baseline", arch)] = 3 * baseline
            per_image[("FocusNet (+ the reference's forward)", arch)] = 3 * baseline + baseline
            per_image[("FRSKD (network + self-teacher)", arch)] = 3 * forward_gflop("frskd", arch, Path(folder))
    print(f"| run | {' | '.join(ARCHS)} |\n|:--|" + "--:|" * len(ARCHS))
    for run in dict.fromkeys(run for run, _ in per_image):
        print(f"| {run} | " + " | ".join(f"{per_image[(run, arch)]:.1f} GFLOP" for arch in ARCHS) + " |")
    total = sum(per_image.values()) * 1e9 * images
    print(f"\nall runs: {sum(per_image.values()):.0f} GFLOP per image x {facts.train_size:,} images x {facts.epochs} "
          f"epochs = {total:.3g} FLOP")
    for rate in SUSTAINED_TFLOPS:
        print(f"at {rate} TFLOP/s sustained: {total / (rate * 1e12) / 3600:.0f} GPU-hours")
    return 0


if __name__ == "__main__":
    sys.exit(main())
