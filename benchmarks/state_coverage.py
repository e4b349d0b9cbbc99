"""Which states each collection policy shows, against the states the invariance scores draw.

Same-state retrieval draws its states from a pool gathered along random-policy episodes
(:class:`darla.metrics.ground_truth.EnvGroundTruth`), the states a fresh agent meets too; the
vision frames of the quick and claim budgets start every frame afresh (``--policy resets``). For
each policy's frames and for the pool this reports the share of states with an object in view and
the share of wall close-ups (the wall straight ahead nearer than ``--close``), read off the
recorded task factors of a SeekAvoid env.

Usage: python benchmarks/state_coverage.py --env darla/SeekAvoid2D-v0 [--frames 10000]
           [--out benchmarks/results/state_coverage.json]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from envs.seek_avoid import SeekAvoidEnv
from darla.collect import POLICIES, CollectConfig, collect
from darla.files import write_json_atomic
from darla.metrics.ground_truth import EnvGroundTruth
from darla.reproduce import ROOM_FRAMES


def coverage(env: SeekAvoidEnv, task: np.ndarray, close: float) -> dict[str, float]:
    """Shares of the task-factor rows with an object in view and with the wall nearer than ``close``."""
    return {"object_in_view": float(env.objects_in_view(task).mean()),
            "wall_close_up": float((env.wall_ahead(task) < close).mean()),
            "median_wall_ahead": float(np.median(env.wall_ahead(task)))}


def main() -> None:
    """Compare the states each collection policy shows with the states the invariance scores draw."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="darla/SeekAvoid2D-v0")
    parser.add_argument("--frames", type=int, default=10_000, help="frames collected per policy")
    parser.add_argument("--close", type=float, default=0.5, help="a wall nearer than this (world units) is a close-up")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/state_coverage.json"))
    args = parser.parse_args()

    ground_truth = EnvGroundTruth(args.env, ("train",), pool=2000)
    env = ground_truth.env
    n_task = ground_truth.pool.shape[1]
    report = {"env": args.env, "close": args.close, "frames": args.frames,
              "retrieval_pool (random-policy episodes)": coverage(env, ground_truth.pool, args.close)}
    with tempfile.TemporaryDirectory() as tmp:
        for policy in POLICIES:
            cfg = CollectConfig(env=args.env, domains=tuple(ROOM_FRAMES["domains"]), frames=args.frames, policy=policy)
            collect(cfg, Path(tmp) / policy)
            task = np.concatenate([np.load(shard)["factors"][:, :n_task] for shard in sorted((Path(tmp) / policy).glob("shard_*.npz"))])
            report[f"frames --policy {policy}"] = coverage(env, task, args.close)
    ground_truth.close()
    for name, shares in report.items():
        if isinstance(shares, dict):
            print(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in shares.items()))
    write_json_atomic(args.out, report)


if __name__ == "__main__":
    main()
