"""darla/SeekAvoid2D-v0: the task's rules, domains as pure look, factors that redraw the frame."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs  # noqa: F401  (registers the darla/ ids)
from darla.errors import DarlaError
from envs.domains import COLOURS
from envs.seek_avoid import CATALOGUE, FORWARD, TURN_LEFT, SeekAvoidDomain
from envs.seek_avoid_2d import SPRITES, SeekAvoid2DEnv

ID = "darla/SeekAvoid2D-v0"


def test_both_env_checkers_pass() -> None:
    env = gym.make(ID, domain="train")
    gym_check_env(env.unwrapped, skip_render_check=False)
    sb3_check_env(env)


def rollout(domain: str, seed: int, actions: np.ndarray):
    env = gym.make(ID, domain=domain)
    obs, info = env.reset(seed=seed)
    frames, outcomes = [obs], []
    n_task = 3 + 4 * env.unwrapped.n_objects
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(int(a))
        frames.append(obs)
        outcomes.append((reward, terminated, truncated, info["factors"][:n_task].tobytes()))
        if terminated or truncated:
            obs, info = env.reset()
    return np.array(frames), outcomes


def test_domains_change_pixels_and_only_pixels() -> None:
    actions = np.random.default_rng(0).integers(0, 3, size=400)
    frames_a, outcomes_a = rollout("A_default", 7, actions)
    frames_b, outcomes_b = rollout("A_alternate", 7, actions)
    assert outcomes_a == outcomes_b
    assert sum(r for r, *_ in outcomes_a) != 0 or any(t for _, t, *_ in outcomes_a), "the rollout exercises pickups"
    assert np.abs(frames_a.astype(int) - frames_b.astype(int)).mean() > 20


def scripted_env(good: bool, distance: float = 1.5) -> SeekAvoid2DEnv:
    """An env whose first object stands straight ahead at ``distance``; the rest far behind."""
    env = SeekAvoid2DEnv()
    env.reset(seed=0)
    s = env.state
    s.agent, s.heading = np.array([2.0, 4.0]), 0.0
    s.objects[:] = [[0.5, 0.5 + i] for i in range(env.n_objects)]
    s.objects[0] = [2.0 + distance, 4.0]
    s.good[:] = False
    s.good[0] = good
    return env


@pytest.mark.parametrize("good,reward", [(True, 1.0), (False, -1.0)])
def test_walking_into_an_object_picks_it_up(good: bool, reward: float) -> None:
    env = scripted_env(good, distance=1.5)
    cfg = env.config
    steps_needed = int(np.ceil((1.5 - cfg.pickup_radius) / cfg.step))
    rewards = [env.step(FORWARD)[1] for _ in range(steps_needed)]
    assert rewards[:-1] == [0.0] * (steps_needed - 1) and rewards[-1] == reward
    assert not env.state.present[0] and env.pickups == 1
    assert env.step(TURN_LEFT)[1] == 0.0, "a picked-up object is gone"


def test_episode_ends_after_max_pickups() -> None:
    env = scripted_env(True, distance=1.0)
    s = env.state
    s.objects[1], s.objects[2] = [3.0, 4.0], [3.0 + 0.45, 4.0]
    s.good[1:3] = True
    terminated, total = False, 0.0
    for _ in range(4):
        _, reward, terminated, _, info = env.step(FORWARD)
        total += reward
        if terminated:
            break
    assert terminated and total == 3.0 and info["pickups"] == env.config.max_pickups


def test_walls_stop_the_agent() -> None:
    env = scripted_env(True)
    env.state.heading = np.pi  # facing the wall at x = 0
    for _ in range(20):
        env.step(FORWARD)
    assert env.state.agent[0] == pytest.approx(env.config.agent_radius)


def test_object_ahead_is_centred_and_object_left_is_left() -> None:
    env = scripted_env(True, distance=2.0)
    colour = np.array(COLOURS["cyan"], float)

    def columns_of_object(frame: np.ndarray) -> np.ndarray:
        hits = (np.abs(frame.astype(float) - colour).sum(-1) < 120).any(axis=0)
        return np.nonzero(hits)[0]

    ahead = columns_of_object(env.render_factors(env._info()["factors"]))
    assert ahead.size and abs(ahead.mean() - 31.5) < 3
    env.state.heading = -np.pi / 8  # turning right puts the object on the left
    left = columns_of_object(env.render_factors(env._info()["factors"]))
    assert left.size and left.mean() < 24


def test_render_factors_reproduces_live_observations() -> None:
    env = gym.make(ID, domain="train")
    obs, info = env.reset(seed=3)
    rng = np.random.default_rng(3)
    for _ in range(60):
        assert np.array_equal(env.unwrapped.render_factors(info["factors"]), obs)
        obs, _, terminated, truncated, info = env.step(int(rng.integers(3)))
        if terminated or truncated:
            obs, info = env.reset()
    assert len(info["factors"]) == len(env.unwrapped.factor_names())


def test_a_batch_draws_every_frame_as_it_is_drawn_alone() -> None:
    """One batch of states in mixed looks (textures, tints, both object sets) gives each frame bit for bit."""
    env = SeekAvoid2DEnv(domain="train")
    rng = np.random.default_rng(5)
    looks = [CATALOGUE.presets[name] for name in ("A_default", "B_alternate")] + [
        SeekAvoidDomain(wall_texture="checker", floor_texture="noise", object_set="B", tint=(0.6, 1.0, 1.3)),
        SeekAvoidDomain(wall_texture="stripes", tint=(1.0, 0.8, 1.0)),
    ]
    states, domains = [], []
    for i in range(40):
        env.reset(seed=i)
        for _ in range(int(rng.integers(0, 40))):
            env.step(FORWARD if rng.random() < 0.6 else TURN_LEFT)
        states.append(dataclasses.replace(env.state))
        domains.append(looks[i % len(looks)])
    batch = env.renderer.render_batch(states, domains)
    alone = np.stack([env.renderer.render(s, d) for s, d in zip(states, domains)])
    assert batch.shape == (40, 64, 64, 3) and np.array_equal(batch, alone)
    assert len({frame.tobytes() for frame in batch}) > 30
    # objects are in view in many of the frames, so their sprites are part of what is compared
    assert env.objects_in_view(np.stack([s.factors() for s in states])).sum() >= 10


def test_groups_draw_their_presets_per_episode() -> None:
    env = gym.make(ID, domain="train")
    seen = {env.reset(seed=s)[1]["domain"] for s in range(40)}
    assert seen == {"A_default", "B_default", "B_alternate"}
    target = gym.make(ID, domain="target")
    assert {target.reset(seed=s)[1]["domain"] for s in range(5)} == {"A_alternate"}


def test_object_sets_swap_the_object_kinds() -> None:
    a = gym.make(ID, domain="A_default").reset(seed=1)[0]
    b = gym.make(ID, domain="B_default").reset(seed=1)[0]
    assert not np.array_equal(a, b)
    assert {SPRITES[k].colour for k in ("can", "hat")}.isdisjoint({SPRITES[k].colour for k in ("balloon", "cake")})


def test_json_domain_round_trips(tmp_path: Path) -> None:
    domain = SeekAvoidDomain(name="mine", wall_colour="purple", floor_colour="grey", wall_texture="checker",
                             floor_texture="noise", object_set="B", tint=(1.0, 0.8, 0.9))
    path = tmp_path / "mine.json"
    domain.save(path)
    assert SeekAvoidDomain.load(path) == domain
    env = gym.make(ID, domain=str(path))
    obs, info = env.reset(seed=0)
    assert info["domain"] == "mine"
    assert np.array_equal(obs, gym.make(ID, domain=domain.to_dict()).reset(seed=0)[0])
    assert SeekAvoidDomain.from_factors(domain.factors(), name="mine") == domain


@pytest.mark.parametrize(
    "spec,fragment",
    [
        ("C_default", "presets: A_default, B_default, B_alternate, A_alternate, B_beige_brown"),
        ("C_default", "groups: train, target, rooms"),
        ({"wall_colour": "mauve"}, "unknown wall_colour 'mauve'; choose one of orange"),
        ({"object_set": "Z"}, "unknown object_set 'Z'; choose one of A, B"),
        ({"wall_texture": "marble"}, "choose one of plain, stripes, checker, noise"),
        ({"wings": 2}, "has no field(s) wings"),
    ],
)
def test_bad_domains_list_the_valid_choices(spec, fragment: str) -> None:
    with pytest.raises(DarlaError, match=re.escape(fragment)):
        gym.make(ID, domain=spec)


def test_bad_json_domain_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("[1, 2]")
    with pytest.raises(DarlaError, match="must hold a JSON object"):
        CATALOGUE.resolve(str(path))
    path.write_text("{nope")
    with pytest.raises(DarlaError, match="cannot read domain file"):
        CATALOGUE.resolve(str(path))


def test_invalid_actions_and_stepping_before_reset() -> None:
    env = SeekAvoid2DEnv()
    with pytest.raises(DarlaError, match="before reset"):
        env.step(0)
    env.reset(seed=0)
    for bad in (3, -1, 0.5, np.array([1, 2])):
        with pytest.raises(DarlaError, match="invalid action"):
            env.step(bad)
