"""darla/SeekAvoid-v0: SeekAvoid drawn by MiniWorld, checked with numbers on 64x64 frames."""

from __future__ import annotations

import functools
import itertools
from collections import OrderedDict

import numpy as np
import pytest

pyglet = pytest.importorskip("pyglet")
# off-screen EGL rendering; pyglet reads this when MiniWorld first imports pyglet.gl
pyglet.options["headless"] = True
pytest.importorskip("miniworld")

from gymnasium.utils.env_checker import check_env as gym_check_env  # noqa: E402
from stable_baselines3.common.env_checker import check_env as sb3_check_env  # noqa: E402

from darla.errors import DarlaError  # noqa: E402
from envs import seek_avoid_3d  # noqa: E402
from envs.domains import TEXTURES  # noqa: E402
from envs.seek_avoid import (  # noqa: E402
    CATALOGUE,
    FORWARD,
    OBJECT_KINDS,
    OBJECT_SETS,
    TURN_LEFT,
    TURN_RIGHT,
    SeekAvoidConfig,
    SeekAvoidDomain,
    SeekAvoidState,
)
from envs.seek_avoid_3d import OBJECTS, MiniWorldRenderer, SeekAvoid3DEnv  # noqa: E402

SIZE = 64


@pytest.fixture(scope="module")
def renderer() -> MiniWorldRenderer:
    return MiniWorldRenderer(SIZE, SeekAvoidConfig())


def one_object(angle: float, good: bool = True, distance: float = 2.5, present: bool = True) -> SeekAvoidState:
    """The agent mid-room, heading 2 rad; one object ``angle`` radians to its left."""
    agent, heading = np.array([4.0, 4.0]), 2.0
    obj = agent + distance * np.array([np.cos(heading + angle), np.sin(heading + angle)])
    return SeekAvoidState(agent, heading, obj[None], np.array([good]), np.array([present]))


def object_pixels(renderer: MiniWorldRenderer, state: SeekAvoidState, domain: SeekAvoidDomain) -> np.ndarray:
    """Mask of the pixels the state's object covers: where the frame differs from the empty room."""
    empty = SeekAvoidState(state.agent, state.heading, state.objects, state.good, ~state.present)
    diff = np.abs(renderer.render(state, domain).astype(int) - renderer.render(empty, domain).astype(int))
    return diff.sum(-1) > 30


def seek(factors: np.ndarray, n_objects: int, turn: float) -> int:
    """Turn toward the nearest object still present and walk when facing it: a policy that picks up."""
    x, y, heading = factors[:3]
    objects = factors[3 : 3 + 4 * n_objects].reshape(n_objects, 4)
    rel = objects[objects[:, 3] > 0.5, :2] - (x, y)
    target = rel[np.argmin(np.hypot(rel[:, 0], rel[:, 1]))]
    angle = (np.arctan2(target[1], target[0]) - heading + np.pi) % (2 * np.pi) - np.pi
    if abs(angle) <= turn / 2:
        return FORWARD
    return TURN_LEFT if angle > 0 else TURN_RIGHT


# constructed directly, without a registered spec, the checker cannot try other render modes
@pytest.mark.filterwarnings("ignore:.*not having a spec")
@pytest.mark.parametrize("kwargs", [{}, {"domain": "train", "render_mode": "rgb_array"}])
def test_both_env_checkers_pass(kwargs: dict) -> None:
    env = SeekAvoid3DEnv(**kwargs)
    gym_check_env(env)
    sb3_check_env(env)


def test_observations_are_uint8_frames_and_turning_changes_them() -> None:
    env = SeekAvoid3DEnv()
    obs, _ = env.reset(seed=0)
    assert obs.shape == (SIZE, SIZE, 3) and obs.dtype == np.uint8
    turned = env.step(TURN_LEFT)[0]
    assert np.abs(turned.astype(int) - obs.astype(int)).mean() > 2


