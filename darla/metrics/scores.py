"""Disentanglement metrics as plain functions of a representation function and ground truth.

``represent`` maps a batch of observations to codes (N, D); ``ground_truth`` is one of the
sources of :mod:`darla.metrics.ground_truth`. Each metric returns a dict of named floats whose
first entry is its headline score. Default sample counts follow disentanglement_lib's
published settings; every count is an argument so that small checks run fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import entropy
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import mutual_info_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from tqdm.auto import tqdm

from darla.errors import DarlaError, require_positive
from darla.metrics.ground_truth import FactorSamples, GenerativeFactors

Represent = Callable[[np.ndarray], np.ndarray]
#: observations per call of ``represent``: large enough to batch well, small enough for memory
CHUNK = 4096


def represent_all(represent: Represent, observations: np.ndarray) -> np.ndarray:
    """Codes of ``observations`` as float64 (N, D), computed in chunks.

    :param represent: the representation function.
    :param observations: the observations.
    """
    parts = [np.asarray(represent(observations[i : i + CHUNK]), dtype=np.float64) for i in range(0, len(observations), CHUNK)]
    codes = np.concatenate(parts)
    return codes.reshape(len(codes), -1)


def sample_codes(represent: Represent, ground_truth: FactorSamples, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` codes and their factor codes.

    :param represent: the representation function.
    :param ground_truth: the source of samples.
    :param n: number of samples.
    :param rng: the random generator.
    """
    observations, factors = ground_truth.sample(n, rng)
    return represent_all(represent, observations), factors


def _check_generative(ground_truth: FactorSamples, metric: str) -> GenerativeFactors:
    if not isinstance(ground_truth, GenerativeFactors):
        raise DarlaError(
            f"the {metric} score holds factors fixed, which needs a ground truth that renders from factors "
            "(an env or a synthetic one); a dataset of frames serves MIG, DCI and SAP"
        )
    if len(ground_truth.factor_sizes) < 2:
        raise DarlaError(f"the {metric} score needs at least 2 factors, got {len(ground_truth.factor_sizes)}")
    return ground_truth


def _fixed_factor_batches(
    represent: Represent, ground_truth: GenerativeFactors, fixed: np.ndarray, groups: int, size: int, rng: np.random.Generator
) -> np.ndarray:
    """Codes of ``len(fixed) * groups`` groups of ``size`` observations; within a group, factor
    ``fixed[point]`` has one shared value and every other factor is drawn afresh.

    :return: codes shaped (points, groups, size, D).
    """
    per_point = groups * size
    factors = ground_truth.sample_factors(len(fixed) * per_point, rng).reshape(len(fixed), groups, size, -1)
    # every member of a group takes its first member's value of the fixed factor
    held = np.arange(factors.shape[-1]) == fixed[:, None, None, None]
    factors = np.where(held, factors[:, :, :1], factors)
    observations = ground_truth.sample_observations_from_factors(factors.reshape(-1, factors.shape[-1]), rng)
    codes = represent_all(represent, observations)
    return codes.reshape(len(fixed), groups, size, -1)


