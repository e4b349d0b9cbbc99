"""stable-baselines3 agent factories and their YAML hyperparameters (rl-baselines3-zoo style).

``hyperparams(algo, env_id, mode)`` reads ``agents/hyperparams/<algo>.yml``; ``make_agent``
builds PPO, DQN or SAC on latent codes (``latent``), raw frames (``pixels``) or augmented
frames (``pixels_aug``); ``RandomPolicy`` is the floor their returns are read against.
"""

from agents.factory import ALGORITHMS, MODES, check_action_space, check_algorithm, hyperparams, make_agent
from agents.random import RandomPolicy

__all__ = ["ALGORITHMS", "MODES", "RandomPolicy", "check_action_space", "check_algorithm", "hyperparams", "make_agent"]
