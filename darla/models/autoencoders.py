"""Deterministic autoencoders: plain, denoising, sparse and contractive."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from darla.errors import DarlaError
from darla.models import corruption
from darla.models.base import TrunkConfig, TrunkModel
from darla.models.trunk import Decoder, Encoder


@dataclass
class AEConfig(TrunkConfig):
    """Undercomplete autoencoder: the code is smaller than the image, loss is reconstruction."""


class Autoencoder(TrunkModel):
    """Encoder -> code -> decoder, trained on reconstruction plus the variant's penalties.

    Subclasses change :meth:`corrupt` (what the encoder sees during the loss), :meth:`code`
    (the code's activation) and :meth:`penalties` (extra loss terms).
    """

    config: AEConfig

    def __init__(self, config: AEConfig) -> None:
        super().__init__(config)
        self.encoder = Encoder(config, out_dim=config.latent_dim)
        self.decoder = Decoder(config, in_dim=config.latent_dim)

    def code(self, x: torch.Tensor) -> torch.Tensor:
        """The code of images ``x`` (the encoder output, for a plain autoencoder)."""
        return self.encoder(x)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Code of clean images."""
        return self.code(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images reconstructed from codes."""
        return self.output(self.decoder(z))

    def features(self, x: torch.Tensor, layer: str = "output") -> torch.Tensor:
        """Features of clean images: decoder logits (``"output"``) or the code (``"bottleneck"``)."""
        code = self.code(x)
        return code if layer == "bottleneck" else self.decoder(code)

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's input during training: ``x`` itself for a plain autoencoder."""
        return x

    def penalties(self, x: torch.Tensor, code: torch.Tensor) -> dict[str, torch.Tensor]:
        """Extra weighted loss terms (none for a plain autoencoder)."""
        return {}

    def loss(self, x: torch.Tensor, step: int = 0) -> dict[str, torch.Tensor]:
        """Reconstruction of the clean ``x`` from the (possibly corrupted) input, plus penalties."""
        inp = self.corrupt(x)
        code = self.code(inp)
        recon = self.reconstruction(self.decoder(code), x).mean()
        terms = {"recon": recon, **self.penalties(inp, code)}
        terms["loss"] = sum(terms.values())
        return terms


@dataclass
class DAEConfig(AEConfig):
    """Denoising autoencoder.

    :param corruption: ``"occlusion"`` (a random rectangle set to zero: DARLA's choice),
        ``"gaussian"`` (additive noise) or ``"dropout"`` (pixels set to zero).
    :param occlusion_max: largest side of the occluding rectangle, as a fraction of the image.
    :param noise_std: standard deviation of the Gaussian noise (images in [0, 1]).
    :param dropout_p: probability that a pixel is dropped.
    """

    latent_dim: int = 100
    corruption: str = "occlusion"
    occlusion_max: float = 0.5
    noise_std: float = 0.1
    dropout_p: float = 0.25

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.corruption not in corruption.CORRUPTIONS:
            raise DarlaError(
                f"unknown corruption {self.corruption!r}; choose one of {', '.join(corruption.CORRUPTIONS)}"
            )


class DenoisingAutoencoder(Autoencoder):
    """Reconstructs the clean image from a corrupted one (Vincent et al. 2008)."""

    config: DAEConfig

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the configured corruption."""
        cfg = self.config
        if cfg.corruption == "occlusion":
            return corruption.occlude(x, cfg.occlusion_max)
        if cfg.corruption == "gaussian":
            return corruption.add_gaussian_noise(x, cfg.noise_std)
        return corruption.drop_pixels(x, cfg.dropout_p)


@dataclass
class SparseAEConfig(AEConfig):
    """Sparse autoencoder.

    :param sparsity: ``"l1"`` (L1 norm of the code) or ``"kl"`` (KL divergence between the
        target activation and each unit's mean activation; the code then passes a sigmoid).
    :param sparsity_weight: weight of the penalty.
    :param sparsity_target: target mean activation rho for ``"kl"``.
    """

    sparsity: str = "l1"
    sparsity_weight: float = 0.01
    sparsity_target: float = 0.05

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sparsity not in ("l1", "kl"):
            raise DarlaError(f"sparsity must be 'l1' or 'kl', got {self.sparsity!r}")
        if not 0.0 < self.sparsity_target < 1.0:
            raise DarlaError(f"sparsity_target must lie in (0, 1), got {self.sparsity_target}")


class SparseAutoencoder(Autoencoder):
    """Autoencoder whose code is pushed toward sparse activations."""

    config: SparseAEConfig

    def code(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder output; through a sigmoid under KL sparsity, so activations are rates."""
        h = self.encoder(x)
        return torch.sigmoid(h) if self.config.sparsity == "kl" else h

    def penalties(self, x: torch.Tensor, code: torch.Tensor) -> dict[str, torch.Tensor]:
        """``sparsity``: weighted L1 of the code, or sum over units of KL(rho || mean activation)."""
        cfg = self.config
        if cfg.sparsity == "l1":
            penalty = code.abs().sum(dim=1).mean()
        else:
            rho = cfg.sparsity_target
            rho_hat = code.mean(dim=0).clamp(1e-6, 1 - 1e-6)
            penalty = (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()
        return {"sparsity": cfg.sparsity_weight * penalty}


@dataclass
class ContractiveAEConfig(AEConfig):
    """Contractive autoencoder.

    :param contractive_weight: weight of the squared Frobenius norm of the encoder Jacobian.
    """

    contractive_weight: float = 0.01


class ContractiveAutoencoder(Autoencoder):
    """Autoencoder penalising how strongly the code reacts to its input (Rifai et al. 2011)."""

    config: ContractiveAEConfig

    def jacobian_penalty(self, x: torch.Tensor) -> torch.Tensor:
        """Exact ||d code / d x||_F^2, averaged over the batch.

        One vector-Jacobian product per latent, vectorised over the batch; the result stays
        differentiable with respect to the weights.
        """

        def code_of_one(xi: torch.Tensor) -> torch.Tensor:
            return self.code(xi.unsqueeze(0)).squeeze(0)

        jac = torch.func.vmap(torch.func.jacrev(code_of_one))(x)
        return jac.pow(2).flatten(1).sum(dim=1).mean()

    def penalties(self, x: torch.Tensor, code: torch.Tensor) -> dict[str, torch.Tensor]:
        """``contractive``: weighted Jacobian penalty at the input."""
        return {"contractive": self.config.contractive_weight * self.jacobian_penalty(x)}


@dataclass
class StackedAEConfig(AEConfig):
    """Stacked autoencoder: the trunk trained greedily, one layer pair at a time, then end to end.

    :param greedy_steps: training steps of each greedy stage; the trunk has one stage per conv
        layer and two for its fully connected layers, and the steps after the last stage fine-tune
        the whole stack on pixel reconstruction.
    """

    greedy_steps: int = 200

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.greedy_steps < 0:
            raise DarlaError(f"greedy_steps must be 0 or more, got {self.greedy_steps}")


class StackedAutoencoder(Autoencoder):
    """DARLA's trunk as a stack of autoencoders, trained the way deep autoencoders were before end-to-end
    training worked (Hinton & Salakhutdinov 2006; Bengio et al. 2007): stage ``k`` trains encoder layer
    ``k`` and its mirror in the decoder to reconstruct the frozen lower layers' code, then the whole
    stack is fine-tuned on pixels. The same weights as ``ae``, so the two compare training alone.
    """

    config: StackedAEConfig

    @property
    def stages(self) -> int:
        """Greedy stages: one per conv layer, then the hidden and the code layers."""
        return len(self.config.conv_channels) + 2

    def _encoder_stage(self, k: int) -> torch.nn.Module:
        net, n = self.encoder.net, len(self.config.conv_channels)
        if k < n:
            return net[2 * k : 2 * k + 2]
        return net[2 * n : 2 * n + 3] if k == n else net[2 * n + 3 :]

    def _decoder_stage(self, k: int, code: torch.Tensor) -> torch.Tensor:
        """Decoder layer ``k``'s mirror of ``code``: logits for ``k = 0``, else the layer below's activations."""
        dec, n = self.decoder, len(self.config.conv_channels)
        if k == n + 1:
            return dec.fc[:2](code)
        if k == n:
            return dec.fc[2:](code).view(-1, dec.top_channels, dec.side, dec.side)
        return dec.deconv[2 * (n - 1 - k) : 2 * (n - 1 - k) + 2](code)

    def stage_loss(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """Stage ``k``'s reconstruction error: of the pixels for ``k = 0``, else of layer ``k``'s frozen input."""
        with torch.no_grad():
            below = x
            for j in range(k):
                below = self._encoder_stage(j)(below)
        rebuilt = self._decoder_stage(k, self._encoder_stage(k)(below))
        if k == 0:
            return self.reconstruction(rebuilt, x).mean()
        return (rebuilt.float() - below.float()).pow(2).flatten(1).sum(dim=1).mean()

    def loss(self, x: torch.Tensor, step: int = 0) -> dict[str, torch.Tensor]:
        """The greedy stage of ``step`` (``stage_recon``), or after the last, end-to-end reconstruction."""
        stage = step // self.config.greedy_steps if self.config.greedy_steps else self.stages
        if stage >= self.stages:
            return {**super().loss(x, step), "stage": torch.tensor(float(self.stages))}
        recon = self.stage_loss(x, stage)
        return {"stage_recon": recon, "stage": torch.tensor(float(stage)), "loss": recon}