def test_domains_change_pixels_only_and_factors_redraw_the_frame() -> None:
    pair = [SeekAvoid3DEnv(domain="A_default"), SeekAvoid3DEnv(domain="A_alternate")]
    n_task = 3 + 4 * pair[0].n_objects
    steps = [env.reset(seed=3) for env in pair]
    rewards, outcomes, frames, redraw_error = [], [], [], 0
    for _ in range(60):
        action = seek(steps[0][-1]["factors"], pair[0].n_objects, pair[0].config.turn)
        steps = [env.step(action) for env in pair]
        outcomes.append([(r, term, trunc, info["factors"][:n_task].tobytes()) for _, r, term, trunc, info in steps])
        frames.append([obs for obs, *_ in steps])
        rewards.append(steps[0][1])
        for env, (obs, *_, info) in zip(pair, steps):
            redraw_error = max(redraw_error, np.abs(env.render_factors(info["factors"]).astype(int) - obs).max())
        if steps[0][2]:
            steps = [env.reset() for env in pair]
    assert all(a == b for a, b in outcomes), "rewards, terminations and task factors match across domains"
    assert sum(r != 0 for r in rewards) >= 3, "the rollout exercises pickups"
    frames_a, frames_b = np.array(frames, dtype=int).transpose(1, 0, 2, 3, 4)
    assert np.abs(frames_a - frames_b).mean() > 20
    assert redraw_error == 0, "render_factors(info['factors']) reproduces the observation exactly"


@pytest.mark.parametrize("angle,columns", [(0.0, (24, 40)), (np.pi / 4, (0, 16)), (-np.pi / 4, (48, 64))])
def test_heading_maps_to_image_columns(renderer: MiniWorldRenderer, angle: float, columns: tuple[int, int]) -> None:
    """Straight ahead lands in the centre columns, 45 degrees left on the left, right on the right."""
    cols = np.nonzero(object_pixels(renderer, one_object(angle), CATALOGUE.presets["A_default"]).any(0))[0]
    assert cols.size >= 3 and columns[0] <= cols.min() and cols.max() < columns[1]


def test_object_kinds_look_different_and_the_same_in_every_room(renderer: MiniWorldRenderer) -> None:
    assert set(OBJECTS) == set(OBJECT_KINDS)
    frames, masks = {}, {}
    for name, domain in CATALOGUE.presets.items():
        for good, kind in zip((True, False), OBJECT_SETS[domain.object_set]):
            state = one_object(0.0, good=good, distance=1.5)
            frames[kind, name] = renderer.render(state, domain).astype(int)
            masks[kind, name] = object_pixels(renderer, state, domain)
    colour = {key: frames[key][masks[key]].mean(0) for key in frames}
    assert np.linalg.norm(colour["can", "A_default"] - colour["hat", "A_default"]) > 40
    by_kind = {kind: [c for (k, _), c in colour.items() if k == kind] for kind in OBJECT_KINDS}
    for a, b in itertools.combinations(OBJECT_KINDS, 2):
        assert min(np.linalg.norm(x - y) for x in by_kind[a] for y in by_kind[b]) > 40
    for kind, set_name in [("can", "A"), ("hat", "A"), ("balloon", "B"), ("cake", "B")]:
        default, alternate = (kind, f"{set_name}_default"), (kind, f"{set_name}_alternate")
        both = masks[default] & masks[alternate]
        # the room shows only through the antialiased edge: most of an object's pixels are equal
        assert (frames[default][both] == frames[alternate][both]).all(-1).mean() > 0.5


def test_textures_and_tint_change_the_room(renderer: MiniWorldRenderer) -> None:
    state = one_object(0.0, present=False)
    frames = {t: renderer.render(state, SeekAvoidDomain(wall_texture=t, floor_texture=t)).astype(int) for t in TEXTURES}
    assert min(np.abs(frames[a] - frames[b]).mean() for a, b in itertools.combinations(TEXTURES, 2)) > 8
    tinted = renderer.render(state, SeekAvoidDomain(tint=(0.5, 1.0, 1.0))).astype(int)
    plain = frames["plain"]
    assert np.array_equal(tinted[..., 1:], plain[..., 1:])
    assert np.array_equal(tinted[..., 0], np.rint(plain[..., 0] * 0.5))


