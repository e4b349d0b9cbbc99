"""One measurement of PPO's env steps/s on SeekAvoid2D, on latents (encoder at ``auto``) and on pixels, each at its own
hyperparameters, by the benchmark of the darla tree this runs in (``PYTHONPATH``): one line of JSON."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import darla

sys.path.insert(0, str(Path(darla.__file__).parents[1] / "benchmarks"))
import bench_agents  # noqa: E402  (the benchmark of the tree under test)

STEPS = 8192

with tempfile.TemporaryDirectory() as tmp:
    vision = bench_agents.untrained_vision(Path(tmp))
    latent, _ = bench_agents.ppo_steps_per_second("latent", vision, STEPS)
    pixels, _ = bench_agents.ppo_steps_per_second("pixels", None, STEPS)
print(json.dumps({"latent": latent, "pixels": pixels}))
