"""The return an agent reaches when it sees Reacher's true state: the ceiling that ReacherPixels'
latent agents are read against.

The same task as ``darla/ReacherPixels-v0`` (Reacher-v5: its dynamics, rewards and time limit),
observed through Reacher's own state vector instead of a code, with the algorithm's ``latent``
settings for ReacherPixels from ``agents/hyperparams``, for the quick budget's agent steps; each
seed is scored as ``darla tune`` scores its candidates (30 episodes, episode starts
seeded with 1000). Results go to ``benchmarks/results/reacher_state.json``.

Usage: python benchmarks/reacher_state.py [--algo sac] [--seeds 1]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from agents import hyperparams, make_agent
from darla.files import write_json_atomic
from darla.reproduce import BUDGETS
from darla.tune import EVAL_SEED


def state_return(algo: str, params: dict[str, Any], seed: int, steps: int, episodes: int) -> float:
    """Mean return over ``episodes`` of one agent with hyperparameters ``params`` trained ``steps``
    steps on Reacher-v5's state."""
    agent = make_agent(algo, "latent", make_vec_env("Reacher-v5", n_envs=params["n_envs"], seed=seed), params, seed=seed)
    agent.learn(steps, progress_bar=True)
    # one env, so that the episodes are exactly the first ``episodes`` from the evaluation seed
    evaluation = make_vec_env("Reacher-v5", n_envs=1, seed=EVAL_SEED)
    # sampled actions, as darla evaluates its agents by default
    returns, _ = evaluate_policy(agent, evaluation, n_eval_episodes=episodes, deterministic=False, return_episode_rewards=True)
    return float(np.mean(returns))


def main() -> None:
    """Train an agent on ReacherPixels' true state, the ceiling its pixel agents are read against."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", default="sac", choices=("ppo", "sac"))
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--budget", default="quick")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (leave a core to other work)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/reacher_state.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    plan = BUDGETS[args.budget]
    params = hyperparams(args.algo, "darla/ReacherPixels-v0", "latent")
    means = [state_return(args.algo, params, seed, plan.agent_steps, plan.episodes) for seed in range(args.seeds)]
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results[f"Reacher-v5 state {args.algo} {args.budget}"] = {
        "seed_means": means, "mean": float(np.mean(means)), "steps": plan.agent_steps, "episodes": plan.episodes,
        "hyperparams": params}
    write_json_atomic(args.out, results)
    print(f"{args.algo} on Reacher-v5's state, {plan.agent_steps} steps: mean return {np.mean(means):.2f} per seed {[round(m, 2) for m in means]}")


if __name__ == "__main__":
    main()
