"""SeekAvoid drawn in 3D by MiniWorld: a first-person view of the room (``darla/SeekAvoid-v0``).

MiniWorld serves only as scene and camera; the task and its dynamics stay in
:class:`~envs.seek_avoid.SeekAvoidEnv`, so this env and ``darla/SeekAvoid2D-v0`` run the identical
task. Rendering is off-screen through EGL, so no display is needed. Importing this module raises
:class:`~darla.errors.DarlaError` where MiniWorld or a working OpenGL is missing.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from ctypes import POINTER
from typing import Any, ClassVar

import numpy as np

from darla.errors import DarlaError
from envs.domains import COLOURS, positions_by
from envs.seek_avoid import SeekAvoidConfig, SeekAvoidDomain, SeekAvoidEnv, SeekAvoidState, kinds_of


def _no_opengl(exc: BaseException) -> DarlaError:
    """The one-line error for a machine where MiniWorld cannot open an OpenGL context."""
    reason = (str(exc).splitlines() or [type(exc).__name__])[0]
    return DarlaError(
        f"darla/SeekAvoid-v0 needs OpenGL through EGL ({reason}): install Debian's libegl1 and "
        "libgl1-mesa-dri (or your GPU driver's EGL), or use the pure-NumPy darla/SeekAvoid2D-v0"
    )


# Mesa's software rasteriser (llvmpipe) otherwise splits each 64x64 frame among a thread per core and waits for
# them; drawn in the calling thread, the frames are the same bit for bit and a lone env steps faster
# (benchmarks/bench_miniworld.py). Read when the first GL context is made; a value the user set is kept.
os.environ.setdefault("LP_NUM_THREADS", "0")

try:
    import pyglet

    # off-screen rendering through EGL, so no display is needed; pyglet reads this option when
    # miniworld first imports pyglet.gl
    pyglet.options["headless"] = True
    # pyglet otherwise asks the driver for an error after each GL call, some 150 calls a frame, in Python; the
    # frames are the same without it (read when pyglet.gl is first imported, as the option above)
    pyglet.options["debug_gl"] = False
    from miniworld.entity import Box, Entity, MeshEnt
    from miniworld.miniworld import MiniWorldEnv
    from miniworld.opengl import Texture
    from miniworld.params import DEFAULT_PARAMS
    from pyglet.gl import (
        GL_COLOR_BUFFER_BIT,
        GL_DRAW_FRAMEBUFFER,
        GL_FRAMEBUFFER,
        GL_LINEAR,
        GL_PACK_ALIGNMENT,
        GL_READ_FRAMEBUFFER,
        GL_RGB,
        GL_TEXTURE_2D,
        GL_UNSIGNED_BYTE,
        GLubyte,
        glBindFramebuffer,
        glBlitFramebuffer,
        glColor3f,
        glDisable,
        glPixelStorei,
        glPopMatrix,
        glPushMatrix,
        glReadPixels,
        glTranslatef,
        gluNewQuadric,
        gluSphere,
    )
except ModuleNotFoundError as exc:
    if exc.name not in ("miniworld", "pyglet"):
        raise
    raise DarlaError(
        "darla/SeekAvoid-v0 needs MiniWorld: pip install 'darla[miniworld]', or use the pure-NumPy darla/SeekAvoid2D-v0"
    ) from None
except Exception as exc:  # pyglet reports a missing EGL or driver with several exception types
    raise _no_opengl(exc) from None

#: eye height (m) and square field of view (degrees); DMLab's view is 90 degrees wide, and a
#: little wider keeps an object 45 degrees to the side in sight
EYE_HEIGHT = 0.8
FIELD_OF_VIEW = 100.0
#: MiniWorld maps 512 texels to a metre, so a texture this wide tiles the room every metre
TEXELS = 512
#: brightness of the darker cells of the stripes, checker and noise patterns
SHADE = 0.6


def _resolve_colour(frame_buffer: Any) -> np.ndarray:
    """``FrameBuffer.resolve`` without its copy of the depth buffer, which only MiniWorld's depth maps read: the same
    frame, the multisampled colour resolved as MiniWorld resolves it."""
    glBindFramebuffer(GL_READ_FRAMEBUFFER, frame_buffer.multi_fbo)
    glBindFramebuffer(GL_DRAW_FRAMEBUFFER, frame_buffer.final_fbo)
    width, height = frame_buffer.width, frame_buffer.height
    glBlitFramebuffer(0, 0, width, height, 0, 0, width, height, GL_COLOR_BUFFER_BIT, GL_LINEAR)
    glBindFramebuffer(GL_FRAMEBUFFER, frame_buffer.final_fbo)
    glPixelStorei(GL_PACK_ALIGNMENT, 1)
    glReadPixels(0, 0, width, height, GL_RGB, GL_UNSIGNED_BYTE, frame_buffer.img_array.ctypes.data_as(POINTER(GLubyte)))
    glBindFramebuffer(GL_FRAMEBUFFER, 0)
    # OpenGL's rows run bottom to top
    return np.ascontiguousarray(frame_buffer.img_array[::-1])


class Balloon(Entity):
    """A sphere in one colour, drawn by GLU: MiniWorld's ball mesh has 15,576 vertices, which
    halves the frame rate of a room holding three of them.

    :param colour: a colour of :data:`envs.domains.COLOURS`.
    :param diameter: size in metres.
    """

    def __init__(self, colour: str, diameter: float) -> None:
        super().__init__()
        self.rgb = np.array(COLOURS[colour]) / 255
        self.radius = diameter / 2
        self.height = diameter
        self.quadric = gluNewQuadric()

    def render(self) -> None:
        """Draw the sphere resting on its position."""
        glDisable(GL_TEXTURE_2D)
        glColor3f(*self.rgb)
        glPushMatrix()
        glTranslatef(self.pos[0], self.pos[1] + self.radius, self.pos[2])
        gluSphere(self.quadric, self.radius, 16, 12)
        glPopMatrix()


#: each object kind as a MiniWorld entity and its height above the floor; both are the same in
#: every domain, so only the object set decides which kinds a room holds
OBJECTS: dict[str, tuple[Callable[[], Entity], float]] = {
    "can": (lambda: MeshEnt("barrel", height=0.8, static=False), 0.0),
    "hat": (lambda: MeshEnt("cone", height=0.8, static=False), 0.0),
    "balloon": (lambda: Balloon("yellow", diameter=0.6), 0.4),
    "cake": (lambda: Box("purple", size=(0.8, 0.45, 0.8)), 0.0),
}


def pattern(texture: str) -> np.ndarray:
    """Brightness of one tile of a texture pattern, (TEXELS, TEXELS) in [SHADE, 1].

    :param texture: one of :data:`envs.domains.TEXTURES`.
    """
    cells = {
        "plain": np.ones((1, 1)),
        # on walls the tile's columns run along the wall: vertical stripes half a metre wide
        "stripes": np.array([[1.0, SHADE]]),
        "checker": np.array([[1.0, SHADE], [SHADE, 1.0]]),
        # a fixed seed: the same noise in every frame, run and process
        "noise": np.random.default_rng(0).uniform(SHADE, 1.0, (8, 8)),
    }[texture]
    return np.kron(cells, np.ones((TEXELS // cells.shape[0], TEXELS // cells.shape[1])))


def texture_name(colour: str, texture: str) -> str:
    """Generate a coloured pattern once per process and register it with MiniWorld by name.

    MiniWorld rooms take their textures by name from its texture cache, which otherwise only
    holds image files; an OpenGL context must be current.

    :param colour: a colour of :data:`envs.domains.COLOURS`.
    :param texture: one of :data:`envs.domains.TEXTURES`.
    :return: the name to give a MiniWorld room.
    """
    name = f"darla-{texture}-{colour}"
    if name not in Texture.tex_paths:
        rgb = (pattern(texture)[..., None] * np.array(COLOURS[colour])).astype(np.uint8)
        image = pyglet.image.ImageData(TEXELS, TEXELS, "RGB", rgb.tobytes())
        Texture.tex_cache[name] = Texture(image.get_mipmapped_texture(), name)
        Texture.tex_paths[name] = [name]
    return name


class _Scene(MiniWorldEnv):
    """One square room seen by the agent's camera; never stepped, only drawn."""

    # MiniWorld compiles every world's walls and floor into OpenGL display list 1, which all
    # its contexts share: the world that compiled it last is the one it draws
    compiled: ClassVar[_Scene | None] = None

    def __init__(self, size: int, room_size: float) -> None:
        self.room_size = room_size
        # stock MiniWorld textures until the first render paints the room
        self.wall_tex, self.floor_tex = "white", "white"
        params = DEFAULT_PARAMS.no_random()
        params.set("cam_height", EYE_HEIGHT)
        params.set("cam_fov_y", FIELD_OF_VIEW)
        params.set("light_pos", [room_size / 2, 2.5, room_size / 2])
        # MiniWorld prints a notice when the driver offers fewer multisamples than it asks for
        with contextlib.redirect_stdout(io.StringIO()):
            super().__init__(obs_width=size, obs_height=size, window_width=size, window_height=size, params=params)
        # MiniWorld resolves each frame's multisampled colour and depth into a second buffer, to read the frame; nothing
        # here reads the depth, whose copy cost a quarter of a frame's time (benchmarks/bench_miniworld.py)
        self.obs_fb.resolve = functools.partial(_resolve_colour, self.obs_fb)

    def _gen_world(self) -> None:
        size = self.room_size
        self.add_rect_room(0, size, 0, size, wall_tex=self.wall_tex, floor_tex=self.floor_tex, no_ceiling=True)
        self.place_agent(pos=np.array([size / 2, 0.0, size / 2]), dir=0.0)

    def _render_static(self) -> None:
        super()._render_static()
        _Scene.compiled = self

    def paint(self, wall_tex: str, floor_tex: str) -> None:
        """Rebuild the room with these MiniWorld texture names."""
        self.wall_tex, self.floor_tex = wall_tex, floor_tex
        self.reset()

    def render_obs(self, frame_buffer: Any = None) -> np.ndarray:
        """The agent's view, after recompiling the room if another scene has drawn since."""
        if _Scene.compiled is not self:
            self._render_static()
        return super().render_obs(frame_buffer)


