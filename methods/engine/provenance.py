"""What decides a run's floating point beyond its protocol: the host's CPU, the kernels torch and oneDNN chose,
threads; on a GPU its name, CUDA/cuDNN versions and the TF32 / determinism switches. Recorded in metrics.json
(`provenance`) and compared by `python -m methods verify` when a rerun differs."""
from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import re
import sys
import tempfile
from functools import lru_cache

import torch

from methods import cpu_isa


def collect(device: torch.device | None = None) -> dict:
    record = {
        "host_cpu": cpu_model(),
        "host_isa": host_isa(),
        **cpu_isa.in_force(),
        "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_version": onednn_version(),
        "onednn_isa": onednn_isa(),
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
    }
    if device is not None and device.type == "cuda":
        record.update({
            "gpu": torch.cuda.get_device_name(device),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
            "tf32_cudnn": torch.backends.cudnn.allow_tf32,
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
        })
    return record


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def host_isa() -> str:
    """The widest x86 vector extension the host offers (what `native` would use), from /proc/cpuinfo's flags."""
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                for name in ("amx_tile", "avx512f", "avx2", "avx"):
                    if name in flags:
                        return name
                return "sse"
    return "unknown"


def onednn_version() -> str:
    match = re.search(r"MKL-DNN (v[\d.]+)", torch.__config__.show())
    return match.group(1) if match else "unknown"


@lru_cache(maxsize=None)
def onednn_isa() -> str:
    """oneDNN's own line on the ISA it dispatches to (its verbose header, printed on fd 1 by C code: caught there)."""
    try:
        libc = ctypes.CDLL(None)
        with tempfile.TemporaryFile(mode="w+") as capture:
            sys.stdout.flush()
            libc.fflush(None)
            saved = os.dup(1)
            os.dup2(capture.fileno(), 1)
            try:
                with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON_CREATION):
                    torch.nn.functional.conv2d(torch.ones(8, 3, 16, 16), torch.ones(16, 3, 3, 3))
                libc.fflush(None)
            finally:
                os.dup2(saved, 1)
                os.close(saved)
            capture.seek(0)
            match = re.search(r"cpu,isa:([^\n]+)", capture.read())
    except (OSError, AttributeError, RuntimeError):
        return "unknown"
    return match.group(1).strip() if match else "unknown"


# Keys that tell two hosts' kernels apart; a rerun that differs names those that differ from the record.
NUMERIC_KEYS = ("host_cpu", "host_isa", "cpu_isa", "aten_cpu_capability", "onednn_version", "onednn_isa", "threads",
                "gpu", "cuda", "cudnn", "tf32_matmul", "tf32_cudnn", "cudnn_deterministic")
