"""Returns of darla.evaluate.episode_returns for 2D and 3D agents (latent and pixels, sampled and greedy actions),
written as JSON, to compare the returns of two commits: run it from a worktree of each, then compare the files.

Usage: PYTHONPATH=<tree> python docs/results/eval_hold/same_returns.py OUT.json AGENT_DIR DOMAIN [AGENT_DIR DOMAIN ...]
Each agent plays 30 episodes in A_default and in DOMAIN, as the evaluation's second agent (index 1), seed 1000.
"""

import json
import sys
import time

from darla.agent import load_agent
from darla.evaluate import EvaluateConfig, episode_returns

out, pairs = sys.argv[1], sys.argv[2:]
results = {}
for folder, target in zip(pairs[::2], pairs[1::2]):
    agent = load_agent(folder)
    for deterministic in (False, True):
        for domain in ("A_default", target):
            cfg = EvaluateConfig(agents=[folder], episodes=30, deterministic=deterministic, seed=1000)
            start = time.perf_counter()
            returns = episode_returns(agent, [domain], cfg, index=1)
            results[f"{folder}|{domain}|{deterministic}"] = {"returns": returns.tolist(), "seconds": time.perf_counter() - start}
with open(out, "w") as fh:
    json.dump(results, fh, indent=1)
