"""Pixel observations for any Gymnasium env, and visual shifts that turn a pixel env into a target domain.

``PixelObservation`` replaces an env's observation by its rendered frame, resized to a square
uint8 image, so that any env with an ``rgb_array`` renderer can feed a vision model. The shifts
(``HueRotation``, ``ChannelPermutation``, ``ColourJitter``, ``AdditiveNoise``, ``Occlusion``) each
change how frames look and nothing else: rewards, terminations and infos pass through untouched,
so a policy sees the same task in a different-looking world, which is what DARLA's zero-shot
transfer is measured on. Their parameters are fixed at construction: a wrapped env is one domain.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.spaces import Box, Space
from PIL import Image

from darla.errors import DarlaError

__all__ = [
    "AdditiveNoise",
    "ChannelPermutation",
    "ColourJitter",
    "HueRotation",
    "Occlusion",
    "PixelObservation",
    "VisualShift",
    "hue_rotation_matrix",
    "make_pixel_env",
]

# the luma row of the NTSC RGB -> YIQ transform, also used as the grey level of a pixel
_LUMA = np.array([0.299, 0.587, 0.114])
_RGB_TO_YIQ = np.array([_LUMA, [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def hue_rotation_matrix(degrees: float | np.ndarray) -> np.ndarray:
    """The RGB -> RGB matrices that rotate hue by ``degrees``, keeping brightness.

    The rotation is about the grey axis in YIQ space, so greys stay grey and 360 degrees is the
    identity. Positive angles move red toward green and green toward blue, as on the HSV hue circle.

    :param degrees: one angle, or an array of them
    :return: ``(..., 3, 3)`` matrices ``M`` with ``rgb_out = M @ rgb_in``, one per angle
    """
    # in YIQ's (I, Q) plane the HSV hue order runs clockwise, hence the negative angle
    theta = -np.deg2rad(np.asarray(degrees, dtype=np.float64))
    cos, sin = np.cos(theta), np.sin(theta)
    rotation = np.zeros((*theta.shape, 3, 3))
    rotation[..., 0, 0] = 1.0
    rotation[..., 1, 1], rotation[..., 1, 2] = cos, -sin
    rotation[..., 2, 1], rotation[..., 2, 2] = sin, cos
    return np.linalg.inv(_RGB_TO_YIQ) @ rotation @ _RGB_TO_YIQ


def _describe(space: Space[Any]) -> str:
    """A one-line description of a space (a Box's repr can print whole bound arrays on many lines)."""
    if isinstance(space, Box):
        return f"Box({space.low.min()}..{space.high.max()}, shape={space.shape}, dtype={space.dtype})"
    return f"{type(space).__name__}(shape={space.shape}, dtype={space.dtype})"


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """Round and clip float pixel values to uint8."""
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


class PixelObservation(gym.ObservationWrapper[np.ndarray, Any, Any], gym.utils.RecordConstructorArgs):
    """Observe the env's rendered frame, resized to ``(size, size, 3)`` uint8, instead of its state.

    Frames are resized with area (box) filtering, so thin lines fade instead of flickering in and
    out; an alpha channel is dropped. Rewards, terminations and infos are the wrapped env's.

    :param env: an env created with ``render_mode="rgb_array"``
    :param size: side of the square observation, in pixels
    """

    def __init__(self, env: gym.Env[Any, Any], size: int = 64) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, size=size)
        gym.ObservationWrapper.__init__(self, env)
        if env.render_mode != "rgb_array":
            env_id = env.spec.id if env.spec is not None else "ENV_ID"
            raise DarlaError(
                f"PixelObservation needs an env created with render_mode='rgb_array', got render_mode="
                f"{env.render_mode!r}; create it with gymnasium.make({env_id!r}, render_mode='rgb_array') "
                f"or use envs.pixels.make_pixel_env({env_id!r})"
            )
        if not isinstance(size, int) or size < 1:
            raise DarlaError(f"PixelObservation size must be a positive integer, got {size!r}")
        self.size = size
        self.observation_space = Box(0, 255, (size, size, 3), np.uint8)

    def observation(self, observation: Any) -> np.ndarray:
        """The current rendered frame, resized; the env's own observation is discarded.

        :param observation: the wrapped env's observation (unused: the frame shows the state)
        :return: a ``(size, size, 3)`` uint8 frame
        """
        frame = self.env.render()
        if frame is None:
            raise DarlaError(
                f"{self.env}.render() returned None; PixelObservation needs an env whose "
                f"render_mode='rgb_array' renders (H, W, 3) uint8 frames"
            )
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[-1] not in (3, 4) or frame.dtype != np.uint8:
            raise DarlaError(
                f"{self.env}.render() returned a frame of shape {frame.shape} and dtype {frame.dtype}; "
                f"PixelObservation needs (H, W, 3) or (H, W, 4) uint8 frames"
            )
        image = Image.fromarray(np.ascontiguousarray(frame[..., :3]))
        return np.array(image.resize((self.size, self.size), Image.Resampling.BOX))


