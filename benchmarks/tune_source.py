"""Choose settings on source domains only: the return of an agent on a representation's codes.

Each candidate is a set of vision-config overrides (``model``; optionally ``lr`` or a longer
teacher, ``teacher_steps``) and of agent hyperparameters (``agent``, as ``darla train
--hyperparams``). The representation is pretrained as ``darla reproduce`` pretrains at the
budget (the same frames from the ``train`` group, the same steps; candidates with the same
vision settings share it), then the agent learns on its codes in the single protocol's source
domain for the budget's agent steps, and each seed's agent is evaluated there, in the source,
for the budget's episodes. The target domain is never built, so the choice cannot leak it.
With ``--mode pixels`` or ``pixels_aug`` the agent sees frames, and candidates hold only ``agent``.

Finished candidates are kept in the JSON and skipped when the command is run again.

Usage:
    python benchmarks/tune_source.py --env darla/SeekAvoid2D-v0 --variant beta_vae_dae --out runs/tune2d \
        --candidate 'default={}' --candidate 'lr1e-3={"lr": 1e-3}' --candidate 'bottleneck={"model": {"dae_layer": "bottleneck"}}'
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents import MODES
from darla.agent import AgentConfig, load_agent, train_agent
from darla.collect import CollectConfig, collect
from darla.evaluate import EvaluateConfig, episode_returns
from darla.files import write_json_atomic
from darla.reproduce import BUDGETS, source_domains
from darla.tune import EVAL_SEED
from tune_invariance import parse_candidate, vision_for


def run_candidate(env: str, variant: str, mode: str, algo: str, spec: dict[str, Any], budget: str, seeds: int,
                  work: Path, name: str) -> dict[str, Any]:
    """Pretrain one candidate's representation (``latent`` mode), train ``seeds`` agents on its codes
    or on frames, and score them in the source."""
    plan = BUDGETS[budget]
    vision = str(vision_for(variant, spec, budget, work / "frames", work)) if mode == "latent" else None
    source = source_domains(env, "single")
    means = []
    for seed in range(seeds):
        folder = work / "agents" / algo / mode / name / f"seed{seed}"
        if not (folder / "model.zip").is_file():
            shutil.rmtree(folder, ignore_errors=True)  # an agent interrupted before it saved
            train_agent(AgentConfig(env=env, domains=source, algo=algo, mode=mode, vision=vision, steps=plan.agent_steps,
                                    seed=seed, n_envs=plan.n_envs, eval_freq=plan.agent_steps, eval_episodes=5,
                                    checkpoint_freq=plan.agent_steps, hyperparams=spec.get("agent", {})), folder)
        agent = load_agent(folder)
        returns = episode_returns(agent, source, EvaluateConfig(agents=(str(folder),), episodes=plan.episodes, seed=EVAL_SEED))
        means.append(float(np.mean(returns)))
    return {"spec": spec, "source": list(source), "seed_means": means, "mean": float(np.mean(means))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="darla/SeekAvoid2D-v0")
    parser.add_argument("--variant", default="beta_vae_dae")
    parser.add_argument("--mode", default="latent", choices=MODES, help="what the agent sees; pixels modes train no vision")
    parser.add_argument("--algo", default="ppo")
    parser.add_argument("--candidate", action="append", required=True,
                        help="NAME=JSON with model, lr, teacher_steps (vision) and agent (hyperparameters) keys")
    parser.add_argument("--budget", default="quick")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (leave a core to other work)")
    parser.add_argument("--out", type=Path, required=True, help="work folder (frames, models, agents)")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/tune_source.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    candidates = dict(parse_candidate(c) for c in args.candidate)
    data = args.out / "frames"
    if args.mode == "latent" and not (data / "manifest.json").is_file():
        collect(CollectConfig(env=args.env, domains=("train",), frames=BUDGETS[args.budget].frames, seed=0), data)
    results = json.loads(args.json.read_text()) if args.json.is_file() else {}
    key = f"{args.env} {args.variant if args.mode == 'latent' else args.mode} {args.algo} {args.budget}"
    done = results.setdefault(key, {})
    for name, spec in candidates.items():
        if name in done and done[name]["spec"] == spec:
            continue
        done[name] = run_candidate(args.env, args.variant, args.mode, args.algo, spec, args.budget, args.seeds, args.out, name)
        write_json_atomic(args.json, results)
    for name, result in done.items():
        print(f"{name}: source return {result['mean']:.2f} per seed {[round(m, 2) for m in result['seed_means']]}")


if __name__ == "__main__":
    main()
