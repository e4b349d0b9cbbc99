"""ReacherPixels: Reacher-v5's task in pixels, where a domain changes the colours and nothing else."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mujoco")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
from gymnasium.utils.env_checker import check_env as gym_check_env  # noqa: E402
from stable_baselines3.common.env_checker import check_env as sb3_check_env  # noqa: E402

from darla.errors import DarlaError  # noqa: E402
from envs.domains import DomainSpec  # noqa: E402
from envs.reacher_pixels import CATALOGUE, ReacherDomain, ReacherPixelsEnv  # noqa: E402

SEED = 7
# 50 steps reach Reacher-v5's time limit, so truncation is compared too
ACTIONS = np.random.default_rng(0).uniform(-1, 1, (50, 2)).astype(np.float32)
N_TASK = 8
Step = tuple[np.ndarray, float, bool, bool, dict[str, Any]]


@pytest.fixture
def make() -> Iterator[Callable[..., ReacherPixelsEnv]]:
    """Build envs that are closed after the test."""
    envs: list[ReacherPixelsEnv] = []

    def build(domain: DomainSpec = "default", **kwargs: Any) -> ReacherPixelsEnv:
        envs.append(ReacherPixelsEnv(domain, **kwargs))
        return envs[-1]

    yield build
    for env in envs:
        env.close()


def rollout(env: ReacherPixelsEnv, n: int = len(ACTIONS)) -> list[Step]:
    """Reset with SEED, then take the first ``n`` ACTIONS; the reset counts as a step with reward 0."""
    obs, info = env.reset(seed=SEED)
    return [(obs, 0.0, False, False, info)] + [env.step(a) for a in ACTIONS[:n]]


def mad(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute pixel difference."""
    return float(np.abs(a.astype(np.int16) - b).mean())


def differing_pixels(a: np.ndarray, b: np.ndarray) -> int:
    """How many pixels differ in any channel."""
    return int((a != b).any(axis=-1).sum())


# constructed directly on purpose (registration is the package's business), so there is no spec
@pytest.mark.filterwarnings("ignore:.*not having a spec")
def test_env_checkers_pass(make: Callable[..., ReacherPixelsEnv]) -> None:
    env = make()
    gym_check_env(env)
    sb3_check_env(env)
    obs, info = env.reset(seed=0)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    assert len(info["factors"]) == len(env.factor_names()) == N_TASK + len(ReacherDomain.factor_names())


def test_task_is_reacher_v5_and_domains_change_only_pixels(make: Callable[..., ReacherPixelsEnv]) -> None:
    stock = gym.make("Reacher-v5")
    stock_obs = [stock.reset(seed=SEED)[0]]
    stock_steps = []
    for action in ACTIONS:
        stock_steps.append(stock.step(action))
        stock_obs.append(stock_steps[-1][0])
    stock.close()
    default, floor = rollout(make("default")), rollout(make("beige_floor"))

    assert [s[1] for s in default[1:]] == [s[1] for s in stock_steps]
    assert [s[2:4] for s in default[1:]] == [s[2:4] for s in stock_steps]
    assert [s[3] for s in default].index(True) == 50
    # Reacher's observation holds cos, cos, sin, sin of the joints, then the target position
    for ours, theirs in zip(default, stock_obs):
        np.testing.assert_array_equal(ours[4]["factors"][:6], theirs[[0, 2, 1, 3, 4, 5]].astype(np.float32))

    for a, b in zip(default, floor):
        assert a[1:4] == b[1:4]
        np.testing.assert_array_equal(a[4]["factors"][:N_TASK], b[4]["factors"][:N_TASK])
        # measured 16.9 on every frame: the floor fills most of the view
        assert mad(a[0], b[0]) > 10
    assert default[0][4]["domain"] == "default" and floor[0][4]["domain"] == "beige_floor"


@pytest.mark.parametrize(
    ("field", "value", "min_pixels"),
    # measured after 5 steps: arm 194 pixels, target 47, floor 2,687, background 1,168 (the border around the floor)
    [("arm_colour", "yellow", 150), ("target_colour", "green", 35), ("floor_colour", "beige", 2400), ("background_colour", "blue", 1000)],
)
def test_each_colour_changes_its_part(make: Callable[..., ReacherPixelsEnv], field: str, value: str, min_pixels: int) -> None:
    base = rollout(make("default"), 5)[-1][0]
    recoloured = rollout(make(ReacherDomain(**{field: value})), 5)[-1][0]
    changed = (base != recoloured).any(axis=-1)
    assert changed.sum() >= min_pixels
    top_corners = changed[0, [0, -1]]
    assert top_corners.all() if field == "background_colour" else not top_corners.any()


