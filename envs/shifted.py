"""Domains for any pixel env: each look is a chain of the visual shifts of :mod:`envs.pixels`.

The built-in ``darla/`` envs draw their looks themselves; any other Gymnasium env with an
``rgb_array`` renderer gets its looks from shifts applied to its frames (a hue rotation, a
channel permutation, colour jitter, noise, an occlusion), and from the env's own options where it
has them (CarRacing-v3's ``domain_randomize``). A :class:`ShiftDomain` is data, like every other
domain: a preset name, a group name, a dict or a JSON file such as::

    {"name": "dusk", "shifts": [{"kind": "hue", "degrees": 40}, {"kind": "jitter", "brightness": 0.4, "seed": 1}]}

:class:`ShiftedPixelEnv` draws one domain per episode, as the built-in envs do, so an agent
trained on the ``train`` group and scored on the ``target`` group runs DARLA's protocol on any
pixel env. The task is untouched by a shift: rewards, terminations and infos are the env's own.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from darla.errors import DarlaError
from envs.domains import Domain, DomainCatalogue, DomainDraw, DomainSpec
from envs.pixels import AdditiveNoise, ChannelPermutation, ColourJitter, HueRotation, Occlusion, VisualShift, make_pixel_env

#: the shifts a domain's chain names, by ``kind``
SHIFTS: dict[str, type[VisualShift]] = {"hue": HueRotation, "permute": ChannelPermutation, "jitter": ColourJitter,
                                        "noise": AdditiveNoise, "occlude": Occlusion}


def _shift_parameters(kind: str) -> set[str]:
    return set(inspect.signature(SHIFTS[kind]).parameters) - {"env"}


@dataclass(frozen=True)
class ShiftDomain(Domain):
    """One look of a pixel env: its frames passed through a chain of shifts, the env made with options.

    :param shifts: the chain, applied in order: dicts with a ``kind`` of :data:`SHIFTS` and that
        shift's parameters (``{"kind": "hue", "degrees": 90}``).
    :param env_kwargs: passed to ``gymnasium.make`` for this domain (``{"domain_randomize": true}``
        for CarRacing-v3).
    """

    shifts: tuple[dict[str, Any], ...] = ()
    env_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        for shift in self.shifts:
            kind = shift.get("kind") if isinstance(shift, dict) else None
            if kind not in SHIFTS:
                raise DarlaError(f"domain {self.name!r}: a shift must be a dict with a kind of {', '.join(SHIFTS)}, got {shift!r}")
            unknown = sorted(set(shift) - {"kind"} - _shift_parameters(kind))
            if unknown:
                raise DarlaError(f"domain {self.name!r}: shift {kind!r} takes {', '.join(sorted(_shift_parameters(kind)))}, "
                                 f"not {', '.join(unknown)}")
        if not isinstance(self.env_kwargs, dict):
            raise DarlaError(f"domain {self.name!r}: env_kwargs must be a JSON object, got {self.env_kwargs!r}")

    def apply(self, env: gym.Env) -> gym.Env:
        """``env`` (a pixel env) wrapped in this domain's shifts, in order, then its tint."""
        for shift in self.shifts:
            env = SHIFTS[shift["kind"]](env, **{k: v for k, v in shift.items() if k != "kind"})
        if self.tint != (1.0, 1.0, 1.0):
            env = gym.wrappers.TransformObservation(env, self.tinted, env.observation_space)
        return env


def _preset(name: str, *shifts: dict[str, Any], **env_kwargs: Any) -> ShiftDomain:
    return ShiftDomain(name=name, shifts=shifts, env_kwargs=env_kwargs)


#: the looks every pixel env has
PRESETS = (
    _preset("default"),
    _preset("hue_90", {"kind": "hue", "degrees": 90}),
    _preset("hue_180", {"kind": "hue", "degrees": 180}),
    _preset("hue_270", {"kind": "hue", "degrees": 270}),
    _preset("swap_rb", {"kind": "permute", "order": (2, 1, 0)}),
    _preset("jitter", {"kind": "jitter", "brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "seed": 0}),
    _preset("noise", {"kind": "noise", "std": 16.0, "seed": 0}),
    _preset("occluded", {"kind": "occlude", "box": (0.0, 0.0, 0.25, 0.25)}),
)
#: looks only some envs have, from their own options
ENV_PRESETS = {"CarRacing-v3": (_preset("randomized", domain_randomize=True),)}
#: DARLA's protocol on shifts: agents learn in the default look (single) or in three looks (multi) and
#: meet a hue they never saw; the other presets stay available by name
GROUPS = {"train": ("default", "hue_90", "jitter"), "target": ("hue_180",)}
#: envs whose frames a hue barely changes get another target: CartPole-v1 is drawn almost all in greys,
#: so hue_180 moves its frames by 0.4 grey levels on average (CarRacing-v3's by 82) and occluded by 16
ENV_GROUPS = {"CartPole-v1": {**GROUPS, "target": ("occluded",)}}


def shift_catalogue(env_id: str) -> DomainCatalogue:
    """The presets and groups of a pixel env that is not a ``darla/`` one."""
    presets = PRESETS + ENV_PRESETS.get(env_id, ())
    return DomainCatalogue(ShiftDomain, {p.name: p for p in presets}, dict(ENV_GROUPS.get(env_id, GROUPS)))


class ShiftedPixelEnv(gym.Env):
    """A Gymnasium env seen as frames, in one of several looks drawn per episode.

    :param env_id: a Gymnasium id with an ``rgb_array`` renderer (not a ``darla/`` one).
    :param domain: a preset or group name of :func:`shift_catalogue`, a JSON path, a dict, a
        :class:`ShiftDomain`, or a list of these.
    :param size: side of the square frames, in pixels.
    :param kwargs: passed to ``gymnasium.make`` for every domain (a domain's ``env_kwargs`` are added).
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, env_id: str, domain: DomainSpec = "default", size: int = 64, **kwargs: Any) -> None:
        self.domain_draw = DomainDraw(shift_catalogue(env_id), domain)
        self.domains: list[Domain] = self.domain_draw.domains
        self.domain: Domain = self.domains[0]
        # one env per distinct set of options, shared by the domains that only shift its frames
        bases: dict[str, gym.Env] = {}
        self._looks = []
        for d in self.domains:
            key = json.dumps(d.env_kwargs, sort_keys=True)
            if key not in bases:
                bases[key] = make_pixel_env(env_id, size, **kwargs, **d.env_kwargs)
            self._looks.append(d.apply(bases[key]))
        self._bases = list(bases.values())
        self._active = self._looks[0]
        self.observation_space = self._active.observation_space
        self.action_space = self._active.action_space

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw the episode's domain and reset the env in it; ``info["domain"]`` names it."""
        super().reset(seed=seed)
        self.domain = self.domain_draw.draw(seed)
        self._active = self._looks[self.domains.index(self.domain)]
        obs, info = self._active.reset(seed=seed, options=options)
        return obs, {**info, "domain": self.domain.name}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One step of the env, seen in the episode's domain."""
        obs, reward, terminated, truncated, info = self._active.step(action)
        return obs, reward, terminated, truncated, {**info, "domain": self.domain.name}

    def close(self) -> None:
        """Close every underlying env."""
        for base in self._bases:
            base.close()
