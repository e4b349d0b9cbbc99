"""Agent throughput in one run, on darla/SeekAvoid2D-v0, each agent with its own hyperparameters (n_envs included):
- env steps/s of PPO training on latent codes vs PPO CnnPolicy on pixels, as a ratio, with the
  encoder in float32 and at ``--precision auto`` (bfloat16 where the CPU computes it natively),
  with the share of each run's time spent in the envs, in encoding, in PPO's updates and in the
  rest of the rollouts;
- steps/s of batched encoding (VecLatentObservation) vs per-env encoding (a DummyVecEnv of
  LatentObservation wrappers), as a ratio (target: at least 2x), at the latent agent's n_envs;
- the raw envs' steps/s there, drawn one env at a time and a step's frames together (FrameBatchVecEnv).

Usage: python benchmarks/bench_agents.py [--vision CKPT] [--steps 16384] [--out benchmarks/results/agents.json]
Without --vision, an untrained DARLA-sized VAE is used: speed does not depend on the weights.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecEnvWrapper

import envs
from agents import hyperparams, make_agent
from darla.agent import AgentConfig, build_env
from darla.checkpoint import save_vision
from darla.device import describe_machine, resolve_precision
from darla.files import write_json_atomic
from darla.models import build_model, make_config
from darla.vec_env import FrameBatchVecEnv
from darla.wrappers import LatentObservation, VecLatentObservation

ENV = "darla/SeekAvoid2D-v0"


def agent_envs() -> dict[str, int]:
    """Each PPO agent's parallel envs, as the hyperparameter file sets them."""
    return {mode: int(hyperparams("ppo", ENV, mode)["n_envs"]) for mode in ("latent", "pixels")}


#: the latent agent's parallel envs, at which the envs and the encoders are measured alone
N_ENVS = agent_envs()["latent"]


