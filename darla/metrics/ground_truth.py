"""Ground-truth factors for the metrics: where (observation, factor) samples come from.

Every metric reads factors as integer codes, one column per factor, ``0 <= code < size``.
Continuous factors (positions, angles) are binned; categorical ones (a domain, a colour) keep
one code per value. Two kinds of source exist:

- a *generative* ground truth draws factor codes and renders observations from them, so a
  metric can hold one factor fixed while the others vary (needed by the BetaVAE and FactorVAE
  scores): :class:`SyntheticGroundTruth` and :class:`EnvGroundTruth`;
- an *observational* one only hands out (observation, factor) pairs, which is all MIG, DCI
  and SAP need: :class:`FactorDataset`, e.g. the frames ``darla collect`` wrote.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

import envs
from envs.base import DomainEnv
from darla.errors import DarlaError
from darla.frames import MANIFEST, FrameDataset

#: the factor name under which an env's domain (an index into its domain list) is scored
DOMAIN_FACTOR = "domain"


@runtime_checkable
class FactorSamples(Protocol):
    """A source of (observation, factor code) pairs: all MIG, DCI and SAP need."""

    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]
    #: per factor, whether it is a binned continuous quantity (True) or categorical (False)
    factor_continuous: tuple[bool, ...]

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` observations and their factor codes, shape (n, num_factors)."""
        ...


