"""benchmarks/throughput.py runs at a tiny size on a CPU and writes its table with the device and the command."""
import json
import subprocess
import sys

from methods import PROJECT_ROOT


def test_throughput_benchmark_writes_its_table(tmp_path):
    out = tmp_path / "throughput.md"
    command = [sys.executable, str(PROJECT_ROOT / "benchmarks" / "throughput.py"), "--device", "cpu", "--tiny",
               "--cells", "lenet5_mnist,resnet18_224px", "--steps", "2", "--warmup", "1", "--workers", "0",
               "--no-compile", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    text = out.read_text()
    assert "Device: CPU" in text and "--tiny" in text
    rows = [line for line in text.splitlines() if line.startswith("| LeNet-5") or line.startswith("| ResNet-18")]
    assert len(rows) == 6                            # plain loop, engine, fast engine for each of the two cells
    measured = json.loads(out.with_suffix(".json").read_text())
    assert all(row["images_per_s"] > 0 and row["peak_mem_gib"] is None for row in measured)
    assert {row["loop"].split(" (")[0] for row in measured} == {"plain loop", "suite engine"}
