"""Environments whose look is a parameter, registered with Gymnasium under ``darla/``.

Importing this package registers:

- ``darla/SeekAvoid2D-v0``: DARLA's seek-and-avoid room task drawn by a NumPy raycaster
  (no OpenGL; the default env of the demo and the tests);
- ``darla/SeekAvoid-v0``: the same task drawn in 3D by MiniWorld (extra ``miniworld``);
- ``darla/ReacherPixels-v0``: MuJoCo Reacher seen as 64x64 pixels (extra ``mujoco``).

Each takes ``domain=``: a preset or group name, a JSON file, a dict or a Domain.
"""

from collections.abc import Sequence

import gymnasium as gym
from gymnasium.envs.registration import register, registry

from darla.errors import DarlaError
from envs.domains import DomainCatalogue

_ENVS = {
    "darla/SeekAvoid2D-v0": ("envs.seek_avoid_2d:SeekAvoid2DEnv", 200),
    "darla/SeekAvoid-v0": ("envs.seek_avoid_3d:SeekAvoid3DEnv", 200),
    "darla/ReacherPixels-v0": ("envs.reacher_pixels:ReacherPixelsEnv", 50),
}

for _id, (_entry, _steps) in _ENVS.items():
    if _id not in registry:
        register(id=_id, entry_point=_entry, max_episode_steps=_steps)

ENV_IDS = tuple(_ENVS)


def catalogue(env_id: str) -> "DomainCatalogue":
    """The presets and groups of an env, read from its class (no env is built): a ``darla/`` env's
    own, or for any other pixel env the looks made of visual shifts (:mod:`envs.shifted`).

    :param env_id: one of :data:`ENV_IDS`, or a registered Gymnasium id.
    """
    if env_id in ENV_IDS:
        from gymnasium.envs.registration import load_env_creator

        return load_env_creator(gym.spec(env_id).entry_point).catalogue
    if env_id not in registry:
        raise DarlaError(f"unknown environment id {env_id!r}; use one of {', '.join(ENV_IDS)} or an id that gymnasium.pprint_registry() lists")
    from envs.shifted import shift_catalogue

    return shift_catalogue(env_id)


def draws_from_factors(env_id: str) -> bool:
    """Whether the env can draw any state in any domain (the ground truth that darla inspect, the
    invariance scores and pairs of frames need): the ``darla/`` envs can, shifted pixel envs cannot."""
    return env_id in ENV_IDS


def make(env_id: str, domains: Sequence[str] = (), **kwargs: object) -> gym.Env:
    """An env of ``env_id`` with uint8 frame observations, in ``domains``.

    :param env_id: a ``darla/`` id, or any Gymnasium id with an ``rgb_array`` renderer, adapted to
        64x64 pixels (its domains are chains of visual shifts: :mod:`envs.shifted`).
    :param domains: presets, groups or JSON domain files; empty means the env's default.
    :param kwargs: passed to ``gymnasium.make``.
    :return: the env.
    """
    if env_id in ENV_IDS:
        return gym.make(env_id, **({"domain": list(domains)} if domains else {}), **kwargs)
    if domains:
        from envs.shifted import ShiftedPixelEnv

        return ShiftedPixelEnv(env_id, list(domains), **kwargs)
    from envs.pixels import make_pixel_env

    return make_pixel_env(env_id, **kwargs)
