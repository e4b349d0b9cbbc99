"""A VecEnv that draws all its envs' frames of a step together.

A frame of ``darla/SeekAvoid2D-v0`` costs mostly the overhead of the many small array operations that draw it, so
drawing a step's frames as one batch is cheaper than drawing them one env at a time. The envs keep their whole
wrapper chain (time limit, Monitor): they only hand back a blank frame and keep the scene they owe.

An env can also be held: it is not stepped until the next reset. An evaluation holds each env once it has played
its share of the episodes, where SB3's ``evaluate_policy`` would step it on, drawing frames nobody counts.
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
        self.held: set[int] = set()

    def hold(self, index: int) -> None:
        """Stop stepping env ``index`` until the next :meth:`reset`: each step gives its last observation again, no
        reward and no episode end, and neither moves nor draws it."""
        if not 0 <= index < self.num_envs:
            raise IndexError(f"env {index} does not exist: this VecEnv has {self.num_envs}")
        self.held.add(index)

    def reset(self) -> VecEnvObs:
        """Reset every env (see :meth:`DummyVecEnv.reset`), releasing the held ones, and draw their first frames together."""
        self.held.clear()
        return self._draw(super().reset(), None)

    def step_wait(self) -> VecEnvStepReturn:
        """Step every env but the held ones (see :meth:`DummyVecEnv.step_wait`) and draw their frames together."""
        envs = self.envs
        # DummyVecEnv's own loop steps a stand-in for each held env, so its bookkeeping stays SB3's
        self.envs = [_Held(self._last_obs(i)) if i in self.held else env for i, env in enumerate(envs)]
        try:
            obs, rewards, dones, infos = super().step_wait()
        finally:
            self.envs = envs
        return self._draw(obs, infos), rewards, dones, infos

    def _last_obs(self, index: int) -> Any:
        if list(self.buf_obs) == [None]:
            return self.buf_obs[None][index].copy()
        return {key: buf[index].copy() for key, buf in self.buf_obs.items()}

    def _draw(self, obs: Any, infos: list[dict[str, Any]] | None) -> Any:
        if not self.batched:
            return obs
        owed = [len(env.owed) for env in self.unwrapped_envs]
        if not any(owed):  # every env held
            return obs
        frames = self.unwrapped_envs[0].draw([scene for env in self.unwrapped_envs for scene in env.owed])
        end = 0
        for i, (env, count) in enumerate(zip(self.unwrapped_envs, owed)):
            if not count:  # a held env
                continue
            env.owed.clear()
            end += count
            # an episode that ended owes its last frame, then the next episode's first
            if count == 2 and infos is not None:
                infos[i]["terminal_observation"] = frames[end - 2]
            obs[i] = self.buf_obs[None][i] = frames[end - 1]
        return obs


class _Held:
    """What DummyVecEnv steps in place of a held env: the same observation, no reward, never done."""

    def __init__(self, obs: Any) -> None:
        self.obs = obs

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        return self.obs, 0.0, False, False, {}