def make_pixel_env(env_id: str, size: int = 64, **kwargs: Any) -> gym.Env[np.ndarray, Any]:
    """Make a registered Gymnasium env whose observations are its rendered frames.

    :param env_id: a Gymnasium id, e.g. ``"CartPole-v1"``
    :param size: side of the square observation, in pixels
    :param kwargs: passed to ``gymnasium.make`` (not ``render_mode``, which is ``"rgb_array"``)
    :return: the env wrapped in :class:`PixelObservation`
    """
    # pygame-drawn envs (CartPole, CarRacing) start SDL's video and audio even to draw off screen, and on a
    # headless machine SDL prints an error for each; frames drawn to an array need neither
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    try:
        env = gym.make(env_id, render_mode="rgb_array", **kwargs)
    except (gym.error.UnregisteredEnv, gym.error.DeprecatedEnv) as exc:
        raise DarlaError(
            f"unknown environment id {env_id!r} ({exc}); use an id that gymnasium.pprint_registry() lists"
        ) from None
    except ModuleNotFoundError as exc:  # a "module:Env" id whose module is not importable
        raise DarlaError(f"environment {env_id!r} names a module that cannot be imported ({exc.name}): "
                         "install it or put it on PYTHONPATH") from None
    except gym.error.DependencyNotInstalled as exc:
        raise DarlaError(f"environment {env_id!r} needs a package that is not installed: {exc}") from None
    return PixelObservation(env, size)


class VisualShift(
    gym.ObservationWrapper[np.ndarray, Any, np.ndarray], gym.utils.RecordConstructorArgs, metaclass=abc.ABCMeta
):
    """Base of the visual shifts: one fixed change to the RGB channels of every frame.

    The first three channels are RGB and are what a shift changes; further channels (alpha,
    depth) pass through. Constructor arguments are recorded, so ``env.spec`` rebuilds the same
    domain with ``gymnasium.make(env.spec)``. A subclass implements only :meth:`shift`.

    :param env: a pixel env: observation space ``Box(0, 255, (H, W, C>=3), uint8)``
    :param params: the subclass's constructor arguments, recorded for ``env.spec``
    """

    def __init__(self, env: gym.Env[np.ndarray, Any], **params: Any) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, **params)
        gym.ObservationWrapper.__init__(self, env)
        space = env.observation_space
        is_image = (
            isinstance(space, Box)
            and space.dtype == np.uint8
            and len(space.shape) == 3
            and space.shape[-1] >= 3
            and bool(np.all(space.low == 0))
            and bool(np.all(space.high == 255))
        )
        if not is_image:
            raise DarlaError(
                f"{type(self).__name__} needs an image observation space Box(0, 255, (H, W, C>=3), uint8), "
                f"got {_describe(space)}; wrap the env in envs.pixels.PixelObservation first"
            )

    def observation(self, observation: np.ndarray) -> np.ndarray:
        """The frame with its RGB channels shifted.

        :param observation: a uint8 frame ``(H, W, C)``
        :return: a new uint8 frame of the same shape
        """
        out = observation.copy()
        out[..., :3] = self.shift(out[..., :3])
        return out

    @abc.abstractmethod
    def shift(self, rgb: np.ndarray) -> np.ndarray:
        """Change the look of one frame.

        :param rgb: the RGB channels ``(H, W, 3)`` uint8 of a fresh copy of the frame; may be changed in place
        :return: the shifted RGB channels, ``(H, W, 3)`` uint8
        """


class HueRotation(VisualShift):
    """Rotate every pixel's hue by a fixed angle, keeping its brightness (see :func:`hue_rotation_matrix`).

    :param env: a pixel env
    :param degrees: the hue angle
    """

    def __init__(self, env: gym.Env[np.ndarray, Any], degrees: float) -> None:
        super().__init__(env, degrees=degrees)
        if not np.isfinite(degrees):
            raise DarlaError(f"HueRotation degrees must be a finite number, got {degrees!r}")
        self._matrix_t = hue_rotation_matrix(degrees).T.astype(np.float32)

    def shift(self, rgb: np.ndarray) -> np.ndarray:
        """:param rgb: RGB channels ``(H, W, 3)`` uint8"""
        return _to_uint8(rgb.astype(np.float32) @ self._matrix_t)


class ChannelPermutation(VisualShift):
    """Reorder the RGB channels: output channel ``i`` is input channel ``order[i]``.

    :param env: a pixel env
    :param order: a permutation of ``(0, 1, 2)``; the default turns red things green
    """

    def __init__(self, env: gym.Env[np.ndarray, Any], order: Sequence[int] = (2, 0, 1)) -> None:
        super().__init__(env, order=tuple(order))
        if not all(isinstance(i, (int, np.integer)) for i in order) or sorted(order) != [0, 1, 2]:
            raise DarlaError(f"ChannelPermutation order must be a permutation of (0, 1, 2), got {tuple(order)!r}")
        self.order = [int(i) for i in order]

    def shift(self, rgb: np.ndarray) -> np.ndarray:
        """:param rgb: RGB channels ``(H, W, 3)`` uint8"""
        return rgb[..., self.order]