def test_renderers_and_looks_do_not_leak_into_each_other(renderer: MiniWorldRenderer) -> None:
    """MiniWorld shares one compiled room among all its worlds: each renderer must still draw its own."""
    state = one_object(0.3)
    default, alternate = CATALOGUE.presets["A_default"], CATALOGUE.presets["A_alternate"]
    first = renderer.render(state, default)
    other = MiniWorldRenderer(SIZE, SeekAvoidConfig()).render(state, alternate)
    assert np.abs(other.astype(int) - first).mean() > 20
    assert np.array_equal(renderer.render(state, default), first)
    renderer.render(state, alternate)
    assert np.array_equal(renderer.render(state, default), first)


def test_renderers_share_a_scene_per_look_and_redraw_an_evicted_look_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MiniWorldRenderer, "scenes", OrderedDict())
    monkeypatch.setattr(MiniWorldRenderer, "max_scenes", 2)
    state = one_object(0.3)
    first_renderer, second_renderer = MiniWorldRenderer(SIZE, SeekAvoidConfig()), MiniWorldRenderer(SIZE, SeekAvoidConfig())
    looks = [CATALOGUE.presets["A_alternate"], SeekAvoidDomain(wall_colour="purple", floor_colour="white"), CATALOGUE.presets["A_default"]]
    first = first_renderer.render(state, looks[0])
    # the default look (made by the constructors) and this one: two scenes for two renderers
    assert np.array_equal(second_renderer.render(state, looks[0]), first) and len(MiniWorldRenderer.scenes) == 2
    for look in looks[1:]:
        first_renderer.render(state, look)
    assert len(MiniWorldRenderer.scenes) == 2 and MiniWorldRenderer.scenes.get((SIZE, 8.0, ("red", "plain", "blue", "plain"))) is None
    assert np.array_equal(second_renderer.render(state, looks[0]), first)


def test_frames_resolved_without_the_depth_copy_are_miniworlds_own(renderer: MiniWorldRenderer) -> None:
    rng = np.random.default_rng(4)
    looks = [CATALOGUE.presets[name] for name in ("A_default", "A_alternate", "B_default", "B_beige_brown")]
    states = [one_object(angle, good=bool(i % 2), distance=distance)
              for i, (angle, distance) in enumerate(zip(rng.uniform(-0.8, 0.8, 12), rng.uniform(1.0, 4.0, 12)))]

    def frames() -> np.ndarray:
        return np.stack([renderer.render(state, look) for look in looks for state in states])

    ours = frames()
    scenes = list(MiniWorldRenderer.scenes.values())
    assert all("resolve" in scene.obs_fb.__dict__ for scene in scenes)
    for scene in scenes:  # MiniWorld's FrameBuffer.resolve again, colour and depth
        del scene.obs_fb.resolve
    try:
        theirs = frames()
    finally:
        for scene in scenes:
            scene.obs_fb.resolve = functools.partial(seek_avoid_3d._resolve_colour, scene.obs_fb)
    # the same frames bit for bit, and frames that differ from one another (objects near and far, four looks)
    assert np.array_equal(ours, theirs) and len({frame.tobytes() for frame in ours}) == len(ours)


def test_opengl_failure_is_a_one_line_darla_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoContext:
        def __init__(self, *args: object) -> None:
            raise RuntimeError("eglInitialize failed\nsecond line")

    monkeypatch.setattr(seek_avoid_3d, "_Scene", NoContext)
    # a fresh process: no scene made yet (this one shares those of the tests before)
    monkeypatch.setattr(seek_avoid_3d.MiniWorldRenderer, "scenes", OrderedDict())
    with pytest.raises(DarlaError) as err:
        SeekAvoid3DEnv()
    message = str(err.value)
    assert "\n" not in message and "libegl1" in message and "SeekAvoid2D-v0" in message
