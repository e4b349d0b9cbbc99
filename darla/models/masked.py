"""Masked autoencoder (He et al., CVPR 2022): most patches hidden, a transformer encoder on the visible
ones, a light decoder predicting the hidden pixels."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from darla.errors import DarlaError
from darla.models.base import VisionConfig, VisionModel


@dataclass
class MAEConfig(VisionConfig):
    """A small masked autoencoder; its code is the encoder's mean-pooled output, so ``latent_dim`` is the
    encoder's width.

    :param patch_size: side of the square patches, in pixels.
    :param mask_ratio: share of the patches hidden from the encoder in training.
    :param depth: encoder transformer blocks.
    :param heads: attention heads (encoder and decoder); must divide both widths.
    :param decoder_dim: width of the decoder.
    :param decoder_depth: decoder transformer blocks.
    """

    latent_dim: int = 64
    patch_size: int = 8
    mask_ratio: float = 0.75
    depth: int = 4
    heads: int = 4
    decoder_dim: int = 64
    decoder_depth: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.patch_size < 1 or self.image_size % self.patch_size:
            raise DarlaError(f"patch_size {self.patch_size} must divide image_size {self.image_size}")
        if not 0.0 < self.mask_ratio < 1.0:
            raise DarlaError(f"mask_ratio must lie in (0, 1), got {self.mask_ratio}")
        if self.heads < 1 or self.latent_dim % self.heads or self.decoder_dim % self.heads:
            raise DarlaError(f"heads {self.heads} must divide latent_dim {self.latent_dim} and decoder_dim {self.decoder_dim}")
        if min(self.depth, self.decoder_depth) < 1:
            raise DarlaError(f"depth and decoder_depth must be at least 1, got {self.depth} and {self.decoder_depth}")

    @property
    def patches(self) -> int:
        """Patches per frame."""
        return (self.image_size // self.patch_size) ** 2


def _blocks(width: int, heads: int, depth: int) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.0, batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)


class MaskedAutoencoder(VisionModel):
    """Patches -> linear embedding + position -> transformer on the visible patches; the decoder sees their
    codes and a learned mask token at each hidden position and predicts the hidden patches' pixels. The
    loss is the squared error on hidden patches only. There is no decoder from the pooled code to a frame."""

    config: MAEConfig
    has_decoder = False

    def __init__(self, config: MAEConfig) -> None:
        super().__init__(config)
        pixels = config.channels * config.patch_size**2
        self.patch_embedding = nn.Linear(pixels, config.latent_dim)
        self.position = nn.Parameter(0.02 * torch.randn(1, config.patches, config.latent_dim))
        self.encoder = _blocks(config.latent_dim, config.heads, config.depth)
        self.norm = nn.LayerNorm(config.latent_dim)
        self.to_decoder = nn.Linear(config.latent_dim, config.decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, config.decoder_dim))
        self.decoder_position = nn.Parameter(0.02 * torch.randn(1, config.patches, config.decoder_dim))
        self.decoder = _blocks(config.decoder_dim, config.heads, config.decoder_depth)
        self.to_pixels = nn.Linear(config.decoder_dim, pixels)

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) -> patches (N, patches, C * p * p), row by row."""
        p = self.config.patch_size
        n, c, h, w = x.shape
        return x.reshape(n, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5).reshape(n, (h // p) * (w // p), c * p * p)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code: the encoder's output on every patch, mean-pooled and normalised."""
        tokens = self.encoder(self.patch_embedding(self.patchify(x)) + self.position)
        return self.norm(tokens.mean(dim=1)).float()

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Refused: the pooled code is not decoded; the decoder works on per-patch tokens."""
        raise DarlaError("mae has no decoder from its pooled code: it cannot reconstruct or traverse a code")

    def predict_hidden(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Predicted pixels of every patch (N, patches, C * p * p) from the patches ``keep`` (N, visible) indexes."""
        patches = self.patch_embedding(self.patchify(x)) + self.position
        visible = patches.gather(1, keep.unsqueeze(-1).expand(-1, -1, patches.shape[-1]))
        codes = self.to_decoder(self.norm(self.encoder(visible)))
        n = x.shape[0]
        tokens = self.mask_token.to(codes.dtype).expand(n, self.config.patches, -1).clone()
        tokens.scatter_(1, keep.unsqueeze(-1).expand(-1, -1, codes.shape[-1]), codes)
        return self.to_pixels(self.decoder(tokens + self.decoder_position)).float()

    def random_keep(self, n: int, device: torch.device) -> torch.Tensor:
        """For each of ``n`` frames, the indices of the patches left visible (a random ``1 - mask_ratio`` of them)."""
        visible = max(1, round(self.config.patches * (1 - self.config.mask_ratio)))
        return torch.rand(n, self.config.patches, device=device).argsort(dim=1)[:, :visible]

    def loss(self, x: torch.Tensor, step: int = 0) -> dict[str, torch.Tensor]:
        """``recon``: squared error summed over each hidden patch's pixels, averaged over hidden patches."""
        keep = self.random_keep(x.shape[0], x.device)
        hidden = torch.ones(x.shape[0], self.config.patches, dtype=torch.bool, device=x.device)
        hidden.scatter_(1, keep, False)
        error = (self.predict_hidden(x, keep) - self.patchify(x).float()).pow(2).sum(dim=-1)
        recon = error[hidden].mean()
        return {"recon": recon, "loss": recon}
