"""The one table of vision-model variants, looked up by name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from darla.errors import DarlaError
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
from darla.models.base import VisionConfig, VisionModel
from darla.models.infomax import DeepInfoMax, DIMConfig
from darla.models.masked import MAEConfig, MaskedAutoencoder
from darla.models.pca import PCA, PCAConfig
from darla.models.vaes import VAE, BetaVAEDAE, BetaVAEDAEConfig, VAEConfig
from darla.models.weak import AdaGVAE, AdaGVAEConfig, AdaGVAEDAE, AdaGVAEDAEConfig, CycleVAE, CycleVAEConfig


@dataclass(frozen=True)
class Variant:
    """A registered vision model.

    :param name: registry name, used by ``--model``.
    :param model: the model class.
    :param config: its config dataclass.
    :param summary: one line for ``--help`` and error messages.
    :param lr: default Adam learning rate.
    :param defaults: config fields that differ from the dataclass defaults.
    :param teacher: variant of a frozen model this one is built on; pretraining trains it
        first when none is given.
    """

    name: str
    model: type[VisionModel]
    config: type[VisionConfig]
    summary: str
    lr: float = 1e-3
    defaults: dict[str, Any] = field(default_factory=dict)
    teacher: str | None = None


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("ae", Autoencoder, AEConfig, "undercomplete autoencoder, MSE"),
        Variant("dae", DenoisingAutoencoder, DAEConfig, "denoising autoencoder (occlusion by default)"),
        Variant("sparse_ae", SparseAutoencoder, SparseAEConfig, "autoencoder with an L1 or KL sparsity penalty"),
        Variant("contractive_ae", ContractiveAutoencoder, ContractiveAEConfig, "autoencoder with an exact Jacobian penalty"),
        Variant("stacked_ae", StackedAutoencoder, StackedAEConfig,
                "the ae trunk trained greedily one layer pair at a time, then fine-tuned end to end"),
        Variant("vae", VAE, VAEConfig, "variational autoencoder", lr=1e-4),
        Variant("beta_vae", VAE, VAEConfig, "beta-VAE (optionally Burgess et al.'s capacity)", lr=1e-4, defaults={"beta": 4.0}),
        Variant(
            "beta_vae_dae",
            BetaVAEDAE,
            BetaVAEDAEConfig,
            "DARLA's beta-VAE with reconstruction through a frozen DAE",
            lr=1e-4,
            teacher="dae",
        ),
        Variant("ada_gvae", AdaGVAE, AdaGVAEConfig, "Ada-GVAE: pairs of one state in two domains, shared latents averaged", lr=1e-4),
        Variant(
            "ada_gvae_dae",
            AdaGVAEDAE,
            AdaGVAEDAEConfig,
            "Ada-GVAE with beta-VAE_DAE's reconstruction through a frozen DAE",
            lr=1e-4,
            teacher="dae",
        ),
        Variant("cycle_vae", CycleVAE, CycleVAEConfig, "LUSR's cycle-consistent VAE: domain-general and domain-specific codes, domain ids only",
                lr=1e-4),
        Variant("dim", DeepInfoMax, DIMConfig, "Deep InfoMax: no decoder; the code told apart from other frames' by global and local critics",
                lr=1e-4),
        Variant("mae", MaskedAutoencoder, MAEConfig, "masked autoencoder: a transformer on a quarter of the patches, the rest predicted",
                lr=1e-3),
        Variant("pca", PCA, PCAConfig, "linear baseline, incremental PCA"),
    )
}


def get_variant(name: str) -> Variant:
    """Look a variant up by name, with an error listing the valid names."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise DarlaError(f"unknown vision model {name!r}; choose one of {', '.join(VARIANTS)}") from None


def make_config(name: str, **overrides: Any) -> VisionConfig:
    """Config of variant ``name`` with its registered defaults, then ``overrides``.

    :raises DarlaError: on an unknown variant or a field the variant does not have.
    """
    variant = get_variant(name)
    return variant.config.from_dict({**variant.defaults, **overrides, "variant": name})


#: the most parameters a vision model may ask for (DARLA's trunk holds about 1.6 million): a config
#: asking for more is refused before anything is allocated
MAX_PARAMETERS = 500_000_000


def check_size(config: VisionConfig) -> None:
    """Refuse a config that asks for more than :data:`MAX_PARAMETERS` parameters, counted on the
    meta device, which allocates nothing."""
    with torch.device("meta"):
        size = sum(p.numel() for p in get_variant(config.variant).model(config).parameters())
    if size > MAX_PARAMETERS:
        raise DarlaError(f"this {config.variant} config asks for {size:,} parameters, more than the {MAX_PARAMETERS:,} a vision "
                         f"model may hold: lower latent_dim, hidden_dim or conv_channels")


def build_model(config: VisionConfig) -> VisionModel:
    """Instantiate the model that ``config`` describes (weights freshly initialised), after :func:`check_size`."""
    check_size(config)
    return get_variant(config.variant).model(config)
