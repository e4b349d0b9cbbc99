"""Deep InfoMax (Hjelm et al., ICLR 2019): an encoder trained, without a decoder, to make its code
easy to tell apart from other frames' codes."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from darla.errors import DarlaError
from darla.models.base import TrunkConfig, VisionModel
from darla.models.trunk import Encoder


@dataclass
class DIMConfig(TrunkConfig):
    """Deep InfoMax on DARLA's trunk.

    :param global_weight: weight of the global objective: the code against the whole feature map.
    :param local_weight: weight of the local objective: the code against each position of the map.
    :param prior_weight: weight of the adversarial term that pushes codes toward N(0, I).
    :param critic_dim: width of the embeddings the critics compare by dot product.
    """

    global_weight: float = 0.5
    local_weight: float = 1.0
    prior_weight: float = 0.1
    critic_dim: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        weights = (self.global_weight, self.local_weight, self.prior_weight)
        if min(weights) < 0 or self.global_weight + self.local_weight == 0:
            raise DarlaError(f"DIM weights must be 0 or more with a global or local objective on, got global {self.global_weight}, "
                             f"local {self.local_weight}, prior {self.prior_weight}")
        if self.critic_dim < 1:
            raise DarlaError(f"critic_dim must be at least 1, got {self.critic_dim}")


class _ReverseGradient(torch.autograd.Function):
    """Identity forward, negated gradient backward: one optimizer then trains the prior's discriminator
    to tell prior samples from codes and the encoder to fool it."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return -grad


def jsd_mi_loss(scores: torch.Tensor) -> torch.Tensor:
    """The negative Jensen-Shannon MI estimate of critic ``scores`` (N, N, ...): entry ``[i, j]`` scores
    code ``i`` against features of frame ``j``; the diagonal holds the matching pairs.

    ``softplus(-T)`` on matching pairs plus ``softplus(T)`` on the others, each averaged (DIM's JSD form).
    """
    n = scores.shape[0]
    positive = torch.eye(n, dtype=torch.bool, device=scores.device).view(n, n, *([1] * (scores.dim() - 2))).expand_as(scores)
    return F.softplus(-scores[positive]).mean() + F.softplus(scores[~positive]).mean()


class DeepInfoMax(VisionModel):
    """The trunk's encoder, its code scored by dot-product critics against the conv feature map of its own
    frame and of the batch's other frames. There is no decoder: nothing is reconstructed."""

    config: DIMConfig
    has_decoder = False

    def __init__(self, config: DIMConfig) -> None:
        super().__init__(config)
        self.encoder = Encoder(config, out_dim=config.latent_dim)
        n = len(config.conv_channels)
        channels, side = config.conv_channels[-1], config.image_size >> n
        self._map_layers = 2 * n  # the conv layers and their activations: the local feature map
        self.local_features = nn.Sequential(nn.Conv2d(channels, config.critic_dim, 1), nn.ReLU(), nn.Conv2d(config.critic_dim, config.critic_dim, 1))
        self.global_features = nn.Sequential(nn.Flatten(), nn.Linear(channels * side * side, config.critic_dim))
        self.code_embeddings = nn.ModuleDict({part: nn.Sequential(nn.Linear(config.latent_dim, config.critic_dim), nn.ReLU(),
                                                                  nn.Linear(config.critic_dim, config.critic_dim))
                                              for part in ("local", "global")})
        self.prior_critic = nn.Sequential(nn.Linear(config.latent_dim, config.critic_dim), nn.ReLU(), nn.Linear(config.critic_dim, 1))

    def _map_and_code(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature_map = self.encoder.net[: self._map_layers](x)
        return feature_map, self.encoder.net[self._map_layers :](feature_map).float()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code of images ``x``."""
        return self._map_and_code(x)[1]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Refused: Deep InfoMax learns no decoder."""
        raise DarlaError("dim has no decoder: it cannot reconstruct or traverse its code")

    def loss(self, x: torch.Tensor, step: int = 0) -> dict[str, torch.Tensor]:
        """``global`` and ``local`` negative JSD MI estimates, ``prior`` the adversarial prior term, weighted."""
        cfg = self.config
        feature_map, code = self._map_and_code(x)
        terms = {}
        if cfg.global_weight:
            scores = self.code_embeddings["global"](code) @ self.global_features(feature_map).float().T
            terms["global"] = cfg.global_weight * jsd_mi_loss(scores)
        if cfg.local_weight:
            local = self.local_features(feature_map).float().flatten(2)  # (N, critic_dim, positions)
            scores = torch.einsum("id,jdp->ijp", self.code_embeddings["local"](code), local)
            terms["local"] = cfg.local_weight * jsd_mi_loss(scores)
        if cfg.prior_weight:
            real = self.prior_critic(torch.randn_like(code))
            fake = self.prior_critic(_ReverseGradient.apply(code))
            terms["prior"] = cfg.prior_weight * (F.softplus(-real).mean() + F.softplus(fake).mean())
        terms["loss"] = sum(terms.values())
        return terms
