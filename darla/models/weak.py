"""Weakly supervised VAEs: they learn from pairs of frames that show one state in two domains.

Ada-GVAE (Locatello et al. 2020, "Weakly-Supervised Disentanglement Without Compromises"):
both frames of a pair are encoded; per latent, the KL divergence between the two posteriors
says how much that latent changed; latents below an adaptive threshold, midway between the
smallest and the largest change of the pair, are taken as shared and both posteriors are
replaced by their average there; the beta-VAE objective is then applied to both frames. Since
a pair here differs only in its look, the shared latents learn the state and the others the look.

``ada_gvae`` reconstructs in pixels; ``ada_gvae_dae`` through a frozen DAE, as beta-VAE_DAE does.
Without a pair (the figures, ``darla inspect``) each frame gets the plain beta-VAE objective.
"""

from __future__ import annotations

import numpy as np
import torch

from darla.frames import FrameDataset
from darla.models.base import frames_to_tensor
from darla.models.vaes import VAE, BetaVAEDAE, VAEConfig


def gaussian_kl(mu1: torch.Tensor, logvar1: torch.Tensor, mu2: torch.Tensor, logvar2: torch.Tensor) -> torch.Tensor:
    """Elementwise KL(N(mu1, var1) || N(mu2, var2)) of diagonal Gaussians."""
    return 0.5 * (logvar2 - logvar1 + (logvar1.exp() + (mu1 - mu2).pow(2)) / logvar2.exp() - 1.0)


def shared_latents(mu1: torch.Tensor, logvar1: torch.Tensor, mu2: torch.Tensor, logvar2: torch.Tensor) -> torch.Tensor:
    """Ada-GVAE's estimate of the latents a pair shares: per pair, those whose posterior KL lies
    below the midpoint of that pair's smallest and largest per-latent KL.

    :return: a float mask (N, latent_dim), 1 where shared; it carries no gradient.
    """
    with torch.no_grad():
        delta = gaussian_kl(mu1, logvar1, mu2, logvar2)
        threshold = 0.5 * (delta.max(dim=1, keepdim=True).values + delta.min(dim=1, keepdim=True).values)
        return (delta < threshold).float()


#: pairs the domain-general latents are found on after training
GENERAL_PAIRS = 2048
#: a latent whose shift between a pair's two renders is below this share of its spread over
#: states is domain-general
GENERAL_LEAK = 1.0


class PairedMixin:
    """The Ada-GVAE objective for any VAE with ``posterior``, ``decoder`` and ``reconstruction``."""

    config: VAEConfig
    takes_pairs = True

    @torch.no_grad()
    def find_general_latents(self, frames: FrameDataset, seed: int = 0) -> tuple[int, ...]:
        """The active latents that move less than :data:`GENERAL_LEAK` of their spread over states
        when a training pair's look changes: the ones that hold the state, not the look.

        Ada-GVAE's own per-pair threshold assumes one changing factor; a room's look changes
        several colours at once, so the choice is made on the leak of the posterior means over
        the training pairs (the frames' domains only, never a held-out one).

        :param frames: the training frames, opened with their pairs.
        :param seed: seeds the pairs drawn.
        """
        from darla.metrics.invariance import domain_leak

        rng = np.random.default_rng(seed)
        index = np.sort(rng.choice(len(frames), size=min(GENERAL_PAIRS, len(frames)), replace=False))
        codes: list[tuple[torch.Tensor, torch.Tensor]] = []
        for chunk in np.array_split(index, max(1, len(index) // 256)):
            x, pair = (frames_to_tensor(f, self.device) for f in frames.get_pairs(chunk, seed))
            codes.append((self.encode(x), self.encode(pair)))  # type: ignore[attr-defined]
        a, b = (torch.cat(part).double().cpu().numpy() for part in zip(*codes))
        leak, active = domain_leak(a, b)
        return tuple(int(i) for i in np.flatnonzero(active & (leak < GENERAL_LEAK)))

    def loss(self, x: torch.Tensor, step: int = 0, pair: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``recon + beta * KL`` on both frames of each pair, their shared latents' posteriors averaged.

        :param x: frames (N, C, H, W).
        :param step: the training step (unused; kept for the trainer's call).
        :param pair: the same states in other domains (N, C, H, W); without it, the beta-VAE loss of ``x``.
        """
        if pair is None:
            return super().loss(x, step)  # type: ignore[misc]
        mu1, logvar1 = self.posterior(x)  # type: ignore[attr-defined]
        mu2, logvar2 = self.posterior(pair)  # type: ignore[attr-defined]
        shared = shared_latents(mu1, logvar1, mu2, logvar2)
        mean = 0.5 * (mu1 + mu2)
        logvar = torch.log(0.5 * (logvar1.exp() + logvar2.exp()))
        recon = kl_per_dim = 0.0
        for mu, lv, target in ((mu1, logvar1, x), (mu2, logvar2, pair)):
            mu = shared * mean + (1 - shared) * mu
            lv = shared * logvar + (1 - shared) * lv
            z = mu + torch.exp(0.5 * lv) * torch.randn_like(mu)
            recon = recon + self.reconstruction(self.decoder(z), target).mean() / 2  # type: ignore[attr-defined]
            kl_per_dim = kl_per_dim + 0.5 * (mu.pow(2) + lv.exp() - 1.0 - lv).mean(dim=0) / 2
        kl = kl_per_dim.sum()
        return {"recon": recon, "kl": kl, "kl_per_dim": kl_per_dim, "shared_share": shared.mean(),
                "loss": recon + self.config.beta * kl}


class AdaGVAE(PairedMixin, VAE):
    """Ada-GVAE on DARLA's trunk, reconstruction error in pixels (config: :class:`VAEConfig`)."""


class AdaGVAEDAE(PairedMixin, BetaVAEDAE):
    """Ada-GVAE with beta-VAE_DAE's reconstruction ``||J(x_hat) - J(x)||^2`` (config: :class:`~darla.models.vaes.BetaVAEDAEConfig`)."""