def vec_steps_per_second(venv: VecEnv, steps: int) -> float:
    """Random-action env steps/s of a VecEnv (all sub-envs counted)."""
    venv.seed(0)
    venv.reset()
    actions = np.random.default_rng(0).integers(3, size=(steps // venv.num_envs, venv.num_envs))
    start = time.perf_counter()
    for a in actions:
        venv.step(a)
    return len(actions) * venv.num_envs / (time.perf_counter() - start)


def train_envs(vec_env: type[DummyVecEnv] = DummyVecEnv) -> DummyVecEnv:
    """N_ENVS raw envs of the train group, drawn one env at a time (DummyVecEnv) or a step's frames together
    (FrameBatchVecEnv, as agents step them)."""
    return vec_env([lambda: envs.make(ENV, ("train",)) for _ in range(N_ENVS)])


def untrained_vision(folder: Path) -> str:
    """An untrained DARLA-sized VAE saved in ``folder`` (speed does not depend on the weights)."""
    torch.manual_seed(0)
    return str(save_vision(build_model(make_config("vae")), folder / "vae"))


def encoding_steps_per_second(vision: str, steps: int, device: str = "auto") -> dict[str, float]:
    """Random-action env steps/s of VecLatentObservation over the train envs, per encoder precision."""
    return {precision: vec_steps_per_second(VecLatentObservation(train_envs(), vision, device=device, precision=precision), steps)
            for precision in ("fp32", "auto")}


class Stopwatch:
    """Seconds spent inside wrapped callables, summed by name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn``, timed under ``name``."""
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start
        return timed


def ppo_steps_per_second(mode: str, vision: str | None, steps: int, precision: str = "auto",
                         device: str = "auto", policy_device: str | None = None) -> tuple[float, dict[str, float]]:
    """Env steps/s of PPO training (rollouts and updates) in ``mode``, and the shares of that time
    spent in the envs, in the VecEnv wrappers above them (for latents: encoding), in PPO's updates,
    and in the rest of the rollouts (the policy's forward pass, the buffer, SB3's bookkeeping). The encoder
    runs on ``device``, the policy on ``policy_device`` (default: the same)."""
    cfg = AgentConfig(mode=mode, vision=vision, device=device, precision=precision)
    params = hyperparams("ppo", ENV, mode)
    n_envs = int(params["n_envs"])
    agent = make_agent("ppo", mode, build_env(cfg, ["train"], n_envs, 0), params, seed=0, device=policy_device or device)
    agent.learn(params["n_steps"] * n_envs)  # warm-up: first rollout and update
    watch, top = Stopwatch(), agent.get_env()
    bottom = top
    while isinstance(bottom, VecEnvWrapper):
        bottom = bottom.venv
    # instance attributes: SB3 calls env.step_wait, the wrappers venv.step_wait and learn self.train
    top.step_wait = watch.wrap("stepping", top.step_wait)
    bottom.step_wait = watch.wrap("envs", bottom.step_wait)
    agent.train = watch.wrap("updates", agent.train)
    start = time.perf_counter()
    agent.learn(steps, reset_num_timesteps=False)
    total = time.perf_counter() - start
    t = watch.seconds
    shares = {"envs (the VecEnv under the wrappers)": t["envs"], "wrappers above the envs (latents: encoding)": t["stepping"] - t["envs"],
              "PPO updates": t["updates"], "rest of the rollouts (policy forward, buffer)": total - t["stepping"] - t["updates"]}
    return steps / total, {k: v / total for k, v in shares.items()}


def main() -> None:
    """Run the measurements and write one JSON file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vision", help="a vision checkpoint; default: an untrained DARLA-sized VAE")
    parser.add_argument("--steps", type=int, default=16_384)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "agents.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        vision = args.vision or untrained_vision(Path(tmp))
        batched = encoding_steps_per_second(vision, args.steps)
        per_env = vec_steps_per_second(
            DummyVecEnv([lambda: LatentObservation(envs.make(ENV, ("train",)), vision, device="auto", precision="fp32")
                         for _ in range(N_ENVS)]),
            args.steps,
        )
        raw = {name: vec_steps_per_second(train_envs(vec_env), args.steps) for name, vec_env in
               (("DummyVecEnv, one env at a time", DummyVecEnv), ("FrameBatchVecEnv, as agents step them", FrameBatchVecEnv))}
        latent_ppo, shares = {}, {}
        for precision in ("fp32", "auto"):
            latent_ppo[precision], shares[f"PPO training on latents, encoder {precision}"] = ppo_steps_per_second("latent", vision, args.steps, precision)
        pixel_ppo, shares["PPO training on pixels"] = ppo_steps_per_second("pixels", None, args.steps)
    report = {
        "env": ENV,
        "n_envs": agent_envs(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "machine": describe_machine(),
        "torch_threads": torch.get_num_threads(),
        "auto_precision": resolve_precision("auto", torch.device("cpu")),
        "vision": args.vision or "untrained VAE, DARLA trunk, 32 latents",
        "steps_per_second": {
            **{f"raw frames ({name})": rate for name, rate in raw.items()},
            "batched encoding (VecLatentObservation), fp32": batched["fp32"],
            "batched encoding (VecLatentObservation), auto": batched["auto"],
            "per-env encoding (DummyVecEnv of LatentObservation), fp32": per_env,
            "PPO training on latents (MlpPolicy), encoder fp32": latent_ppo["fp32"],
            "PPO training on latents (MlpPolicy), encoder auto": latent_ppo["auto"],
            "PPO training on pixels (CnnPolicy)": pixel_ppo,
        },
        "time_shares": shares,
        "batched_over_per_env": batched["fp32"] / per_env,
        "ppo_latent_over_pixels": latent_ppo["auto"] / pixel_ppo,
        "ppo_latent_fp32_over_pixels": latent_ppo["fp32"] / pixel_ppo,
    }
    write_json_atomic(args.out, report)
    print(json.dumps(report, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