class ColourJitter(VisualShift):
    """Scale brightness, contrast and saturation by factors drawn once, then fixed for every frame.

    Each factor is uniform in ``[1 - x, 1 + x]`` for its amount ``x``; they are applied in that
    order (brightness scales values, contrast scales distance from the frame's mean grey,
    saturation scales distance from each pixel's grey) and kept in :attr:`factors`.

    :param env: a pixel env
    :param brightness: amount in ``[0, 1]``
    :param contrast: amount in ``[0, 1]``
    :param saturation: amount in ``[0, 1]``
    :param seed: seed of the draw of the factors
    """

    def __init__(
        self,
        env: gym.Env[np.ndarray, Any],
        brightness: float = 0.0,
        contrast: float = 0.0,
        saturation: float = 0.0,
        seed: int = 0,
    ) -> None:
        super().__init__(env, brightness=brightness, contrast=contrast, saturation=saturation, seed=seed)
        amounts = {"brightness": brightness, "contrast": contrast, "saturation": saturation}
        for name, amount in amounts.items():
            if not 0.0 <= amount <= 1.0:
                raise DarlaError(f"ColourJitter {name} must be in [0, 1] (factors in [1 - x, 1 + x]), got {amount!r}")
        x = np.array(list(amounts.values()))
        b, c, s = np.random.default_rng(seed).uniform(1.0 - x, 1.0 + x)
        self.factors = (float(b), float(c), float(s))

    def shift(self, rgb: np.ndarray) -> np.ndarray:
        """:param rgb: RGB channels ``(H, W, 3)`` uint8"""
        b, c, s = self.factors
        x = rgb.astype(np.float32) * b
        mean_grey = (x @ _LUMA).mean()
        x = (x - mean_grey) * c + mean_grey
        grey = (x @ _LUMA)[..., None]
        return _to_uint8((x - grey) * s + grey)


class AdditiveNoise(VisualShift):
    """Add fresh Gaussian noise to every frame, clipped to 0..255.

    The noise generator is seeded at construction; a ``reset(seed=...)`` reseeds it from both
    seeds, so a seeded episode sees the same noise every time it is replayed.

    :param env: a pixel env
    :param std: standard deviation of the noise, in grey levels (0..255 units), at least 0
    :param seed: seed of the noise generator
    """

    def __init__(self, env: gym.Env[np.ndarray, Any], std: float = 10.0, seed: int = 0) -> None:
        super().__init__(env, std=std, seed=seed)
        if not (np.isfinite(std) and std >= 0):
            raise DarlaError(f"AdditiveNoise std must be a finite number >= 0 (grey levels), got {std!r}")
        self.std = float(std)
        self._seed = seed
        self._rng = np.random.default_rng(seed)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset the env; with a seed, reseed the noise too.

        :param seed: episode seed, as for ``gymnasium.Env.reset``
        :param options: passed to the wrapped env
        :return: the first observation and the info
        """
        if seed is not None:
            self._rng = np.random.default_rng([self._seed, seed])
        return super().reset(seed=seed, options=options)

    def shift(self, rgb: np.ndarray) -> np.ndarray:
        """:param rgb: RGB channels ``(H, W, 3)`` uint8"""
        noise = self._rng.standard_normal(rgb.shape, dtype=np.float32) * self.std
        return _to_uint8(rgb + noise)


class Occlusion(VisualShift):
    """Set a fixed rectangle of every frame to zero, as DARLA's DAE corruption does at random.

    :param env: a pixel env
    :param box: ``(top, left, height, width)`` as fractions of the frame's height and width, each in
        ``[0, 1]``, with ``top + height <= 1`` and ``left + width <= 1``; edges round to the nearest pixel
    """

    def __init__(
        self, env: gym.Env[np.ndarray, Any], box: tuple[float, float, float, float] = (0.25, 0.25, 0.5, 0.5)
    ) -> None:
        super().__init__(env, box=tuple(box))
        valid = (
            len(box) == 4
            and all(0.0 <= f <= 1.0 for f in box)
            and box[0] + box[2] <= 1.0
            and box[1] + box[3] <= 1.0
        )
        if not valid:
            raise DarlaError(
                f"Occlusion box must be (top, left, height, width) fractions in [0, 1] with "
                f"top + height <= 1 and left + width <= 1, got {tuple(box)!r}"
            )
        top, left, height, width = box
        h, w = self.observation_space.shape[:2]
        self.rows = slice(round(top * h), round((top + height) * h))
        self.cols = slice(round(left * w), round((left + width) * w))

    def shift(self, rgb: np.ndarray) -> np.ndarray:
        """:param rgb: RGB channels ``(H, W, 3)`` uint8"""
        rgb[self.rows, self.cols] = 0
        return rgb

