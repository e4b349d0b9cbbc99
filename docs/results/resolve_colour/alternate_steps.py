"""SeekAvoid-v0's random-action steps/s in the train group, the colour-only resolve and MiniWorld's own alternated every
500 steps in one process (30 blocks after 300 warm-up steps), so that the machine's drift hits both alike. Writes JSON.

Usage: python docs/results/resolve_colour/alternate_steps.py OUT.json
"""

import functools
import json
import sys
import time

import numpy as np

import envs
from darla.device import describe_machine
from envs.seek_avoid_3d import MiniWorldRenderer, _resolve_colour

env = envs.make("darla/SeekAvoid-v0", ("train",))
env.reset(seed=0)
rng = np.random.default_rng(0)


def run(steps: int) -> float:
    """Env steps per second over ``steps`` random steps."""
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(int(rng.integers(3)))
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


run(300)
rates: dict[str, list[float]] = {"colour only": [], "MiniWorld's resolve": []}
for block in range(30):
    on = block % 2 == 0
    for scene in MiniWorldRenderer.scenes.values():
        if on:
            scene.obs_fb.resolve = functools.partial(_resolve_colour, scene.obs_fb)
        else:
            scene.obs_fb.__dict__.pop("resolve", None)
    rates["colour only" if on else "MiniWorld's resolve"].append(run(500))
report = {"median_steps_per_second": {k: float(np.median(v)) for k, v in rates.items()}, "blocks": rates,
          "machine": describe_machine()}
with open(sys.argv[1], "w") as fh:
    json.dump(report, fh, indent=1)
print(json.dumps(report["median_steps_per_second"]))
