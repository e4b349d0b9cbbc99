"""The random policy's return: the floor that 'well above random' in docs/results.md is read against.

In the domains ``darla reproduce`` uses: the single protocol's source (SeekAvoid's ``A_default``),
the ``train`` group (the multi protocol's) and each preset of the ``target`` group (SeekAvoid's
``A_alternate``).

It is measured as ``darla reproduce`` measures its agents: 3 seeds x 30 episodes per domain, 8
envs, episode starts seeded with 1000 (the evaluation seed of a reproduce run with seed 0), and
mean return per seed.

Usage: python benchmarks/random_policy.py --env darla/SeekAvoid2D-v0 [--out benchmarks/results/random_policy.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from darla.agent import AgentConfig, build_env
from darla.evaluate import play_episodes
from agents import RandomPolicy
from darla.files import write_json_atomic
from darla.reproduce import domain_groups, source_domains
from darla.results import TARGET


def random_returns(env_id: str, domain: str, seeds: int = 3, episodes: int = 30, n_envs: int = 8) -> list[float]:
    """Mean return of the random policy per seed in ``domain``."""
    means = []
    for seed in range(seeds):
        venv = build_env(AgentConfig(env=env_id, mode="pixels"), [domain], n_envs, seed=1000)
        returns = play_episodes(RandomPolicy(venv.action_space, seed), venv, episodes, deterministic=False)
        venv.close()
        means.append(float(np.mean(returns)))
    return means


def main() -> None:
    """Measure a uniformly random policy's return in each domain of an env."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="darla/SeekAvoid2D-v0")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/random_policy.json"))
    args = parser.parse_args()
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    targets = domain_groups(args.env)[TARGET]
    results[args.env] = {d: random_returns(args.env, d) for d in (*source_domains(args.env, "single"), "train", *targets)}
    for domain, means in results[args.env].items():
        print(f"{args.env} {domain}: mean {np.mean(means):.3f} per seed {[round(m, 3) for m in means]}")
    write_json_atomic(args.out, results)


if __name__ == "__main__":
    main()
