"""Portable CPU numerics: the instruction set ATen and oneDNN may use, pinned before torch loads.

On a CPU, PyTorch picks its kernels by the instruction set it finds (ATen: default / AVX2 / AVX-512; oneDNN, for
convolutions: up to AVX-512 or AMX). Two x86-64 hosts that differ only in AVX-512 give different last bits from
the first step on, so a run is bit-reproducible only where its kernels can be chosen again. `avx2` pins both
libraries to AVX2 kernels (every x86-64 CPU since 2013 has them); `native` lets each pick the host's best (faster
on AVX-512 hosts, reproducible only on the same instruction set). Both variables are read once, when the
libraries first dispatch, so the pin must happen before `import torch`: every entry point that trains or
evaluates calls pin() first. The setting decides last bits, not the protocol, so it is recorded in each run's
provenance (metrics.json) and never enters the protocol hash. GPU kernels are not affected.

This module never imports torch.
"""
from __future__ import annotations

import os
import sys
from methods.plan import config

ATEN, ONEDNN = "ATEN_CPU_CAPABILITY", "DNNL_MAX_CPU_ISA"
CHOICES = {"avx2": {ATEN: "avx2", ONEDNN: "AVX2"}, "native": {}}
SETTING = "FOCUSNET_CPU_ISA"   # the choice in force, inherited by child processes


class CpuIsaError(ValueError):
    pass


def check(choice: str) -> str:
    if choice not in CHOICES:
        raise CpuIsaError(f"cpu_isa {choice!r} is not one of {', '.join(CHOICES)} (avx2: portable numerics, the "
                          "default; native: the host's fastest kernels); set it in config/config.yaml, "
                          "--config cpu_isa=... or --cpu-isa")
    return choice


def configured() -> str:
    """The choice for this process: $FOCUSNET_CPU_ISA (a parent pinned it), else config/config.yaml's cpu_isa."""
    if os.environ.get(SETTING):
        return check(os.environ[SETTING])
    return check(config.load("config").get("cpu_isa", "avx2"))


def pin(choice: str | None = None) -> str:
    """Set both libraries' variables for `choice` (default: configured()) in this process and its children.
    Refuses when torch is already loaded with other values: they would silently not apply."""
    choice = check(choice) if choice is not None else configured()
    wanted = CHOICES[choice]
    changes = {name: wanted.get(name) for name in (ATEN, ONEDNN) if os.environ.get(name) != wanted.get(name)}
    if changes and "torch" in sys.modules:
        raise CpuIsaError(f"cpu_isa {choice}: torch is already loaded in this process, so {', '.join(changes)} "
                          "can no longer change its kernels; pin before importing torch (methods.cpu_isa.pin)")
    for name, value in changes.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    os.environ[SETTING] = choice
    return choice


def in_force() -> dict:
    """What this process was pinned to (the variables as torch read them)."""
    return {"cpu_isa": os.environ.get(SETTING, "unpinned"), ATEN: os.environ.get(ATEN), ONEDNN: os.environ.get(ONEDNN)}
