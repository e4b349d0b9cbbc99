"""Property-based inputs (Hypothesis): whatever a domain file, a frame array or a ``--hyperparams``
value holds, darla either accepts it or refuses it with a DarlaError, never another exception."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from stable_baselines3.common.vec_env import DummyVecEnv

import envs
from agents import hyperparams, make_agent
from darla.cli import _parse_set
from darla.errors import DarlaError
from darla.frames import FrameDataset
from envs.seek_avoid import SeekAvoidDomain

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=8)
FIELDS = [f for f in SeekAvoidDomain.__dataclass_fields__]
#: every value a choice field takes, so that valid domains are drawn as well as broken ones
CHOICES = sorted({c for f in SeekAvoidDomain.__dataclass_fields__.values() for c in f.metadata.get("choices", ())})
VALUES = st.sampled_from(CHOICES) | st.lists(st.floats(0, 3), min_size=3, max_size=3) | JSON


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), VALUES, max_size=5))
def test_any_domain_json_is_a_domain_or_one_error(data: dict) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "domain.json"
        path.write_text(json.dumps(data))
        try:
            domain = SeekAvoidDomain.load(path)
        except DarlaError:
            return
    # what is accepted draws: every choice is a known one and the tint three multipliers
    frame = domain.tinted(np.full((4, 4, 3), 100, np.uint8))
    assert frame.dtype == np.uint8 and len(domain.factors()) == len(SeekAvoidDomain.factor_names())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dtype=st.sampled_from([np.uint8, np.uint8, np.uint8, np.int16, np.float32, np.float64, np.bool_]),
       shape=st.lists(st.integers(0, 9), min_size=0, max_size=5)
       | st.tuples(st.integers(1, 5), st.integers(4, 8), st.sampled_from([1, 3, 4])).map(lambda t: [t[0], t[1], t[1], t[2]]),
       fill=st.integers(0, 255))
@example(dtype=np.uint8, shape=[2, 4, 4, 0], fill=9)
def test_any_frame_array_is_frames_or_one_error(dtype, shape: list[int], fill: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        np.save(Path(folder) / "f.npy", np.full(shape, fill).astype(dtype))
        try:
            frames = FrameDataset(folder)
        except DarlaError:
            return
        # accepted: uint8 (N, H, H, C) with pixels in it, and a batch reads back what was stored
        assert dtype == np.uint8 and len(shape) == 4 and shape[1] == shape[2] and min(shape) > 0
        assert np.array_equal(frames.get(np.arange(len(frames))), np.full(shape, fill, np.uint8))


@pytest.fixture(scope="module")
def pixel_env():
    env = DummyVecEnv([lambda: envs.make("darla/SeekAvoid2D-v0")])
    yield env
    env.close()


PPO_NAMES = ["learning_rate", "n_steps", "batch_size", "n_epochs", "gamma", "gae_lambda", "clip_range", "ent_coef",
             "vf_coef", "max_grad_norm", "policy", "normalize_advantage"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=st.sampled_from(PPO_NAMES), raw=st.one_of(st.text(max_size=10), JSON.map(json.dumps)))
def test_any_hyperparams_value_builds_an_agent_or_is_one_error(pixel_env, name: str, raw: str) -> None:
    try:
        value = _parse_set([f"{name}={raw}"], "--hyperparams")
        params = {**hyperparams("ppo", "darla/SeekAvoid2D-v0", "latent"), **value, "policy": value.get("policy", "MlpPolicy")}
        # a small, cheap-to-build policy: the property is about the values, not the network
        params["policy_kwargs"] = {"net_arch": [8]}
        agent = make_agent("ppo", "latent", pixel_env, params, seed=0, device="cpu")
    except DarlaError:
        return
    assert agent.n_envs == 1
