"""Choosing the torch device: "auto" means CUDA when there is one, else the CPU."""

from __future__ import annotations

import torch

from darla.errors import DarlaError


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
