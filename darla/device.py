"""Choosing the torch device (``"auto"``: CUDA when there is one, else the CPU) and the precision it
computes in (``"auto"``: bfloat16 on a CPU that has it in hardware), and naming the machine a result was measured on."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch

from darla.errors import DarlaError

PRECISIONS = ("auto", "bf16", "fp32")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn a device request into a :class:`torch.device`.

    :param device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or
        ``"cuda:N"``, or a ``torch.device``.
    :return: the device to use.
    """
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise DarlaError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise DarlaError(f"device {device!r} was asked for but torch sees no CUDA GPU: use --device auto or cpu")
    if resolved.type not in ("cpu", "cuda"):
        raise DarlaError(f"device {device!r} is not supported: use auto, cpu, cuda or cuda:N")
    return resolved


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 in hardware; elsewhere autocast would emulate it."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    cpu = getattr(torch, "cpu", None)
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(cpu, name, lambda: False)() for name in probes)


def check_precision(precision: str) -> None:
    """Refuse a precision that is not one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise DarlaError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"bf16"`` or ``"fp32"``: what ``precision`` means on ``device``. ``"auto"`` is bfloat16 on a CPU that
    computes it in hardware and float32 elsewhere, a CUDA GPU included: on an H200 DARLA's nets ran slower under
    bfloat16 autocast in two runs (pretraining 0.70x and 0.73x float32's images/s at batch 64, 0.94x and 0.93x at
    512; encoding 0.89x and 0.97x; benchmarks/results/gpu_run1.json, gpu.json)."""
    check_precision(precision)
    if precision == "auto":
        return "bf16" if device.type == "cpu" and native_bf16(device) else "fp32"
    return precision


def cpu_name() -> str:
    """The CPU's model name where Linux tells it, else the architecture."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.machine()


def describe_machine() -> dict[str, Any]:
    """The machine a run is measured on, for its results: the CPU's model and cores, whether it computes bfloat16 in
    hardware, torch's version, and the GPU where torch sees one (two CPUs of one cloud's 2-core machines differ
    threefold in speed, so a time means nothing without them)."""
    machine: dict[str, Any] = {"cpu": cpu_name(), "cores": os.cpu_count(), "native_bf16": native_bf16(torch.device("cpu")),
                               "torch": torch.__version__}
    if torch.cuda.is_available():
        machine["gpu"] = torch.cuda.get_device_name(0)
    return machine
