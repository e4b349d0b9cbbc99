"""How much one draw of states moves same-state retrieval, and which states fail it.

For one vision checkpoint on one pair of domains: retrieval on single draws of ``--states`` states,
repeated within one pool and across pools of other seeds (the spread an estimate of one draw
carries), and, for the states a draw gets wrong, where the wrongly retrieved state ranks among
the true state's nearest frames in pixels (a near twin, or a state far away).

Usage:
    python benchmarks/retrieval_noise.py --vision runs/claim30k/vision/beta_vae_dae \\
        --pair B_default B_alternate [--general] --out benchmarks/results/retrieval_noise.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from darla.checkpoint import load_vision
from darla.device import describe_machine
from darla.files import write_json_atomic
from darla.inspect import encoder
from darla.metrics.ground_truth import EnvGroundTruth
from darla.metrics.invariance import LOOKALIKE_LEVELS, distinct_states, draw_spread, nearest_codes
from darla.metrics.scores import represent_all


def spread(values: list[float]) -> dict[str, float]:
    """Mean, standard deviation, least and greatest of ``values``."""
    return {"mean": float(np.mean(values)), "sd": draw_spread(values), "min": float(min(values)), "max": float(max(values))}


def twin_pixels(frames: np.ndarray) -> np.ndarray:
    """Per frame, how many of its pixels differ, by more than the renderer's rounding
    (:data:`LOOKALIKE_LEVELS`), from those of the frame most like it (the fewest)."""
    flat = frames.reshape(len(frames), -1, frames.shape[-1]).astype(np.int16)
    fewest = np.empty(len(frames), np.int64)
    for i, frame in enumerate(flat):
        differ = (np.abs(flat - frame) > LOOKALIKE_LEVELS).any(axis=2).sum(axis=1)
        differ[i] = flat.shape[1] + 1
        fewest[i] = differ.min()
    return fewest


def failures(picked: np.ndarray, frames_a: np.ndarray) -> dict[str, float]:
    """For each state whose domain-b code retrieves another state (``picked``, from
    :func:`nearest_codes`): that state's rank among the true state's nearest domain-a frames in
    pixels (1: its nearest); and how far apart in pixels the near twins are: the pixels a state's
    domain-a frame differs in from the most alike other one, for the states got right and wrong,
    and the share of states with a twin that close (a code of these frames cannot do better than
    tell apart what differs in a handful of pixels)."""
    right = picked == np.arange(len(picked))
    wrong = np.flatnonzero(~right)
    pixels = frames_a.reshape(len(frames_a), -1).astype(np.float32) / 255
    ranks = []
    for i in wrong:
        to_i = ((pixels - pixels[i]) ** 2).mean(axis=1)
        to_i[i] = np.inf
        ranks.append(int((to_i < to_i[picked[i]]).sum()) + 1)
    ranks_arr = np.array(ranks)
    twins = twin_pixels(frames_a)
    return {"wrong": len(wrong), **{f"share_rank_at_most_{k}": float((ranks_arr <= k).mean()) for k in (1, 3, 10)},
            "median_rank": float(np.median(ranks_arr)),
            "twin_pixels_median_right": float(np.median(twins[right])), "twin_pixels_median_wrong": float(np.median(twins[wrong])),
            "frame_pixels": frames_a.shape[1] * frames_a.shape[2],
            **{f"share_with_twin_within_{k}_pixels": float((twins <= k).mean()) for k in (5, 20, 50, 100, 200)},
            **{f"retrieval_of_states_with_twin_within_{k}_pixels": float(right[twins <= k].mean()) for k in (50, 200)}}


def main() -> None:
    """Measure and write one JSON file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vision", required=True, help="a vision checkpoint folder")
    parser.add_argument("--env", default="darla/SeekAvoid2D-v0")
    parser.add_argument("--pair", nargs=2, default=["B_default", "B_alternate"], metavar=("A", "B"),
                        help="the two domains (default: the room change inside the train group)")
    parser.add_argument("--states", type=int, default=500)
    parser.add_argument("--pool", type=int, default=2000)
    parser.add_argument("--draws", type=int, default=20, help="draws within the pool of seed 0")
    parser.add_argument("--pools", type=int, default=10, help="pools of seeds 0.. (one draw each)")
    parser.add_argument("--general", action="store_true", help="only the domain-general latents (what the agents see)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "retrieval_noise.json")
    args = parser.parse_args()
    start = time.perf_counter()
    represent = encoder(load_vision(args.vision, device="cpu"), general=args.general)
    within: list[float] = []
    across: list[float] = []
    fails: dict[str, float] = {}
    for seed in range(args.pools):
        truth = EnvGroundTruth(args.env, tuple(args.pair), pool=args.pool, seed=seed)
        index = [[d.name for d in truth.domains].index(name) for name in args.pair]
        for draw in range(args.draws if seed == 0 else 1):
            _, frames, _ = distinct_states(truth, index, args.states, np.random.default_rng(1000 * seed + draw))
            picked = nearest_codes(*(represent_all(represent, f) for f in frames))
            score = float((picked == np.arange(len(picked))).mean())
            if seed == 0:
                within.append(score)
            if draw == 0:
                across.append(score)
            if seed == 0 and draw == 0:
                fails = failures(picked, frames[0])
        truth.close()
    report = {
        "vision": args.vision, "env": args.env, "pair": "~".join(args.pair), "general": args.general, "states": args.states,
        "pool": args.pool,
        "retrieval_one_pool": spread(within), "retrieval_across_pools": spread(across), "failures_first_draw": fails,
        "machine": describe_machine(),
        "seconds": time.perf_counter() - start,
    }
    write_json_atomic(args.out, report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
