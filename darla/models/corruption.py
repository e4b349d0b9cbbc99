"""Input corruptions for denoising autoencoders (DARLA's DAE uses occlusion)."""

from __future__ import annotations

import torch

CORRUPTIONS = ("occlusion", "gaussian", "dropout")


def occlude(x: torch.Tensor, max_frac: float) -> torch.Tensor:
    """Zero one random rectangle per image, each side up to ``max_frac`` of the image side."""
    n, _, h, w = x.shape
    dev = x.device
    rect_h = (torch.rand(n, device=dev) * max_frac * h).long().clamp_min(1)
    rect_w = (torch.rand(n, device=dev) * max_frac * w).long().clamp_min(1)
    top = (torch.rand(n, device=dev) * (h - rect_h + 1)).long()
    left = (torch.rand(n, device=dev) * (w - rect_w + 1)).long()
    rows = torch.arange(h, device=dev).view(1, h, 1)
    cols = torch.arange(w, device=dev).view(1, 1, w)
    inside = (
        (rows >= top.view(n, 1, 1))
        & (rows < (top + rect_h).view(n, 1, 1))
        & (cols >= left.view(n, 1, 1))
        & (cols < (left + rect_w).view(n, 1, 1))
    )
    return x.masked_fill(inside.unsqueeze(1), 0.0)


def add_gaussian_noise(x: torch.Tensor, std: float) -> torch.Tensor:
    """Add N(0, std^2) noise per pixel and channel, clipped back to [0, 1]."""
    return (x + std * torch.randn_like(x)).clamp_(0.0, 1.0)


def drop_pixels(x: torch.Tensor, p: float) -> torch.Tensor:
    """Set each pixel (all its channels) to zero with probability ``p``."""
    keep = torch.rand(x.shape[0], 1, *x.shape[2:], device=x.device) >= p
    return x * keep