class MiniWorldRenderer:
    """Draws SeekAvoid states as MiniWorld's first-person view from the agent.

    Our plane (x, y) is MiniWorld's (x, z) with z = room_size - y, which keeps the room's
    handedness: heading 0 looks along +x in both, and a positive (counterclockwise) heading
    turns left. Positions are drawn from their float32 values, as ``info["factors"]`` stores
    them, so :meth:`SeekAvoidEnv.render_factors` reproduces a live frame exactly.

    :param size: side of the square frames.
    :param config: the task geometry (the room's side).
    """

    #: the painted scenes of this process by (frame size, room size, look), shared by every renderer, newest use last:
    #: repainting a room rebuilds and recompiles it, and switching scenes only recompiles, so each look is painted once
    #: and frames in one look (a VecEnv's envs in one domain, a batch grouped by domain) need neither
    scenes: ClassVar[OrderedDict[tuple[int, float, tuple[str, str, str, str]], _Scene]] = OrderedDict()
    #: most scenes kept; the least recently drawn is closed past it
    max_scenes = 32

    def __init__(self, size: int, config: SeekAvoidConfig) -> None:
        self.size = size
        self.room_size = config.room_size
        try:
            self.params = self._scene(SeekAvoidDomain()).params
        except Exception as exc:  # a context or framebuffer the driver cannot make
            raise _no_opengl(exc) from None
        self._objects: dict[tuple[int, str], Entity] = {}

    def _scene(self, domain: SeekAvoidDomain) -> _Scene:
        """The scene painted in ``domain``'s look (wall colour and texture, floor colour and texture), made on first use."""
        look = (domain.wall_colour, domain.wall_texture, domain.floor_colour, domain.floor_texture)
        key = (self.size, self.room_size, look)
        scene = self.scenes.get(key)
        if scene is None:
            scene = self.scenes[key] = _Scene(self.size, self.room_size)
            scene.paint(texture_name(*look[:2]), texture_name(*look[2:]))
            if len(self.scenes) > self.max_scenes:
                self.scenes.popitem(last=False)[1].close()
        self.scenes.move_to_end(key)
        return scene

    def _world(self, xy: np.ndarray, lift: float = 0.0) -> np.ndarray:
        """MiniWorld position of a point of our plane."""
        # float32, as info["factors"] stores positions, so frames redrawn from factors are exact
        x, y = np.asarray(xy, dtype=np.float32)
        return np.array([x, lift, self.room_size - y])

    def _object(self, slot: int, kind: str) -> Entity:
        """The entity of object ``slot`` when it is of ``kind``, made on first use."""
        if (slot, kind) not in self._objects:
            make, _ = OBJECTS[kind]
            entity = make()
            entity.randomize(self.params, None)  # without a generator: the default colour
            entity.dir = 0.0
            self._objects[slot, kind] = entity
        return self._objects[slot, kind]

    def render(self, state: SeekAvoidState, domain: SeekAvoidDomain) -> np.ndarray:
        """Draw ``state`` in ``domain`` as a uint8 frame (size, size, 3).

        :param state: where the agent and the objects are.
        :param domain: the look of the room and which kinds the objects are.
        """
        scene = self._scene(domain)
        scene.agent.pos = self._world(state.agent)
        scene.agent.dir = float(np.float32(state.heading))  # float32 for the same reason
        scene.entities = []
        for slot, (kind, xy) in enumerate(zip(kinds_of(state, domain), state.objects)):
            if state.present[slot]:
                entity = self._object(slot, kind)
                entity.pos = self._world(xy, lift=OBJECTS[kind][1])
                scene.entities.append(entity)
        frame = scene.render_obs()
        return domain.tinted(frame)

    def render_batch(self, states: Sequence[SeekAvoidState], domains: Sequence[SeekAvoidDomain]) -> np.ndarray:
        """Draw each state in its domain (N, size, size, 3), grouped by domain: OpenGL draws a frame at a time, and the
        scenes switch once per domain of the batch instead of at every change of look."""
        frames = np.empty((len(states), self.size, self.size, 3), np.uint8)
        for domain, rows in positions_by(domains).items():
            for i in rows:
                frames[i] = self.render(states[i], domain)
        return frames


class SeekAvoid3DEnv(SeekAvoidEnv):
    """``darla/SeekAvoid-v0``: SeekAvoid drawn by :class:`MiniWorldRenderer` (needs OpenGL/EGL)."""

    # square frames: MiniWorld's vertical field of view is the horizontal one too
    field_of_view = float(np.radians(FIELD_OF_VIEW))

    def make_renderer(self) -> MiniWorldRenderer:
        """The MiniWorld renderer."""
        return MiniWorldRenderer(self.size, self.config)
