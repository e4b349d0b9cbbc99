"""Statistics of episode returns: means, interquartile means and transfer ratios with 95%
stratified-bootstrap confidence intervals (rliable).

The statistics follow rliable's unit, the training run: with several seeds each seed's mean
episode return is one run, and the bootstrap resamples seeds, so the intervals include how much
training runs differ. With a single seed nothing can be said about other runs; its episodes are
resampled instead, and each result names which unit it used.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from rliable import library as rly
from rliable import metrics as rly_metrics

from darla.errors import DarlaError

#: the name of the agents' own training domains among a report's rows
SOURCE = "source"


@dataclass
class DomainResult:
    """The statistics of one method in one domain.

    :param domain: the domain spec, or ``"source"`` for the agents' training domains.
    :param returns: episode returns, one list per agent (seed).
    :param mean: mean return over all episodes of all seeds.
    :param mean_ci: its 95% confidence interval.
    :param iqm: interquartile mean of the same returns.
    :param iqm_ci: its 95% confidence interval.
    :param ratio: mean return over the source's mean return; None for the source itself.
    :param ratio_ci: its 95% confidence interval; None where a resample's source mean is not
        positive, since a ratio to a return at or below zero says nothing about transfer.
    :param unit: what the bootstrap resampled: ``"seeds"`` (each seed's mean return is a run)
        or ``"episodes"`` (one seed).
    :param agreement: per agent, the share of states it visits in its source domains on which its most
        likely action is the same when they are drawn in this domain; None where not measured.
    """

    domain: str
    returns: list[list[float]]
    mean: float
    mean_ci: tuple[float, float]
    iqm: float
    iqm_ci: tuple[float, float]
    ratio: float | None = None
    ratio_ci: tuple[float, float] | None = None
    unit: str = "seeds"
    agreement: list[float] | None = None


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed Python's, NumPy's and torch's global generators for a block, then restore them.

    Policies sample with torch's (and DQN explores with NumPy's), and rliable resamples with
    NumPy's global generator; restoring them keeps the caller's streams untouched.
    """
    states = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(states[0])
            np.random.set_state(states[1])


def _interval(scores: np.ndarray | list[np.ndarray], func: Any, reps: int, seed: int) -> tuple[float, np.ndarray]:
    """Point estimate and 95% percentile interval of ``func`` by rliable's stratified bootstrap."""
    with seeded(seed):
        point, interval = rly.get_interval_estimates({"x": scores}, func, reps=reps)
    return float(np.asarray(point["x"]).ravel()[0]), np.asarray(interval["x"]).ravel()


def runs_of(scores: np.ndarray) -> tuple[np.ndarray, str]:
    """The runs the bootstrap resamples, ``(runs, 1)``, and their unit: each seed's mean return
    when there are several seeds, else the one seed's episode returns."""
    if scores.shape[1] > 1:
        return scores.mean(axis=0)[:, None], "seeds"
    return scores, "episodes"


def _mean_ratio(target: np.ndarray, source: np.ndarray) -> np.ndarray:
    source_mean = source.mean()
    return np.array([target.mean() / source_mean if source_mean > 0 else np.nan])


def summarise(returns: dict[str, np.ndarray], reps: int = 2000, seed: int = 0) -> list[DomainResult]:
    """Statistics per domain from episode returns.

    :param returns: per domain, an array ``(episodes, seeds)``; the key ``"source"`` (if present)
        is the reference of the transfer ratios. Target and source runs are resampled
        independently, which ignores their pairing by seed and so errs towards wider ratio intervals.
    :param reps: bootstrap resamples.
    :param seed: seed of the bootstrap.
    :return: one result per domain, in the order of ``returns``.
    """
    results = []
    arrays = {domain: np.asarray(scores, dtype=np.float64) for domain, scores in returns.items()}
    for domain, scores in arrays.items():
        if scores.ndim != 2 or min(scores.shape) < 1:
            raise DarlaError(f"returns for {domain} must be (episodes, seeds), got shape {scores.shape}")
    for domain, scores in arrays.items():
        runs, unit = runs_of(scores)
        mean, mean_ci = _interval(runs, lambda s: np.array([rly_metrics.aggregate_mean(s)]), reps, seed)
        iqm, iqm_ci = _interval(runs, lambda s: np.array([rly_metrics.aggregate_iqm(s)]), reps, seed)
        result = DomainResult(domain, scores.T.tolist(), mean, _pair(mean_ci), iqm, _pair(iqm_ci), unit=unit)
        if SOURCE in arrays and domain != SOURCE:
            ratio, ratio_ci = _interval([runs, runs_of(arrays[SOURCE])[0]], _mean_ratio, reps, seed)
            result.ratio = None if np.isnan(ratio) else ratio
            result.ratio_ci = None if np.isnan(ratio_ci).any() or result.ratio is None else _pair(ratio_ci)
        results.append(result)
    return results


def _pair(values: np.ndarray) -> tuple[float, float]:
    return float(values[0]), float(values[1])


def format_ci(value: float | None, ci: tuple[float, float] | None) -> str:
    """``value [low, high]`` with two decimals; a dash where undefined."""
    if value is None:
        return "-"
    return f"{value:.2f}" + ("" if ci is None else f" [{ci[0]:.2f}, {ci[1]:.2f}]")


def format_agreement(values: list[float] | None) -> str:
    """The agents' mean action agreement with each agent's own in parentheses; a dash where not measured."""
    if not values:
        return "-"
    return f"{np.mean(values):.2f} (" + ", ".join(f"{v:.2f}" for v in values) + ")"


def markdown_table(results: dict[str, list[DomainResult]]) -> str:
    """One row per method and domain: mean, IQM and transfer ratio with their 95% CIs, and the action
    agreement on the same states where it was measured."""
    lines = ["| method | domain | mean return [95% CI] | IQM [95% CI] | transfer ratio [95% CI] | action agreement (per seed) | "
             "seeds x episodes | resampled |",
             "|---|---|---|---|---|---|---|---|"]
    for method, rows in results.items():
        for r in rows:
            lines.append(f"| {method} | {r.domain} | {format_ci(r.mean, r.mean_ci)} | {format_ci(r.iqm, r.iqm_ci)} | "
                         f"{format_ci(r.ratio, r.ratio_ci)} | {format_agreement(r.agreement)} | {len(r.returns)} x {len(r.returns[0])} | "
                         f"{r.unit} |")
    return "\n".join(lines) + "\n"