@runtime_checkable
class GenerativeFactors(FactorSamples, Protocol):
    """A source that renders observations from factor codes, so factors can be held fixed."""

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` factor code rows, each factor drawn independently."""
        ...

    def sample_observations_from_factors(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One observation per factor code row."""
        ...


@dataclass(frozen=True)
class FactorBins:
    """How one raw factor column becomes codes: one per category, or equal-width bins.

    :param name: the factor's name.
    :param values: the raw value each code stands for (a category, or a bin's centre).
    :param edges: bin edges (``len(values) + 1``) for a continuous factor; None for a
        categorical one.
    """

    name: str
    values: np.ndarray
    edges: np.ndarray | None

    @property
    def size(self) -> int:
        """Number of codes."""
        return len(self.values)

    @property
    def continuous(self) -> bool:
        """Whether the factor was binned."""
        return self.edges is not None

    def codes(self, raw: np.ndarray) -> np.ndarray:
        """Codes of raw values: their bin, or their nearest category."""
        raw = np.asarray(raw, dtype=np.float64)
        if self.edges is not None:
            return np.clip(np.searchsorted(self.edges, raw, side="right") - 1, 0, self.size - 1)
        return np.abs(raw[:, None] - self.values[None, :]).argmin(axis=1)


def fit_bins(name: str, raw: np.ndarray, bins: int = 20) -> FactorBins:
    """Discretise one factor column: at most ``bins`` distinct values are kept as categories,
    more are cut into ``bins`` equal-width bins (histogram binning, as for MIG and SAP).

    :param name: the factor's name.
    :param raw: its observed values.
    :param bins: number of bins of a continuous factor.
    :return: the mapping to codes.
    """
    raw = np.asarray(raw, dtype=np.float64)
    distinct = np.unique(raw)
    if len(distinct) <= bins:
        return FactorBins(name, distinct, None)
    edges = np.linspace(distinct[0], distinct[-1], bins + 1)
    return FactorBins(name, (edges[:-1] + edges[1:]) / 2, edges)


def uniform_codes(sizes: Sequence[int], n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rows of codes, each factor drawn independently and uniformly over its ``size`` codes.

    :param sizes: codes per factor.
    :param n: number of rows.
    :param rng: the random generator.
    """
    return np.stack([rng.integers(size, size=n) for size in sizes], axis=1)


def _check_factor_names(wanted: Sequence[str], available: Sequence[str], source: str) -> None:
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise DarlaError(f"{source} has no factor(s) {', '.join(unknown)}; its factors: {', '.join(available)}")


class SyntheticGroundTruth:
    """Independent factors with known sizes whose observation is the factor vector itself.

    Observations are float vectors: each factor's code scaled to zero mean and unit variance,
    so a representation function can be written against the factors directly (the identity,
    a rotation, noise) and checked against a known answer.

    :param factor_sizes: number of values of each factor.
    :param continuous: whether the factors are ordinal quantities (True: values on a grid, as
        positions are) or unordered categories (False).
    """

    def __init__(self, factor_sizes: Sequence[int], continuous: bool = True) -> None:
        if len(factor_sizes) < 1 or min(factor_sizes) < 2:
            raise DarlaError(f"every synthetic factor needs at least 2 values, got sizes {list(factor_sizes)}")
        self.factor_sizes = tuple(int(s) for s in factor_sizes)
        self.factor_names = tuple(f"factor{i}" for i in range(len(self.factor_sizes)))
        self.factor_continuous = (bool(continuous),) * len(self.factor_sizes)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` rows of independent uniform codes.

        :param n: number of rows.
        :param rng: the random generator.
        """
        return uniform_codes(self.factor_sizes, n, rng)

    def sample_observations_from_factors(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The standardised factor codes, as float vectors.

        :param factors: code rows.
        :param rng: unused; observations are a pure function of the factors.
        """
        sizes = np.asarray(self.factor_sizes, dtype=np.float64)
        # the mean and standard deviation of a uniform code on 0..size-1
        return (factors - (sizes - 1) / 2) / np.sqrt((sizes**2 - 1) / 12)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` observations and their codes.

        :param n: number of samples.
        :param rng: the random generator.
        """
        factors = self.sample_factors(n, rng)
        return self.sample_observations_from_factors(factors, rng), factors


class EnvGroundTruth:
    """Frames of a built-in env rendered from factor vectors, so one factor can be held fixed.

    A pool of task-factor vectors is read from ``info["factors"]`` along random-policy
    episodes; the scored task factors are binned from the pool, and the domain is one more
    categorical factor (an index into the env's domains). To render a code row, a random pool
    vector supplies the factors that are not scored, the scored ones are set to their code's
    value (a bin's centre), and the domain's factors are appended.

    :param env_id: a ``darla/`` env id.
    :param domains: presets, groups or JSON domain files; empty means the env's default.
    :param factors: names of the factors to score (``domain`` included); empty means
        the env's ``default_factors``, or else every task factor that varies over the
        pool, and the domain when there are several.
    :param bins: bins of a continuous factor.
    :param pool: task-factor vectors to draw from.
    :param seed: seed of the pool's episodes.
    """

    def __init__(
        self,
        env_id: str,
        domains: Sequence[str] = (),
        factors: Sequence[str] = (),
        bins: int = 20,
        pool: int = 2000,
        seed: int = 0,
    ) -> None:
        self.env_id = env_id
        # kept open: frames are rendered from factors for as long as the ground truth lives
        self._env = env = envs.make(env_id, domains)
        self.env = env.unwrapped
        if not isinstance(self.env, DomainEnv):
            raise DarlaError(f"{env_id} cannot draw a frame from factors; use one of {', '.join(envs.ENV_IDS)}")
        self.domains = list(self.env.domains)
        #: the env's domain groups (name -> preset names), for choosing which domains to compare
        self.groups: dict[str, tuple[str, ...]] = dict(self.env.catalogue.groups)
        names = list(self.env.factor_names())
        self._n_task = len(names) - len(self.domains[0].factors())
        self.task_names = names[: self._n_task]
        self.pool = self._fill_pool(env, pool, seed)
        varying = [n for i, n in enumerate(self.task_names) if np.ptp(self.pool[:, i]) > 0]
        defaults = list(self.env.default_factors or varying + [DOMAIN_FACTOR])
        # one domain is no factor: it never changes
        wanted = list(factors) or [n for n in defaults if n != DOMAIN_FACTOR or len(self.domains) > 1]
        _check_factor_names(wanted, self.task_names + [DOMAIN_FACTOR], env_id)
        self._columns = [self.task_names.index(n) for n in wanted if n != DOMAIN_FACTOR]
        self._bins = [fit_bins(self.task_names[c], self.pool[:, c], bins) for c in self._columns]
        if DOMAIN_FACTOR in wanted:
            self._bins.insert(wanted.index(DOMAIN_FACTOR), FactorBins(DOMAIN_FACTOR, np.arange(len(self.domains), dtype=np.float64), None))
        self.factor_names = tuple(b.name for b in self._bins)
        self.factor_sizes = tuple(b.size for b in self._bins)
        self.factor_continuous = tuple(b.continuous for b in self._bins)
        constant = [b.name for b in self._bins if b.size < 2]
        if constant:
            raise DarlaError(f"factor(s) {', '.join(constant)} of {env_id} never change here; score other factors or add domains")

    def _fill_pool(self, env: gym.Env, size: int, seed: int) -> np.ndarray:
        """Task factors along random-policy episodes, every few steps, ``size`` of them."""
        rng = np.random.default_rng(seed)
        env.action_space.seed(seed)
        rows: list[np.ndarray] = []
        _, info = env.reset(seed=seed)
        while len(rows) < size:
            rows.append(info["factors"][: self._n_task])
            # a few steps between records, so that consecutive rows are not near-copies
            for _ in range(int(rng.integers(1, 6))):
                _, _, terminated, truncated, info = env.step(env.action_space.sample())
                if terminated or truncated:
                    _, info = env.reset(seed=int(rng.integers(2**31)))
                    break
        return np.stack(rows).astype(np.float64)

    def close(self) -> None:
        """Release the env's renderer."""
        self._env.close()

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` code rows, each factor uniform over its codes.

        :param n: number of rows.
        :param rng: the random generator.
        """
        return uniform_codes(self.factor_sizes, n, rng)

    def render(self, task: np.ndarray, domain_index: np.ndarray) -> np.ndarray:
        """Frames of raw task-factor rows, each in the domain of that index.

        :param task: task factor rows laid out as the env's ``info["factors"]`` begins.
        :param domain_index: one index into :attr:`domains` per row.
        """
        domain_factors = np.stack([d.factors() for d in self.domains])
        return self.env.render_rows(np.concatenate([task, domain_factors[np.asarray(domain_index, dtype=int)]], axis=1))

    def readout(self, task: np.ndarray) -> np.ndarray:
        """What a policy needs of each raw task-factor row: the env's ``readout``.

        :param task: task factor rows laid out as the env's ``info["factors"]`` begins.
        """
        return self.env.readout(task)

    def sample_observations_from_factors(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One frame per code row; the factors that are not scored come from random pool rows.

        :param factors: code rows.
        :param rng: the random generator.
        """
        task = self.pool[rng.integers(len(self.pool), size=len(factors))].copy()
        domain = rng.integers(len(self.domains), size=len(factors))
        column_of = iter(self._columns)
        for j, b in enumerate(self._bins):
            if b.name == DOMAIN_FACTOR:
                domain = factors[:, j]
            else:
                task[:, next(column_of)] = b.values[factors[:, j]]
        return self.render(task, domain)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` frames and their codes.

        :param n: number of samples.
        :param rng: the random generator.
        """
        factors = self.sample_factors(n, rng)
        return self.sample_observations_from_factors(factors, rng), factors

    def frames_in_domain(self, domain_index: int, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` frames of random pool states (unbinned) in one domain.

        :param domain_index: index into :attr:`domains`.
        :param n: number of frames.
        :param rng: the random generator.
        """
        task = self.pool[rng.integers(len(self.pool), size=n)]
        return self.render(task, np.full(n, domain_index))


class FactorDataset:
    """(frame, factor vector) pairs held in memory or on disk: a source for MIG, DCI and SAP.

    Factors that never change are left out; the others are coded by :func:`fit_bins`.

    :param frames: the observations (N, ...): an array, or a
        :class:`~darla.frames.FrameDataset` read row by row.
    :param factors: raw factor values (N, F).
    :param names: a name per factor column.
    :param bins: bins of a continuous factor.
    """

    def __init__(self, frames: np.ndarray | FrameDataset, factors: np.ndarray, names: Sequence[str], bins: int = 20) -> None:
        factors = np.asarray(factors, dtype=np.float64)
        if factors.ndim != 2 or len(factors) != len(frames) or factors.shape[1] != len(names):
            raise DarlaError(
                f"factors must be (N, F) with N = {len(frames)} frames and F = {len(names)} names, got shape {factors.shape}"
            )
        self.frames = frames
        keep = [i for i in range(factors.shape[1]) if np.ptp(factors[:, i]) > 0] if len(factors) else []
        if not keep:
            raise DarlaError("no factor varies over these frames: the metrics need factors that change")
        self._bins = [fit_bins(names[i], factors[:, i], bins) for i in keep]
        self.codes = np.stack([b.codes(factors[:, i]) for b, i in zip(self._bins, keep)], axis=1)
        self.factor_names = tuple(b.name for b in self._bins)
        self.factor_sizes = tuple(b.size for b in self._bins)
        self.factor_continuous = tuple(b.continuous for b in self._bins)

    @classmethod
    def from_folder(cls, folder: str | Path, bins: int = 20) -> "FactorDataset":
        """The frames ``darla collect`` wrote, with their factors and domain ids.

        :param folder: the collection folder (shards with ``frames``, ``factors``, ``domain``).
        :param bins: bins of a continuous factor.
        """
        frames = FrameDataset(folder)
        manifest = Path(folder) / MANIFEST
        names = list(json.loads(manifest.read_text()).get("factor_names", [])) if manifest.is_file() else []
        factors, domains = [], []
        for path in frames.paths:
            with np.load(path) as shard:
                if "factors" not in shard:
                    raise DarlaError(f"{path} holds no 'factors' array: collect the frames with darla collect")
                factors.append(shard["factors"].reshape(len(shard["factors"]), -1))
                domains.append(shard["domain"] if "domain" in shard else np.zeros(len(shard["factors"])))
        raw = np.concatenate(factors)
        if len(names) != raw.shape[1]:
            names = [f"factor{i}" for i in range(raw.shape[1])]
        raw = np.concatenate([raw, np.concatenate(domains).reshape(-1, 1)], axis=1)
        return cls(frames, raw, [*names, DOMAIN_FACTOR], bins)

    def _rows(self, index: np.ndarray) -> np.ndarray:
        if isinstance(self.frames, FrameDataset):
            # FrameDataset.get returns rows in sorted order
            order = np.argsort(index, kind="stable")
            rows = np.empty((len(index), *self.frames.frame_shape), np.uint8)
            rows[order] = self.frames.get(index)
            return rows
        return np.asarray(self.frames[index])

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` random pairs, drawn without replacement while there are enough.

        :param n: number of samples.
        :param rng: the random generator.
        """
        index = rng.choice(len(self.codes), size=n, replace=n > len(self.codes))
        return self._rows(index), self.codes[index]
