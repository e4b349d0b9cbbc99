"""SeekAvoid: DARLA's DeepMind Lab task at small scale, independent of how it is drawn.

A square room holds good and bad objects; walking into one picks it up (+1 good, -1 bad).
Which objects look good or bad depends on the domain's object set; the room's colours and
textures are the rest of its look. The task state and its dynamics live here; renderers (pure
NumPy, MiniWorld) only draw a state in a domain, so every renderer runs the identical task.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from darla.errors import DarlaError
from envs.base import DomainEnv
from envs.domains import TEXTURES, Domain, DomainCatalogue, DomainSpec, check_factors, choice, colour

#: object set -> (good kind, bad kind); DMLab-30's rooms_collect_good_objects uses two such sets
OBJECT_SETS: dict[str, tuple[str, str]] = {"A": ("can", "hat"), "B": ("balloon", "cake")}
OBJECT_KINDS = ("can", "hat", "balloon", "cake")
TURN_LEFT, TURN_RIGHT, FORWARD = 0, 1, 2
#: most frames per renderer call: a batch's per-pixel arrays take about 50 KB a frame
DRAW_BATCH = 256


@dataclass(frozen=True)
class SeekAvoidDomain(Domain):
    """The look of a SeekAvoid room.

    :param wall_colour: colour of the walls.
    :param floor_colour: colour of the floor.
    :param wall_texture: pattern on the walls.
    :param floor_texture: pattern on the floor.
    :param object_set: which kinds of object are good and bad (``A``: can good, hat bad;
        ``B``: balloon good, cake bad).
    """

    wall_colour: str = colour("green")
    floor_colour: str = colour("orange")
    wall_texture: str = choice("plain", TEXTURES)
    floor_texture: str = choice("plain", TEXTURES)
    object_set: str = choice("A", tuple(OBJECT_SETS))


def _room(name: str, object_set: str, style: str) -> SeekAvoidDomain:
    walls, floor = {"default": ("green", "orange"), "alternate": ("red", "blue")}[style]
    return SeekAvoidDomain(name=name, wall_colour=walls, floor_colour=floor, object_set=object_set)


#: more rooms of object set B, (wall, floor) colours drawn from the palette at random (seed 0): vision data
#: in which the room's look varies over many values, apart from the objects' meaning; object set A appears
#: in none of them, so the target (A in the alternate room) is no nearer for them
VISION_ROOMS = (("beige", "brown"), ("beige", "orange"), ("black", "pink"), ("black", "white"), ("blue", "cyan"),
                ("cyan", "orange"), ("cyan", "white"), ("grey", "white"), ("orange", "pink"), ("pink", "black"),
                ("purple", "teal"), ("yellow", "red"))

_VISION_ROOMS = {f"B_{walls}_{floor}": SeekAvoidDomain(name=f"B_{walls}_{floor}", wall_colour=walls, floor_colour=floor, object_set="B")
                 for walls, floor in VISION_ROOMS}

CATALOGUE = DomainCatalogue(
    SeekAvoidDomain,
    presets={**{name: _room(name, *name.split("_")) for name in ("A_default", "B_default", "B_alternate", "A_alternate")},
             **_VISION_ROOMS},
    # DARLA's protocol: train on three combinations, hold out object set A in the alternate room
    groups={"train": ("A_default", "B_default", "B_alternate"), "target": ("A_alternate",), "rooms": tuple(_VISION_ROOMS)},
)


@dataclass
class SeekAvoidConfig:
    """Geometry and rules of the task (the same for every domain and renderer).

    :param room_size: side of the square room (world units).
    :param n_good: good objects per episode.
    :param n_bad: bad objects per episode.
    :param max_pickups: the episode terminates after this many pickups (or when none is left).
    :param turn: radians turned by a turn action.
    :param step: distance walked by a forward action.
    :param pickup_radius: an object this close to the agent is picked up.
    :param agent_radius: closest the agent gets to a wall.
    """

    room_size: float = 8.0
    n_good: int = 3
    n_bad: int = 3
    max_pickups: int = 3
    turn: float = np.pi / 8
    step: float = 0.4
    pickup_radius: float = 0.6
    agent_radius: float = 0.3


@dataclass
class SeekAvoidState:
    """Where everything is: the task factors of one moment.

    :param agent: agent position (x, y).
    :param heading: agent heading in radians (0 looks along +x).
    :param objects: object positions (n, 2).
    :param good: whether each object is a good one.
    :param present: whether each object is still in the room.
    """

    agent: np.ndarray
    heading: float
    objects: np.ndarray
    good: np.ndarray
    present: np.ndarray

    def factors(self) -> np.ndarray:
        """Flat vector: agent x, y, heading, then per object x, y, good, present."""
        per_object = np.column_stack([self.objects, self.good, self.present]).ravel()
        return np.concatenate([self.agent, [self.heading], per_object]).astype(np.float32)

    @classmethod
    def from_factors(cls, values: np.ndarray, n_objects: int) -> "SeekAvoidState":
        """Inverse of :meth:`factors`."""
        values = np.asarray(values, dtype=np.float64)
        objs = values[3 : 3 + 4 * n_objects].reshape(n_objects, 4)
        return cls(values[:2].copy(), float(values[2]), objs[:, :2].copy(), objs[:, 2] > 0.5, objs[:, 3] > 0.5)

    @staticmethod
    def factor_names(n_objects: int) -> list[str]:
        """Names of the entries of :meth:`factors`."""
        return ["agent_x", "agent_y", "heading"] + [f"object{i}_{k}" for i in range(n_objects) for k in ("x", "y", "good", "present")]


class Renderer(Protocol):
    """Draws a state in a domain as a uint8 frame (size, size, 3)."""

    def render(self, state: SeekAvoidState, domain: SeekAvoidDomain) -> np.ndarray:
        """Return the frame."""
        ...

    def render_batch(self, states: Sequence[SeekAvoidState], domains: Sequence[SeekAvoidDomain]) -> np.ndarray:
        """Return the frames (N, size, size, 3) of ``states``, each in its domain."""
        ...


class SeekAvoidEnv(DomainEnv):
    """The SeekAvoid task drawn by a renderer; subclasses choose the renderer.

    Observations are uint8 frames (size, size, 3); actions: 0 turn left, 1 turn right, 2 forward.
    ``info["factors"]`` holds the ground-truth factors (task state, then domain), named by
    :meth:`factor_names`; :meth:`render_factors` draws the frame of any factor vector.

    :param domain: a preset or group name, a JSON path, a dict, a :class:`SeekAvoidDomain`, or a
        list of these; with several, one is drawn per episode.
    :param config: task geometry and rules.
    :param size: side of the square frames.
    :param render_mode: ``"rgb_array"`` or None.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    catalogue = CATALOGUE
    #: whether the renderer draws a batch of frames faster than one at a time (then a VecEnv of these envs draws
    #: every env's frame of a step together: :class:`darla.vec_env.FrameBatchVecEnv`)
    draws_in_batches: bool = False
    # object slots of one kind look alike, so no code can tell which slot is where: score the agent's pose
    default_factors = ("agent_x", "agent_y", "heading", "domain")
    #: the renderer's horizontal field of view in radians; each renderer's env sets it
    field_of_view: float

    def __init__(
        self,
        domain: DomainSpec = "A_default",
        config: SeekAvoidConfig | None = None,
        size: int = 64,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(domain, size, render_mode)
        self.config = config or SeekAvoidConfig()
        self.renderer = self.make_renderer()
        self.action_space = gym.spaces.Discrete(3)
        self.state: SeekAvoidState | None = None
        self.pickups = 0
        #: when set, reset() and step() return a blank frame and append the scene they owe to :attr:`owed`
        self.defer_frames = False
        self.owed: list[tuple[SeekAvoidState, SeekAvoidDomain]] = []

    def make_renderer(self) -> Renderer:
        """The renderer this env draws with."""
        raise NotImplementedError

    @property
    def n_objects(self) -> int:
        """Object slots per episode."""
        return self.config.n_good + self.config.n_bad

    def factor_names(self) -> list[str]:
        """Names of the entries of ``info["factors"]``."""
        return SeekAvoidState.factor_names(self.n_objects) + SeekAvoidDomain.factor_names()

    def readout_names(self) -> list[str]:
        """Names of the columns of :meth:`readout`."""
        return ["good_ahead", "good_left", "bad_ahead", "bad_left"]

    def _egocentric(self, task: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row and object: (ahead, left) offsets in the agent's frame, and the (n, objects, 4) object block."""
        task = np.atleast_2d(np.asarray(task, dtype=np.float64))
        objects = task[:, 3 : 3 + 4 * self.n_objects].reshape(len(task), self.n_objects, 4)
        offset = objects[..., :2] - task[:, None, :2]
        cos, sin = np.cos(task[:, 2])[:, None], np.sin(task[:, 2])[:, None]
        return offset[..., 0] * cos + offset[..., 1] * sin, offset[..., 1] * cos - offset[..., 0] * sin, objects

    def readout(self, task: np.ndarray) -> np.ndarray:
        """What a policy needs from each task-factor row: where the nearest present good and the
        nearest present bad object are in the agent's own frame (ahead, left; world units), or
        (0, 0) where none of that kind is left.

        :param task: task-factor rows (N, 3 + 4 * objects), laid out as ``info["factors"]`` begins.
        :return: (N, 4), columns named by :meth:`readout_names`.
        """
        ahead, left, objects = self._egocentric(task)
        distance = np.where(objects[..., 3] > 0.5, np.hypot(ahead, left), np.inf)
        rows = np.arange(len(objects))
        columns = []
        for good in (True, False):
            of_kind = np.where((objects[..., 2] > 0.5) == good, distance, np.inf)
            nearest = of_kind.argmin(axis=1)
            found = np.isfinite(of_kind.min(axis=1))
            columns += [np.where(found, ahead[rows, nearest], 0.0), np.where(found, left[rows, nearest], 0.0)]
        return np.stack(columns, axis=1)

    def objects_in_view(self, task: np.ndarray) -> np.ndarray:
        """Whether each task-factor row shows an object: one still present, in front of the agent
        and inside the renderer's horizontal field of view.

        :param task: task-factor rows, as for :meth:`readout`.
        :return: bool (N,).
        """
        ahead, left, objects = self._egocentric(task)
        inside = (ahead > 0) & (np.abs(np.arctan2(left, ahead)) < self.field_of_view / 2)
        return (inside & (objects[..., 3] > 0.5)).any(axis=1)

    def wall_ahead(self, task: np.ndarray) -> np.ndarray:
        """How far the agent of each task-factor row stands from the wall straight ahead (world
        units): near 0 for the wall close-ups a random walk drifts into.

        :param task: task-factor rows, as for :meth:`readout`.
        :return: float (N,).
        """
        task = np.atleast_2d(np.asarray(task, dtype=np.float64))
        reach = []
        for axis, angle in ((0, task[:, 2]), (1, task[:, 2] - np.pi / 2)):
            along = np.cos(angle)
            # a heading parallel to a wall never meets it
            with np.errstate(divide="ignore"):
                reach.append(np.where(along > 0, self.config.room_size - task[:, axis], -task[:, axis]) / along)
        return np.minimum(*(np.where(np.isfinite(r) & (r >= 0), r, np.inf) for r in reach))

    def _info(self) -> dict[str, Any]:
        assert self.state is not None
        return {
            "factors": np.concatenate([self.state.factors(), self._domain_factors]),
            "domain": self.domain.name,
            "pickups": self.pickups,
        }

    def _place(self) -> SeekAvoidState:
        cfg = self.config
        rng = self.np_random
        margin = cfg.agent_radius + 0.2
        agent = rng.uniform(margin, cfg.room_size - margin, size=2)
        objects: list[np.ndarray] = []
        while len(objects) < self.n_objects:
            p = rng.uniform(margin, cfg.room_size - margin, size=2)
            # keep objects apart and out of immediate reach, so no pickup is free
            if np.linalg.norm(p - agent) > 2 * cfg.pickup_radius and all(np.linalg.norm(p - q) > 1.0 for q in objects):
                objects.append(p)
        good = np.arange(self.n_objects) < cfg.n_good
        return SeekAvoidState(agent, float(rng.uniform(-np.pi, np.pi)), np.array(objects), good, np.ones(self.n_objects, bool))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode: draw the domain (from its own generator, so the task's random
        stream is the same in every domain), then the agent and objects."""
        super().reset(seed=seed)
        self.domain = self.domain_draw.draw(seed)
        self._domain_factors = self.domain.factors()
        self.state = self._place()
        self.pickups = 0
        return self._observe(), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Turn or walk, then pick up whatever is within reach."""
        if self.state is None:
            raise DarlaError("step() called before reset(): call env.reset() first")
        if np.ndim(action) != 0 or action not in (TURN_LEFT, TURN_RIGHT, FORWARD):
            raise DarlaError(f"invalid action {action!r}: use 0 (turn left), 1 (turn right) or 2 (forward)")
        cfg, s = self.config, self.state
        action = int(action)
        if action == TURN_LEFT:
            s.heading = float((s.heading + cfg.turn + np.pi) % (2 * np.pi) - np.pi)
        elif action == TURN_RIGHT:
            s.heading = float((s.heading - cfg.turn + np.pi) % (2 * np.pi) - np.pi)
        else:
            move = cfg.step * np.array([np.cos(s.heading), np.sin(s.heading)])
            s.agent = np.clip(s.agent + move, cfg.agent_radius, cfg.room_size - cfg.agent_radius)
        reached = s.present & (((s.objects - s.agent) ** 2).sum(axis=1) < cfg.pickup_radius**2)
        reward = float(np.where(s.good[reached], 1.0, -1.0).sum())
        s.present = s.present & ~reached
        self.pickups += int(reached.sum())
        terminated = self.pickups >= cfg.max_pickups or not s.present.any()
        return self._observe(), reward, terminated, False, self._info()

    def _observe(self) -> np.ndarray:
        assert self.state is not None
        if self.defer_frames:
            # a shallow copy keeps the scene: step() gives the state new arrays, it never writes into them
            self.owed.append((dataclasses.replace(self.state), self.domain))
            return np.zeros(self.observation_space.shape, np.uint8)
        return self.renderer.render(self.state, self.domain)

    def render(self) -> np.ndarray | None:
        """The current frame (the observation), for ``render_mode="rgb_array"``."""
        if self.render_mode != "rgb_array" or self.state is None:
            return None
        return self.renderer.render(self.state, self.domain)

    def draw(self, scenes: Sequence[tuple[SeekAvoidState, SeekAvoidDomain]]) -> np.ndarray:
        """The frames (N, size, size, 3) of (state, domain) scenes, in their order, drawn in batches (see the renderer's
        ``render_batch``).

        :param scenes: what :attr:`owed` holds, of this env or of any other with the same size and config.
        """
        frames = np.empty((len(scenes), *self.observation_space.shape), np.uint8)
        for start in range(0, len(scenes), DRAW_BATCH):
            states, domains = zip(*scenes[start : start + DRAW_BATCH])
            frames[start : start + len(states)] = self.renderer.render_batch(states, domains)
        return frames

    def render_factors(self, factors: np.ndarray) -> np.ndarray:
        """The frame for a factor vector laid out as ``info["factors"]``."""
        return self.draw([self._scene(check_factors(factors, self.factor_names()))])[0]

    def render_rows(self, factors: np.ndarray) -> np.ndarray:
        """The frames (N, size, size, 3) of factor rows (N, F) laid out as ``info["factors"]``, in the rows' order,
        drawn in batches (:meth:`draw`)."""
        factors = np.asarray(factors, dtype=np.float64)
        width = len(self.factor_names())
        if factors.ndim != 2 or factors.shape[1] != width:
            raise DarlaError(f"factor rows must be (N, F), got shape {factors.shape}: stack the factor vectors ({width} entries, "
                             "named by factor_names()), one row each")
        return self.draw([self._scene(row) for row in factors])

    def _scene(self, factors: np.ndarray) -> tuple[SeekAvoidState, SeekAvoidDomain]:
        n_task = 3 + 4 * self.n_objects
        return (SeekAvoidState.from_factors(factors[:n_task], self.n_objects),
                SeekAvoidDomain.from_factors(factors[n_task:], name="from_factors"))

    def without_objects(self, factors: np.ndarray) -> np.ndarray:
        """``factors`` with every object's present flag cleared: the empty room, from the same pose."""
        empty = check_factors(factors, self.factor_names()).copy()
        empty[3 + 3 : 3 + 4 * self.n_objects : 4] = 0.0
        return empty


def kinds_of(state: SeekAvoidState, domain: SeekAvoidDomain) -> list[str]:
    """The kind of each object (can, hat, balloon or cake) in this domain."""
    good_kind, bad_kind = OBJECT_SETS[domain.object_set]
    return [good_kind if g else bad_kind for g in state.good]

