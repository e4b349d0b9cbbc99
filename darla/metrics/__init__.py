"""What a vision model learned, in numbers: disentanglement metrics and the discriminator score.

Metrics are plain functions of a representation function (observations -> codes) and a
ground truth (:mod:`darla.metrics.ground_truth`): BetaVAE, FactorVAE, MIG, DCI and SAP in
:mod:`darla.metrics.scores`, the (frame, code) discriminator in
:mod:`darla.metrics.discriminator`, and same-state invariance (retrieval, per-latent leak, probe
transfer across domains) in :mod:`darla.metrics.invariance`; the same question asked of a trained
agent's actions (how often it acts alike on one state in two looks) in :mod:`darla.metrics.agreement`.
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
from darla.metrics.invariance import InvarianceConfig, invariance_scores, same_state_retrieval
from darla.metrics.scores import (
    HEADLINES,
    METRICS,
    Headline,
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
    "HEADLINES",
    "Headline",
    "EnvGroundTruth",
    "FactorDataset",
    "FactorSamples",
    "GenerativeFactors",
    "InvarianceConfig",
    "METRICS",
    "MetricConfig",
    "SyntheticGroundTruth",
    "active_dimensions",
    "beta_vae_score",
    "compute_metric",
    "dci",
    "factor_vae_score",
    "fit_bins",
    "invariance_scores",
    "mig",
    "mutual_information",
    "same_state_retrieval",
    "sap",
]
