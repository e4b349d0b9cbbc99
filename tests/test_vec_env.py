"""FrameBatchVecEnv: a step's frames drawn together are the frames each env draws by itself."""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

import envs
from darla.vec_env import FrameBatchVecEnv


def make(vec_env: type[DummyVecEnv], env_id: str = "darla/SeekAvoid2D-v0", n: int = 6, **kwargs) -> DummyVecEnv:
    domains = ("train",) if env_id in envs.ENV_IDS else ()
    venv = vec_env([lambda: Monitor(envs.make(env_id, domains, **kwargs)) for _ in range(n)])
    venv.seed(0)
    return venv


def test_batched_frames_are_the_frames_each_env_draws() -> None:
    alone, together = make(DummyVecEnv), make(FrameBatchVecEnv)
    assert together.batched
    assert np.array_equal(alone.reset(), together.reset())
    ends = 0
    for action in np.random.default_rng(0).integers(3, size=(450, 6)):
        (obs_a, rew_a, done_a, info_a), (obs_b, rew_b, done_b, info_b) = alone.step(action), together.step(action)
        assert np.array_equal(obs_a, obs_b) and np.array_equal(rew_a, rew_b) and np.array_equal(done_a, done_b)
        for a, b, done in zip(info_a, info_b, done_a):
            if done:
                ends += 1
                assert np.array_equal(a["terminal_observation"], b["terminal_observation"])
                assert a["episode"] == {**b["episode"], "t": a["episode"]["t"]}
    # every env's episode ends at least once (time limit 200), and the frames are drawn, not blank
    assert ends >= 6 and obs_b.std() > 20


def test_videos_still_get_the_current_frame() -> None:
    venv = make(FrameBatchVecEnv, n=3, render_mode="rgb_array")
    venv.reset()
    obs, *_ = venv.step(np.array([2, 0, 1]))
    assert np.array_equal(np.stack(venv.get_images()), obs)


def test_envs_that_do_not_draw_in_batches_step_as_in_a_dummy_vec_env() -> None:
    alone, together = make(DummyVecEnv, "CartPole-v1", n=2), make(FrameBatchVecEnv, "CartPole-v1", n=2)
    assert not together.batched
    assert np.array_equal(alone.reset(), together.reset())
    for action in np.random.default_rng(1).integers(2, size=(30, 2)):
        assert np.array_equal(alone.step(action)[0], together.step(action)[0])


def test_a_held_env_is_not_stepped_until_the_next_reset() -> None:
    venv = make(FrameBatchVecEnv, n=3)
    first = venv.reset()
    venv.hold(1)
    steps = venv.envs[1].get_total_steps()  # the Monitor's count
    for action in np.random.default_rng(2).integers(3, size=(250, 3)):
        obs, rewards, dones, infos = venv.step(action)
        # the held env gives its first frame again, never a reward or an end; the others go on (time limit 200)
        assert np.array_equal(obs[1], first[1]) and rewards[1] == 0 and not dones[1] and "episode" not in infos[1]
    assert venv.envs[1].get_total_steps() == steps and not np.array_equal(obs[0], first[0])
    venv.reset()
    venv.step(np.array([2, 2, 2]))
    assert venv.envs[1].get_total_steps() == steps + 1
