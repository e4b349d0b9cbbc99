"""Agent factories: stable-baselines3 algorithms built from the YAML hyperparameters beside them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import yaml
from stable_baselines3 import DQN, PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.vec_env import VecEnv

from agents.augment import AugmentedCNN
from darla.errors import DarlaError

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "dqn": DQN, "sac": SAC}
#: how the agent sees: the vision model's codes (DARLA), raw frames, or augmented frames
MODES = ("latent", "pixels", "pixels_aug")
HYPERPARAMS = Path(__file__).parent / "hyperparams"


def check_algorithm(algo: str, mode: str) -> None:
    """Refuse an unknown algorithm or input mode, listing the valid ones."""
    if algo not in ALGORITHMS:
        raise DarlaError(f"unknown algorithm {algo!r}; choose one of {', '.join(ALGORITHMS)}")
    if mode not in MODES:
        raise DarlaError(f"unknown input mode {mode!r}; choose one of {', '.join(MODES)}")


def check_action_space(algo: str, action_space: gym.Space) -> None:
    """Refuse an algorithm that cannot act in ``action_space`` (DQN: discrete; SAC: continuous)."""
    discrete = isinstance(action_space, gym.spaces.Discrete)
    if algo == "dqn" and not discrete:
        raise DarlaError("dqn needs discrete actions and this env's are continuous: use ppo or sac")
    if algo == "sac" and discrete:
        raise DarlaError("sac needs continuous actions and this env's are discrete: use ppo or dqn")


def hyperparams(algo: str, env_id: str, mode: str) -> dict[str, Any]:
    """The hyperparameters of ``algo`` for ``env_id`` in ``mode``: the file's ``default`` entry,
    overridden by the env's entry, each with its ``mode`` section merged in.

    :param algo: ``ppo``, ``dqn`` or ``sac``.
    :param env_id: a Gymnasium id.
    :param mode: one of :data:`MODES`.
    :return: constructor arguments of the algorithm, plus ``policy`` and ``n_envs``.
    """
    check_algorithm(algo, mode)
    table = yaml.safe_load((HYPERPARAMS / f"{algo}.yml").read_text())
    merged: dict[str, Any] = {}
    for entry in (table["default"], table.get(env_id) or {}):
        merged |= {k: v for k, v in entry.items() if k not in MODES}
        merged |= entry.get(mode) or {}
    return merged


def make_agent(
    algo: str,
    mode: str,
    env: VecEnv,
    params: dict[str, Any],
    *,
    seed: int,
    device: str = "auto",
    tensorboard_log: str | None = None,
) -> BaseAlgorithm:
    """Build an untrained agent on ``env``.

    :param algo: ``ppo``, ``dqn`` or ``sac``.
    :param mode: one of :data:`MODES`; ``pixels_aug`` puts :class:`AugmentedCNN` in the policy.
    :param env: the (wrapped) vector env.
    :param params: hyperparameters as :func:`hyperparams` returns them.
    :param seed: the agent's seed.
    :param device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    :param tensorboard_log: folder for TensorBoard logs, or None.
    :return: the agent.
    """
    check_action_space(algo, env.action_space)
    kwargs = {k: v for k, v in params.items() if k not in ("n_envs", "policy", "policy_kwargs")}
    steps, batch = kwargs.get("n_steps"), kwargs.get("batch_size")
    if algo == "ppo" and all(isinstance(v, int) and v > 1 for v in (steps, batch)):
        # a minibatch larger than the rollout is trained as the whole rollout anyway; saying so keeps SB3 from
        # warning about a truncated minibatch on short rollouts (the smoke budget's 2 envs x 64 steps); values
        # SB3 cannot use are left for its own checks to refuse
        kwargs["batch_size"] = min(batch, env.num_envs * steps)
    policy_kwargs = dict(params.get("policy_kwargs") or {})
    if mode == "pixels_aug":
        policy_kwargs["features_extractor_class"] = AugmentedCNN
    try:
        agent = ALGORITHMS[algo](
            params["policy"], env, seed=seed, device=device, tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs, verbose=0, **kwargs,
        )
    except (TypeError, ValueError, AssertionError) as exc:
        # SB3 checks its arguments with all three; each means a value it cannot use
        raise DarlaError(f"bad {algo} hyperparameters ({exc}); check --hyperparams and agents/hyperparams/{algo}.yml") from None
    if tensorboard_log is None:
        # with nothing to log to, SB3 would still make an empty SB3-<time> folder in the temp dir at each learn()
        agent.set_logger(Logger(folder=None, output_formats=[]))
    return agent
