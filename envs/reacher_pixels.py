"""ReacherPixels: Gymnasium's MuJoCo Reacher seen as small frames, in a look chosen by a domain.

The arm, physics, rewards and time limit are Reacher-v5's own; only the colours of the arm,
the target, the floor and the background (and a tint on the frame) change between domains,
which makes it a continuous-control analogue of DARLA's Jaco arm for zero-shot transfer.
"""

from __future__ import annotations

import dataclasses
import os

# users run headless; MuJoCo's renderer reads this when its first GL context is made
os.environ.setdefault("MUJOCO_GL", "egl")

from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

from darla.errors import DarlaError  # noqa: E402

try:
    import mujoco
    from gymnasium.envs.mujoco.mujoco_rendering import OffScreenViewer
    from gymnasium.envs.mujoco.reacher_v5 import ReacherEnv
except ModuleNotFoundError as exc:
    if exc.name != "mujoco":
        raise
    raise DarlaError("darla/ReacherPixels-v0 needs MuJoCo: pip install 'darla[mujoco]', or use darla/SeekAvoid2D-v0") from None

from envs.base import DomainEnv  # noqa: E402
from envs.domains import COLOURS, DomainCatalogue, DomainSpec, Domain, check_factors, colour  # noqa: E402

__all__ = ["CATALOGUE", "ReacherDomain", "ReacherPixelsEnv"]

_SKY = "background"
#: the arm as drawn: one massless capsule per link, body -> (geom name, length), the second link's
#: running to the fingertip, where Reacher measures its distance to the target; the stock links
#: (radius 0.01, two pixels wide at 64x64) lie inside them
_DRAWN_LINKS = {"body0": ("drawn_link0", 0.1), "body1": ("drawn_link1", 0.11)}
_ARM_RADIUS = 0.025
#: the Reacher geoms each domain colour paints (the pink arena border and arm root keep stock colours)
_PARTS: dict[str, tuple[str, ...]] = {
    "arm_colour": ("link0", "link1", "fingertip", *(name for name, _ in _DRAWN_LINKS.values())),
    "target_colour": ("target",),
    "floor_colour": ("ground",),
}
#: half the side of the square of floor the camera sees, straight down from above: the arm reaches
#: 0.21 from the centre and the target lies within 0.2, so a little of the background shows beyond
#: the floor at the corners
_VIEW_HALF_WIDTH = 0.26
_FLOOR_HALF_WIDTH = 0.22
#: the target's radius as drawn (stock: 0.009, one pixel at 64x64); the target body never moves
#: and touches nothing, so its size changes no dynamics
_TARGET_RADIUS = 0.03
#: MuJoCo's default vertical field of view, in degrees, which Reacher keeps
_FIELD_OF_VIEW = 45.0
_TASK_FACTORS = ("cos_joint0", "sin_joint0", "cos_joint1", "sin_joint1", "target_x", "target_y", "fingertip_x", "fingertip_y")


@dataclass(frozen=True)
class ReacherDomain(Domain):
    """The look of a Reacher scene; the defaults are the nearest table colours to stock Reacher.

    :param arm_colour: colour of the two arm links and the fingertip.
    :param target_colour: colour of the target.
    :param floor_colour: colour of the floor plane.
    :param background_colour: colour of the sky beyond the floor.
    """

    arm_colour: str = colour("teal")
    target_colour: str = colour("red")
    floor_colour: str = colour("white")
    background_colour: str = colour("black")


_RECOLOURINGS: dict[str, dict[str, str]] = {
    "default": {},
    "purple_arm": {"arm_colour": "purple"},
    "blue_background": {"background_colour": "blue"},
    "beige_floor": {"floor_colour": "beige", "target_colour": "yellow"},
    # held out: arm and background recoloured together, seen apart in training ...
    "purple_arm_blue_background": {"arm_colour": "purple", "background_colour": "blue"},
    # ... and in colours training never shows
    "orange_arm_green_background": {"arm_colour": "orange", "background_colour": "green"},
}

CATALOGUE = DomainCatalogue(
    ReacherDomain,
    presets={name: ReacherDomain(name=name, **fields) for name, fields in _RECOLOURINGS.items()},
    groups={
        "train": ("default", "purple_arm", "blue_background", "beige_floor"),
        "target": ("purple_arm_blue_background", "orange_arm_green_background"),
    },
)


