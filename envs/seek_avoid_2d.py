"""SeekAvoid drawn in pure NumPy: a first-person raycaster, fast enough for tests and CI."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from envs.domains import COLOURS, positions_by
from envs.seek_avoid import SeekAvoidConfig, SeekAvoidDomain, SeekAvoidEnv, SeekAvoidState, kinds_of

FIELD_OF_VIEW = np.pi / 3
CEILING = np.array([40, 40, 48], dtype=np.uint8)


@dataclass(frozen=True)
class Sprite:
    """How an object kind looks: size in world units, colour, outline, height above the floor."""

    width: float
    height: float
    colour: tuple[int, int, int]
    shape: str
    lift: float = 0.0


SPRITES = {
    "can": Sprite(0.4, 0.6, COLOURS["cyan"], "cylinder"),
    "hat": Sprite(0.6, 0.5, COLOURS["pink"], "cone"),
    "balloon": Sprite(0.5, 0.5, COLOURS["yellow"], "disc", lift=0.35),
    "cake": Sprite(0.7, 0.35, COLOURS["white"], "box"),
}


def _pattern(kind: str, a: np.ndarray, b: np.ndarray, cells: float) -> np.ndarray | float:
    """Brightness factor of a texture at surface coordinates (a, b)."""
    if kind == "plain":
        return 1.0
    ia, ib = np.floor(a * cells).astype(np.int64), np.floor(b * cells).astype(np.int64)
    if kind == "stripes":
        return 0.75 + 0.25 * (ia % 2)
    if kind == "checker":
        return 0.75 + 0.25 * ((ia + ib) % 2)
    # "noise": a fixed pseudo-random brightness per cell, the same in every frame
    return 0.7 + 0.3 * (((ia * 73856093) ^ (ib * 19349663)) % 1000) / 1000.0


class RaycastRenderer:
    """First-person view of the square room: walls by raycasting, objects as upright sprites.

    :param size: side of the square frames.
    :param config: the task geometry (room size).
    """

    def __init__(self, size: int, config: SeekAvoidConfig) -> None:
        self.size = size
        self.room = config.room_size
        self.rows = (np.arange(size, dtype=np.float32) + 0.5).reshape(-1, 1)
        self.cam = (2 * (np.arange(size) + 0.5) / size - 1).astype(np.float32)
        self.tan_half = float(np.tan(FIELD_OF_VIEW / 2))
        below = np.maximum(self.rows - size / 2, 0.5)
        # distance of the floor seen in each row, for floor textures and shading
        self.floor_dist = (size / (2 * below)).astype(np.float32)
        # a pixel's palette entry is 0 (ceiling), 1 + column (wall) or 1 + size + row (floor):
        # above_top * wall_index + below_bottom * floor_step gives exactly that
        col, row = np.arange(size).reshape(1, -1), np.arange(size).reshape(-1, 1)
        self.wall_index = (1 + col).astype(np.int32)
        self.floor_step = (size + row - col).astype(np.int32)
        self._floor_cache: dict[str, np.ndarray] = {}

    def _floor_rows(self, colour: str) -> np.ndarray:
        """Floor colour of each row, darker toward the horizon: (size, 3) uint8."""
        if colour not in self._floor_cache:
            shade = np.clip(1.1 - self.floor_dist / self.room, 0.45, 1.0)
            self._floor_cache[colour] = (np.array(COLOURS[colour], np.float32) * shade).astype(np.uint8)
        return self._floor_cache[colour]

    def render(self, state: SeekAvoidState, domain: SeekAvoidDomain) -> np.ndarray:
        """Draw ``state`` in ``domain`` as a uint8 frame (size, size, 3)."""
        return self.render_batch([state], [domain])[0]

    def render_batch(self, states: Sequence[SeekAvoidState], domains: Sequence[SeekAvoidDomain]) -> np.ndarray:
        """Draw each state in its domain: uint8 frames (N, size, size, 3), a frame the same bit for bit alone or in any
        batch. Walls and floor of the whole batch are drawn in one pass of array operations, whose per-call overhead
        is most of a single frame's cost; textures go one look at a time, objects one visible object at a time.
        """
        s, L, n = self.size, self.room, len(states)
        pos = np.array([st.agent for st in states], np.float32)[:, None, :]
        heading = np.array([st.heading for st in states], np.float64)
        # filled column by column: np.stack's own overhead is a fair share of a single frame's time
        direction, right = np.empty((n, 2), np.float32), np.empty((n, 2), np.float32)
        direction[:, 0], direction[:, 1] = np.cos(heading), np.sin(heading)
        right[:, 0], right[:, 1] = direction[:, 1], -direction[:, 0]
        rays = direction[:, None, :] + (right * self.tan_half)[:, None, :] * self.cam[:, None]
        # a ray parallel to a wall never meets it; a tiny component avoids dividing by zero
        rays[np.abs(rays) < 1e-9] = 1e-9
        t_wall = np.where(rays > 0, (L - pos) / rays, -pos / rays)
        x_side = t_wall[..., 0] < t_wall[..., 1]
        depth = np.minimum(t_wall[..., 0], t_wall[..., 1])
        half = s / (2 * depth)
        top, bottom = (s / 2 - half)[:, None, :], (s / 2 + half)[:, None, :]
        fog = np.minimum(np.maximum(1.15 - depth / (1.5 * L), 0.5), 1.0) * np.where(x_side, 1.0, 0.8)
        # each frame's palette (ceiling, a colour per wall column, a colour per floor row), stacked; a pixel's entry
        # in its own frame's palette, offset by the frame's place in the stack, indexes the lot with one take
        palette = np.empty((n, 1 + 2 * s, 3), np.uint8)
        palette[:, 0] = CEILING
        palette[:, 1 : 1 + s] = np.array([COLOURS[d.wall_colour] for d in domains], np.float32)[:, None, :] * fog[..., None]
        palette[:, 1 + s :] = [self._floor_rows(d.floor_colour) for d in domains]
        below_top, below_bottom = self.rows >= top, self.rows >= bottom
        index = below_top * self.wall_index + below_bottom * self.floor_step
        if n > 1:
            index += (np.arange(n, dtype=np.int32) * (1 + 2 * s))[:, None, None]
        img = np.take(palette.reshape(-1, 3), index, axis=0)
        for look, rows in positions_by((d.wall_texture, d.floor_texture) for d in domains).items():
            if look != ("plain", "plain"):
                # a batch in one look (one env's frames, the usual case) is taken whole, without copies
                at = slice(None) if len(rows) == n else rows
                img[at] = self._texture(img[at], *look, pos[at], rays[at], depth[at], x_side[at], top[at], below_top[at],
                                        below_bottom[at])
        rel = np.array([st.objects for st in states], np.float32) - pos
        depths, laterals = (rel @ direction[..., None])[..., 0], (rel @ right[..., None])[..., 0]
        # far to near, so nearer objects cover farther ones
        order = np.argsort(-depths, axis=1)
        for i, (state, domain) in enumerate(zip(states, domains)):
            self._draw_objects(img[i], order[i], depths[i], laterals[i], kinds_of(state, domain), state.present, depth[i])
            if domain.tint != (1.0, 1.0, 1.0):
                img[i] = domain.tinted(img[i])
        return img

    def _texture(
        self,
        img: np.ndarray,
        wall_texture: str,
        floor_texture: str,
        pos: np.ndarray,
        rays: np.ndarray,
        depth: np.ndarray,
        x_side: np.ndarray,
        top: np.ndarray,
        below_top: np.ndarray,
        below_bottom: np.ndarray,
    ) -> np.ndarray:
        """Modulate wall and floor pixels of a batch by their texture's brightness."""
        factor = np.ones(img.shape[:3], np.float32)
        if wall_texture != "plain":
            along = np.where(x_side, pos[..., 1] + depth * rays[..., 1], pos[..., 0] + depth * rays[..., 0])
            height = (self.rows - top) * depth[:, None, :] / self.size
            factor = np.where(below_top & ~below_bottom, _pattern(wall_texture, along[:, None, :], height, 2.0), factor)
        if floor_texture != "plain":
            world = pos[:, None] + self.floor_dist[..., None] * rays[:, None]
            factor = np.where(below_bottom, _pattern(floor_texture, world[..., 0], world[..., 1], 1.0), factor)
        return (img * factor[..., None]).astype(np.uint8)

    def _draw_objects(
        self,
        img: np.ndarray,
        order: np.ndarray,
        depths: np.ndarray,
        laterals: np.ndarray,
        kinds: list[str],
        present: np.ndarray,
        wall_depth: np.ndarray,
    ) -> None:
        """Draw one frame's objects into ``img`` in ``order``, each at its depth and lateral offset from the agent."""
        s = self.size
        for i in order:
            d = float(depths[i])
            if not present[i] or d < 0.2:
                continue
            sprite = SPRITES[kinds[i]]
            scale = s / d
            centre = s / 2 * (1 + laterals[i] / (d * self.tan_half))
            floor_row = s / 2 + 0.5 * scale
            x0, x1 = centre - sprite.width * scale / 2, centre + sprite.width * scale / 2
            y1 = floor_row - sprite.lift * scale
            y0 = y1 - sprite.height * scale
            c0, c1 = max(int(np.floor(x0)), 0), min(int(np.ceil(x1)), s)
            r0, r1 = max(int(np.floor(y0)), 0), min(int(np.ceil(y1)), s)
            if c0 >= c1 or r0 >= r1:
                continue
            u = (np.arange(c0, c1) + 0.5 - centre) / (x1 - centre)
            v = (y1 - (np.arange(r0, r1) + 0.5))[:, None] / (y1 - y0)
            inside = _shape(sprite.shape, u[None, :], v)
            inside &= (wall_depth[c0:c1] > d)[None, :]
            shade = (1.0 - 0.35 * u**2)[None, :, None] * min(max(1.15 - d / (1.5 * self.room), 0.5), 1.0)
            colour = np.array(sprite.colour, np.float32) * shade
            if sprite.shape == "box":
                # the cake's icing: a darker band along its lower half
                colour = np.where((v < 0.5)[..., None], colour * np.array([0.6, 0.4, 0.3], np.float32), colour)
            np.copyto(img[r0:r1, c0:c1], colour, casting="unsafe", where=inside[..., None])


def _shape(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Which pixels of a sprite's box (u across in [-1, 1], v up in [0, 1]) the object covers."""
    if shape == "cone":
        return np.abs(u) <= 1 - v
    if shape == "disc":
        return u**2 + (2 * v - 1) ** 2 <= 1
    return (np.abs(u) <= 1) & (v >= 0) & (v <= 1)


class SeekAvoid2DEnv(SeekAvoidEnv):
    """``darla/SeekAvoid2D-v0``: SeekAvoid drawn by :class:`RaycastRenderer` (no OpenGL)."""

    field_of_view = FIELD_OF_VIEW
    draws_in_batches = True

    def make_renderer(self) -> RaycastRenderer:
        """The NumPy raycaster."""
        return RaycastRenderer(self.size, self.config)
