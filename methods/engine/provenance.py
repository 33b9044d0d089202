"""What decides a run's floating point beyond its protocol: the host's CPU, the kernels torch and oneDNN chose,
threads; on a GPU its name, CUDA/cuDNN versions and the TF32 / determinism switches; and which machine and boot it
was (`host_identity`, keyed hashes). Recorded in metrics.json (`provenance`) and compared by `python -m methods
verify`: the numeric keys when a rerun differs, the identity to say whether the rerun ran on another machine."""
from __future__ import annotations

import contextlib
import ctypes
import hmac
import os
import platform
import re
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

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
        "host_identity": host_identity(),
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


# Where a Linux host keeps its identity: systemd's machine id (fixed at install; VMs cloned from one image may share
# it) and the kernel's id of the current boot (new at every boot, so never shared by two running machines).
IDENTITY_FILES = {"machine": Path("/etc/machine-id"), "boot": Path("/proc/sys/kernel/random/boot_id")}
# systemd asks that the machine id itself never be published, only an application-keyed hash of it.
IDENTITY_KEY = b"focusnet-suite host identity"


def host_identity(files: dict[str, Path] = IDENTITY_FILES) -> dict[str, str]:
    """This machine and boot as 16-hex keyed hashes of their ids; an id the host does not have is left out."""
    identity = {}
    for name, path in files.items():
        with contextlib.suppress(OSError):
            raw = path.read_text().strip()
            if raw:
                identity[name] = hmac.new(IDENTITY_KEY, raw.encode(), "sha256").hexdigest()[:16]
    return identity


SAME_BOOT = "the same boot of the machine that trained it"
SAME_MACHINE = "the machine that trained it, booted again (or a VM cloned from the same image: same machine id)"
UNKNOWN = ("unknown: no machine id to compare (a record made before provenance held one, a resume whose identity "
           "was not kept, or a host without /etc/machine-id)")
ANOTHER_MACHINE = "another machine (its machine id differs)"
_CLOSENESS = (SAME_BOOT, SAME_MACHINE, UNKNOWN, ANOTHER_MACHINE)


def host_relation(attempts: list[dict], here: dict) -> str:
    """Where `here` (a provenance) stands to the machines that trained a run (the provenance of each of its
    attempts, first start and resumes): the closest of them, so "another machine" holds only when every attempt
    recorded a machine id and none is this one's."""
    return min((_relation(attempt.get("host_identity") or {}, here.get("host_identity") or {})
                for attempt in attempts), key=_CLOSENESS.index, default=UNKNOWN)


def _relation(recorded: dict, here: dict) -> str:
    if recorded.get("boot") and recorded.get("boot") == here.get("boot"):
        return SAME_BOOT
    if recorded.get("machine") and here.get("machine"):
        return SAME_MACHINE if recorded["machine"] == here["machine"] else ANOTHER_MACHINE
    return UNKNOWN