class _ReacherWithSky(ReacherEnv):
    """Stock Reacher drawn for small frames: a plain skybox (without one MuJoCo clears the
    background to black, and the background colour needs texels to paint), a floor no larger than
    the reach, so that background shows around it, and an arm and a target big enough to see."""

    def _initialize_simulation(self) -> tuple[mujoco.MjModel, mujoco.MjData]:
        spec = mujoco.MjSpec.from_file(self.fullpath)
        spec.add_texture(name=_SKY, type=mujoco.mjtTexture.mjTEXTURE_SKYBOX, builtin=mujoco.mjtBuiltin.mjBUILTIN_FLAT, width=1, height=1)
        # the ground and the target touch nothing (contype and conaffinity 0): resizing them is only drawing
        spec.geom("ground").size[:2] = _FLOOR_HALF_WIDTH
        spec.geom("target").size[0] = _TARGET_RADIUS
        # massless and touching nothing, the drawn links leave the bodies' mass and inertia as they were
        for body, (name, length) in _DRAWN_LINKS.items():
            spec.body(body).add_geom(name=name, type=mujoco.mjtGeom.mjGEOM_CAPSULE, fromto=[0, 0, 0, length, 0, 0],
                                     size=[_ARM_RADIUS, 0, 0], contype=0, conaffinity=0, mass=0)
        # the offscreen buffer must hold a whole frame, as the stock loader ensures
        spec.visual.global_.offwidth = max(spec.visual.global_.offwidth, self.width)
        spec.visual.global_.offheight = max(spec.visual.global_.offheight, self.height)
        # multisampling makes each read of the offscreen buffer resolve it first: with it, reading the
        # pixels took four fifths of a step under Mesa's software EGL (measured: 320 vs 1,280 steps/s)
        spec.visual.quality.offsamples = 0
        model = spec.compile()
        return model, mujoco.MjData(model)


