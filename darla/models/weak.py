"""Weakly supervised VAEs: they learn from pairs of frames that show one state, or from domain ids.

Ada-GVAE (Locatello et al. 2020, "Weakly-Supervised Disentanglement Without Compromises"):
both frames of a pair are encoded; per latent, the KL divergence between the two posteriors
says how much that latent changed; latents below an adaptive threshold, midway between the
smallest and the largest change of the pair, are taken as shared and both posteriors are
replaced by their average there; the beta-VAE objective is then applied to both frames. Since
a pair here differs only in its look, the shared latents learn the state and the others the look.

``ada_gvae`` reconstructs in pixels; ``ada_gvae_dae`` through a frozen DAE, as beta-VAE_DAE does.
Without a pair (the figures, ``darla inspect``) each frame gets the plain beta-VAE objective.

``cycle_vae`` is LUSR's cycle-consistent VAE (Xing et al. 2021), which needs only each frame's
domain id: :class:`CycleVAE`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from darla.errors import DarlaError
from darla.frames import FrameDataset
from darla.models.base import frames_to_tensor
from darla.models.trunk import Encoder
from darla.models.vaes import VAE, BetaVAEDAE, BetaVAEDAEConfig, VAEConfig, draw


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


class PairedMixin:
    """The Ada-GVAE objective for any VAE with ``posterior``, ``decoder`` and ``reconstruction``."""

    config: "AdaGVAEConfig | AdaGVAEDAEConfig"
    takes_pairs = True

    def __init__(self, config: "AdaGVAEConfig | AdaGVAEDAEConfig") -> None:
        super().__init__(config)  # type: ignore[call-arg]
        if config.memory:
            # buffers, so that a resumed run meets the negatives the interrupted one had
            self.register_buffer("memory", torch.zeros(config.memory, config.latent_dim))  # type: ignore[attr-defined]
            self.register_buffer("memory_filled", torch.zeros((), dtype=torch.long))  # type: ignore[attr-defined]
        if config.momentum:
            # a slowly moving copy of the encoder fills the memory (MoCo's key encoder): codes written many batches
            # back then still lie where today's encoder would put them, which the online encoder's own do not
            self.key_encoder = copy.deepcopy(self.encoder).requires_grad_(False)  # type: ignore[has-type]

    @torch.no_grad()
    def find_general_latents(self, frames: FrameDataset, seed: int = 0, leak: float | None = None) -> tuple[int, ...]:
        """The active latents that move less than ``general_leak`` of their spread over states
        when a training pair's look changes: the ones that hold the state, not the look.

        Ada-GVAE's own per-pair threshold assumes one changing factor; a room's look changes
        several colours at once, so the choice is made on the leak of the posterior means over
        the training pairs (the frames' domains only, never a held-out one).

        :param frames: the training frames, opened with their pairs.
        :param seed: seeds the pairs drawn.
        :param leak: the threshold; None takes the config's ``general_leak``.
        """
        from darla.metrics.invariance import domain_leak

        rng = np.random.default_rng(seed)
        index = np.sort(rng.choice(len(frames), size=min(GENERAL_PAIRS, len(frames)), replace=False))
        codes: list[tuple[torch.Tensor, torch.Tensor]] = []
        for chunk in np.array_split(index, max(1, len(index) // 256)):
            x, pair = (frames_to_tensor(f, self.device) for f in frames.get_pairs(chunk, seed))
            codes.append((self.encode(x), self.encode(pair)))  # type: ignore[attr-defined]
        a, b = (torch.cat(part).double().cpu().numpy() for part in zip(*codes))
        shift, active = domain_leak(a, b)
        threshold = self.config.general_leak if leak is None else leak
        return tuple(int(i) for i in np.flatnonzero(active & (shift < threshold)))

    def loss(self, x: torch.Tensor, step: int = 0, pair: torch.Tensor | None = None, mask: torch.Tensor | None = None,
             pair_mask: torch.Tensor | None = None, target: torch.Tensor | None = None,
             pair_target: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``recon + beta * KL`` on both frames of each pair, their shared latents' posteriors averaged.

        :param x: frames (N, C, H, W).
        :param step: the training step (unused; kept for the trainer's call).
        :param pair: the same states in other domains (N, C, H, W); without it, the beta-VAE loss of ``x``.
        :param mask: where the task's objects are drawn in ``x`` (N, 1, H, W), for ``object_weight``.
        :param pair_mask: the same in ``pair``.
        :param target: the frames to reconstruct for ``x``, where not ``x`` itself (``x`` as drawn, ``x`` augmented).
        :param pair_target: the same for ``pair``.
        """
        if pair is None:
            return super().loss(x, step, mask=mask, target=target)  # type: ignore[misc]
        mu1, logvar1 = self.posterior(x)  # type: ignore[attr-defined]
        mu2, logvar2 = self.posterior(pair)  # type: ignore[attr-defined]
        shared = shared_latents(mu1, logvar1, mu2, logvar2)
        mean = 0.5 * (mu1 + mu2)
        logvar = torch.log(0.5 * (logvar1.exp() + logvar2.exp()))
        recon = kl_per_dim = 0.0
        sides = ((mu1, logvar1, x if target is None else target, mask), (mu2, logvar2, pair if pair_target is None else pair_target, pair_mask))
        for mu, lv, drawn, where in sides:
            mu = shared * mean + (1 - shared) * mu
            lv = shared * logvar + (1 - shared) * lv
            z = mu + torch.exp(0.5 * lv) * torch.randn_like(mu)
            weight = self.error_weights(where)  # type: ignore[attr-defined]
            recon = recon + self.reconstruction(self.decoder(z), drawn, weight).mean() / 2  # type: ignore[attr-defined]
            kl_per_dim = kl_per_dim + 0.5 * (mu.pow(2) + lv.exp() - 1.0 - lv).mean(dim=0) / 2
        kl = kl_per_dim.sum()
        terms = {"recon": recon, "kl": kl, "kl_per_dim": kl_per_dim, "shared_share": shared.mean()}
        loss = recon + self.config.beta * kl
        if self.config.consistency:
            # beyond Ada-GVAE: ask the shared latents' means of a pair to agree outright
            terms["consistency"] = (shared * (mu1 - mu2).pow(2)).sum(dim=1).mean()
            loss = loss + self.config.consistency * terms["consistency"]
        if self.config.contrast:
            negatives = None
            codes = torch.cat([mu1, mu2])
            if self.config.memory and int(self.memory_filled):
                past = self.memory[: int(self.memory_filled)]
                # the past codes centred on this batch's: else the encoder gains by moving every code away from
                # where its last batches lay, and it drifted and collapsed (KL between 0.02 and 100) without this
                negatives = past - past.mean(dim=0) + codes.mean(dim=0)
            terms["contrast"] = pair_contrast(mu1, mu2, shared.mean(dim=0), self.config.temperature, negatives)
            loss = loss + self.config.contrast * terms["contrast"]
            if self.config.memory and self.training:  # type: ignore[attr-defined]
                self._remember(self._key_codes(x, pair) if self.config.momentum else codes)
        terms["loss"] = loss
        return terms

    @torch.no_grad()
    def _key_codes(self, x: torch.Tensor, pair: torch.Tensor) -> torch.Tensor:
        """Move the key encoder ``1 - momentum`` of the way to the encoder, then its posterior means of both sides."""
        for key, online in zip(self.key_encoder.parameters(), self.encoder.parameters()):  # type: ignore[attr-defined]
            key.lerp_(online.detach(), 1.0 - self.config.momentum)
        return torch.cat([self.key_encoder(x).chunk(2, dim=1)[0], self.key_encoder(pair).chunk(2, dim=1)[0]])  # type: ignore[attr-defined]

    @torch.no_grad()
    def _remember(self, codes: torch.Tensor) -> None:
        """Push a batch's posterior means into the front of the memory, the oldest falling out."""
        size = len(self.memory)
        self.memory.copy_(torch.cat([codes.detach().to(self.memory.dtype), self.memory])[:size])
        self.memory_filled.fill_(min(int(self.memory_filled) + len(codes), size))


def pair_contrast(mu1: torch.Tensor, mu2: torch.Tensor, weight: torch.Tensor, temperature: float,
                  negatives: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of pairs: each frame's code must lie nearer its own pair's
    code than any other state's in the batch (and any of ``negatives``), in the weighted squared
    Euclidean distance.

    Beyond Ada-GVAE: same-state retrieval fails on states with a near twin, whose codes lie closer
    together than one state's two renders; this asks for exactly the ranking retrieval scores.

    :param mu1: posterior means (N, D) of the frames.
    :param mu2: posterior means (N, D) of their pairs, row for row.
    :param weight: per-latent weight (D,) of the distance (the share of pairs marking it shared).
    :param temperature: distances are divided by it before the softmax; lower is sharper.
    :param negatives: codes (M, D) of other states (past batches'), ranked against every frame of
        both sides; None or empty: the batch alone.
    """
    logits = -(weight * (mu1[:, None] - mu2[None]).pow(2)).sum(dim=-1) / temperature
    forward, backward = logits, logits.T
    if negatives is not None and len(negatives):
        # expanded as |a|^2 + |b|^2 - 2ab, since the broadcast above would hold N x M x D floats; in float32
        # even under autocast, where a bfloat16 product would cancel to noise larger than the gaps
        def far(a: torch.Tensor) -> torch.Tensor:
            with torch.autocast(a.device.type, enabled=False):
                a, b = a.float(), negatives.float()
                gap = (weight * a * a).sum(1, keepdim=True) + (weight * b * b).sum(1) - 2 * (weight * a) @ b.T
            return -gap / temperature

        forward, backward = torch.cat([forward, far(mu1)], 1), torch.cat([backward, far(mu2)], 1)
    target = torch.arange(len(mu1), device=mu1.device)
    return 0.5 * (F.cross_entropy(forward, target) + F.cross_entropy(backward, target))


@dataclass
class PairedFields:
    """What a paired variant adds to its VAE's config.

    :param consistency: weight of the squared distance between a pair's posterior means on the
        latents Ada-GVAE marks as shared; 0 is Ada-GVAE as published.
    :param contrast: weight of :func:`pair_contrast` on the posterior means, latents weighted by
        the share of the batch's pairs that mark them shared; 0 turns it off.
    :param temperature: the contrast's temperature, in squared latent units.
    :param twins: share of each training batch replaced by the nearest frames in pixels
        (:meth:`darla.frames.FrameDataset.pixel_twins`) of the batch's first frames: the near twins
        retrieval confuses, brought into the contrast as its negatives.
    :param memory: how many past posterior means (both frames of the last batches' pairs) the
        contrast keeps as further negatives; 0: the batch's own. The batch's 63 other states are
        mostly easy to tell apart, while retrieval ranks each state against hundreds.
    :param momentum: 0: the memory holds the encoder's own codes, each as it was when written; in (0, 1):
        it holds the codes of a copy of the encoder that moves ``1 - momentum`` of the way to it each step
        (MoCo's key encoder), so that a long memory is not made of stale, easy negatives.
    :param general_leak: after training, the active latents whose shift between the two renders
        of a training pair is below this share of their spread over states are domain-general.
    """

    consistency: float = 0.0
    contrast: float = 0.0
    temperature: float = 1.0
    twins: float = 0.0
    memory: int = 0
    momentum: float = 0.0
    general_leak: float = 1.0

    def check_paired(self) -> None:
        """Refuse a negative weight or a threshold that keeps nothing."""
        for name in ("consistency", "contrast", "memory"):
            if getattr(self, name) < 0:
                raise DarlaError(f"{name} must be non-negative, got {getattr(self, name)}")
        if self.memory and not self.contrast:
            raise DarlaError(f"memory {self.memory} keeps negatives for the contrast, which is off: set contrast > 0 or memory 0")
        if not 0 <= self.momentum < 1:
            raise DarlaError(f"momentum must lie in [0, 1), got {self.momentum}")
        if self.momentum and not self.memory:
            raise DarlaError(f"momentum {self.momentum} moves the encoder that fills the memory, which is off: set memory > 0")
        if not 0 <= self.twins <= 0.5:
            raise DarlaError(f"twins must lie in [0, 0.5] (each twin needs a frame of its own in the batch), got {self.twins}")
        if not self.temperature > 0:
            raise DarlaError(f"temperature must be positive, got {self.temperature}")
        if not self.general_leak > 0:
            raise DarlaError(f"general_leak must be positive, got {self.general_leak}")


@dataclass
class AdaGVAEConfig(VAEConfig, PairedFields):
    """Ada-GVAE reconstructing in pixels."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_paired()


@dataclass
class AdaGVAEDAEConfig(BetaVAEDAEConfig, PairedFields):
    """Ada-GVAE reconstructing through a frozen DAE (``dae_layer`` as in beta-VAE_DAE)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_paired()


class AdaGVAE(PairedMixin, VAE):
    """Ada-GVAE on DARLA's trunk, reconstruction error in pixels."""


class AdaGVAEDAE(PairedMixin, BetaVAEDAE):
    """Ada-GVAE with beta-VAE_DAE's reconstruction ``||J(x_hat) - J(x)||^2``."""


@dataclass
class CycleVAEConfig(VAEConfig):
    """LUSR's cycle-consistent VAE: a stochastic domain-general code and a deterministic
    domain-specific one; ``latent_dim`` counts both, the general part first.

    :param specific_dim: size of the domain-specific code (the rest of ``latent_dim`` is general).
    :param cycle_weight: weight of the backward cycle's L1 between re-encoded general codes.
    """

    specific_dim: int = 8
    cycle_weight: float = 10.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.specific_dim < self.latent_dim:
            raise DarlaError(f"specific_dim must lie in 1..{self.latent_dim - 1} (latent_dim {self.latent_dim} counts both parts), "
                             f"got {self.specific_dim}")
        if self.cycle_weight < 0:
            raise DarlaError(f"cycle_weight must be non-negative, got {self.cycle_weight}")
        # known by construction: the general code comes first
        self.general_latents = tuple(range(self.latent_dim - self.specific_dim))


class CycleVAE(VAE):
    """LUSR's cycle-consistent VAE (Xing et al. 2021), trained with domain labels only, no pairs.

    The code is ``[general means, specific]``. The forward cycle reconstructs each frame from its
    own general sample and the specific code of another frame of the same domain (a domain's look
    must fit in its specific code alone); the backward cycle decodes one random general code
    with two frames' specific codes and asks the two images' re-encoded general means to agree
    (the general code must not carry the look). Without domain ids (the figures, ``darla
    inspect``) each frame keeps its own specific code and there is no backward cycle.
    """

    config: CycleVAEConfig
    takes_domains = True

    def __init__(self, config: CycleVAEConfig) -> None:
        super().__init__(config)
        self.general_dim = config.latent_dim - config.specific_dim
        self.encoder = Encoder(config, out_dim=2 * self.general_dim + config.specific_dim)

    def parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """General means and log-variances (N, general), and the specific code (N, specific_dim)."""
        h = self.encoder(x)
        g = self.general_dim
        return h[:, :g], h[:, g : 2 * g], h[:, 2 * g :]

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Means and log-variances of the general code."""
        mu, logvar, _ = self.parts(x)
        return mu, logvar

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``[general means, specific code]``: the deterministic code."""
        mu, _, specific = self.parts(x)
        return torch.cat([mu, specific], dim=1)

    def sample_code(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``[a general code drawn from its posterior, specific code]``, in float32."""
        mu, logvar, specific = self.parts(x)
        return torch.cat([draw(mu, logvar, generator), specific.float()], dim=1)

    def loss(self, x: torch.Tensor, step: int = 0, domain: torch.Tensor | None = None,
             mask: torch.Tensor | None = None, target: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Forward-cycle reconstruction + beta * KL of the general code + the backward cycle.

        :param x: frames (N, C, H, W).
        :param step: the training step (unused).
        :param domain: each frame's domain id (N,); without it, a plain VAE loss on ``[z, specific]``.
        :param mask: where the task's objects are drawn in ``x`` (N, 1, H, W), for ``object_weight``.
        :param target: the frames to reconstruct, where not ``x`` itself (``x`` as drawn, ``x`` augmented).
        """
        mu, logvar, specific = self.parts(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        partner = torch.arange(len(x), device=x.device) if domain is None else same_domain_partners(domain)
        drawn = x if target is None else target
        recon = self.reconstruction(self.decoder(torch.cat([z, specific[partner]], dim=1)), drawn, self.error_weights(mask)).mean()
        kl_per_dim = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean(dim=0)
        kl = kl_per_dim.sum()
        terms = {"recon": recon, "kl": kl, "kl_per_dim": kl_per_dim}
        loss = recon + self.config.beta * kl
        if domain is not None:
            shared = torch.randn_like(mu)
            other = torch.randperm(len(x), device=x.device)
            a, b = (self.posterior(self.output(self.decoder(torch.cat([shared, s], dim=1))))[0] for s in (specific, specific[other]))
            terms["cycle"] = (a - b).abs().sum(dim=1).mean()
            loss = loss + self.config.cycle_weight * terms["cycle"]
        terms["loss"] = loss
        return terms


def same_domain_partners(domain: torch.Tensor) -> torch.Tensor:
    """For each frame, the index of a random frame of the same domain (itself when it is alone)."""
    partner = torch.arange(len(domain), device=domain.device)
    for d in torch.unique(domain):
        members = torch.nonzero(domain == d).flatten()
        partner[members] = members[torch.randperm(len(members), device=domain.device)]
    return partner
