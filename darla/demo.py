"""The quick demo pipeline: collect frames in the built-in default env, pretrain DARLA's
beta-VAE_DAE on them, write its figures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from darla.collect import CollectConfig, collect
from darla.models import VisionModel, make_config
from darla.train import TrainConfig, pretrain


@dataclass
class DemoConfig:
    """Size of the demo run.

    :param out: folder for everything the demo writes.
    :param env: the env whose frames are collected.
    :param domains: domains the frames come from (DARLA: the training domains only).
    :param frames: frames to collect with a random policy.
    :param steps: beta-VAE training steps.
    :param teacher_steps: DAE training steps.
    :param batch_size: frames per step.
    :param seed: seed of data, initialisation and sampling.
    :param device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    """

    out: str = "runs/demo"
    env: str = "darla/SeekAvoid2D-v0"
    domains: tuple[str, ...] = ("train",)
    frames: int = 10_000
    steps: int = 1500
    teacher_steps: int = 800
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"


def run_demo(cfg: DemoConfig) -> tuple[Path, VisionModel]:
    """Run the demo; rerunning it continues or reuses what an earlier run wrote.

    :return: the beta-VAE_DAE checkpoint folder and the trained model.
    """
    out = Path(cfg.out)
    frames = collect(CollectConfig(env=cfg.env, domains=cfg.domains, frames=cfg.frames, seed=cfg.seed), out / "frames")
    train = TrainConfig(
        steps=cfg.steps,
        teacher_steps=cfg.teacher_steps,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        device=cfg.device,
        checkpoint_every=250,
    )
    ckpt = out / "beta_vae_dae"
    model = pretrain(make_config("beta_vae_dae"), train, frames, ckpt, resume=True)
    return ckpt, model
