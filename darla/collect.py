"""Frame collection: a random policy in the given domains, written as shards `darla pretrain` reads."""

from __future__ import annotations

import dataclasses
import hashlib
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

import envs
from darla import __version__
from darla.errors import require_positive
from darla.files import atomic_path, claim_run_folder, write_json_atomic
from darla.frames import MANIFEST

RUN_FILE = "collect.json"


@dataclass
class CollectConfig:
    """What to collect.

    :param env: a Gymnasium id; ``darla/...`` ids take domains, any other id with an
        ``rgb_array`` render mode is adapted to pixels.
    :param domains: preset names, group names or JSON domain files; one is drawn per episode.
    :param frames: frames to collect in all.
    :param shard_size: frames per shard file.
    :param seed: seed of the environments and the random policy.
    :param workers: parallel processes.
    :param action_repeat: repeat each random action this many steps (one frame per step).
    """

    env: str = "darla/SeekAvoid2D-v0"
    domains: tuple[str, ...] = ()
    frames: int = 10_000
    shard_size: int = 1000
    seed: int = 0
    workers: int = 1
    action_repeat: int = 1

    def __post_init__(self) -> None:
        require_positive(self, "frames", "shard_size", "workers", "action_repeat")
        self.domains = tuple(str(d) for d in self.domains)


def _shard_name(index: int) -> str:
    return f"shard_{index:05d}.npz"


def collect_shard(cfg: CollectConfig, index: int, out: Path) -> int:
    """Collect shard ``index`` (a pure function of the config and index), write it atomically,
    and return its frame count."""
    n = min(cfg.shard_size, cfg.frames - index * cfg.shard_size)
    env = envs.make(cfg.env, cfg.domains)
    seeds = np.random.SeedSequence([cfg.seed, index]).generate_state(2)
    env.action_space.seed(int(seeds[1]))
    obs, info = env.reset(seed=int(seeds[0]))
    frames, factors, domain_ids = [], [], []
    domains = getattr(env.unwrapped, "domains", None)

    def record(obs: np.ndarray, info: dict[str, Any]) -> None:
        frames.append(obs)
        factors.append(info.get("factors", np.zeros(0, np.float32)))
        domain_ids.append(next(i for i, d in enumerate(domains) if d is env.unwrapped.domain) if domains else 0)

    record(obs, info)
    while len(frames) < n:
        action = env.action_space.sample()
        for _ in range(cfg.action_repeat):
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                obs, info = env.reset()
            record(obs, info)
            if len(frames) == n or terminated or truncated:
                break
    env.close()
    path = out / _shard_name(index)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, frames=np.stack(frames), factors=np.stack(factors).astype(np.float32), domain=np.array(domain_ids, np.int16))
    return n


def _describe(cfg: CollectConfig) -> dict[str, Any]:
    """Facts about the env the manifest records: frame shape, factor names, domain names."""
    env = envs.make(cfg.env, cfg.domains)
    obs, _ = env.reset(seed=cfg.seed)
    unwrapped = env.unwrapped
    description = {
        "frame_shape": list(obs.shape),
        "factor_names": list(unwrapped.factor_names()) if hasattr(unwrapped, "factor_names") else [],
        "domains": [d.to_dict() for d in getattr(unwrapped, "domains", [])],
    }
    env.close()
    return description


def collect(cfg: CollectConfig, out: str | Path) -> Path:
    """Collect ``cfg.frames`` frames into ``out``; rerunning continues an interrupted collection.

    Each shard is a pure function of (config, shard index) and is written whole or not at all,
    so finished shards are kept and never rewritten.

    :param cfg: what to collect.
    :param out: the folder; it receives ``shard_*.npz`` (``frames``, ``factors``, ``domain``)
        and ``manifest.json``.
    :return: ``out``.
    """
    out = Path(out)
    record = dataclasses.asdict(cfg)
    description = _describe(cfg)
    claim_run_folder(out, RUN_FILE, record, resume=True)
    n_shards = -(-cfg.frames // cfg.shard_size)
    todo = [i for i in range(n_shards) if not (out / _shard_name(i)).is_file()]
    done_frames = sum(min(cfg.shard_size, cfg.frames - i * cfg.shard_size) for i in range(n_shards) if i not in todo)
    bar = tqdm(total=cfg.frames, initial=done_frames, unit="frame", desc=f"collect {cfg.env}")
    if cfg.workers == 1:
        for i in todo:
            bar.update(collect_shard(cfg, i, out))
    else:
        # spawned workers: renderers with OpenGL contexts do not survive fork
        with ProcessPoolExecutor(cfg.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for future in as_completed([pool.submit(collect_shard, cfg, i, out) for i in todo]):
                bar.update(future.result())
    bar.close()
    shards = []
    for i in range(n_shards):
        path = out / _shard_name(i)
        with np.load(path) as shard:
            shards.append({"file": path.name, "frames": len(shard["frames"]), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
    write_json_atomic(
        out / MANIFEST,
        {
            "darla_version": __version__,
            "config": record,
            **description,
            "frames": sum(s["frames"] for s in shards),
            "shards": shards,
        },
    )
    return out
