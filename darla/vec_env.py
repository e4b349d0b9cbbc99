"""A VecEnv that draws all its envs' frames of a step together.

A frame of ``darla/SeekAvoid2D-v0`` costs mostly the overhead of the many small array operations that draw it, so
drawing a step's frames as one batch is cheaper than drawing them one env at a time. The envs keep their whole
wrapper chain (time limit, Monitor): they only hand back a blank frame and keep the scene they owe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn


class FrameBatchVecEnv(DummyVecEnv):
    """:class:`~stable_baselines3.common.vec_env.DummyVecEnv` whose envs owe their frames, drawn together after every env
    has stepped (the first env's ``draw``); observations and ``terminal_observation`` are the frames each env would have
    drawn itself, bit for bit. Envs whose renderer gains nothing from batches (``draws_in_batches`` false or absent) step
    exactly as in a DummyVecEnv.

    :param env_fns: functions that each build an env (with any wrappers).
    """

    def __init__(self, env_fns: list[Callable[[], gym.Env]]) -> None:
        super().__init__(env_fns)
        self.unwrapped_envs = [env.unwrapped for env in self.envs]
        self.batched = all(getattr(env, "draws_in_batches", False) for env in self.unwrapped_envs)
        for env in self.unwrapped_envs if self.batched else ():
            env.defer_frames = True

    def reset(self) -> VecEnvObs:
        """Reset every env (see :meth:`DummyVecEnv.reset`) and draw their first frames together."""
        return self._draw(super().reset(), None)

    def step_wait(self) -> VecEnvStepReturn:
        """Step every env (see :meth:`DummyVecEnv.step_wait`) and draw their frames together."""
        obs, rewards, dones, infos = super().step_wait()
        return self._draw(obs, infos), rewards, dones, infos

    def _draw(self, obs: Any, infos: list[dict[str, Any]] | None) -> Any:
        if not self.batched:
            return obs
        owed = [len(env.owed) for env in self.unwrapped_envs]
        frames = self.unwrapped_envs[0].draw([scene for env in self.unwrapped_envs for scene in env.owed])
        end = 0
        for i, (env, count) in enumerate(zip(self.unwrapped_envs, owed)):
            env.owed.clear()
            end += count
            # an episode that ended owes its last frame, then the next episode's first
            if count == 2 and infos is not None:
                infos[i]["terminal_observation"] = frames[end - 2]
            obs[i] = self.buf_obs[None][i] = frames[end - 1]
        return obs