def _points_in_chunks(num_points: int, per_point: int, desc: str) -> Iterator[int]:
    """Chunk sizes that add up to ``num_points``, behind a progress bar (shown on a terminal only)."""
    step = max(1, CHUNK // per_point)
    with tqdm(total=num_points, desc=desc, unit="point", leave=False, disable=None) as bar:
        for start in range(0, num_points, step):
            yield min(step, num_points - start)
            bar.update(min(step, num_points - start))


def beta_vae_score(
    represent: Represent,
    ground_truth: GenerativeFactors,
    rng: np.random.Generator,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
) -> dict[str, float]:
    """BetaVAE score (Higgins et al. 2017): accuracy of a linear classifier that names the
    factor held fixed from the mean absolute code difference of pairs sharing that factor.

    :param represent: the representation function.
    :param ground_truth: a ground truth that renders from factors.
    :param rng: the random generator.
    :param batch_size: pairs averaged into one point.
    :param num_train: points to train the classifier on.
    :param num_eval: points to score it on.
    :return: ``beta_vae`` (held-out accuracy) and ``beta_vae_train``.
    """
    ground_truth = _check_generative(ground_truth, "BetaVAE")
    n_factors = len(ground_truth.factor_sizes)

    def points(n: int) -> tuple[np.ndarray, np.ndarray]:
        features, labels = [], []
        for chunk in _points_in_chunks(n, 2 * batch_size, "BetaVAE points"):
            fixed = rng.integers(n_factors, size=chunk)
            # one group per pair: both members share the fixed factor's value
            codes = _fixed_factor_batches(represent, ground_truth, fixed, batch_size, 2, rng)
            features.append(np.abs(codes[:, :, 0] - codes[:, :, 1]).mean(axis=1))
            labels.append(fixed)
        return np.concatenate(features), np.concatenate(labels)

    train_x, train_y = points(num_train)
    eval_x, eval_y = points(num_eval)
    # scaling only helps the solver converge: a linear classifier absorbs any per-feature scale
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(train_x, train_y)
    return {"beta_vae": float(model.score(eval_x, eval_y)), "beta_vae_train": float(model.score(train_x, train_y))}


def active_dimensions(variances: np.ndarray, threshold: float = 0.05) -> np.ndarray:
    """Mask of the code dimensions that vary: standard deviation at least ``threshold`` times
    the largest one.

    Relative rather than absolute (disentanglement_lib prunes at a standard deviation of 0.05),
    because only a VAE's codes have a known scale.

    :param variances: per-dimension variance of the codes over data.
    :param threshold: the fraction of the largest standard deviation.
    """
    std = np.sqrt(np.maximum(variances, 0))
    return std >= threshold * std.max() if std.max() > 0 else np.zeros_like(std, dtype=bool)


def factor_vae_score(
    represent: Represent,
    ground_truth: GenerativeFactors,
    rng: np.random.Generator,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
    num_variance_estimate: int = 10_000,
    prune_threshold: float = 0.05,
) -> dict[str, float]:
    """FactorVAE score (Kim & Mnih 2018): in a batch with one factor held fixed, the active
    code dimension of least variance (codes scaled by their spread over data) votes for that
    factor; a majority-vote classifier from dimension to factor is scored on held-out votes.

    :param represent: the representation function.
    :param ground_truth: a ground truth that renders from factors.
    :param rng: the random generator.
    :param batch_size: observations per vote.
    :param num_train: votes to build the classifier from.
    :param num_eval: votes to score it on.
    :param num_variance_estimate: observations to estimate each dimension's spread.
    :param prune_threshold: see :func:`active_dimensions`.
    :return: ``factor_vae`` (held-out accuracy), ``factor_vae_train`` and
        ``factor_vae_active_dims``.
    """
    ground_truth = _check_generative(ground_truth, "FactorVAE")
    n_factors = len(ground_truth.factor_sizes)
    codes, _ = sample_codes(represent, ground_truth, num_variance_estimate, rng)
    variances = codes.var(axis=0, ddof=1)
    active = active_dimensions(variances, prune_threshold)
    if not active.any():
        return {"factor_vae": 0.0, "factor_vae_train": 0.0, "factor_vae_active_dims": 0.0}
    scale = np.sqrt(variances[active])

    def votes(n: int) -> np.ndarray:
        table = np.zeros((codes.shape[1], n_factors), dtype=np.int64)
        for chunk in _points_in_chunks(n, batch_size, "FactorVAE votes"):
            fixed = rng.integers(n_factors, size=chunk)
            batch = _fixed_factor_batches(represent, ground_truth, fixed, 1, batch_size, rng)[:, 0]
            local = (batch[:, :, active] / scale).var(axis=1, ddof=1)
            dims = np.flatnonzero(active)[local.argmin(axis=1)]
            np.add.at(table, (dims, fixed), 1)
        return table

    train, held_out = votes(num_train), votes(num_eval)
    classifier = train.argmax(axis=1)
    rows = np.arange(len(classifier))
    return {
        "factor_vae": float(held_out[rows, classifier].sum() / held_out.sum()),
        "factor_vae_train": float(train[rows, classifier].sum() / train.sum()),
        "factor_vae_active_dims": float(active.sum()),
    }


def discretise_codes(codes: np.ndarray, bins: int = 20) -> np.ndarray:
    """Each code dimension cut into ``bins`` equal-width bins over its range (histogram binning).

    :param codes: codes (N, D).
    :param bins: bins per dimension.
    :return: integer bin indices (N, D).
    """
    out = np.zeros(codes.shape, dtype=np.int64)
    for d in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, d], bins)
        out[:, d] = np.digitize(codes[:, d], edges[1:-1])
    return out


def mutual_information(codes: np.ndarray, factors: np.ndarray, bins: int = 20) -> np.ndarray:
    """Mutual information (nats) between each binned code dimension and each factor.

    :param codes: codes (N, D).
    :param factors: factor codes (N, K).
    :param bins: bins per code dimension.
    :return: matrix (D, K).
    """
    binned = discretise_codes(codes, bins)
    return np.array([[mutual_info_score(factors[:, k], binned[:, d]) for k in range(factors.shape[1])] for d in range(binned.shape[1])])


def _check_codes(codes: np.ndarray, metric: str) -> None:
    if codes.shape[1] < 2:
        raise DarlaError(f"{metric} compares code dimensions, so the code needs at least 2, got {codes.shape[1]}")


