"""Latent wrappers and the extractor: codes equal the model's, checkers pass, terminals are encoded."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.vec_env import DummyVecEnv

import envs
from conftest import SMALL
from darla.errors import DarlaError
from darla.extractor import DarlaExtractor
from darla.models import build_model, frames_to_tensor, make_config
from darla.wrappers import FrameEncoder, LatentObservation, VecLatentObservation

ID = "darla/SeekAvoid2D-v0"


@pytest.fixture(scope="module")
def vision():
    """An untrained but fixed VAE on 64x64 frames: the wrappers only need a deterministic encoder."""
    torch.manual_seed(0)
    return build_model(make_config("vae", image_size=64, **SMALL)).eval()


@pytest.mark.parametrize("stack", [1, 3])
def test_latent_observation_passes_both_checkers(vision, stack: int) -> None:
    env = LatentObservation(gym.make(ID, domain="train"), vision, stack=stack, device="cpu")
    assert env.observation_space.shape == (stack * SMALL["latent_dim"],)
    assert np.isfinite(env.observation_space.low).all() and np.isfinite(env.observation_space.high).all()
    sb3_check_env(env)
    with pytest.warns(UserWarning, match="different from the unwrapped"):  # checking a wrapper is the point
        gym_check_env(env, skip_render_check=True)


def test_codes_are_the_models_latent_means(vision) -> None:
    env = gym.make(ID)
    frame, _ = env.reset(seed=0)
    wrapped = LatentObservation(gym.make(ID), vision, device="cpu", precision="fp32")
    code, _ = wrapped.reset(seed=0)
    assert np.allclose(code, vision.embed(frame[None]).numpy()[0], atol=1e-6)


def test_bfloat16_codes_stay_within_bfloat16s_rounding_of_float32s(vision) -> None:
    space = gym.make(ID).observation_space
    frames = np.stack([gym.make(ID, domain="train").reset(seed=s)[0] for s in range(64)])
    fp32, bf16 = (FrameEncoder(vision, space, device="cpu", precision=p)(frames) for p in ("fp32", "bf16"))
    assert not np.array_equal(fp32, bf16), "bfloat16 was not used"
    # an untrained model's codes hardly vary between frames, so the error is measured against their size
    assert np.abs(fp32 - bf16).max() < 0.02 * np.abs(fp32).max()
    with pytest.raises(DarlaError, match="unknown precision 'fp16'"):
        FrameEncoder(vision, space, device="cpu", precision="fp16")


def test_bfloat16_weights_give_autocasts_codes_bit_for_bit_and_leave_the_model_alone(vision) -> None:
    space = gym.make(ID).observation_space
    frames = np.stack([gym.make(ID, domain="train").reset(seed=s)[0] for s in range(64)])
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = vision.encode(frames_to_tensor(frames)).float().numpy()
    encoder = FrameEncoder(vision, space, device="cpu", precision="bf16", batch=16)
    assert np.array_equal(encoder(frames), autocast)
    # the caller's model keeps its float32 weights
    assert all(p.dtype == torch.float32 for p in vision.parameters())


def test_many_frames_are_encoded_a_pass_at_a_time_to_the_same_codes(vision) -> None:
    space = gym.make(ID).observation_space
    frames = np.stack([gym.make(ID, domain="train").reset(seed=s)[0] for s in range(10)])
    whole = FrameEncoder(vision, space, device="cpu", precision="fp32", batch=64)(frames)
    passes = FrameEncoder(vision, space, device="cpu", precision="fp32", batch=3)(frames)
    assert passes.shape == (10, vision.latent_dim) and np.allclose(passes, whole, atol=1e-6)
    assert FrameEncoder(vision, space, device="cpu", batch=3)(frames[:0]).shape == (0, vision.latent_dim)
    with pytest.raises(DarlaError, match="batch must be at least 1, got 0"):
        FrameEncoder(vision, space, device="cpu", batch=0)


def test_stacking_keeps_the_last_codes_in_order(vision) -> None:
    env = LatentObservation(gym.make(ID), vision, stack=3, device="cpu")
    first, _ = env.reset(seed=1)
    z = SMALL["latent_dim"]
    assert np.allclose(first[:z], first[z : 2 * z]) and np.allclose(first[:z], first[2 * z :])
    second, *_ = env.step(0)
    third, *_ = env.step(0)
    assert np.allclose(third[:z], first[:z]) and np.allclose(third[z : 2 * z], second[2 * z :])


def vec_env(n: int, steps: int = 6) -> DummyVecEnv:
    # short episodes, so terminal observations come quickly
    return DummyVecEnv([lambda: gym.make(ID, domain="train", max_episode_steps=steps) for _ in range(n)])


@pytest.mark.parametrize("stack", [1, 2])
def test_vec_wrapper_matches_per_env_wrapper_and_encodes_terminals(vision, stack: int) -> None:
    raw = vec_env(3)
    raw.seed(5)
    wrapped = VecLatentObservation(vec_env(3), vision, stack=stack, device="cpu", precision="fp32")
    wrapped.seed(5)
    frames, codes = raw.reset(), wrapped.reset()
    z = SMALL["latent_dim"]
    assert np.allclose(codes[:, -z:], vision.embed(frames).numpy(), atol=1e-5)
    terminals = 0
    for t in range(14):
        actions = np.array([t % 3] * 3)
        frames, _, dones, raw_infos = raw.step(actions)
        codes, _, wdones, infos = wrapped.step(actions)
        assert np.array_equal(dones, wdones)
        assert np.allclose(codes[:, -z:], vision.embed(frames).numpy(), atol=1e-5)
        for i in np.nonzero(dones)[0]:
            terminal = infos[i]["terminal_observation"]
            assert terminal.shape == (stack * z,)
            assert np.allclose(terminal[-z:], vision.embed(raw_infos[i]["terminal_observation"][None]).numpy()[0], atol=1e-5)
            # a fresh episode's stack holds only its first code
            assert np.allclose(codes[i], np.tile(codes[i, -z:], stack))
            terminals += 1
    assert terminals >= 3


def test_mismatched_frames_are_refused_or_resized(vision) -> None:
    small = envs.make(ID, size=32)
    with pytest.raises(DarlaError, match=r"32x32x3 but the vision model was trained on 64x64x3: pass resize=True"):
        LatentObservation(small, vision, device="cpu")
    env = LatentObservation(small, vision, resize=True, device="cpu")
    code, _ = env.reset(seed=0)
    assert code.shape == (SMALL["latent_dim"],) and np.isfinite(code).all()
    with pytest.raises(DarlaError, match="not uint8 frames"):
        LatentObservation(gym.make("CartPole-v1"), vision, device="cpu")


def test_extractor_is_frozen_by_default_and_trainable_on_request(vision, tmp_path: Path) -> None:
    for trainable in (False, True):
        env = DummyVecEnv([lambda: gym.make(ID)])
        torch.manual_seed(0)
        model = build_model(make_config("vae", image_size=64, **SMALL))
        before = {k: v.clone() for k, v in model.state_dict().items()}
        agent = PPO("CnnPolicy", env, n_steps=32, batch_size=32, n_epochs=1, device="cpu", seed=0,
                    policy_kwargs={"features_extractor_class": DarlaExtractor,
                                   "features_extractor_kwargs": {"vision": model, "trainable": trainable}})
        extractor = agent.policy.features_extractor
        assert all(torch.equal(before[k], v) for k, v in extractor.vision.state_dict().items()), \
            "building the policy keeps the pretrained weights"
        agent.learn(64)
        assert extractor.features_dim == SMALL["latent_dim"]
        changed = any(not torch.equal(before[k], v.cpu()) for k, v in extractor.vision.state_dict().items())
        assert changed == trainable
        assert extractor.vision.training == (trainable and agent.policy.training)


def test_general_wrappers_observe_only_the_domain_general_latents() -> None:
    torch.manual_seed(0)
    model = build_model(make_config("ada_gvae", image_size=64, **SMALL, general_latents=(1, 3, 6))).eval()
    frames = np.stack([gym.make(ID, domain="train").reset(seed=s)[0] for s in range(4)])
    whole = model.embed(frames).numpy()
    single = LatentObservation(gym.make(ID, domain="train"), model, device="cpu", precision="fp32", general=True)
    assert single.observation_space.shape == (3,)
    np.testing.assert_allclose(single.reset(seed=2)[0], whole[2, [1, 3, 6]], rtol=1e-5, atol=1e-6)
    venv = VecLatentObservation(DummyVecEnv([lambda: gym.make(ID, domain="train")] * 2), model, device="cpu", precision="fp32", general=True)
    venv.seed(0)
    assert venv.reset().shape == (2, 3)
    np.testing.assert_allclose(model.embed(frames, general=True).numpy(), whole[:, [1, 3, 6]])
    plain = build_model(make_config("vae", image_size=64, **SMALL)).eval()
    with pytest.raises(DarlaError, match="no domain-general latents"):
        LatentObservation(gym.make(ID), plain, device="cpu", precision="fp32", general=True)
    with pytest.raises(DarlaError, match="general_latents must be distinct latents"):
        make_config("ada_gvae", latent_dim=4, general_latents=(1, 4))


@pytest.mark.parametrize("extra", [{"variant": "vae"}, {"variant": "cycle_vae", "specific_dim": 3}], ids=["vae", "cycle_vae"])
def test_drawn_codes_follow_the_posterior_and_repeat_with_their_seed(extra: dict) -> None:
    torch.manual_seed(0)
    fields = dict(extra)
    model = build_model(make_config(fields.pop("variant"), image_size=64, **SMALL, **fields)).eval()
    space = gym.make(ID).observation_space
    frames = np.repeat(gym.make(ID, domain="train").reset(seed=0)[0][None], 4000, axis=0)
    drawn = FrameEncoder(model, space, device="cpu", precision="fp32", sample=7)(frames)
    means = FrameEncoder(model, space, device="cpu", precision="fp32")(frames[:1])[0]
    with torch.no_grad():
        mu, logvar = model.posterior(frames_to_tensor(frames[:1], model.device))
    sigma = torch.exp(0.5 * logvar)[0].numpy()
    drawn_part = drawn[:, : len(sigma)]
    # 4,000 draws of one frame: their mean within 4 standard errors of the posterior mean, their spread within 5% of
    # its sigma (the spread's own standard error is 1.1%)
    np.testing.assert_allclose(drawn_part.mean(axis=0), means[: len(sigma)], atol=4 * sigma.max() / np.sqrt(len(frames)))
    np.testing.assert_allclose(drawn_part.std(axis=0), sigma, rtol=0.05)
    # cycle_vae's specific code is a point, not a distribution: it is passed on as encoded
    np.testing.assert_allclose(drawn[:, len(sigma) :], np.broadcast_to(means[len(sigma) :], drawn[:, len(sigma) :].shape), atol=1e-5)
    again = FrameEncoder(model, space, device="cpu", precision="fp32", sample=7)(frames[:16])
    np.testing.assert_array_equal(again, drawn[:16])
    other = FrameEncoder(model, space, device="cpu", precision="fp32", sample=8)(frames[:16])
    assert not np.array_equal(other, again)


def test_a_model_without_a_posterior_refuses_to_draw_codes() -> None:
    model = build_model(make_config("ae", image_size=64, **SMALL)).eval()
    with pytest.raises(DarlaError, match=r"no posterior to draw codes from.*leave out --sample-codes"):
        FrameEncoder(model, gym.make(ID).observation_space, device="cpu", sample=0)
