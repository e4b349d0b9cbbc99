"""Domains for any pixel env: looks made of visual shifts, drawn per episode, through the whole CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import envs
from darla.cli import main
from darla.errors import DarlaError
from darla.reproduce import ReproduceConfig
from envs.pixels import hue_rotation_matrix
from envs.shifted import ShiftDomain, shift_catalogue


def rollout(env, seed: int, steps: int = 30) -> tuple[list[np.ndarray], list[float], list[str]]:
    frames, rewards, domains = [], [], []
    obs, info = env.reset(seed=seed)
    frames.append(obs), domains.append(info["domain"])
    for t in range(steps):
        obs, reward, terminated, truncated, info = env.step(t % 2)
        frames.append(obs), rewards.append(reward)
        if terminated or truncated:
            break
    return frames, rewards, domains


def test_a_shift_changes_the_look_and_nothing_else() -> None:
    plain, _, _ = rollout(envs.make("CartPole-v1", ["default"]), seed=3)
    turned, _, domains = rollout(envs.make("CartPole-v1", ["hue_180"]), seed=3)
    occluded, rewards_occluded, _ = rollout(envs.make("CartPole-v1", ["occluded"]), seed=3)
    _, rewards_plain, _ = rollout(envs.make("CartPole-v1", ["default"]), seed=3)
    assert domains == ["hue_180"] and rewards_occluded == rewards_plain and len(occluded) == len(plain)
    # hue_180 is the hue rotation of the very frame the default look shows
    expected = np.clip(np.rint(plain[5].astype(np.float32) @ hue_rotation_matrix(180).T.astype(np.float32)), 0, 255)
    assert np.abs(turned[5].astype(int) - expected.astype(int)).max() <= 1
    # the occluded corner is black, the rest of the frame untouched
    assert occluded[5][:16, :16].max() == 0 and np.array_equal(occluded[5][16:], plain[5][16:])


def test_a_group_draws_one_look_per_episode_seeded() -> None:
    env = envs.make("CartPole-v1", ["train"])
    drawn = [env.reset(seed=s)[1]["domain"] for s in range(30)]
    assert set(drawn) == set(shift_catalogue("CartPole-v1").groups["train"])
    assert drawn == [env.reset(seed=s)[1]["domain"] for s in range(30)]


def test_a_domain_from_json_and_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "dusk.json"
    path.write_text(json.dumps({"shifts": [{"kind": "permute", "order": [1, 2, 0]}, {"kind": "noise", "std": 0}]}))
    env = envs.make("CartPole-v1", [str(path)])
    obs, info = env.reset(seed=0)
    plain, _ = envs.make("CartPole-v1", ["default"]).reset(seed=0)
    assert info["domain"] == "dusk" and np.array_equal(obs, plain[..., [1, 2, 0]])
    with pytest.raises(DarlaError, match="shift 'hue' takes degrees, not deg"):
        ShiftDomain(name="x", shifts=({"kind": "hue", "deg": 3},))
    with pytest.raises(DarlaError, match="a shift must be a dict with a kind of hue, permute, jitter, noise, occlude"):
        ShiftDomain(name="x", shifts=({"kind": "blur"},))
    with pytest.raises(DarlaError, match="unknown domain 'dawn'; presets: default, hue_90"):
        envs.make("CartPole-v1", ["dawn"])
    with pytest.raises(DarlaError, match="unknown environment id 'NoSuchEnv-v0'"):
        envs.catalogue("NoSuchEnv-v0")


def test_car_racing_has_its_own_randomized_look() -> None:
    pytest.importorskip("Box2D")
    env = envs.make("CarRacing-v3", ["randomized", "default"])
    looks = {}
    for seed in range(6):
        obs, info = env.reset(seed=seed)
        looks.setdefault(info["domain"], []).append(obs)
    assert set(looks) == {"randomized", "default"}
    # the randomized look draws new colours each episode; the default one keeps its green grass (mean
    # colour per frame; measured: default within 1.3 of (33, 66, 33), randomized 30 to 60 away)
    colour = {d: [frame.reshape(-1, 3).mean(axis=0) for frame in frames] for d, frames in looks.items()}
    default = colour["default"][0]
    assert max(np.abs(c - default).max() for c in colour["default"]) < 5
    assert min(np.abs(c - default).max() for c in colour["randomized"]) > 15


def test_pairs_are_refused_where_the_env_cannot_draw_them() -> None:
    assert "ada_gvae" not in ReproduceConfig(env="CartPole-v1").methods
    assert "ada_gvae" in ReproduceConfig(env="darla/SeekAvoid2D-v0").methods
    with pytest.raises(DarlaError, match="ada_gvae learn\\(s\\) from the same state drawn in two domains, which CartPole-v1 cannot draw"):
        ReproduceConfig(env="CartPole-v1", methods=("ada_gvae", "pixels"))


def test_the_whole_chain_runs_on_cart_pole_from_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["reproduce", "--env", "CartPole-v1", "--budget", "smoke", "--protocol", "single", "--method", "vae",
                 "--method", "pixels", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    rows = results["results"]["single"]
    assert set(rows) == {"vae", "pixels"} and results["source_domains"]["single"] == ["default"]
    # the frames hold the train group's three looks, ids recorded; no ground truth, so no inspect report
    manifest = json.loads((out / "frames" / "manifest.json").read_text())
    assert [d["name"] for d in manifest["domains"]] == ["default", "hue_90", "jitter"] and not (out / "inspect").exists()
    evaluation = json.loads((out / "eval" / "single" / "vae" / "evaluation.json").read_text())
    assert [r["domain"] for r in evaluation["results"]] == ["source", "target"]
    # the smoke budget's two episodes per seed, each return a whole count of CartPole's +1 steps, and the mean theirs
    for r in evaluation["results"]:
        returns = np.array(r["returns"], dtype=float)
        assert returns.shape == (1, 2) and (returns == np.round(returns)).all(), r["returns"]
        assert r["mean"] == pytest.approx(returns.mean())