def mig(
    represent: Represent, ground_truth: FactorSamples, rng: np.random.Generator, num_train: int = 10_000, bins: int = 20
) -> dict[str, float]:
    """Mutual Information Gap (Chen et al. 2018): per factor, the gap between the two code
    dimensions most informative about it, over the factor's entropy, averaged over factors.

    :param represent: the representation function.
    :param ground_truth: any source of samples.
    :param rng: the random generator.
    :param num_train: samples to estimate mutual information on.
    :param bins: histogram bins per code dimension.
    :return: ``mig``.
    """
    codes, factors = sample_codes(represent, ground_truth, num_train, rng)
    _check_codes(codes, "MIG")
    top = np.sort(mutual_information(codes, factors, bins), axis=0)[::-1]
    entropies = np.array([mutual_info_score(f, f) for f in factors.T])
    present = entropies > 0
    return {"mig": float(np.mean((top[0] - top[1])[present] / entropies[present]))}


def dci(
    represent: Represent,
    ground_truth: FactorSamples,
    rng: np.random.Generator,
    num_train: int = 10_000,
    num_test: int = 5_000,
    n_estimators: int = 100,
) -> dict[str, float]:
    """DCI (Eastwood & Williams 2018) from the feature importances of gradient boosted trees
    that predict each factor from the code.

    Disentanglement: one minus the entropy (base: number of factors) of each dimension's
    importance over factors, weighted by the dimension's share of importance. Completeness:
    one minus the entropy (base: code size) of each factor's importance over dimensions,
    weighted by the factor's share. Informativeness: the trees' held-out accuracy, averaged
    over factors.

    :param represent: the representation function.
    :param ground_truth: any source of samples.
    :param rng: the random generator.
    :param num_train: samples to train the trees on.
    :param num_test: samples to score them on.
    :param n_estimators: boosting stages per tree ensemble.
    :return: ``dci_disentanglement``, ``dci_completeness``, ``dci_informativeness`` and
        ``dci_informativeness_train``.
    """
    train_z, train_f = sample_codes(represent, ground_truth, num_train, rng)
    test_z, test_f = sample_codes(represent, ground_truth, num_test, rng)
    _check_codes(train_z, "DCI")
    n_codes, n_factors = train_z.shape[1], train_f.shape[1]
    importance = np.zeros((n_codes, n_factors))
    train_acc, test_acc = [], []
    for k in range(n_factors):
        model = GradientBoostingClassifier(n_estimators=n_estimators, random_state=int(rng.integers(2**31)))
        model.fit(train_z, train_f[:, k])
        importance[:, k] = np.abs(model.feature_importances_)
        train_acc.append(model.score(train_z, train_f[:, k]))
        test_acc.append(model.score(test_z, test_f[:, k]))
    total = importance.sum()
    # a single factor is trivially disentangled: entropy over one outcome is zero
    per_code = 1 - entropy(importance.T + 1e-11, base=n_factors) if n_factors > 1 else np.ones(n_codes)
    per_factor = 1 - entropy(importance + 1e-11, base=n_codes)
    return {
        "dci_disentanglement": float(np.sum(per_code * importance.sum(axis=1) / total)) if total > 0 else 0.0,
        "dci_completeness": float(np.sum(per_factor * importance.sum(axis=0) / total)) if total > 0 else 0.0,
        "dci_informativeness": float(np.mean(test_acc)),
        "dci_informativeness_train": float(np.mean(train_acc)),
    }


def sap(
    represent: Represent,
    ground_truth: FactorSamples,
    rng: np.random.Generator,
    num_train: int = 10_000,
    num_test: int = 5_000,
    continuous: bool | Sequence[bool] | None = None,
) -> dict[str, float]:
    """Separated Attribute Predictability (Kumar et al. 2018): how well each single code
    dimension predicts each factor, and per factor the gap between the best two dimensions,
    averaged over factors.

    A continuous factor is scored by the R^2 of a linear fit (squared correlation); a
    categorical one by the held-out accuracy of a linear SVM (C = 0.01, balanced classes)
    on the one dimension. The accuracy of a useless dimension is chance, not zero, so a
    categorical factor of n values scores at most about 1 - 1/n; and a linear classifier on
    one dimension tells apart only the extreme values of an ordered factor, so score ordered
    factors (positions, sizes) as continuous.

    :param represent: the representation function.
    :param ground_truth: any source of samples.
    :param rng: the random generator.
    :param num_train: samples to fit on.
    :param num_test: samples to score the SVMs on (categorical factors).
    :param continuous: whether each factor (or every factor, for one bool) is continuous;
        None takes the ground truth's ``factor_continuous``.
    :return: ``sap``.
    """
    train_z, train_f = sample_codes(represent, ground_truth, num_train, rng)
    test_z, test_f = sample_codes(represent, ground_truth, num_test, rng)
    _check_codes(train_z, "SAP")
    n_codes, n_factors = train_z.shape[1], train_f.shape[1]
    if continuous is None:
        continuous = ground_truth.factor_continuous
    kinds = [bool(continuous)] * n_factors if isinstance(continuous, (bool, np.bool_)) else [bool(c) for c in continuous]
    scores = np.zeros((n_codes, n_factors))
    for k in range(n_factors):
        for d in range(n_codes):
            if kinds[k]:
                z, f = train_z[:, d], train_f[:, k].astype(np.float64)
                denominator = z.var() * f.var()
                scores[d, k] = np.mean((z - z.mean()) * (f - f.mean())) ** 2 / denominator if denominator > 0 else 0.0
            elif np.ptp(train_z[:, d]) > 0 and len(np.unique(train_f[:, k])) > 1:
                model = LinearSVC(C=0.01, class_weight="balanced")
                model.fit(train_z[:, d : d + 1], train_f[:, k])
                scores[d, k] = model.score(test_z[:, d : d + 1], test_f[:, k])
    top = np.sort(scores, axis=0)[::-1]
    return {"sap": float(np.mean(top[0] - top[1]))}


