"""Frame collection in the given domains, written as shards `darla pretrain` reads.

Three ways to choose the states: DARLA's random policy (uniform actions), ``resets``, where
every frame is the first of a fresh episode, so the states are the env's own start distribution
(for SeekAvoid: anywhere in the room, facing anywhere, every object in place), not the wall
close-ups a random walk ends in; or ``mixed``, half of each shard of either kind, since agents
meet both (objects to seek, and walls they walk into). Any can also record *pairs*: the same
state drawn again in other domains of the same ``--domain`` set, which weakly supervised
variants learn from.
"""

from __future__ import annotations

import dataclasses
import zipfile
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

import envs
from envs.base import DomainEnv
from darla.version import __version__
from darla.errors import DarlaError, require_positive
from darla.files import atomic_path, claim_run_folder, write_json_atomic
from darla.frames import MANIFEST, file_sha256

RUN_FILE = "collect.json"
#: how the states of the frames are chosen
POLICIES = ("random", "resets", "mixed")
#: the arrays a shard may hold, frames first, and how each is stored
SHARD_DTYPES: dict[str, Any] = {"frames": np.uint8, "factors": np.float32, "domain": np.int16, "in_view": bool,
                                "object_mask": bool, "pair_frames": np.uint8, "pair_domain": np.int16, "pair_object_mask": bool}


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
    :param policy: ``random`` (DARLA's: uniform random actions along episodes), ``resets``
        (every frame starts a new episode: states from the env's start distribution) or ``mixed``
        (the first half of each shard's frames as ``resets``, the rest as ``random``).
    :param pairs: per frame, draw the same state again in this many other domains of
        ``domains`` (stored as ``pair_frames`` and ``pair_domain``); needs an env that draws
        from factors and at least ``pairs + 1`` domains.
    :param masks: also store where the task's objects are drawn in each frame (``object_mask``,
        and ``pair_object_mask`` for the pairs), the simulator's segmentation, which
        ``object_weight`` reads; needs an env that can take its objects out of a frame.
    """

    env: str = "darla/SeekAvoid2D-v0"
    domains: tuple[str, ...] = ()
    frames: int = 10_000
    shard_size: int = 1000
    seed: int = 0
    workers: int = 1
    action_repeat: int = 1
    policy: str = "random"
    pairs: int = 0
    masks: bool = False

    def __post_init__(self) -> None:
        require_positive(self, "frames", "shard_size", "workers", "action_repeat")
        self.domains = tuple(str(d) for d in self.domains)
        if self.policy not in POLICIES:
            raise DarlaError(f"unknown policy {self.policy!r}: choose one of {', '.join(POLICIES)}")
        if self.pairs < 0:
            raise DarlaError(f"pairs must be 0 or more, got {self.pairs}")


def _shard_name(index: int) -> str:
    return f"shard_{index:05d}.npz"


def collect_shard(cfg: CollectConfig, index: int, out: Path) -> int:
    """Collect shard ``index`` (a pure function of the config and index), write it atomically,
    and return its frame count."""
    n = min(cfg.shard_size, cfg.frames - index * cfg.shard_size)
    env = envs.make(cfg.env, cfg.domains)
    seeds = np.random.SeedSequence([cfg.seed, index]).generate_state(3)
    env.action_space.seed(int(seeds[1]))
    pair_rng = np.random.default_rng(int(seeds[2]))
    unwrapped = env.unwrapped
    # any pixel env can be collected from; one with domains (a darla/ env, or one seen through shifts)
    # also records them, and one that draws from factors its pairs and objects in view
    domains = getattr(unwrapped, "domains", None)
    in_view = unwrapped.objects_in_view if isinstance(unwrapped, DomainEnv) else None
    arrays: dict[str, list[Any]] = {key: [] for key in SHARD_DTYPES}
    # the pairs' factor rows; they and the masks are drawn after the episodes, all at once, so a renderer repaints
    # per domain, not per frame
    pair_rows: list[np.ndarray] = []
    # an env that draws faster in batches owes its frames, drawn after the episodes; it keeps the scene of each
    deferred = getattr(unwrapped, "draws_in_batches", False)
    if deferred:
        unwrapped.defer_frames = True
    scenes: list[Any] = []

    def record(obs: np.ndarray, info: dict[str, Any]) -> None:
        factors = np.asarray(info.get("factors", np.zeros(0, np.float32)), np.float32)
        own = next(i for i, d in enumerate(domains) if d is unwrapped.domain) if domains else 0
        arrays["frames"].append(obs)
        if deferred:
            scenes.append(unwrapped.owed[-1])
        arrays["factors"].append(factors)
        arrays["domain"].append(own)
        if cfg.pairs:
            n_task = len(factors) - len(unwrapped.domain.factors())
            others = pair_rng.choice([i for i in range(len(domains)) if i != own], size=cfg.pairs, replace=False)
            pair_rows.extend(np.concatenate([factors[:n_task], domains[o].factors()]) for o in others)
            arrays["pair_domain"].append(others)

    fresh_starts = {"random": 0, "resets": n, "mixed": n // 2}[cfg.policy]
    obs, info = env.reset(seed=int(seeds[0]))
    record(obs, info)
    while len(arrays["frames"]) < n:
        if len(arrays["frames"]) < fresh_starts:
            obs, info = env.reset()
            record(obs, info)
            continue
        action = env.action_space.sample()
        for _ in range(cfg.action_repeat):
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                obs, info = env.reset()
            record(obs, info)
            if len(arrays["frames"]) == n or terminated or truncated:
                break
    if deferred:
        arrays["frames"] = list(unwrapped.draw(scenes))
    if in_view is not None:
        # one vectorised pass over the shard's factor rows, not a call per frame
        arrays["in_view"] = list(in_view(np.stack(arrays["factors"])))
    if cfg.masks:
        arrays["object_mask"] = list(unwrapped.object_masks(np.stack(arrays["factors"]), np.stack(arrays["frames"])))
    if pair_rows:
        rows = np.stack(pair_rows)
        renders = unwrapped.render_rows(rows)
        arrays["pair_frames"] = list(renders.reshape(-1, cfg.pairs, *renders.shape[1:]))
        if cfg.masks:
            masks = unwrapped.object_masks(rows, renders)
            arrays["pair_object_mask"] = list(masks.reshape(-1, cfg.pairs, *masks.shape[1:]))
    env.close()
    # frames first: pretrain memory-maps the shard's frames array
    stored = {k: np.asarray(v, SHARD_DTYPES[k]) for k, v in arrays.items() if v}
    path = out / _shard_name(index)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **stored)
    return n


def _check_pairs(cfg: CollectConfig, description: dict[str, Any]) -> None:
    """Refuse pairs or masks the env cannot draw, before any shard is written."""
    if cfg.masks and not description["masks_objects"]:
        raise DarlaError(f"{cfg.env} cannot take its objects out of a frame, so it has no object masks: collect without --masks")
    if not cfg.pairs:
        return
    if not description["draws_from_factors"]:
        raise DarlaError(f"{cfg.env} cannot draw a state in another domain: --pairs works with {', '.join(envs.ENV_IDS)}")
    if len(description["domains"]) < cfg.pairs + 1:
        raise DarlaError(f"--pairs {cfg.pairs} needs at least {cfg.pairs + 1} domains in --domain, got {len(description['domains'])}: "
                         "name more domains or a group")


def _describe(cfg: CollectConfig) -> dict[str, Any]:
    """Facts about the env the manifest records: frame shape, factor names, domain names."""
    env = envs.make(cfg.env, cfg.domains)
    obs, info = env.reset(seed=cfg.seed)
    unwrapped = env.unwrapped
    domain_env = isinstance(unwrapped, DomainEnv)
    description = {
        "frame_shape": list(obs.shape),
        "factor_names": list(unwrapped.factor_names()) if domain_env else [],
        "domains": [d.to_dict() for d in getattr(unwrapped, "domains", ())],
        "draws_from_factors": domain_env,
        "masks_objects": domain_env and unwrapped.without_objects(info["factors"]) is not None,
    }
    env.close()
    return description


def _read_shard(path: Path) -> dict[str, Any]:
    """A finished shard's manifest entry (and its in-view flags, when it has them)."""
    try:
        with np.load(path) as shard:
            entry = {"file": path.name, "frames": len(shard["frames"]), "sha256": file_sha256(path)}
            if "in_view" in shard:
                entry["in_view"] = shard["in_view"]
            if "object_mask" in shard:
                entry["object_pixels"] = shard["object_mask"].mean(axis=(1, 2))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        # shards are written whole, so a damaged one was damaged after collect wrote it
        raise DarlaError(f"shard {path} is damaged ({type(exc).__name__}): delete it and rerun the same command to draw it again") from None
    return entry


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
    _check_pairs(cfg, description)
    claim_run_folder(out, RUN_FILE, {"config": record}, resume=True, key="config")
    n_shards = -(-cfg.frames // cfg.shard_size)
    todo = [i for i in range(n_shards) if not (out / _shard_name(i)).is_file()]
    done_frames = sum(min(cfg.shard_size, cfg.frames - i * cfg.shard_size) for i in range(n_shards) if i not in todo)
    # a damaged shard is named before any work; the entries of the shards already there are kept for the manifest
    entries = {i: _read_shard(out / _shard_name(i)) for i in range(n_shards) if i not in todo}
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
    shards = [entries[i] if i in entries else _read_shard(out / _shard_name(i)) for i in range(n_shards)]
    in_view = [s.pop("in_view") for s in shards if "in_view" in s]
    object_pixels = [s.pop("object_pixels") for s in shards if "object_pixels" in s]
    statistics = {"object_in_view_share": float(np.concatenate(in_view).mean())} if in_view else {}
    if object_pixels:
        # what object_weight is weighed against: the share of a frame's pixels the objects cover, on average
        statistics["object_pixel_share"] = float(np.concatenate(object_pixels).mean())
    write_json_atomic(
        out / MANIFEST,
        {
            "darla_version": __version__,
            "config": record,
            **description,
            "frames": sum(s["frames"] for s in shards),
            "pairs": cfg.pairs,
            "masks": cfg.masks,
            **statistics,
            "shards": shards,
        },
    )
    # the run record gains what the frames show; a rerun compares only its config
    write_json_atomic(out / RUN_FILE, {"config": record, **statistics})
    return out
