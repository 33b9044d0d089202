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


def test_cpu_lenet5_benchmark_times_each_variant_and_states_its_compute_rate(tmp_path):
    out = tmp_path / "cpu.md"
    command = [sys.executable, str(PROJECT_ROOT / "benchmarks" / "cpu_lenet5.py"), "--threads", "1", "--steps", "2",
               "--warmup", "1", "--variants", "channels_last", "--profile-steps", "0", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split(" | ") for line in out.read_text().splitlines() if line.startswith("| 1 |")]
    assert [row[1] for row in rows] == ["plain loop (DataLoader + PIL, fp32)", "suite engine (fp32, NCHW, eager)",
                                        "suite engine (fp32, channels_last)"]
    measured = json.loads(out.with_suffix(".json").read_text())
    # LeNet-5's forward by hand, in multiply-adds: conv1 6*28*28*25 + conv2 16*10*10*150 + FC 400*120 + 120*84 + 84*10
    forward_flops = 2 * (117_600 + 240_000 + 48_000 + 10_080 + 840)
    assert measured["train_flops_per_image"] == 3 * forward_flops
    for row, cells in zip(measured["rows"], rows):
        assert float(cells[4]) == round(row["images_per_s"] * measured["train_flops_per_image"] / 1e9, 1)


def test_cpu_lenet5_benchmark_names_the_valid_variants(tmp_path):
    command = [sys.executable, str(PROJECT_ROOT / "benchmarks" / "cpu_lenet5.py"), "--variants", "channel_last",
               "--out", str(tmp_path / "cpu.md")]
    result = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=600)
    assert result.returncode != 0 and "use any of channels_last, compile" in result.stderr
    assert not (tmp_path / "cpu.md").exists()
