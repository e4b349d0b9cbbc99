"""rl-baselines3-zoo: darla's wrapper named in the zoo's own hyperparameter YAML, trained by ``rl_zoo3.train``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import SMALL
from darla.collect import CollectConfig, collect
from darla.models import make_config
from darla.train import TrainConfig, pretrain

pytest.importorskip("rl_zoo3")

ZOO_YAML = """\
darla/SeekAvoid2D-v0:
  env_wrapper:
    - darla.wrappers.LatentObservation:
        vision: {vision}
        stack: 2
  policy: MlpPolicy
  n_timesteps: 512
  n_envs: 2
  n_steps: 128
  batch_size: 64
  n_epochs: 2
"""


def test_the_zoo_trains_ppo_on_darla_codes(tmp_path: Path) -> None:
    collect(CollectConfig(domains=("A_default",), frames=300, seed=0), tmp_path / "frames")
    vision = tmp_path / "vision"
    pretrain(make_config("vae", **{**SMALL, "latent_dim": 6}),
             TrainConfig(steps=20, batch_size=32, device="cpu"), tmp_path / "frames", vision, figures=False)
    conf = tmp_path / "zoo.yml"
    conf.write_text(ZOO_YAML.format(vision=vision))
    done = subprocess.run([sys.executable, "-m", "rl_zoo3.train", "--algo", "ppo", "--env", "darla/SeekAvoid2D-v0", "--gym-packages",
                           "envs", "--conf-file", str(conf), "-f", str(tmp_path / "logs"), "--seed", "0", "--eval-freq", "-1",
                           "--device", "cpu", "-P"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    from stable_baselines3 import PPO

    (saved,) = (tmp_path / "logs" / "ppo").glob("*/darla-SeekAvoid2D-v0.zip")
    agent = PPO.load(saved, device="cpu")
    # the policy saw two stacked 6-latent codes, not frames, for the 512 steps asked
    assert agent.observation_space.shape == (12,) and agent.num_timesteps == 512
    monitors = list(saved.parent.glob("*.monitor.csv"))
    assert len(monitors) == 2 and all(np.loadtxt(m, delimiter=",", skiprows=2, ndmin=2).shape[1] == 3 for m in monitors)
