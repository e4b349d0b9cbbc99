"""Env steps and seconds of one evaluation (three 3D agents, 30 episodes each in their source and in the target group),
as the darla on the Python path plays it; run it once from a worktree of the commit before holding and once here.

Usage: PYTHONPATH=<tree> python docs/results/eval_hold/count_steps.py AGENT_DIR OUT_DIR  (AGENT_DIR holds seed0..seed2)
Prints one JSON line: env_steps (every Monitor step of the evaluation's envs) and seconds.
"""

import json
import sys
import time

from stable_baselines3.common.monitor import Monitor

from darla.evaluate import EvaluateConfig, evaluate

steps = 0
monitor_step = Monitor.step


def counted_step(self: Monitor, action: object) -> tuple:
    """Monitor's step, counted."""
    global steps
    steps += 1
    return monitor_step(self, action)


Monitor.step = counted_step
agents, out = sys.argv[1], sys.argv[2]
cfg = EvaluateConfig(agents=[f"{agents}/seed{s}" for s in range(3)], domains=["target"], episodes=30, seed=1000)
start = time.perf_counter()
evaluate(cfg, out)
print(json.dumps({"env_steps": steps, "seconds": time.perf_counter() - start}))
