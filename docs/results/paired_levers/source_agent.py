"""Source-only check of a vision checkpoint for agents: PPO on its domain-general codes in the source domain, with the
claim budget's agent steps and the project's PPO settings for the env (agents/hyperparams/ppo.yml), optionally with
SB3's observation normalisation (VecNormalize, observations only); prints the mean source return as one JSON line.
Episodes take the policy's most likely action unless --sample asks for sampled ones, as `darla evaluate` plays them.

Usage: python docs/results/paired_levers/source_agent.py --vision CKPT [--env ENV] [--domain A_default] [--seed 0]
       [--normalize] [--episodes 40] [--threads 1] [--sample] [--precision auto|bf16|fp32]
"""
import argparse
import json
import time

import torch
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecNormalize

from agents.factory import hyperparams, make_agent
from darla.agent import AgentConfig, build_env
from darla.reproduce import BUDGETS

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--vision", required=True)
parser.add_argument("--env", default="darla/SeekAvoid-v0")
parser.add_argument("--domain", default="A_default")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--normalize", action="store_true")
parser.add_argument("--episodes", type=int, default=40)
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--sample", action="store_true", help="sample actions, as darla evaluate does")
parser.add_argument("--precision", default="auto", help="what the vision model encodes in (darla train --precision)")
args = parser.parse_args()
torch.set_num_threads(args.threads)
steps = BUDGETS["claim"].agent_steps
cfg = AgentConfig(env=args.env, domains=(args.domain,), vision=args.vision, general=True, steps=steps, seed=args.seed, device="cpu",
                  precision=args.precision)
params = hyperparams("ppo", args.env, "latent")
venv = build_env(cfg, cfg.domains, int(params["n_envs"]), args.seed)
if args.normalize:
    venv = VecNormalize(venv, norm_obs=True, norm_reward=False)
start = time.time()
agent = make_agent("ppo", "latent", venv, params, seed=args.seed, device="cpu")
agent.learn(steps)
if args.normalize:
    venv.training = False  # the statistics stay as training left them
mean, sd = evaluate_policy(agent, venv, n_eval_episodes=args.episodes, deterministic=not args.sample)
print(json.dumps({"vision": args.vision, "domain": args.domain, "normalize": args.normalize, "sample": args.sample, "seed": args.seed, "steps": steps,
                  "episodes": args.episodes, "return": mean, "sd": sd, "seconds": round(time.time() - start, 1)}))