def test_tint_scales_channels(make: Callable[..., ReacherPixelsEnv]) -> None:
    plain = make("default").reset(seed=SEED)[0]
    tinted = make(ReacherDomain(tint=(1.0, 0.5, 0.0))).reset(seed=SEED)[0]
    np.testing.assert_array_equal(tinted[..., 0], plain[..., 0])
    np.testing.assert_array_equal(tinted[..., 1], np.rint(plain[..., 1] * 0.5).astype(np.uint8))
    assert not tinted[..., 2].any()


def test_render_factors_reproduces_frames_and_leaves_the_episode(make: Callable[..., ReacherPixelsEnv]) -> None:
    env, twin, blue = make("train"), make("train"), make("blue_background")
    obs, info = env.reset(seed=SEED)
    twin.reset(seed=SEED)
    blue_obs, blue_info = blue.reset(seed=SEED)
    blue_factors = blue_info["factors"][N_TASK:]
    for action in ACTIONS[:20]:
        # float32 factors now and then move an edge by a fraction of a pixel: measured over 3,000
        # frames, 2,994 were identical and the others differed in one pixel
        assert differing_pixels(env.render_factors(info["factors"]), obs) <= 4
        # the same arm and target drawn in another domain is that domain's frame
        assert differing_pixels(env.render_factors(np.concatenate([info["factors"][:N_TASK], blue_factors])), blue_obs) <= 4
        obs, reward, terminated, truncated, info = env.step(action)
        twin_obs, twin_reward, *twin_ends, twin_info = twin.step(action)
        blue_obs = blue.step(action)[0]
        assert (reward, terminated, truncated) == (twin_reward, *twin_ends)
        np.testing.assert_array_equal(obs, twin_obs)
        np.testing.assert_array_equal(info["factors"], twin_info["factors"])
    with pytest.raises(DarlaError, match="expected 15 factors"):
        env.render_factors(np.zeros(3))


def test_domain_file_round_trips_and_drives_the_env(make: Callable[..., ReacherPixelsEnv], tmp_path: Path) -> None:
    domain = ReacherDomain(name="mine", arm_colour="pink", background_colour="cyan", tint=(0.9, 1.0, 1.1))
    path = tmp_path / "mine.json"
    domain.save(path)
    assert ReacherDomain.load(path) == domain
    from_file, info = make(str(path)).reset(seed=SEED)
    assert info["domain"] == "mine"
    np.testing.assert_array_equal(info["factors"][N_TASK:], domain.factors())
    np.testing.assert_array_equal(from_file, make(domain).reset(seed=SEED)[0])
    assert mad(from_file, make("default").reset(seed=SEED)[0]) > 1


def test_groups_draw_one_preset_per_episode(make: Callable[..., ReacherPixelsEnv]) -> None:
    env = make("train")
    env.reset(seed=SEED)
    seen = {env.reset()[1]["domain"] for _ in range(40)}
    assert seen == set(CATALOGUE.groups["train"])
    assert not seen & set(CATALOGUE.groups["target"])


@pytest.mark.parametrize(
    ("spec", "listed"),
    [("no_such_preset", "presets: default, purple_arm"), ({"arm_colour": "chartreuse"}, "choose one of orange, green")],
)
def test_bad_domains_say_what_is_valid(spec: DomainSpec, listed: str) -> None:
    with pytest.raises(DarlaError, match=listed) as exc:
        ReacherPixelsEnv(spec)
    assert "\n" not in str(exc.value)


# gymnasium's OffScreenViewer.__del__ fails on a viewer whose GL context was never made
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_no_offscreen_gl_is_a_darla_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUJOCO_GL", "no_such_backend")
    with pytest.raises(DarlaError, match="set MUJOCO_GL=egl .*libegl1") as exc:
        ReacherPixelsEnv()
    assert "\n" not in str(exc.value)
