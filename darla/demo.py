"""The quick demo pipeline: make frames, pretrain DARLA's beta-VAE_DAE, write its figures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from darla.files import atomic_path
from darla.models import VisionModel, make_config
from darla.synthetic import make_rooms
from darla.train import TrainConfig, pretrain


@dataclass
class DemoConfig:
    """Size of the demo run.

    :param out: folder for everything the demo writes.
    :param frames: frames to generate.
    :param steps: beta-VAE training steps.
    :param teacher_steps: DAE training steps.
    :param batch_size: frames per step.
    :param seed: seed of data, initialisation and sampling.
    :param device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    """

    out: str = "runs/demo"
    frames: int = 5000
    steps: int = 1500
    teacher_steps: int = 800
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"


def write_frames(folder: Path, n: int, seed: int) -> Path:
    """Generate ``n`` room frames (with their factors) into ``folder/rooms.npz`` unless present."""
    path = folder / "rooms.npz"
    if not path.is_file():
        frames, factors = make_rooms(n, seed=seed)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, frames=frames, factors=factors)
    return path


def run_demo(cfg: DemoConfig) -> tuple[Path, VisionModel]:
    """Run the demo; rerunning it continues or reuses what an earlier run wrote.

    :return: the beta-VAE_DAE checkpoint folder and the trained model.
    """
    out = Path(cfg.out)
    write_frames(out / "frames", cfg.frames, cfg.seed)
    train = TrainConfig(
        steps=cfg.steps,
        teacher_steps=cfg.teacher_steps,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        device=cfg.device,
        checkpoint_every=250,
    )
    ckpt = out / "beta_vae_dae"
    model = pretrain(make_config("beta_vae_dae"), train, out / "frames", ckpt, resume=True)
    return ckpt, model
