"""The vision model family: one conv trunk, variants registered by name."""

from darla.models.autoencoders import (
    AEConfig,
    Autoencoder,
    ContractiveAEConfig,
    ContractiveAutoencoder,
    DAEConfig,
    DenoisingAutoencoder,
    SparseAEConfig,
    SparseAutoencoder,
    StackedAEConfig,
    StackedAutoencoder,
)
from darla.models.base import TrunkConfig, VisionConfig, VisionModel, frames_to_tensor, masks_to_tensor, reads_masks
from darla.models.pca import PCA, PCAConfig
from darla.models.registry import VARIANTS, Variant, build_model, get_variant, make_config
from darla.models.vaes import VAE, BetaVAEDAE, BetaVAEDAEConfig, VAEConfig

__all__ = [
    "AEConfig",
    "Autoencoder",
    "BetaVAEDAE",
    "BetaVAEDAEConfig",
    "ContractiveAEConfig",
    "ContractiveAutoencoder",
    "DAEConfig",
    "DenoisingAutoencoder",
    "PCA",
    "PCAConfig",
    "SparseAEConfig",
    "SparseAutoencoder",
    "StackedAEConfig",
    "StackedAutoencoder",
    "TrunkConfig",
    "VAE",
    "VAEConfig",
    "VARIANTS",
    "Variant",
    "VisionConfig",
    "VisionModel",
    "build_model",
    "frames_to_tensor",
    "make_config",
    "masks_to_tensor",
    "get_variant",
    "reads_masks",
]