@dataclass
class MetricConfig:
    """Sample counts and estimator settings of every metric (disentanglement_lib's defaults).

    :param batch_size: observations per BetaVAE point (pairs) and per FactorVAE vote.
    :param num_train: training points of BetaVAE and FactorVAE, and samples of MIG, DCI and SAP.
    :param num_eval: held-out points or samples of BetaVAE, FactorVAE, DCI and SAP.
    :param num_variance_estimate: samples for FactorVAE's per-dimension spread.
    :param prune_threshold: FactorVAE's relative spread below which a dimension is inactive.
    :param bins: histogram bins of a code dimension for MIG.
    :param n_estimators: boosting stages of DCI's trees.
    """

    batch_size: int = 64
    num_train: int = 10_000
    num_eval: int = 5_000
    num_variance_estimate: int = 10_000
    prune_threshold: float = 0.05
    bins: int = 20
    n_estimators: int = 100

    def __post_init__(self) -> None:
        require_positive(self, "batch_size", "num_train", "num_eval", "num_variance_estimate", "bins", "n_estimators")
        if self.batch_size < 2:
            raise DarlaError(f"batch_size must be at least 2 (a variance needs two samples), got {self.batch_size}")


#: the metrics by name (beta_vae and factor_vae hold factors fixed, so they need a ground truth that renders from factors)
METRICS = ("beta_vae", "factor_vae", "mig", "dci", "sap")


@dataclass(frozen=True)
class Headline:
    """How one headline score is shown.

    :param label: its name in a report, with how to read it.
    :param column: its column in the experiment's table; None leaves it out there.
    :param unit_interval: whether it lies in [0, 1] (a report draws those as bars on one axis).
    """

    label: str
    column: str | None
    unit_interval: bool = True


#: the headline number of each metric, in table order: the one table ``darla inspect`` and
#: ``darla reproduce`` read their columns from
HEADLINES: dict[str, Headline] = {
    "beta_vae": Headline("BetaVAE score (held-out accuracy)", "BetaVAE"),
    "factor_vae": Headline("FactorVAE score (held-out accuracy)", "FactorVAE"),
    "mig": Headline("MIG", "MIG"),
    "dci_disentanglement": Headline("DCI disentanglement", "DCI D"),
    "dci_completeness": Headline("DCI completeness", None),
    "dci_informativeness": Headline("DCI informativeness (held-out accuracy)", None),
    "sap": Headline("SAP", "SAP"),
    "discriminator_loss": Headline("discriminator: held-out BCE (chance 0.693; lower: the code says more)", "discr. loss",
                                   unit_interval=False),
}


def compute_metric(
    name: str, represent: Represent, ground_truth: FactorSamples, rng: np.random.Generator, config: MetricConfig
) -> dict[str, float]:
    """One metric of :data:`METRICS` by name, with the settings of ``config``.

    :param name: the metric.
    :param represent: the representation function.
    :param ground_truth: the source of samples.
    :param rng: the random generator.
    :param config: sample counts and settings.
    """
    c = config
    if name == "beta_vae":
        return beta_vae_score(represent, ground_truth, rng, c.batch_size, c.num_train, c.num_eval)
    if name == "factor_vae":
        return factor_vae_score(represent, ground_truth, rng, c.batch_size, c.num_train, c.num_eval, c.num_variance_estimate, c.prune_threshold)
    if name == "mig":
        return mig(represent, ground_truth, rng, c.num_train, c.bins)
    if name == "dci":
        return dci(represent, ground_truth, rng, c.num_train, c.num_eval, c.n_estimators)
    if name == "sap":
        return sap(represent, ground_truth, rng, c.num_train, c.num_eval)
    raise DarlaError(f"unknown metric {name!r}; metrics: {', '.join(METRICS)}")
