"""The quick demo: DARLA's chain once, small. Collect frames in the built-in default env,
pretrain beta-VAE_DAE on them, train a PPO agent on its codes and a pixel agent beside it, and
evaluate both zero-shot in the source and the target domains; the table printed at the end holds
the same-state invariance of the codes beside the transfer ratios.

It is :func:`darla.reproduce.reproduce` with one seed, two methods and one protocol, so it
shares the experiment's cells, files and resumption.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from darla.errors import DarlaError
from darla.reproduce import FIGURE_FILE, PROTOCOLS, ReproduceConfig, reproduce

METHODS = ("beta_vae_dae", "pixels")


@dataclass
class DemoConfig:
    """Size of the demo run.

    :param out: folder for everything the demo writes; rerunning continues it.
    :param env: the env (a ``darla/`` id with ``train`` and ``target`` domain groups).
    :param budget: ``quick`` (the demo), ``smoke`` (a plumbing check in about a minute) or
        ``full`` (see ``darla reproduce``).
    :param protocol: ``single`` (learn in ``A_default`` alone: the alternate room is new to the
        agent, DARLA's sharper test) or ``multi`` (learn in the ``train`` group, DMLab-30's protocol).
    :param workers: processes that run independent steps at once.
    :param seed: seed of data, vision training and the agents.
    :param device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    """

    out: str = "runs/demo"
    env: str = "darla/SeekAvoid2D-v0"
    budget: str = "quick"
    protocol: str = "single"
    workers: int = 2
    seed: int = 0
    device: str = "auto"

    def to_reproduce(self) -> ReproduceConfig:
        """The experiment this demo runs."""
        if self.protocol not in PROTOCOLS:
            raise DarlaError(f"unknown protocol {self.protocol!r}: choose one of {', '.join(PROTOCOLS)}")
        return ReproduceConfig(env=self.env, budget=self.budget, seeds=1, protocols=(self.protocol,), methods=METHODS,
                               workers=self.workers, device=self.device, seed=self.seed)


def run_demo(cfg: DemoConfig) -> dict[str, Any]:
    """Run the demo; rerunning it continues or reuses what an earlier run wrote.

    :return: the results JSON (also in ``<out>/results.json``).
    """
    return reproduce(cfg.to_reproduce(), cfg.out)


def figure_paths(cfg: DemoConfig) -> list[Path]:
    """The figures a person looks at after the demo: the transfer chart, then the vision model's."""
    out = Path(cfg.out)
    vision = out / "vision" / "beta_vae_dae"
    return [out / FIGURE_FILE] + sorted(vision.glob("*.png"))
