"""Figures a person looks at after pretraining: reconstructions, latent traversals, KL per latent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from darla.files import atomic_path
from darla.frames import FrameDataset
from darla.models import VisionModel, frames_to_tensor

TRAVERSAL_RANGE = 3.0
MAX_TRAVERSAL_ROWS = 32


def _to_image(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """A model tensor (C, H, W) in [0, 1], or a uint8 frame (H, W, C), as an array for imshow."""
    if isinstance(x, np.ndarray):
        img = x.astype(np.float32) / 255.0
    else:
        img = x.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    return img[..., 0] if img.shape[-1] == 1 else img[..., :3]


def save_figure(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path


def image_grid(
    rows: list[list[torch.Tensor | np.ndarray]], row_labels: list[str], col_labels: list[str], title: str
) -> Figure:
    """A grid of images, one list per row: model tensors (C, H, W) or uint8 frames (H, W, C)."""
    n_rows, n_cols = len(rows), len(rows[0])
    fig = Figure(figsize=(1.1 * n_cols + 0.8, 1.1 * n_rows + 0.5), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            ax = axes[r][c]
            ax.imshow(_to_image(img), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                # level, so that a long label takes width beside its row instead of running into the next
                ax.set_ylabel(row_labels[r], fontsize=8, rotation=0, ha="right", va="center")
            if r == 0 and col_labels:
                ax.set_title(col_labels[c], fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig


@torch.no_grad()
def reconstruction_grid(model: VisionModel, x: torch.Tensor, path: Path) -> Path:
    """Originals above their reconstructions; for a model whose loss compares images through
    another network (beta_vae_dae's DAE), two more rows show both as that network sees them."""
    recon = model.decode(model.encode(x))
    rows, labels = [list(x), list(recon)], ["input", "reconstruction"]
    if model.compares_through:
        rows += [list(model.seen(x)), list(model.seen(recon))]
        labels += [f"input via\n{model.compares_through}", f"recon. via\n{model.compares_through}"]
    fig = image_grid(rows, labels, [], f"{model.config.variant}: reconstructions")
    return save_figure(fig, path)


@torch.no_grad()
def traversal_grid(model: VisionModel, x_ref: torch.Tensor, codes: torch.Tensor, path: Path, n_values: int = 7) -> Path:
    """One row per latent: that latent swept over +-3 units around a real frame's code.

    Rows are ordered by how much each latent varies over ``codes``, at most
    ``MAX_TRAVERSAL_ROWS`` of them. Decoded images are shown as the loss sees them
    (:meth:`~darla.models.VisionModel.seen`).

    The unit is the model's :meth:`~darla.models.VisionModel.latent_scale`: the prior's for a
    VAE, the latent's spread over ``codes`` otherwise.
    """
    base = model.encode(x_ref[:1])[0]
    offsets = torch.linspace(-TRAVERSAL_RANGE, TRAVERSAL_RANGE, n_values, device=base.device)
    scale = model.latent_scale(codes)
    # the latents that vary most over the data first; wide codes are cut to MAX_TRAVERSAL_ROWS
    shown = codes.var(dim=0).argsort(descending=True)[:MAX_TRAVERSAL_ROWS].tolist()
    rows = []
    for i in shown:
        z = base.repeat(n_values, 1)
        z[:, i] += offsets * scale[i]
        rows.append(list(model.seen(model.decode(z))))
    cols = [f"{v:+.1f}" for v in offsets.tolist()]
    via = f" (via {model.compares_through})" if model.compares_through else ""
    fig = image_grid(rows, [f"z{i}" for i in shown], cols, f"{model.config.variant}: latent traversals{via}")
    return save_figure(fig, path)


def vector_term_bars(name: str, values: np.ndarray, path: Path) -> Path:
    """Bar chart of a per-latent loss term, such as the KL of each latent."""
    fig = Figure(figsize=(max(4.0, 0.25 * len(values) + 1.5), 3.0), layout="constrained")
    ax = fig.subplots()
    ax.bar(np.arange(len(values)), values, color="tab:blue")
    ax.set_xlabel("latent")
    ax.set_ylabel(name)
    ax.set_title(f"{name} (mean over a batch of frames)", fontsize=10)
    return save_figure(fig, path)


def leak_bars(pairs: dict[str, dict], path: Path) -> Path:
    """Per domain pair, each latent's domain leak (log scale), titled with the pair's retrieval.

    :param pairs: pair name -> scores of :func:`darla.metrics.invariance.pair_scores`.
    :param path: the PNG to write.
    """
    fig = Figure(figsize=(9.0, 1.9 * len(pairs) + 0.6), layout="constrained")
    axes = fig.subplots(len(pairs), 1, squeeze=False)[:, 0]
    for ax, (name, s) in zip(axes, pairs.items()):
        leak = np.asarray(s["domain_leak_per_latent"], dtype=np.float64)
        active = np.zeros(len(leak), bool)
        active[s["active_latents"]] = True
        ax.bar(np.flatnonzero(active), np.maximum(leak[active], 1e-3), color="tab:red")
        ax.bar(np.flatnonzero(~active), np.maximum(leak[~active], 1e-3), color="lightgrey")
        ax.axhline(1.0, color="k", ls="--", lw=1)
        ax.set_yscale("log")
        ax.set_xlim(-0.6, len(leak) - 0.4)
        ax.set_ylabel("leak", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_title(f"{name} ({s['role']}): same-state retrieval {s['same_state_retrieval']:.2f}, "
                     f"probe R\u00b2 {s['probe_r2_same_domain']:.2f} here, {s['probe_r2_other_domain']:.2f} there", fontsize=9)
    axes[-1].set_xlabel("latent (grey: inactive)")
    fig.suptitle("domain leak per latent: shift between two renders of a state over its spread across states (dashed: 1)", fontsize=10)
    return save_figure(fig, path)


@torch.no_grad()
def write_figures(model: VisionModel, frames: FrameDataset, out: Path, n_frames: int = 256) -> list[Path]:
    """Write every figure for a trained model into ``out`` and return their paths.

    ``reconstructions.png``, ``traversals.png``, and one bar chart per vector-valued loss term
    (``kl_per_dim.png`` for the VAE family).
    """
    model.eval()
    idx = np.linspace(0, len(frames) - 1, min(n_frames, len(frames))).astype(int)
    x = frames_to_tensor(frames.get(idx), model.device)
    codes = model.encode(x)
    paths = [
        reconstruction_grid(model, x[:: max(1, len(x) // 8)][:8], out / "reconstructions.png"),
        traversal_grid(model, x, codes, out / "traversals.png"),
    ]
    for name, value in model.loss(x).items():
        if value.dim() == 1:
            paths.append(vector_term_bars(name, value.float().cpu().numpy(), out / f"{name}.png"))
    return paths
