"""Pixel observations and visual shifts: API checks, exact pixel effects, dynamics untouched, clear errors."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.spaces import Box, Discrete
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from darla.errors import DarlaError
from envs.pixels import (
    AdditiveNoise,
    ChannelPermutation,
    ColourJitter,
    HueRotation,
    Occlusion,
    PixelObservation,
    make_pixel_env,
)

Shift = Callable[[gym.Env[Any, Any]], gym.Env[np.ndarray, Any]]

# one instance of each shift, with parameters that visibly change frames
SHIFTS: dict[str, Shift] = {
    "hue": lambda env: HueRotation(env, 120),
    "permutation": lambda env: ChannelPermutation(env, (2, 0, 1)),
    "jitter": lambda env: ColourJitter(env, brightness=0.4, contrast=0.4, saturation=0.4, seed=3),
    "noise": lambda env: AdditiveNoise(env, std=20.0, seed=3),
    "occlusion": lambda env: Occlusion(env, (0.1, 0.2, 0.3, 0.4)),
}


class ImageEnv(gym.Env[np.ndarray, np.int64]):
    """A pixel env: a fixed frame, or seeded random frames; reward and end depend on step and action."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(
        self, frame: np.ndarray | None = None, shape: tuple[int, int, int] = (16, 24, 3), render_mode: str | None = None
    ) -> None:
        self.frame = frame
        self.observation_space = Box(0, 255, frame.shape if frame is not None else shape, np.uint8)
        self.action_space = Discrete(3)
        self.render_mode = render_mode
        self.t = 0

    def _image(self) -> np.ndarray:
        if self.frame is not None:
            return self.frame.copy()
        return self.np_random.integers(0, 256, self.observation_space.shape, dtype=np.uint8)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        return self._image(), {"t": 0}

    def step(self, action: np.int64) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        reward = float(action) * 0.5 + self.t
        return self._image(), reward, self.t % 7 == 0, self.t % 5 == 0, {"t": self.t, "a": int(action)}

    def render(self) -> np.ndarray | None:
        return self._image()


class RenderEnv(ImageEnv):
    """Renders whatever it is given, to test PixelObservation's handling of frames."""

    def __init__(self, rendered: Any) -> None:
        super().__init__(shape=(4, 4, 3), render_mode="rgb_array")
        self.rendered = rendered

    def render(self) -> Any:
        return self.rendered


def first_frame(env: gym.Env[np.ndarray, Any]) -> np.ndarray:
    return env.reset(seed=0)[0]


def fixed(frame: np.ndarray) -> ImageEnv:
    return ImageEnv(frame=frame)


