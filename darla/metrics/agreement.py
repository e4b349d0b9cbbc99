"""Same-state invariance where transfer is decided, at the policy: does a trained agent act alike on one
state drawn in its source look and in a target look?

The agent is rolled out in its source domains (sampled actions, so the states are the ones it meets);
each visited state is drawn again in a source domain and in a target domain (the env's
``render_factors``; with several domains on a side they take turns), turned into the agent's own
observations (its frozen encoder, its general part where it reads one; frames as they are for a pixel
agent) and given to its policy. Over the 12 SeekAvoid2D claim agents of 2026-12-04 the share of states
where the most likely actions agree went with the transfer ratio more closely (r = 0.72) than the code's
same-state retrieval did (docs/results.md). A policy that ignores its input agrees on every state too, so
agreement says something only beside a source return well above the random policy's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from stable_baselines3.common.policies import BasePolicy

import envs
from darla.agent import LoadedAgent
from darla.errors import DarlaError
from darla.statistics import seeded
from darla.wrappers import FrameEncoder
from envs.domains import Domain


@dataclass
class SameStateActions:
    """One agent's observations of and action distributions on the same states in two looks.

    :param states: the visited states' task factors (N, task factors).
    :param observations: the agent's observations of them in a source look and in a target look.
    :param probabilities: its policy's action distributions (N, actions) on each.
    :param objects_in_view: per state, whether a task object is in the frame (the env says).
    """

    states: np.ndarray
    observations: tuple[np.ndarray, np.ndarray]
    probabilities: tuple[np.ndarray, np.ndarray]
    objects_in_view: np.ndarray

    @property
    def agree(self) -> np.ndarray:
        """Per state, whether the most likely actions in the two looks are the same."""
        return self.probabilities[0].argmax(1) == self.probabilities[1].argmax(1)

    @property
    def agreement(self) -> float:
        """The share of states where the most likely actions agree."""
        return float(self.agree.mean())

    @property
    def total_variation(self) -> float:
        """The mean total-variation distance between the two action distributions."""
        return float(np.mean(0.5 * np.abs(self.probabilities[0] - self.probabilities[1]).sum(1)))


def check_measurable(env_id: str, action_space: gym.Space, stack: int) -> None:
    """Refuse, in one line, an agent whose actions cannot be compared state by state."""
    if not envs.draws_from_factors(env_id):
        raise DarlaError(f"{env_id} cannot draw one state in another domain (only {', '.join(envs.ENV_IDS)} can): "
                         "drop --agreement-steps")
    if not isinstance(action_space, gym.spaces.Discrete):
        raise DarlaError(f"the agent acts in {action_space}; the action agreement compares discrete actions: "
                         "drop --agreement-steps for continuous control")
    if stack != 1:
        raise DarlaError(f"the agent stacks {stack} codes; the action agreement compares single frames: drop --agreement-steps")


def measurable(env_id: str) -> bool:
    """Whether :func:`same_state_actions` can score agents of ``env_id`` that read single frames
    (:func:`check_measurable`'s rules, on the env's own action space)."""
    if not envs.draws_from_factors(env_id):  # its env is not even built
        return False
    env = envs.make(env_id)
    try:
        check_measurable(env_id, env.action_space, stack=1)
    except DarlaError:
        return False
    finally:
        env.close()
    return True


def _domains(env_id: str, specs: Sequence[str]) -> list[Domain]:
    env = envs.make(env_id, tuple(specs))
    try:
        return list(env.unwrapped.domains)
    finally:
        env.close()


def action_probabilities(policy: BasePolicy, observations: np.ndarray) -> np.ndarray:
    """An SB3 policy's action distribution (N, actions) on a batch of observations."""
    with torch.no_grad():
        tensor, _ = policy.obs_to_tensor(observations)
        return policy.get_distribution(tensor).distribution.probs.cpu().numpy()


def same_state_actions(agent: LoadedAgent, source: Sequence[str], targets: Sequence[Sequence[str]], steps: int,
                       seed: int) -> list[SameStateActions]:
    """What ``agent`` does on the states it visits along ``steps`` env
    steps in ``source``, each drawn in a source domain and in the domains of every target.

    The rollout and the source side's observations are made once for all the targets.

    :param agent: the frozen agent.
    :param source: its source domain specs (presets, groups or JSON domain files).
    :param targets: per target, its domain specs.
    :param steps: env steps of the source rollout, one state each.
    :param seed: seed of the rollout's env and of the policy's sampling.
    :return: per target, in order, the source look against that target's.
    """
    cfg = agent.config
    check_measurable(cfg.env, agent.model.action_space, cfg.stack)
    venv = agent.make_env(tuple(source), 1, seed)
    # the rollout's own env draws the states again (render_factors leaves its episode as it was) and knows
    # the source side's domains; only the targets' need an env of their own
    renderer = venv.unwrapped.envs[0].unwrapped
    sides = [list(renderer.domains), *(_domains(cfg.env, target) for target in targets)]
    n_task = len(renderer.factor_names()) - len(sides[0][0].factors())
    states = []
    try:
        with seeded(seed):
            obs = venv.reset()
            for _ in range(steps):
                action, _ = agent.model.predict(obs, deterministic=False)
                obs, _, _, infos = venv.step(action)
                states.append(np.asarray(infos[0]["factors"][:n_task], dtype=np.float64))
        task = np.stack(states)
        # the domains of a side take turns over the states
        frames = [renderer.render_rows(np.stack([np.concatenate([t, side[i % len(side)].factors()]) for i, t in enumerate(task)]))
                  for side in sides]
        in_view = np.asarray(renderer.objects_in_view(task), dtype=bool)
    finally:
        venv.close()
    if cfg.mode == "latent":
        encode = FrameEncoder(cfg.vision, renderer.observation_space, device=str(agent.model.device), general=cfg.general,
                              precision=cfg.precision)
        observations = [encode(f) for f in frames]
    else:
        observations = frames
    probabilities = [action_probabilities(agent.model.policy, o) for o in observations]
    return [SameStateActions(task, (observations[0], seen), (probabilities[0], p), in_view)
            for seen, p in zip(observations[1:], probabilities[1:])]
