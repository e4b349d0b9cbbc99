"""Generated frames with known generative factors: a room (wall and floor colour) holding one object.

The scene mirrors DARLA's task at toy scale: the room's colours are the "look" of a domain,
the object's kind and position are what a policy needs. Used by the demo, the tests and the
benchmarks, where a dataset with real structure and a known answer is wanted.
"""

from __future__ import annotations

import numpy as np

WALL_COLOURS = np.array([[60, 170, 70], [200, 50, 50], [150, 150, 150]], dtype=np.float32)
FLOOR_COLOURS = np.array([[220, 140, 60], [50, 80, 200], [90, 60, 40]], dtype=np.float32)
OBJECT_COLOURS = np.array([[250, 230, 40], [240, 60, 200], [40, 220, 230], [250, 250, 250]], dtype=np.float32)
FACTOR_NAMES = ("wall", "floor", "object", "x", "y", "size")


def render_rooms(factors: np.ndarray, image_size: int = 64) -> np.ndarray:
    """Render one frame per factor row.

    :param factors: (N, 6) rows of (wall id, floor id, object id, x, y, size), with x, y the
        object's centre and size its radius, all three as fractions of the image side; odd
        object ids are discs, even ones squares.
    :param image_size: side of the square frames.
    :return: uint8 frames (N, image_size, image_size, 3).
    """
    factors = np.asarray(factors, dtype=np.float32)
    n = len(factors)
    coords = (np.arange(image_size, dtype=np.float32) + 0.5) / image_size
    rows = coords.reshape(1, -1, 1)
    cols = coords.reshape(1, 1, -1)
    horizon = 0.45
    wall = WALL_COLOURS[factors[:, 0].astype(int)].reshape(n, 1, 1, 3)
    floor = FLOOR_COLOURS[factors[:, 1].astype(int)].reshape(n, 1, 1, 3)
    # the floor darkens toward the horizon, giving the room depth
    shade = np.clip(0.6 + 0.4 * (rows - horizon) / (1 - horizon), 0.6, 1.0)[..., None]
    img = np.where((rows < horizon)[..., None], wall, floor * shade)
    img = np.broadcast_to(img, (n, image_size, image_size, 3)).copy()
    kind = factors[:, 2].astype(int)
    x, y, size = (factors[:, i].reshape(n, 1, 1) for i in (3, 4, 5))
    dx, dy = np.abs(cols - x), np.abs(rows - y)
    disc = dx**2 + dy**2 <= size**2
    square = np.maximum(dx, dy) <= size
    inside = np.where((kind % 2 == 1).reshape(n, 1, 1), disc, square)
    img[inside] = np.repeat(OBJECT_COLOURS[kind], inside.reshape(n, -1).sum(1), axis=0)
    return img.round().clip(0, 255).astype(np.uint8)


def sample_room_factors(n: int, seed: int = 0) -> np.ndarray:
    """Draw ``n`` factor rows uniformly: colours and kinds by id, position and size continuously."""
    rng = np.random.default_rng(seed)
    return np.stack(
        [
            rng.integers(len(WALL_COLOURS), size=n),
            rng.integers(len(FLOOR_COLOURS), size=n),
            rng.integers(len(OBJECT_COLOURS), size=n),
            rng.uniform(0.15, 0.85, size=n),
            rng.uniform(0.2, 0.85, size=n),
            rng.uniform(0.06, 0.14, size=n),
        ],
        axis=1,
    ).astype(np.float32)


def make_rooms(n: int, image_size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random room frames and their factors: ``(frames uint8 (N, S, S, 3), factors (N, 6))``."""
    factors = sample_room_factors(n, seed)
    return render_rooms(factors, image_size), factors


def relook_rooms(factors: np.ndarray, seed: int = 0) -> np.ndarray:
    """The same rooms with another look: each row's wall and floor colours redrawn to a pair that
    differs from its own, the object and its place kept (a pair as ``darla collect --pairs`` makes).

    :param factors: (N, 6) rows as :func:`render_rooms` takes.
    :param seed: seed of the new colours.
    :return: the changed factor rows.
    """
    rng = np.random.default_rng(seed)
    looks = len(WALL_COLOURS) * len(FLOOR_COLOURS)
    own = factors[:, 0].astype(int) * len(FLOOR_COLOURS) + factors[:, 1].astype(int)
    # a uniform draw among the other looks: shift by 1..looks-1
    other = (own + rng.integers(1, looks, size=len(factors))) % looks
    changed = np.array(factors, dtype=np.float32, copy=True)
    changed[:, 0], changed[:, 1] = other // len(FLOOR_COLOURS), other % len(FLOOR_COLOURS)
    return changed
