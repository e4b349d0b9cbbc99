"""Variational autoencoders: VAE, beta-VAE (with Burgess et al.'s capacity option), beta-VAE_DAE."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from darla.errors import DarlaError
from darla.models.autoencoders import DAEConfig, DenoisingAutoencoder
from darla.models.base import TrunkConfig, TrunkModel
from darla.models.trunk import Decoder, Encoder


@dataclass
class VAEConfig(TrunkConfig):
    """Gaussian VAE with a beta-weighted KL term.

    :param beta: weight of KL(q(z|x) || N(0, I)); 1 is the plain VAE, > 1 a beta-VAE.
    :param capacity_max: if set, use Burgess et al. (2018)'s ``gamma * |KL - C|`` with the
        capacity ``C`` (nats) ramped linearly from 0 to ``capacity_max`` instead of ``beta * KL``.
    :param capacity_steps: training steps over which ``C`` reaches ``capacity_max``.
    :param gamma: weight of ``|KL - C|`` under the capacity objective.
    :param object_weight: beyond DARLA: the reconstruction error of each pixel where the task's objects are drawn
        counts ``1 + object_weight`` times (the simulator's masks, ``darla collect --masks``); 0 weighs every
        pixel alike. Objects a few pixels wide are otherwise cheap to leave out of the code.
    """

    beta: float = 1.0
    capacity_max: float | None = None
    capacity_steps: int = 10_000
    gamma: float = 1000.0
    object_weight: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.beta < 0:
            raise DarlaError(f"beta must be non-negative, got {self.beta}")
        if self.object_weight < 0:
            raise DarlaError(f"object_weight must be non-negative, got {self.object_weight}")
        if self.capacity_max is not None and (self.capacity_max < 0 or self.capacity_steps < 1):
            raise DarlaError("capacity_max must be >= 0 and capacity_steps >= 1")


def draw(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Samples (N, D) float32 of the Gaussians N(mu, exp(logvar)), their noise from ``generator``."""
    noise = torch.randn(mu.shape, generator=generator, device=mu.device)
    return mu.float() + torch.exp(0.5 * logvar.float()) * noise


class VAE(TrunkModel):
    """Gaussian encoder q(z|x) = N(mu, diag(sigma^2)), reparameterised samples, N(0, I) prior."""

    config: VAEConfig
    takes_targets = True
    has_posterior = True

    def __init__(self, config: VAEConfig) -> None:
        super().__init__(config)
        self.encoder = Encoder(config, out_dim=2 * config.latent_dim)
        self.decoder = Decoder(config, in_dim=config.latent_dim)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Means and log-variances of q(z|x), each (N, latent_dim)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior means: the deterministic code an agent sees."""
        return self.posterior(x)[0]

    def sample_code(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A code drawn from q(z|x), in float32 whatever the model computes in."""
        return draw(*self.posterior(x), generator)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images reconstructed from latents."""
        return self.output(self.decoder(z))

    def latent_scale(self, codes: torch.Tensor) -> torch.Tensor:
        """Unit steps: the prior N(0, I) sets the scale of every latent."""
        return torch.ones(codes.shape[1], device=codes.device)

    def capacity(self, step: int) -> float:
        """Burgess et al.'s capacity C at ``step`` (nats)."""
        cfg = self.config
        return float(cfg.capacity_max) * min(1.0, step / cfg.capacity_steps)

    def error_weights(self, mask: torch.Tensor | None) -> torch.Tensor | None:
        """Per-pixel weights of the reconstruction error from object masks (N, 1, H, W): ``1 + object_weight`` on
        the objects, 1 elsewhere; None (every pixel alike) without a mask or an object weight."""
        if mask is None or not self.config.object_weight:
            return None
        return 1.0 + self.config.object_weight * mask

    def loss(self, x: torch.Tensor, step: int = 0, mask: torch.Tensor | None = None,
             target: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Negative ELBO with a weighted KL: ``recon + beta * KL`` or ``recon + gamma * |KL - C|``.

        :param mask: where the task's objects are drawn in ``x`` (N, 1, H, W), for ``object_weight``.
        :param target: the frames to reconstruct, where not ``x`` itself (``x`` as drawn, ``x`` augmented).
        """
        mu, logvar = self.posterior(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        recon = self.reconstruction(self.decoder(z), x if target is None else target, self.error_weights(mask)).mean()
        kl_per_dim = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean(dim=0)
        kl = kl_per_dim.sum()
        terms = {"recon": recon, "kl": kl, "kl_per_dim": kl_per_dim}
        if self.config.capacity_max is None:
            terms["loss"] = recon + self.config.beta * kl
        else:
            c = self.capacity(step)
            terms["capacity"] = torch.tensor(c, device=x.device)
            terms["loss"] = recon + self.config.gamma * (kl - c).abs()
        return terms


@dataclass
class BetaVAEDAEConfig(VAEConfig):
    """DARLA's beta-VAE_DAE: a beta-VAE whose reconstruction is measured through a frozen DAE.

    :param dae_layer: where the DAE's features J are read: ``"output"`` (its output before the
        final nonlinearity, as the SCAN paper states) or ``"bottleneck"`` (its code).
    :param dae: config of the frozen DAE; filled in from the DAE checkpoint.
    :param pixel_weight: weight of the model's own reconstruction error in pixels (``recon_loss``), added to the
        error through the DAE; 0 is DARLA's. The DAE's view blurs what tells near twins apart, which pixels keep.
    """

    beta: float = 1.0
    dae_layer: str = "output"
    dae: DAEConfig | None = None
    pixel_weight: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dae_layer not in ("output", "bottleneck"):
            raise DarlaError(f"dae_layer must be 'output' or 'bottleneck', got {self.dae_layer!r}")
        if self.pixel_weight < 0:
            raise DarlaError(f"pixel_weight must be non-negative, got {self.pixel_weight}")
        if self.object_weight and self.dae_layer != "output":
            raise DarlaError(f"object_weight weighs pixels, but the DAE's {self.dae_layer} has none: use dae_layer 'output'")
        if self.dae is not None and (self.dae.image_size, self.dae.channels) != (self.image_size, self.channels):
            raise DarlaError(
                f"the DAE sees {self.dae.image_size}x{self.dae.image_size}x{self.dae.channels} frames but this model "
                f"{self.image_size}x{self.image_size}x{self.channels}: train the DAE on the same frames"
            )


class BetaVAEDAE(VAE):
    """beta-VAE with loss ``||J(x_hat) - J(x)||^2 + beta * KL``, J a frozen denoising autoencoder
    (plus ``pixel_weight`` times the error in pixels, where the config asks for it)."""

    config: BetaVAEDAEConfig
    compares_through = "the DAE"

    def __init__(self, config: BetaVAEDAEConfig) -> None:
        if config.dae is None:
            raise DarlaError("beta_vae_dae needs a DAE: pass --dae CKPT or let pretrain train one")
        super().__init__(config)
        self.dae = DenoisingAutoencoder(config.dae)
        self.dae.requires_grad_(False)
        self.dae.eval()

    def train(self, mode: bool = True) -> "BetaVAEDAE":
        """Switch the VAE's mode; the DAE stays frozen in eval mode."""
        super().train(mode)
        self.dae.eval()
        return self

    def seen(self, images: torch.Tensor) -> torch.Tensor:
        """Images passed through the frozen DAE.

        The decoder is free to add detail the DAE ignores (high-frequency patterns, say), so
        its raw output can look noisy while the DAE's view of it matches the input's.
        """
        return self.dae.decode(self.dae.encode(images))

    def reconstruction(self, logits: torch.Tensor, x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Per-image ||J(x_hat) - J(x)||^2 with J the frozen DAE, plus ``pixel_weight`` times the error in
        pixels; gradients flow only through x_hat.

        :param weight: per-pixel weights (N, 1, H, W) of both errors (J at the DAE's output is an image); None: 1.
        """
        layer = self.config.dae_layer
        with torch.no_grad():
            target = self.dae.features(x, layer)
        error = (self.dae.features(self.output(logits), layer) - target).pow(2)
        error = (error if weight is None else error * weight).flatten(1).sum(dim=1)
        if self.config.pixel_weight:
            error = error + self.config.pixel_weight * super().reconstruction(logits, x, weight)
        return error
