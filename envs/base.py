"""What darla asks of an env whose look is a parameter: the interface the built-in envs implement."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from darla.errors import DarlaError
from envs.domains import Domain, DomainCatalogue, DomainDraw, DomainSpec


class DomainEnv(gym.Env, ABC):
    """An env drawn in one of several looks (domains), whose frames can be redrawn from factors.

    Observations are uint8 frames ``(size, size, 3)``; ``info["factors"]`` holds the task factors
    and then the domain's, named by :meth:`factor_names`. The ground truth of ``darla inspect``,
    the invariance scores and ``darla collect``'s report read an env only through this interface.

    :param domain: a preset or group name, a JSON path, a dict, a :class:`Domain`, or a list of
        these; with several, one is drawn per episode.
    :param size: side of the square frames, in pixels.
    :param render_mode: ``"rgb_array"`` or None.
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"]}
    #: the env's presets and groups (``train`` and ``target`` for DARLA's protocol)
    catalogue: ClassVar[DomainCatalogue]
    #: the factors ``darla inspect`` scores by default; empty: every task factor that varies, and the domain
    default_factors: ClassVar[tuple[str, ...]] = ()

    def __init__(self, domain: DomainSpec, size: int, render_mode: str | None) -> None:
        if render_mode not in (None, "rgb_array"):
            raise DarlaError(f"render_mode must be 'rgb_array' or None, got {render_mode!r}")
        self.domain_draw = DomainDraw(self.catalogue, domain)
        self.domains: list[Domain] = self.domain_draw.domains
        self.domain: Domain = self.domains[0]
        self.size = size
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(0, 255, (size, size, 3), np.uint8)

    @abstractmethod
    def factor_names(self) -> list[str]:
        """Names of the entries of ``info["factors"]``: the task's, then the domain's."""

    @abstractmethod
    def readout_names(self) -> list[str]:
        """Names of the columns of :meth:`readout`."""

    @abstractmethod
    def readout(self, task: np.ndarray) -> np.ndarray:
        """What a policy needs from each task-factor row (N, T): (N, len(readout_names()))."""

    @abstractmethod
    def objects_in_view(self, task: np.ndarray) -> np.ndarray:
        """Per task-factor row, whether a task object is in the frame: bool (N,)."""

    @abstractmethod
    def render_factors(self, factors: np.ndarray) -> np.ndarray:
        """The frame (size, size, 3) uint8 for a factor vector laid out as ``info["factors"]``,
        leaving the episode as it was."""

    def without_objects(self, factors: np.ndarray) -> np.ndarray | None:
        """The factor vector of the same scene with the task's objects taken out; None where the env has no such
        objects (then :meth:`object_masks` is refused)."""
        return None

    def render_rows(self, factors: np.ndarray) -> np.ndarray:
        """The frames (N, size, size, 3) uint8 of factor rows (N, F) laid out as ``info["factors"]``, in the rows' order.

        The rows are drawn grouped by domain: a renderer that repaints its room when the look changes (MiniWorld
        rebuilds and recompiles its walls and floor) does so once per domain instead of at nearly every row of a
        batch whose domains are mixed, as the metrics' samples are.

        :param factors: factor rows, task factors then domain factors.
        """
        factors = np.asarray(factors, dtype=np.float64)
        if factors.ndim != 2:
            raise DarlaError(f"factor rows must be (N, F), got shape {factors.shape}: stack the factor vectors, one row each")
        frames = np.empty((len(factors), *self.observation_space.shape), np.uint8)
        if not len(factors):
            return frames
        n_domain = len(self.domain.factors())
        _, look = np.unique(factors[:, factors.shape[1] - n_domain :], axis=0, return_inverse=True)
        for i in np.argsort(look.ravel(), kind="stable"):
            frames[i] = self.render_factors(factors[i])
        return frames

    def object_masks(self, factors: np.ndarray, frames: np.ndarray | None = None) -> np.ndarray:
        """Where the task's objects are drawn in the frames of factor rows: bool (N, size, size), the pixels that
        change when the objects are taken out. The simulator's own segmentation, for losses that must keep small
        objects.

        :param factors: factor rows (N, F) laid out as ``info["factors"]``.
        :param frames: their frames, where the caller already has them (they are drawn otherwise).
        """
        factors = np.asarray(factors, dtype=np.float64)
        empty = [self.without_objects(row) for row in factors]
        if any(e is None for e in empty):
            raise DarlaError(f"{type(self).__name__} cannot take its objects out of a frame, so it has no object masks: "
                             "collect without --masks")
        drawn = self.render_rows(factors) if frames is None else np.asarray(frames)
        empty_frames = self.render_rows(np.reshape(empty, factors.shape))
        return (drawn != empty_frames).any(axis=-1)
