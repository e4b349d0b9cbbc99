"""Every figure darla draws: a vision model's reconstructions, traversals and per-latent bars,
and the return bars of evaluations and experiments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from darla.errors import DarlaError
from darla.files import atomic_path
from darla.frames import FrameDataset
from darla.models import VisionModel, frames_to_tensor
from darla.statistics import DomainResult

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


#: pixels of white between the images of a grid
GRID_GAP = 2


def image_mosaic(rows: list[list[torch.Tensor | np.ndarray]]) -> np.ndarray:
    """Images of one size tiled into one RGB picture in [0, 1], ``GRID_GAP`` white pixels apart: one list per row,
    each image a model tensor (C, H, W) or a uint8 frame (H, W, C); a one-channel image is drawn grey."""
    images = [[_to_image(img) for img in row] for row in rows]
    h, w = images[0][0].shape[:2]
    if any(len(row) != len(images[0]) or img.shape[:2] != (h, w) for row in images for img in row):
        raise DarlaError(f"an image grid needs rows of {len(images[0])} images of {h}x{w} pixels each, got rows of "
                         f"{sorted({len(row) for row in images})} and sizes {sorted({img.shape[:2] for row in images for img in row})}")
    mosaic = np.ones((len(images) * (h + GRID_GAP) - GRID_GAP, len(images[0]) * (w + GRID_GAP) - GRID_GAP, 3), np.float32)
    for r, row in enumerate(images):
        for c, img in enumerate(row):
            top, left = r * (h + GRID_GAP), c * (w + GRID_GAP)
            mosaic[top : top + h, left : left + w] = img[..., None] if img.ndim == 2 else img
    return mosaic


def image_grid(
    rows: list[list[torch.Tensor | np.ndarray]], row_labels: list[str], col_labels: list[str], title: str
) -> Figure:
    """A grid of images of one size, one list per row (as :func:`image_mosaic` takes them), labelled by row and column.

    The images are drawn as one picture: a subplot per image made a 32-row traversal take 3.8 s to draw.
    """
    mosaic = image_mosaic(rows)
    n_rows, n_cols = len(rows), len(rows[0])
    # image_mosaic refuses tiles of other sizes, so the mosaic's extent gives the tile's without converting one again
    h, w = ((extent + GRID_GAP) // n - GRID_GAP for extent, n in zip(mosaic.shape[:2], (n_rows, n_cols)))
    fig = Figure(figsize=(1.1 * n_cols + 0.8, 1.1 * n_rows + 0.5), layout="constrained")
    ax = fig.subplots()
    ax.imshow(mosaic, vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks([r * (h + GRID_GAP) + (h - 1) / 2 for r in range(n_rows)], row_labels, fontsize=8)
    ax.set_xticks([c * (w + GRID_GAP) + (w - 1) / 2 for c in range(n_cols)] if col_labels else [], col_labels, fontsize=8)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
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

    ``reconstructions.png`` and ``traversals.png`` (for a model with a decoder), and one bar chart
    per vector-valued loss term (``kl_per_dim.png`` for the VAE family).
    """
    model.eval()
    idx = np.linspace(0, len(frames) - 1, min(n_frames, len(frames))).astype(int)
    x = frames_to_tensor(frames.get(idx), model.device)
    paths = []
    if model.has_decoder:
        paths += [reconstruction_grid(model, x[:: max(1, len(x) // 8)][:8], out / "reconstructions.png"),
                  traversal_grid(model, x, model.encode(x), out / "traversals.png")]
    for name, value in model.loss(x).items():
        if value.dim() == 1:
            paths.append(vector_term_bars(name, value.float().cpu().numpy(), out / f"{name}.png"))
    return paths


def draw_bars(ax: Any, series: dict[str, dict[str, DomainResult]]) -> None:
    """Grouped bars of mean return with 95% CI whiskers: one colour per series, one group per key."""
    groups = list(dict.fromkeys(g for rows in series.values() for g in rows))
    width = 0.8 / len(series)
    for i, (label, rows) in enumerate(series.items()):
        xs = [x for x, g in enumerate(groups) if g in rows]
        picked = [rows[groups[x]] for x in xs]
        err = np.clip([[r.mean - r.mean_ci[0] for r in picked], [r.mean_ci[1] - r.mean for r in picked]], 0, None)
        ax.bar(np.array(xs) + (i - (len(series) - 1) / 2) * width, [r.mean for r in picked], width, yerr=err,
               capsize=3, label=label)
    ax.set_xticks(range(len(groups)), groups, fontsize=8)
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_ylabel("mean episode return (95% CI)", fontsize=8)
    ax.legend(fontsize=7, ncols=min(4, len(series)))


def bar_chart(method: str, results: list[DomainResult], path: Path, title: str) -> Path:
    """Mean return per domain of one method, with 95% CI whiskers."""
    fig = Figure(figsize=(max(4.0, 1.3 * len(results) + 1.5), 3.4), layout="constrained")
    ax = fig.subplots()
    draw_bars(ax, {method: {r.domain: r for r in results}})
    ax.set_title(title, fontsize=10)
    return save_figure(fig, path)


def results_figure(results: dict[str, dict[str, list[DomainResult]]], path: Path, title: str) -> Path:
    """One panel per protocol: each method's mean return per evaluated domain (its source and
    the domains it never trained in), with 95% CIs."""
    fig = Figure(figsize=(9.0, 3.4 * len(results)), layout="constrained")
    axes = fig.subplots(len(results), 1, squeeze=False)[:, 0]
    for ax, (protocol, methods) in zip(axes, results.items()):
        domains = dict.fromkeys(r.domain for rows in methods.values() for r in rows)
        draw_bars(ax, {d: {m: r for m, rows in methods.items() for r in rows if r.domain == d} for d in domains})
        ax.set_title(f"{protocol}: trained in the source, evaluated zero-shot in the others", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def metric_bars(scores: dict[str, float], bars: list[str], path: Path) -> Path:
    """The scores named in ``bars`` (each in [0, 1]) as bars, and the discriminator's loss against chance."""
    fig = Figure(figsize=(9.0, 3.4), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[4, 1])
    keys = [k for k in bars if k in scores]
    left.barh(keys[::-1], [scores[k] for k in keys[::-1]], color="tab:blue")
    left.set_xlim(0, 1)
    left.set_title("disentanglement metrics (higher is better)", fontsize=10)
    right.bar(["held-out\nBCE"], [scores["discriminator_loss"]], color="tab:orange")
    right.axhline(scores["discriminator_chance"], color="k", ls="--", lw=1, label="chance (ln 2)")
    right.set_ylim(0, 0.75)
    right.legend(fontsize=7, loc="lower right")
    right.set_title("discriminator\n(lower is better)", fontsize=10)
    return save_figure(fig, path)


def latent_histograms(codes: dict[str, np.ndarray], latents: list[int], info: np.ndarray, names: tuple[str, ...], path: Path) -> Path:
    """Per latent, a histogram of its value in each domain, titled with the factor it says most about.

    :param codes: domain name -> codes (N, D) of that domain's frames.
    :param latents: the latents to draw.
    :param info: normalised mutual information (D, K) between latents and factors.
    :param names: the factor names.
    :param path: the PNG to write.
    """
    cols = min(4, len(latents))
    rows = -(-len(latents) // cols)
    fig = Figure(figsize=(3.0 * cols, 2.2 * rows + 0.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, d in zip(axes, latents):
        values = np.concatenate([c[:, d] for c in codes.values()])
        edges = np.histogram_bin_edges(values, 30)
        for name, c in codes.items():
            ax.hist(c[:, d], bins=edges, histtype="step", label=name)
        best = int(info[d].argmax())
        ax.set_title(f"z{d}: most about {names[best]} ({info[d, best]:.2f})", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(4))
    for ax in axes[len(latents) :]:
        ax.set_axis_off()
    axes[0].legend(fontsize=7)
    fig.suptitle("active latents: value per domain (title: factor with the highest MI / entropy)", fontsize=10)
    return save_figure(fig, path)