def random_frame(shape: tuple[int, ...], seed: int = 0, low: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(low, 256, shape, dtype=np.uint8)


# ---- API checkers ------------------------------------------------------------------------------


@pytest.mark.parametrize("shift", [None, *SHIFTS], ids=lambda s: s or "pixels")
def test_env_checkers_pass(shift: str | None) -> None:
    env = make_pixel_env("CartPole-v1")
    if shift is not None:
        env = SHIFTS[shift](env)
    assert env.observation_space == Box(0, 255, (64, 64, 3), np.uint8)
    with warnings.catch_warnings():
        # gymnasium warns that a wrapped env is not its unwrapped env: checking the wrapper is the point
        warnings.simplefilter("ignore", UserWarning)
        gym_check_env(env, skip_render_check=True)
        sb3_check_env(env)
    env.close()


# ---- PixelObservation --------------------------------------------------------------------------


def test_pixel_cartpole_frames_change_and_dynamics_are_cartpoles() -> None:
    pixels, bare = make_pixel_env("CartPole-v1"), gym.make("CartPole-v1")
    frame, _ = pixels.reset(seed=5)
    bare.reset(seed=5)
    frames, got, want = [frame], [], []
    # pushing right until the pole falls: CartPole terminates in about ten steps
    for _ in range(100):
        frame, *rest = pixels.step(1)
        frames.append(frame)
        got.append(rest)
        want.append(list(bare.step(1)[1:]))
        if rest[1]:
            break
    assert got == want
    assert got[-1][1] is True and 5 < len(got) < 50
    assert all(f.shape == (64, 64, 3) and f.dtype == np.uint8 for f in frames)
    assert all(np.any(a != b) for a, b in zip(frames, frames[1:]))
    pixels.close()


def test_pixel_observation_drops_alpha_and_keeps_uniform_regions() -> None:
    colours = np.array([[[200, 10, 30], [0, 90, 250]], [[5, 5, 5], [120, 240, 60]]], np.uint8)
    frame = np.empty((32, 48, 4), np.uint8)
    frame[..., :3] = colours.repeat(16, axis=0).repeat(24, axis=1)
    frame[..., 3] = random_frame((32, 48))
    obs = first_frame(PixelObservation(RenderEnv(frame), size=16))
    assert obs.shape == (16, 16, 3) and obs.dtype == np.uint8
    np.testing.assert_array_equal(obs, colours.repeat(8, axis=0).repeat(8, axis=1))


def test_pixel_observation_filters_by_area() -> None:
    # a one-pixel checkerboard averages to mid-grey; nearest-neighbour sampling would give 0 or 255
    checker = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    obs = first_frame(PixelObservation(RenderEnv(np.repeat(checker[..., None], 3, axis=2)), size=32))
    assert set(np.unique(obs)) <= {127, 128}


@pytest.mark.parametrize(
    ("rendered", "match"),
    [
        (None, r"render\(\) returned None"),
        (np.zeros((8, 8), np.uint8), r"shape \(8, 8\)"),
        (np.zeros((8, 8, 2), np.uint8), r"shape \(8, 8, 2\)"),
        (np.zeros((8, 8, 3), np.float32), r"dtype float32.*uint8"),
    ],
    ids=["none", "rank2", "two-channels", "float"],
)
def test_pixel_observation_rejects_bad_frames(rendered: Any, match: str) -> None:
    with pytest.raises(DarlaError, match=match) as err:
        first_frame(PixelObservation(RenderEnv(rendered)))
    assert "\n" not in str(err.value)


def test_pixel_observation_needs_rgb_array_render_mode() -> None:
    match = r"render_mode='rgb_array', got render_mode=None.*gymnasium\.make\('CartPole-v1'"
    with pytest.raises(DarlaError, match=match):
        PixelObservation(gym.make("CartPole-v1"))


@pytest.mark.parametrize("size", [0, -3, 2.5])
def test_pixel_observation_rejects_bad_size(size: Any) -> None:
    with pytest.raises(DarlaError, match=r"size must be a positive integer"):
        PixelObservation(RenderEnv(None), size=size)


def test_make_pixel_env_names_an_unknown_id() -> None:
    with pytest.raises(DarlaError, match=r"unknown environment id 'NoSuchEnv-v0'"):
        make_pixel_env("NoSuchEnv-v0")


def test_make_pixel_env_names_a_missing_dependency(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(*args: Any, **kwargs: Any) -> gym.Env:
        raise gym.error.DependencyNotInstalled("Box2D is not installed; pip install gymnasium[box2d]")

    monkeypatch.setattr(gym, "make", missing)
    with pytest.raises(DarlaError, match=r"'CarRacing-v3' needs a package.*gymnasium\[box2d\]"):
        make_pixel_env("CarRacing-v3")


def test_make_pixel_env_car_racing() -> None:
    pytest.importorskip("Box2D")
    env = make_pixel_env("CarRacing-v3", size=32, continuous=False)
    frame, _ = env.reset(seed=0)
    assert env.action_space == Discrete(5)
    assert frame.shape == (32, 32, 3) and frame.dtype == np.uint8
    assert env.step(3)[0].shape == (32, 32, 3)
    env.close()


# ---- the shifts' pixel effects ------------------------------------------------------------------


def test_hue_rotation_by_360_is_the_identity() -> None:
    frame = random_frame((16, 24, 3))
    assert np.abs(first_frame(HueRotation(fixed(frame), 360)).astype(int) - frame).max() <= 1


@pytest.mark.parametrize(("degrees", "channel"), [(120, 1), (240, 2)])
def test_hue_rotation_turns_red_green_then_blue(degrees: float, channel: int) -> None:
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    obs = first_frame(HueRotation(fixed(red), degrees)).astype(int)
    others = [c for c in range(3) if c != channel]
    assert obs[..., channel].min() >= 150
    assert obs[..., others].max() <= 50


def test_hue_rotation_keeps_greys() -> None:
    grey = np.repeat(np.arange(0, 256, 4, dtype=np.uint8)[:, None, None], 3, axis=2).repeat(2, axis=1)
    assert np.abs(first_frame(HueRotation(fixed(grey), 77)).astype(int) - grey).max() <= 1


@pytest.mark.parametrize("order", [(2, 0, 1), (1, 2, 0), (0, 2, 1), (0, 1, 2)])
def test_channel_permutation_is_numpy_indexing(order: tuple[int, int, int]) -> None:
    frame = random_frame((16, 24, 4))
    obs = first_frame(ChannelPermutation(fixed(frame), order))
    np.testing.assert_array_equal(obs[..., :3], frame[..., list(order)])
    np.testing.assert_array_equal(obs[..., 3], frame[..., 3])


def test_colour_jitter_with_zero_amounts_is_the_identity() -> None:
    frame = random_frame((16, 24, 3))
    jitter = ColourJitter(fixed(frame), seed=9)
    assert jitter.factors == (1.0, 1.0, 1.0)
    np.testing.assert_array_equal(first_frame(jitter), frame)


def test_colour_jitter_factors_are_drawn_once_from_the_seed() -> None:
    frame = random_frame((16, 24, 3), low=40)
    a, b, c = (ColourJitter(fixed(frame), brightness=0.5, seed=s) for s in (1, 1, 2))
    assert a.factors == b.factors != c.factors
    factor = a.factors[0]
    assert 0.5 <= factor <= 1.5 and a.factors[1:] == (1.0, 1.0)
    expected = np.clip(frame * factor, 0, 255)
    for obs in (first_frame(a), a.step(0)[0], a.step(1)[0]):
        assert np.abs(obs - expected).max() <= 1


LUMA = np.array([0.299, 0.587, 0.114])


def test_colour_jitter_contrast_scales_spread_around_the_mean_grey() -> None:
    frame = random_frame((32, 32, 3)) // 2 + 64  # 64..191: no clipping at factor 1.5
    jitter = ColourJitter(fixed(frame), contrast=0.5, seed=5)
    factor = jitter.factors[1]
    assert abs(factor - 1.0) > 0.05
    grey_in, grey_out = frame @ LUMA, first_frame(jitter) @ LUMA
    assert abs(grey_out.mean() - grey_in.mean()) <= 0.5
    assert abs(grey_out.std() / grey_in.std() - factor) <= 0.02


def test_colour_jitter_saturation_scales_colour_around_each_pixels_grey() -> None:
    frame = random_frame((32, 32, 3)) // 2 + 64  # 64..191: no clipping at factor 1.5
    jitter = ColourJitter(fixed(frame), saturation=0.5, seed=6)
    factor = jitter.factors[2]
    assert abs(factor - 1.0) > 0.05
    obs = first_frame(jitter).astype(float)
    grey_in, grey_out = frame @ LUMA, obs @ LUMA
    assert np.abs(grey_out - grey_in).max() <= 1.0
    chroma_in, chroma_out = frame - grey_in[..., None], obs - grey_out[..., None]
    assert abs(np.linalg.norm(chroma_out) / np.linalg.norm(chroma_in) - factor) <= 0.02


def test_additive_noise_has_the_requested_std_and_is_fresh_each_frame() -> None:
    grey = np.full((64, 64, 3), 128, np.uint8)
    env = AdditiveNoise(fixed(grey), std=12.0, seed=4)
    frames = [first_frame(env), env.step(0)[0], env.step(0)[0]]
    for obs in frames:
        deviation = obs.astype(float) - 128
        assert abs(deviation.std() - 12.0) <= 0.15 * 12.0
        assert abs(deviation.mean()) <= 1.0
    assert np.any(frames[0] != frames[1]) and np.any(frames[1] != frames[2])
    # a seeded reset replays the same noise, a different seed gives other noise
    np.testing.assert_array_equal(env.reset(seed=0)[0], frames[0])
    assert np.any(env.reset(seed=1)[0] != frames[0])
    np.testing.assert_array_equal(first_frame(AdditiveNoise(fixed(grey), std=0.0)), grey)


def test_occlusion_zeroes_exactly_the_box() -> None:
    frame = random_frame((20, 40, 3), low=1)
    obs = first_frame(Occlusion(fixed(frame), (0.25, 0.5, 0.5, 0.25)))
    inside = np.zeros((20, 40), bool)
    inside[5:15, 20:30] = True
    assert np.all(obs[inside] == 0)
    np.testing.assert_array_equal(obs[~inside], frame[~inside])


def test_shifts_compose_and_the_spec_rebuilds_the_domain() -> None:
    env = Occlusion(AdditiveNoise(HueRotation(make_pixel_env("CartPole-v1", size=32), 90), 5.0, seed=1))
    rebuilt = gym.make(env.spec)
    assert [w.name for w in rebuilt.spec.additional_wrappers[-4:]] == [
        "PixelObservation",
        "HueRotation",
        "AdditiveNoise",
        "Occlusion",
    ]
    np.testing.assert_array_equal(env.reset(seed=2)[0], rebuilt.reset(seed=2)[0])
    np.testing.assert_array_equal(env.step(0)[0], rebuilt.step(0)[0])
    env.close()
    rebuilt.close()


@pytest.mark.parametrize("shift", SHIFTS)
def test_shifts_change_pixels_only(shift: str) -> None:
    bare, shifted = ImageEnv(), SHIFTS[shift](ImageEnv())
    obs_bare, info_bare = bare.reset(seed=11)
    obs, info = shifted.reset(seed=11)
    assert info == info_bare and obs.shape == obs_bare.shape and obs.dtype == np.uint8
    assert np.any(obs != obs_bare)
    actions = np.random.default_rng(0).integers(0, 3, 12)
    for action in actions:
        obs, *rest = shifted.step(action)
        _, *rest_bare = bare.step(action)
        assert rest == rest_bare
        assert obs in shifted.observation_space


# ---- bad parameters -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda env: AdditiveNoise(env, std=-1.0), r"std must be a finite number >= 0.*got -1\.0"),
        (lambda env: AdditiveNoise(env, std=float("nan")), r"std must be a finite number >= 0"),
        (lambda env: Occlusion(env, (-0.1, 0.0, 0.5, 0.5)), r"fractions in \[0, 1\].*got \(-0\.1,"),
        (lambda env: Occlusion(env, (0.0, 0.2, 0.5, 1.5)), r"fractions in \[0, 1\]"),
        (lambda env: Occlusion(env, (0.6, 0.0, 0.5, 0.5)), r"top \+ height <= 1"),
        (lambda env: Occlusion(env, (0.0, 0.0, 0.5)), r"\(top, left, height, width\)"),
        (lambda env: ChannelPermutation(env, (0, 0, 1)), r"permutation of \(0, 1, 2\), got \(0, 0, 1\)"),
        (lambda env: ChannelPermutation(env, (0, 1, 2, 3)), r"permutation of \(0, 1, 2\)"),
        (lambda env: ChannelPermutation(env, (0.0, 1.0, 2.0)), r"permutation of \(0, 1, 2\)"),
        (lambda env: ColourJitter(env, brightness=1.5), r"brightness must be in \[0, 1\]"),
        (lambda env: ColourJitter(env, saturation=-0.1), r"saturation must be in \[0, 1\]"),
        (lambda env: HueRotation(env, float("inf")), r"degrees must be a finite number"),
    ],
    ids=[
        "negative-std",
        "nan-std",
        "negative-fraction",
        "fraction-above-1",
        "box-past-edge",
        "short-box",
        "repeated-channel",
        "four-channels",
        "float-channels",
        "brightness",
        "saturation",
        "infinite-degrees",
    ],
)
def test_bad_parameters_raise_one_line(make: Shift, match: str) -> None:
    with pytest.raises(DarlaError, match=match) as err:
        make(ImageEnv())
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("space", "match"),
    [
        (Box(-1.0, 1.0, (4,), np.float32), r"got Box\(-1\.0\.\.1\.0, shape=\(4,\), dtype=float32\)"),
        (Box(0.0, 1.0, (8, 8, 3), np.float32), r"dtype=float32"),
        (Box(0, 255, (8, 8, 1), np.uint8), r"shape=\(8, 8, 1\)"),
        (Box(0, 100, (8, 8, 3), np.uint8), r"got Box\(0\.\.100,"),
        (Discrete(4), r"got Discrete"),
    ],
    ids=["vector", "float-image", "grey-image", "narrow-bounds", "discrete"],
)
@pytest.mark.parametrize("shift", SHIFTS)
def test_shifts_need_an_image_space(shift: str, space: gym.Space[Any], match: str) -> None:
    env = ImageEnv()
    env.observation_space = space
    with pytest.raises(DarlaError, match=r"needs an image observation space Box\(0, 255, \(H, W, C>=3\), uint8\)") as e:
        SHIFTS[shift](env)
    assert e.match(match) and e.match("PixelObservation")
    assert "\n" not in str(e.value)
