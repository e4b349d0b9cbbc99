"""What a vision model learned, in numbers: disentanglement metrics and the discriminator score.

Metrics are plain functions of a representation function (observations -> codes) and a
ground truth (:mod:`darla.metrics.ground_truth`): BetaVAE, FactorVAE, MIG, DCI and SAP in
:mod:`darla.metrics.scores`, and the (frame, code) discriminator in
:mod:`darla.metrics.discriminator`.
"""

from darla.metrics.ground_truth import (
    DOMAIN_FACTOR,
    EnvGroundTruth,
    FactorDataset,
    FactorSamples,
    GenerativeFactors,
    SyntheticGroundTruth,
    fit_bins,
)
from darla.metrics.scores import (
    METRICS,
    MetricConfig,
    active_dimensions,
    beta_vae_score,
    compute_metric,
    dci,
    factor_vae_score,
    mig,
    mutual_information,
    sap,
)

__all__ = [
    "DOMAIN_FACTOR",
    "EnvGroundTruth",
    "FactorDataset",
    "FactorSamples",
    "GenerativeFactors",
    "METRICS",
    "MetricConfig",
    "SyntheticGroundTruth",
    "active_dimensions",
    "beta_vae_score",
    "compute_metric",
    "dci",
    "factor_vae_score",
    "fit_bins",
    "mig",
    "mutual_information",
    "sap",
]
