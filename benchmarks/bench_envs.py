"""Environment throughput in one run: steps/s of each darla env and of the frame collector,
with MiniGrid's RGB env (MiniGrid-Empty-8x8-v0, RGBImgObsWrapper, tile 8: 64x64) as the reference;
SeekAvoid2D's steps/s at the latent agent's 16 envs, drawn one env at a time (SB3's DummyVecEnv) and a step's
frames together (``darla.vec_env.FrameBatchVecEnv``, what agents step); and the frames/s at which each darla
env redraws states in mixed domains, as the metrics' samples ask, drawn one row after another and grouped by
domain (``DomainEnv.render_rows``).

Usage: python benchmarks/bench_envs.py [--steps 3000] [--out benchmarks/results/envs.json]
Target: darla/SeekAvoid2D-v0 steps at least 3x as fast as the MiniGrid reference.
Envs whose extra is not installed (miniworld, mujoco) are reported as skipped.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv

import envs
from bench_agents import N_ENVS, train_envs, vec_steps_per_second
from darla.collect import CollectConfig, collect
from darla.device import describe_machine
from darla.files import write_json_atomic
from darla.metrics import EnvGroundTruth
from darla.vec_env import FrameBatchVecEnv
from envs.pixels import make_pixel_env


def steps_per_second(make: Callable[[], gym.Env], steps: int, warmup: int = 0) -> float:
    """Random-action steps/s, resets included, after one episode start and ``warmup`` steps left out of the count."""
    env = make()
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(warmup):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def redraw_rates(env_id: str, frames: int) -> dict[str, float]:
    """Frames/s of ``frames`` pool states, each in a random domain of the train and target groups: drawn in the
    rows' order, and grouped by domain."""
    truth = EnvGroundTruth(env_id, ("train", "target"), pool=2000)
    rng = np.random.default_rng(0)
    domain_factors = np.stack([d.factors() for d in truth.domains])
    rows = np.concatenate([truth.pool[rng.integers(len(truth.pool), size=frames)],
                           domain_factors[rng.integers(len(truth.domains), size=frames)]], axis=1)
    truth.env.render_rows(rows[:50])  # warm-up: every look painted once
    rates = {}
    for name, draw in (("row_by_row", lambda: [truth.env.render_factors(r) for r in rows]),
                       ("grouped_by_domain", lambda: truth.env.render_rows(rows))):
        start = time.perf_counter()
        draw()
        rates[name] = frames / (time.perf_counter() - start)
    truth.close()
    return rates


def minigrid_reference() -> gym.Env:
    """MiniGrid's 8x8 empty room rendered as a 64x64 RGB image."""
    import minigrid  # noqa: F401  (registers the MiniGrid ids)
    from minigrid.wrappers import RGBImgObsWrapper

    return RGBImgObsWrapper(gym.make("MiniGrid-Empty-8x8-v0"), tile_size=8)


def main() -> None:
    """Measure every env and the collector; write one JSON file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "envs.json")
    args = parser.parse_args()
    candidates: dict[str, Callable[[], gym.Env]] = {
        "MiniGrid-Empty-8x8-v0 (RGBImgObsWrapper, 64x64)": minigrid_reference,
        "darla/SeekAvoid2D-v0 (train group)": lambda: gym.make("darla/SeekAvoid2D-v0", domain="train"),
        "darla/SeekAvoid2D-v0 (textured domain)": lambda: gym.make(
            "darla/SeekAvoid2D-v0", domain={"wall_texture": "checker", "floor_texture": "noise"}
        ),
        "darla/SeekAvoid-v0 (MiniWorld, train group)": lambda: gym.make("darla/SeekAvoid-v0", domain="train"),
        "darla/ReacherPixels-v0 (train group)": lambda: gym.make("darla/ReacherPixels-v0", domain="train"),
        "CartPole-v1 via PixelObservation": lambda: make_pixel_env("CartPole-v1"),
    }
    results: dict[str, object] = {}
    for name, make in candidates.items():
        try:
            results[name] = steps_per_second(make, args.steps)
        except Exception as exc:  # an optional extra that is missing here is reported, not fatal
            results[name] = f"skipped: {type(exc).__name__}: {str(exc).splitlines()[0]}"
        print(f"{name}: {results[name]}")
    vector = {name: vec_steps_per_second(train_envs(vec_env), 4 * args.steps)
              for name, vec_env in (("DummyVecEnv (one env at a time)", DummyVecEnv), ("FrameBatchVecEnv", FrameBatchVecEnv))}
    print(f"darla/SeekAvoid2D-v0 in {N_ENVS} envs (steps/s): {vector}")
    redraws: dict[str, object] = {}
    for env_id in envs.ENV_IDS:
        try:
            redraws[env_id] = redraw_rates(env_id, args.steps)
        except Exception as exc:  # as above
            redraws[env_id] = f"skipped: {type(exc).__name__}: {str(exc).splitlines()[0]}"
        print(f"{env_id} redrawn in mixed domains (frames/s): {redraws[env_id]}")
    reference = results["MiniGrid-Empty-8x8-v0 (RGBImgObsWrapper, 64x64)"]
    seek = results["darla/SeekAvoid2D-v0 (train group)"]
    with tempfile.TemporaryDirectory() as tmp:
        frames = 4 * args.steps
        start = time.perf_counter()
        collect(CollectConfig(domains=("train",), frames=frames, shard_size=1000), Path(tmp) / "c")
        collector = frames / (time.perf_counter() - start)
    report = {
        "steps_per_second": results,
        f"vector_steps_per_second (SeekAvoid2D, train group, {N_ENVS} envs)": vector,
        "collector_frames_per_second (SeekAvoid2D, 1 worker)": collector,
        "mixed_domain_redraws_frames_per_second": redraws,
        "seekavoid2d_over_minigrid": seek / reference if isinstance(seek, float) and isinstance(reference, float) else None,
        "steps": args.steps,
        "env_ids": list(envs.ENV_IDS),
        "machine": describe_machine(),
    }
    write_json_atomic(args.out, report)
    print(json.dumps(report, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