class ReacherPixelsEnv(DomainEnv):
    """Reacher-v5 observed as uint8 frames ``(size, size, 3)``, drawn in a domain's colours.

    Actions, rewards, terminations and the 50-step time limit are Reacher-v5's. ``info`` holds
    Reacher's reward terms, the domain's name and ``factors``: the task factors (cosine and sine of
    both joint angles, target x, y, fingertip x, y) then the domain's, named by
    :meth:`factor_names`; :meth:`render_factors` draws the frame of any factor vector.

    :param domain: a preset or group name, a JSON path, a dict, a :class:`ReacherDomain`, or a
        list of these; with several, one is drawn per episode.
    :param size: side of the square frames, in pixels.
    :param render_mode: ``"rgb_array"`` or None.
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"]}
    catalogue = CATALOGUE

    def __init__(self, domain: DomainSpec = "default", size: int = 64, render_mode: str | None = None) -> None:
        super().__init__(domain, size, render_mode)
        # Reacher-v5's registered spec with a skybox added, so its wrappers (time limit included) stay
        spec = dataclasses.replace(gym.spec("Reacher-v5"), entry_point=_ReacherWithSky)
        # straight down on the arena centre, x to the right: every episode and domain has one camera
        # (stock Reacher aims at the geoms' median at the first render, which depends on the episode)
        camera = {"lookat": np.zeros(3), "elevation": -90.0, "azimuth": 90.0,
                  "distance": _VIEW_HALF_WIDTH / np.tan(np.radians(_FIELD_OF_VIEW / 2))}
        self._reacher = gym.make(spec, render_mode="rgb_array", width=size, height=size, default_camera_config=camera)
        self._sim: ReacherEnv = self._reacher.unwrapped  # type: ignore[assignment]
        # Reacher works its frame rate out from its time step when it is made
        self.metadata = {**self.metadata, "render_fps": self._sim.metadata["render_fps"]}
        self._viewer = self._open_viewer()
        self.action_space = self._reacher.action_space
        self._apply(self.domain)

    def _open_viewer(self) -> OffScreenViewer:
        """Make the GL context now, so a machine that cannot render fails here with advice."""
        reason = ""
        try:
            self._sim.mujoco_renderer.render("rgb_array")
        # any failure while making the context means the same thing: no working offscreen GL
        except Exception as exc:  # noqa: BLE001
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if reason:
            # raised outside the handler so that the half-made viewer held by the failure's
            # traceback is freed now, not at some later garbage collection
            raise DarlaError(
                f"MuJoCo cannot render offscreen ({reason}); set MUJOCO_GL=egl and install EGL (Debian/Ubuntu: apt-get install libegl1)"
            )
        return self._sim.mujoco_renderer.viewer

    def _apply(self, domain: ReacherDomain) -> None:
        """Paint the model in the domain's colours (the tint is applied to frames instead)."""
        model = self._sim.model
        for field, geoms in _PARTS.items():
            rgba = (*(np.array(COLOURS[getattr(domain, field)]) / 255.0), 1.0)
            for geom in geoms:
                model.geom(geom).rgba = rgba
        sky = model.tex(_SKY)
        texels = model.tex_data[sky.adr[0] : sky.adr[0] + sky.width[0] * sky.height[0] * sky.nchannel[0]]
        texels.reshape(-1, sky.nchannel[0])[:, :3] = COLOURS[domain.background_colour]
        # the GPU holds its own copy of each texture, made when this env's context was created
        self._viewer.make_context_current()
        mujoco.mjr_uploadTexture(model, self._viewer.con, sky.id)

    def factor_names(self) -> list[str]:
        """Names of the entries of ``info["factors"]``."""
        return [*_TASK_FACTORS, *ReacherDomain.factor_names()]

    def readout_names(self) -> list[str]:
        """Names of the columns of :meth:`readout`."""
        return ["to_target_x", "to_target_y", "cos_joint0", "sin_joint0", "cos_joint1", "sin_joint1"]

    def readout(self, task: np.ndarray) -> np.ndarray:
        """What a policy needs from each task-factor row: the fingertip-to-target vector and the
        joint angles' cosines and sines.

        :param task: task-factor rows (N, 8), laid out as ``info["factors"]`` begins.
        :return: (N, 6), columns named by :meth:`readout_names`.
        """
        task = np.atleast_2d(np.asarray(task, dtype=np.float64))
        return np.column_stack([task[:, 4:6] - task[:, 6:8], task[:, :4]])

    def objects_in_view(self, task: np.ndarray) -> np.ndarray:
        """Whether each row shows the target: always, since the camera sees all the target can reach.

        :param task: task-factor rows (N, 8).
        """
        return np.ones(len(np.atleast_2d(task)), bool)

    def _task_factors(self) -> np.ndarray:
        data = self._sim.data
        angles = data.qpos[:2]
        trig = np.column_stack([np.cos(angles), np.sin(angles)]).ravel()
        return np.concatenate([trig, data.qpos[2:4], data.body("fingertip").xpos[:2]]).astype(np.float32)

    def _info(self, reacher_info: dict[str, Any]) -> dict[str, Any]:
        return {
            **reacher_info,
            "factors": np.concatenate([self._task_factors(), self.domain.factors()]),
            "domain": self.domain.name,
        }

    def _render(self, domain: ReacherDomain) -> np.ndarray:
        # each env has its own GL context and several may live in one process (vector envs)
        self._viewer.make_context_current()
        return domain.tinted(self._sim.mujoco_renderer.render("rgb_array"))

    def _observe(self) -> np.ndarray:
        return self._render(self.domain)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode: draw the domain (from its own generator, so Reacher's random stream
        is the same in every domain), then let Reacher place the arm and target.

        :param seed: seeds Reacher and the domain draw.
        :param options: passed to Reacher.
        :return: the first frame and the info.
        """
        super().reset(seed=seed)
        self.domain = self.domain_draw.draw(seed)
        self._apply(self.domain)
        _, info = self._reacher.reset(seed=seed, options=options)
        return self._observe(), self._info(info)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Step Reacher with the action and observe the frame.

        :param action: joint torques in [-1, 1], as Reacher takes them.
        :return: frame, Reacher's reward, terminated, truncated and the info.
        """
        _, reward, terminated, truncated, info = self._reacher.step(action)
        # mj_step leaves body poses from an intermediate stage of its integrator; recompute them from
        # the final joint angles so the frame shows the state the factors describe (the next
        # mj_step recomputes them anyway, so dynamics are untouched)
        mujoco.mj_kinematics(self._sim.model, self._sim.data)
        return self._observe(), float(reward), terminated, truncated, self._info(info)

    def render(self) -> np.ndarray | None:
        """The current frame (the observation), for ``render_mode="rgb_array"``."""
        if self.render_mode != "rgb_array":
            return None
        return self._observe()

    def render_factors(self, factors: np.ndarray) -> np.ndarray:
        """The frame for a factor vector laid out as ``info["factors"]``, leaving the episode as it was.

        The fingertip entries are ignored: the joint angles determine the fingertip. From the
        float32 factors of ``info`` this redraws the observation exactly, bar the odd pixel on an
        edge that rounding moves (measured: 6 of 3,000 frames, one pixel each).

        :param factors: task factors then domain factors, as :meth:`factor_names` names them.
        :return: a uint8 frame ``(size, size, 3)``.
        """
        factors = check_factors(factors, self.factor_names())
        task = factors[: len(_TASK_FACTORS)]
        domain = ReacherDomain.from_factors(factors[len(_TASK_FACTORS) :], name="from_factors")
        model, data = self._sim.model, self._sim.data
        # only qpos and the poses mj_kinematics derives from it change; velocities, controls and
        # the solver's warm start are untouched, so restoring qpos restores the episode
        saved = data.qpos.copy()
        try:
            data.qpos[:2] = np.arctan2(task[[1, 3]], task[[0, 2]])
            data.qpos[2:4] = task[4:6]
            mujoco.mj_kinematics(model, data)
            self._apply(domain)
            return self._render(domain)
        finally:
            data.qpos[:] = saved
            mujoco.mj_kinematics(model, data)
            self._apply(self.domain)

    def close(self) -> None:
        """Release Reacher and its GL context."""
        # free the GL objects while their own context is current: left to garbage collection, they
        # are deleted in whichever context is current then, which wrecks another env's frames
        self._viewer.make_context_current()
        self._viewer.con.free()
        self._reacher.close()
