"""The random policy: the floor every agent's return is read against."""

from __future__ import annotations

import copy
from typing import Any

import gymnasium as gym
import numpy as np


class RandomPolicy:
    """Uniform random actions with SB3's ``predict`` signature: the floor returns are read against.

    :param action_space: the env's action space (copied, so the env's own is left unseeded).
    :param seed: seed of the actions.
    """

    def __init__(self, action_space: gym.Space, seed: int = 0) -> None:
        self.action_space = copy.deepcopy(action_space)
        self.action_space.seed(seed)

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[np.ndarray, None]:
        """One random action per observation in the batch."""
        return np.stack([self.action_space.sample() for _ in range(len(observation))]), None
