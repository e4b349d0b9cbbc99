"""PCA: the linear baseline, fit incrementally on the same frames as the other variants."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from darla.models.base import VisionConfig, VisionModel


@dataclass
class PCAConfig(VisionConfig):
    """Principal component analysis with ``latent_dim`` components."""


class PCA(VisionModel):
    """Incremental PCA (Ross et al. 2008, as in scikit-learn's IncrementalPCA).

    It has no trainable weights: in training mode, :meth:`loss` folds the batch into the
    running mean and components (as batch norm updates its statistics in ``forward``), then
    reports the batch's reconstruction error under the updated basis.
    """

    config: PCAConfig

    def __init__(self, config: PCAConfig) -> None:
        super().__init__(config)
        dim = config.channels * config.image_size * config.image_size
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("components", torch.zeros(config.latent_dim, dim))
        self.register_buffer("singular_values", torch.zeros(config.latent_dim))
        self.register_buffer("n_seen", torch.zeros((), dtype=torch.float64))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Coordinates of the centred images along the principal components."""
        return (x.flatten(1) - self.mean) @ self.components.T

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images on the principal subspace."""
        cfg = self.config
        return (z @ self.components + self.mean).view(-1, cfg.channels, cfg.image_size, cfg.image_size)

    @torch.no_grad()
    def partial_fit(self, x: torch.Tensor) -> None:
        """Fold a batch into the running mean and top components."""
        batch = x.flatten(1).double()
        n_old, n_new = float(self.n_seen), batch.shape[0]
        total = n_old + n_new
        batch_mean = batch.mean(dim=0)
        rows = [batch - batch_mean]
        if n_old > 0:
            old_mean = self.mean.double()
            rows.insert(0, self.singular_values.double().unsqueeze(1) * self.components.double())
            rows.append((n_old * n_new / total) ** 0.5 * (old_mean - batch_mean).unsqueeze(0))
            new_mean = (n_old * old_mean + n_new * batch_mean) / total
        else:
            new_mean = batch_mean
        _, s, vt = torch.linalg.svd(torch.cat(rows), full_matrices=False)
        k = self.config.latent_dim
        # the SVD may return fewer rows than k for a first batch smaller than k
        self.components.zero_()[: min(k, vt.shape[0])] = vt[:k].to(self.components.dtype)
        self.singular_values.zero_()[: min(k, s.shape[0])] = s[:k].to(self.singular_values.dtype)
        self.mean.copy_(new_mean)
        self.n_seen.fill_(total)

    def loss(self, x: torch.Tensor, step: int = 0) -> dict[str, torch.Tensor]:
        """Squared reconstruction error per image, after fitting the batch when training."""
        if self.training:
            self.partial_fit(x)
        recon = (self.decode(self.encode(x)) - x).pow(2).flatten(1).sum(dim=1).mean()
        return {"recon": recon, "loss": recon}
